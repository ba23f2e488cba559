"""Numpy-only inference runtime of the neural face skinning model (no torch, no scipy, no bpy).

- ``Model`` / ``PreparedMesh`` (model.py): load weights, prepare meshes, skinning, identity / expression codes,
  decoding, FACS blendshape bases, retargeting.
- ``weights.py``: the weights file format (load + validate, ``random_weights``, ``save_weights``).
- ``layers.py``: numpy twins of ``network.py``'s torch modules.
- ``meshio.py``: small OBJ / PLY reader and writer.
- ``boxqp.py``: the inverse rig's exact box-constrained QP solver; ``blas.py``: one OpenBLAS thread per call.
- ``correspond.py``: dense correspondence (closest points, ICP, non-rigid registration); ``template_keys.py``:
  ICT's keys carried onto any face; ``transfer.py``: shape-key transfer between two heads.
"""
from .meshio import MeshData, read_mesh, write_mesh
from .model import MIN_FACE_VERTICES, Cancelled, Model, PreparedMesh
from .weights import DEFAULT_WEIGHTS, Weights, expected_shapes, load_weights, random_weights, save_weights

__all__ = ["Model", "PreparedMesh", "Cancelled", "MIN_FACE_VERTICES", "Weights", "DEFAULT_WEIGHTS",
           "load_weights", "save_weights", "random_weights", "expected_shapes", "MeshData", "read_mesh", "write_mesh"]
