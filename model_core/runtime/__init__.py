"""Numpy-only inference runtime of the neural face skinning model (no torch, no scipy, no bpy): everything of
model_core that runs inside Blender.

- ``Model`` (model.py, a front over one part per concern: model_prepare.py, model_skinning.py, model_decoder.py,
  model_keys.py, model_fit.py): load weights, prepare meshes (``PreparedMesh``, prepared_mesh.py), skinning,
  identity / expression codes, decoding, FACS blendshape bases, the inverse rig, retargeting.
- ``weights.py``: the weights file format (load + validate, ``random_weights``, ``save_weights``).
- ``layers.py``: numpy twins of ``training/network.py``'s torch modules.
- ``meshio.py``: small OBJ / PLY reader and writer.
- ``boxqp.py``: the inverse rig's exact box-constrained QP solver; ``blas.py``: one OpenBLAS thread per call.
- ``correspond.py``: dense correspondence (closest points, ICP, non-rigid registration); ``template_keys.py``:
  ICT's keys carried onto any face; ``transfer.py``: shape-key transfer between two heads.
- The kernels that training and evaluation share with the runtime: ``mesh.py`` (mesh operations), ``frames.py``
  (units, axes, canonical normalisation), ``proxy.py`` (the encoders' proxy mesh and spectral operator),
  ``config.py`` (``ModelConfig``), ``regions.py`` (the 22 regions), ``facs_names.py`` (ICT / ARKit names).
"""
from .meshio import MeshData, read_mesh, write_mesh
from .model import Model
from .model_fit import Cancelled
from .prepared_mesh import MIN_FACE_VERTICES, PreparedMesh
from .weights import DEFAULT_WEIGHTS, Weights, expected_shapes, load_weights, random_weights, save_weights

__all__ = ["Model", "PreparedMesh", "Cancelled", "MIN_FACE_VERTICES", "Weights", "DEFAULT_WEIGHTS",
           "load_weights", "save_weights", "random_weights", "expected_shapes", "MeshData", "read_mesh", "write_mesh"]
