"""Numpy-only inference runtime of the neural face skinning model (no torch, no scipy, no bpy).

- ``Model`` / ``PreparedMesh`` (model.py): load weights, prepare meshes, skinning, identity / expression codes,
  decoding, FACS blendshape bases, retargeting.
- ``weights.py``: the weights file format (load + validate, ``random_weights``, ``save_weights``).
- ``layers.py``: numpy twins of ``network.py``'s torch modules.
- ``meshio.py``: small OBJ / PLY reader and writer.
"""
from .meshio import MeshData, read_mesh, write_mesh
from .model import MIN_FACE_VERTICES, Cancelled, Model, PreparedMesh
from .weights import DEFAULT_WEIGHTS, Weights, expected_shapes, load_weights, random_weights, save_weights

__all__ = ["Model", "PreparedMesh", "Cancelled", "MIN_FACE_VERTICES", "Weights", "DEFAULT_WEIGHTS",
           "load_weights", "save_weights", "random_weights", "expected_shapes", "MeshData", "read_mesh", "write_mesh"]
