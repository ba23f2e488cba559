"""Baked per-frame corrective: the model's exact pose minus the linear FACS shape-key blend.

The corrective of frame f is ``decode(target, z_f) - (Basis + sum_k w_k(f) * (key_k - Basis))`` in object
space. All frames are stored in one ``.npy`` file (float32 (T, N, 3)) under the add-on's user folder
(``bpy.utils.extension_path_user``; a temporary folder when the add-on is not installed as an extension),
and a ``frame_change_pre`` handler copies the current frame's corrective into a single shape key
``NFS_corrective`` (value 1) before the depsgraph evaluates the frame, so viewport playback and renders show
it. The mesh records the file and the first frame in custom properties; deleting the key (or undoing the
bake) stops the handler for that mesh. Frames outside the baked range get a zero corrective.
"""
from __future__ import annotations

import os
import re
import tempfile
import uuid

import bpy
import numpy as np
from bpy.app.handlers import persistent

from . import engine, mesh_io
from .common import UserError, prepare_object

KEY_NAME = "NFS_corrective"
PROP_FILE = "nfs_corrective_file"
PROP_START = "nfs_corrective_start"
DECODE_BATCH = 16   # frames decoded per model call: the decoder's per-mesh part is computed once per call

_loaded: dict = {}  # path -> memory-mapped (T, N, 3) array


def cache_dir() -> str:
    """The folder for corrective files (created if needed)."""
    try:
        path = bpy.utils.extension_path_user(__package__, path="corrective", create=True)
    except (ValueError, AttributeError):  # not installed as an extension (development checkout, scripts)
        path = os.path.join(tempfile.gettempdir(), "nfs_blender", "corrective")
        os.makedirs(path, exist_ok=True)
    return path


def compute(context, target, by_name: dict, codes: np.ndarray, frames: np.ndarray, progress=(0.9, 1.0)):
    """Generator: yields (fraction, text) per frame and returns the (T, N, 3) float32 object-space correctives
    of ``target`` for the codes (T, 128) and keyed values ``by_name`` {FACS key name: (T,) values} (the values
    the shape keys will play). Use as ``corr = yield from compute(...)``."""
    if codes is None:
        raise UserError("the corrective needs the model's expression codes ('Mesh deformation' source)")
    prep = prepare_object(context, target, use_painted=context.scene.nfs.use_painted_groups)
    key = target.data.shape_keys
    n = prep.n
    ref = np.empty(n * 3, dtype=np.float32)
    key.reference_key.points.foreach_get("co", ref)
    ref = ref.reshape(n, 3).astype(np.float64)
    names = list(by_name)
    deltas = mesh_io.key_deltas(target, names)       # what each key adds as Blender evaluates it
    weights = np.stack([np.asarray(by_name[nm], dtype=np.float64) for nm in names], axis=1)  # (T, K)
    inv = np.linalg.inv(prep.mat)
    out = np.empty((len(frames), n, 3), dtype=np.float32)
    for s0 in range(0, len(frames), DECODE_BATCH):
        world = engine.decode(prep.model, prep.pm, codes[s0:s0 + DECODE_BATCH], n, prep.probs)   # (b, N, 3)
        for j, wj in enumerate(world):
            t = s0 + j
            local = mesh_io.to_world(wj, inv)
            linear = ref + np.tensordot(weights[t], deltas, axes=1)
            out[t] = local - linear
        t = s0 + len(world)
        yield progress[0] + (progress[1] - progress[0]) * t / len(frames), f"corrective, frame {t}"
    return out


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:40] or "mesh"


def store(target, frames: np.ndarray, corr: np.ndarray) -> str:
    """Write the corrective file, create/reset the ``NFS_corrective`` key and show the current frame."""
    me = target.data
    old = me.get(PROP_FILE)
    path = os.path.join(cache_dir(), f"{_safe(me.name)}_{uuid.uuid4().hex[:8]}.npy")
    np.save(path, np.ascontiguousarray(corr, dtype=np.float32))
    key = me.shape_keys
    kb = key.key_blocks.get(KEY_NAME)
    if kb is None:
        kb = target.shape_key_add(name=KEY_NAME, from_mix=False)
    kb.relative_key = key.reference_key
    kb.value = 1.0
    me[PROP_FILE] = path
    me[PROP_START] = int(frames[0])
    if isinstance(old, str) and old != path:
        _forget(old)
        if os.path.dirname(old) == cache_dir() and os.path.isfile(old):
            try:
                os.remove(old)
            except OSError:
                pass
    apply(me, bpy.context.scene.frame_current)
    return path


def clear(target) -> bool:
    """Remove a baked corrective from ``target`` (its NFS_corrective key, custom properties and file); a new
    bake without corrective calls this so that an old corrective never plays over new keys."""
    me = target.data
    path = me.get(PROP_FILE)
    if path is None:
        return False
    key = me.shape_keys
    kb = key.key_blocks.get(KEY_NAME) if key is not None else None
    if kb is not None:
        target.shape_key_remove(kb)
    for prop in (PROP_FILE, PROP_START):
        if prop in me:
            del me[prop]
    if isinstance(path, str):
        _forget(path)
    return True


def _forget(path: str) -> None:
    _loaded.pop(path, None)


def _array(path: str):
    arr = _loaded.get(path)
    if arr is None:
        if not os.path.isfile(path):
            return None
        arr = np.load(path, mmap_mode="r")
        _loaded[path] = arr
    return arr


def apply(me, frame: int) -> bool:
    """Copy frame ``frame``'s corrective into ``me``'s NFS_corrective key; False when nothing applies."""
    path = me.get(PROP_FILE)
    key = me.shape_keys
    if not isinstance(path, str) or key is None:
        return False
    kb = key.key_blocks.get(KEY_NAME)
    arr = _array(path)
    if kb is None or arr is None or arr.shape[1] != len(me.vertices):
        return False
    n = len(me.vertices)
    co = np.empty(n * 3, dtype=np.float32)
    key.reference_key.points.foreach_get("co", co)
    i = int(frame) - int(me.get(PROP_START, 0))
    if 0 <= i < arr.shape[0]:
        co += np.asarray(arr[i], dtype=np.float32).ravel()
    kb.points.foreach_set("co", co)
    key.update_tag()
    me.update_tag()
    return True


@persistent
def on_frame_change(scene, *_args):
    for ob in scene.objects:
        if ob.type == "MESH" and PROP_FILE in ob.data.keys():
            apply(ob.data, scene.frame_current)


def register():
    if on_frame_change not in bpy.app.handlers.frame_change_pre:
        bpy.app.handlers.frame_change_pre.append(on_frame_change)


def unregister():
    while on_frame_change in bpy.app.handlers.frame_change_pre:
        bpy.app.handlers.frame_change_pre.remove(on_frame_change)
    _loaded.clear()
