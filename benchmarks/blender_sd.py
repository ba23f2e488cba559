"""Blender-side helpers shared by the benchmarks: mesh objects from numpy arrays, and Blender's Surface Deform
pipeline for carrying a source head's shape keys onto a target (bench_transfer.py, bench_sd_keys.py).

The Surface Deform pipeline, as a user runs it: a Surface Deform modifier (defaults: falloff 4, strength 1) on
the target, bound to the source (whose keys are already aligned with the target); then, for each key, that key
set to 1 alone, the target evaluated, and the evaluated positions (minus the evaluated rest, or saved as a new
shape key of the target) read back with ``foreach_get``.

Needs ``bpy``; nothing here is imported by the add-on or the runtime.
"""
from __future__ import annotations

import time

import numpy as np


def mesh_object(name, verts, faces):
    """A new mesh object linked to the scene's collection: (N, 3) positions, (F, 3) triangles."""
    import bpy
    faces = np.asarray(faces, np.int32)
    me = bpy.data.meshes.new(name)
    me.vertices.add(len(verts))
    me.vertices.foreach_set("co", np.ascontiguousarray(verts, np.float32).ravel())
    me.loops.add(faces.size)
    me.loops.foreach_set("vertex_index", faces.ravel())
    me.polygons.add(len(faces))
    me.polygons.foreach_set("loop_start", np.arange(0, faces.size, 3, dtype=np.int32))
    me.polygons.foreach_set("loop_total", np.full(len(faces), 3, np.int32))
    me.update(calc_edges=True)
    ob = bpy.data.objects.new(name, me)
    bpy.context.scene.collection.objects.link(ob)
    return ob


def remove_objects(*objs):
    """Delete objects and their meshes (and so their shape keys)."""
    import bpy
    for ob in objs:
        me = ob.data
        bpy.data.objects.remove(ob)
        if me is not None and me.users == 0:
            bpy.data.meshes.remove(me)


def separate_overlaps(verts, faces, frac=1e-3):
    """Vertices that share a position with another (unwelded seams: Surface Deform refuses to bind to a mesh
    with "overlapping vertices") moved by ``frac`` of the mesh's size toward the centroid of their own
    one-ring, so each stays on its side of the seam. Returns (verts, number moved)."""
    v = np.asarray(verts, np.float64)
    q = np.round(v / (1e-6 * np.ptp(v, axis=0).max())).astype(np.int64)
    _, inv, cnt = np.unique(q, axis=0, return_inverse=True, return_counts=True)
    dup = np.flatnonzero(cnt[inv.ravel()] > 1)
    if not len(dup):
        return v, 0
    f = np.asarray(faces, np.int64)
    cen = np.zeros_like(v)
    num = np.zeros(len(v))
    for k in range(3):
        np.add.at(cen, f[:, k], v[f].mean(axis=1))
        np.add.at(num, f[:, k], 1)
    d = cen[dup] / np.maximum(num[dup, None], 1) - v[dup]
    out = v.copy()
    out[dup] += frac * np.ptp(v, axis=0).max() * d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-30)
    return out, len(dup)


def source_with_keys(name, base, faces, keys, key_names=None):
    """A source object at ``base`` (N, 3) with a Basis and one shape key per (N, 3) displacement of ``keys``
    (values 0). Returns (object, [key blocks])."""
    src = mesh_object(name, base, faces)
    src.shape_key_add(name="Basis")
    blocks = []
    for k, d in enumerate(keys):
        kb = src.shape_key_add(name=key_names[k] if key_names else f"k{k}", from_mix=False)
        kb.points.foreach_set("co", np.ascontiguousarray(base + d, np.float32).ravel())
        blocks.append(kb)
    return src, blocks


def surface_deform_run(src, blocks, tgt, *, write_names=None):
    """Bind a Surface Deform modifier on ``tgt`` to ``src`` and evaluate ``tgt`` once per source key block (that
    key at 1, the others at 0).

    Without ``write_names``: returns the (K, N, 3) float64 displacements (evaluated minus evaluated rest).
    With ``write_names`` (K names): each evaluated result is saved as a new shape key of ``tgt`` (a Basis is added
    first when it has none; ``foreach_set`` of the float32 buffer) and the modifier is removed at the end, as a
    user finishes; returns None.
    Also returns {"bind", "eval", "write", "total"} seconds and whether the modifier bound."""
    import bpy
    t0 = time.perf_counter()
    mod = tgt.modifiers.new("bench_sd", "SURFACE_DEFORM")
    mod.target = src
    bpy.context.view_layer.objects.active = tgt
    with bpy.context.temp_override(object=tgt, active_object=tgt):
        bpy.ops.object.surfacedeform_bind(modifier=mod.name)
    dg = bpy.context.evaluated_depsgraph_get()
    n = len(tgt.data.vertices)
    buf = np.empty(n * 3, np.float32)

    def read():
        dg.update()
        tgt.evaluated_get(dg).data.attributes["position"].data.foreach_get("vector", buf)
        return buf

    rest = read().reshape(n, 3).astype(np.float64) if write_names is None else None
    bound = bool(mod.is_bound)
    if write_names is not None and tgt.data.shape_keys is None:
        tgt.shape_key_add(name="Basis", from_mix=False)
    t1 = time.perf_counter()
    out = None if write_names is not None else np.empty((len(blocks), n, 3))
    t_write = 0.0
    prev = None
    for k, kb in enumerate(blocks):
        if prev is not None:
            prev.value = 0.0
        kb.value = 1.0
        prev = kb
        got = read()
        if write_names is None:
            out[k] = got.reshape(n, 3) - rest
        else:
            tw = time.perf_counter()
            new = tgt.shape_key_add(name=write_names[k], from_mix=False)
            new.points.foreach_set("co", got)
            t_write += time.perf_counter() - tw
    if prev is not None:
        prev.value = 0.0
    if write_names is not None:
        tw = time.perf_counter()
        tgt.modifiers.remove(mod)
        t_write += time.perf_counter() - tw
    t2 = time.perf_counter()
    return out, {"bind": t1 - t0, "eval": t2 - t1 - t_write, "write": t_write, "total": t2 - t0}, bound


def surface_deform_keys(src_verts, src_faces, src_keys, dst_verts, dst_faces, init_scale=1.0):
    """(K, Vd, 3) keys carried by Blender's Surface Deform after scaled-ICP alignment, and the timings.

    Returns (keys, {"align", "build", "bind", "eval", "total"} seconds, bound: bool)."""
    from model_core.runtime.correspond import similarity_icp
    t0 = time.perf_counter()
    s, R, t = similarity_icp(src_verts, dst_verts, dst_faces, init_scale=init_scale)
    moved = s * np.asarray(src_verts, np.float64) @ R.T + t
    t1 = time.perf_counter()
    base = separate_overlaps(moved, src_faces)[0]
    src, blocks = source_with_keys("bench_src", base, src_faces, [s * d @ R.T for d in src_keys])
    tgt = mesh_object("bench_tgt", dst_verts, dst_faces)
    t2 = time.perf_counter()
    out, tm, bound = surface_deform_run(src, blocks, tgt)
    remove_objects(tgt, src)
    return out, {"align": t1 - t0, "build": t2 - t1, "bind": tm["bind"], "eval": tm["eval"],
                 "total": t2 - t0 + tm["total"]}, bound
