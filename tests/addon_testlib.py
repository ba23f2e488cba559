"""Script snippets shared by the add-on tests (tests/test_addon_*.py), run inside headless Blender through
``blender_harness.run_blender``.

``PRELUDE`` registers the add-on from the working tree (``import nfs_blender; nfs_blender.register()``, with an
``at_end`` unregister), loads the real numpy runtime with the committed weights (model_core/weights/nfs_v5.npz, as a
user gets them; ~0.2 s) and defines helpers:

* ``MODEL``: the ``model_core.runtime.Model`` the operators use (``engine.get_model()``).
* ``EXPECTED_REGIONS``: its region names (22).
* ``use_key_source(source)``: set Preferences > FACS key source ('AUTO', the default, 'TEMPLATE' or 'DECODER').
  'DECODER' is the cheap one (~0.3 s a mesh); 'AUTO' and 'TEMPLATE' run a dense registration (~8 s on the ICT
  head), which tests/test_addon_trained.py covers.
* ``model_keys(ob, names="ict", probs=None, keys="decoder")``: ``(names, (K, N, 3) world displacements)`` the model
  gives ``ob``'s rest mesh prepared as the add-on prepares it (``engine.prepare`` with the default preferences).
* ``ict_head(name, location=(0,0,0), scale=1.0, stride=1)``: the ICT-FaceKit full-head crop (vertices 0..11247,
  polygons 0..11143) converted to Blender's frame (metres, Z up, face toward -Y) as a new mesh object;
  ``stride`` > 1 keeps every stride-th polygon's vertices only as a cheaper, different-topology mesh.
* ``keys_of(obj)``: {name: (N, 3) float32} of every shape key.
* ``run_op(op, **kw)``: call an operator with EXEC_DEFAULT and undo=True; returns its result set as a list
  (['CANCELLED'] when it reported an ERROR, whose text is appended to ``ERRORS``).

``STANDIN`` (after ``PRELUDE``) swaps in the hand-written stand-in model (tests/standin_model.py) for the tests that
need a model they can count calls of or make fail (robustness, fuzz, the modal job): ``MODEL`` and
``EXPECTED_REGIONS`` become the stand-in's.
"""

PRELUDE = r'''
import os, sys, json
import numpy as np
import bpy
import nfs_blender
nfs_blender.register()
at_end(nfs_blender.unregister)
from nfs_blender import engine, mesh_io, prefs as _prefs
engine.set_model(None)
MODEL = engine.get_model()  # the committed weights (model_core/weights/nfs_v5.npz)
EXPECTED_REGIONS = list(MODEL.region_names)


def use_key_source(source):
    _prefs._Defaults.key_source = source


def model_keys(ob, names="ict", probs=None, keys="decoder"):
    pm = engine.prepare(MODEL, mesh_io.rest_world_positions(ob), mesh_io.triangles(ob.data))
    return MODEL.facs_basis(pm, names, probs=probs, keys=keys)


from model_core.runtime.frames import ict_to_blender
from model_core.dataset.ict import default_npz_path
ICT_NPZ = str(default_npz_path())  # $NFS_ICT_DIR or ../shared/data/ict_facekit
_ICT = {}


def _ict_arrays():
    if not _ICT:
        d = np.load(ICT_NPZ)
        sizes = d["face_sizes"][:11144].astype(np.int64)
        corners = d["face_vertex_indices"][: int(sizes.sum())].astype(np.int64)
        v = d["neutral"][:11248].astype(np.float64)
        _ICT.update(verts=ict_to_blender(v), sizes=sizes, corners=corners)  # (m, Z up, face toward -Y)
    return _ICT


def ict_head(name="Head", location=(0.0, 0.0, 0.0), scale=1.0, stride=1):
    a = _ict_arrays()
    verts, sizes, corners = a["verts"], a["sizes"], a["corners"]
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    if stride > 1:  # keep a subset of polygons and re-index: a different mesh of the same surface
        keep = np.arange(0, len(sizes), stride)
        sizes = sizes[keep]
        corners = np.concatenate([corners[s:s + k] for s, k in zip(starts[keep], sizes)])
        used, corners = np.unique(corners, return_inverse=True)
        verts = verts[used]
        starts = np.r_[0, np.cumsum(sizes)[:-1]]
    me = bpy.data.meshes.new(name)
    me.vertices.add(len(verts))
    me.vertices.foreach_set("co", verts.astype(np.float32).ravel())
    me.loops.add(len(corners))
    me.loops.foreach_set("vertex_index", corners.astype(np.int32))
    me.polygons.add(len(sizes))
    me.polygons.foreach_set("loop_start", starts.astype(np.int32))
    try:
        me.polygons.foreach_set("loop_total", sizes.astype(np.int32))
    except (AttributeError, TypeError, RuntimeError):
        pass
    me.update(calc_edges=True)
    me.validate()
    ob = bpy.data.objects.new(name, me)
    bpy.context.scene.collection.objects.link(ob)
    ob.location = location
    ob.scale = (scale, scale, scale)
    bpy.context.view_layer.update()
    return ob


def activate(ob):
    for o in bpy.context.view_layer.objects:
        o.select_set(False)
    bpy.context.view_layer.objects.active = ob
    ob.select_set(True)


def keys_of(ob):
    out = {}
    n = len(ob.data.vertices)
    for kb in ob.data.shape_keys.key_blocks:
        buf = np.empty(n * 3, dtype=np.float32)
        kb.points.foreach_get("co", buf)
        out[kb.name] = buf.reshape(n, 3)
    return out


ERRORS = []


def run_op(op, **kw):
    """Run with EXEC_DEFAULT + undo push; an ERROR report (RuntimeError from Python) -> ['CANCELLED'] and the
    message appended to ERRORS."""
    try:
        return sorted(op("EXEC_DEFAULT", True, **kw))
    except RuntimeError as exc:
        ERRORS.append(str(exc))
        return ["CANCELLED"]
'''

STANDIN = r'''
import standin_model
MODEL = standin_model.StandinModel()
engine.set_model(MODEL)
EXPECTED_REGIONS = list(standin_model.REGIONS)
'''
