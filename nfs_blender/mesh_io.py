"""Reading mesh objects as numpy arrays in world space, and turning world displacements into local ones.

Conventions: positions are float64 (N, 3) in world units (metres) after ``matrix_world``; triangles are
int32 (F, 3) from the mesh's loop triangles (quads and n-gons are triangulated the way Blender draws them).
"""
from __future__ import annotations

import os

import numpy as np

# modes whose mesh data is current in the datablock (edit mode and sculpt keep their own copies)
USABLE_MODES = ("OBJECT", "WEIGHT_PAINT", "VERTEX_PAINT")


def _a(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def edit_problem(obj) -> str | None:
    """Why ``obj`` or its mesh cannot be changed (linked from a library, or a non-editable library override):
    a sentence saying what to do, or None. Blender's Python API lets scripts change linked data, but the
    changes are lost when the file is reloaded, so the add-on refuses to write to it."""
    for idb, what in ((obj, None), (getattr(obj, "data", None), "mesh")):
        if idb is None:
            continue
        lib = getattr(idb, "library", None)
        if lib is None and getattr(idb, "is_editable", True):
            continue
        who = f"'{obj.name}'" if what is None else f"the mesh '{idb.name}' of '{obj.name}'"
        if lib is not None:
            src = os.path.basename(lib.filepath) or lib.name
            return (f"{who} is linked from library '{src}' and cannot be changed (changes to linked data are lost "
                    f"on reload): make it local first (Object > Relations > Make Local > Selected Objects and Data)")
        return (f"{who} is not editable (a system library override): make it editable first "
                f"(Object > Library Override > Make Editable) or make it local")
    return None


def singular_transform(mat3: np.ndarray) -> bool:
    """True when a (3, 3) matrix has (nearly) zero scale on some axis and cannot be inverted reliably."""
    m3 = np.asarray(mat3, dtype=np.float64)
    norms = np.linalg.norm(m3, axis=0)
    if not np.isfinite(m3).all() or norms.min() <= 0.0:
        return True
    return abs(float(np.linalg.det(m3))) <= 1e-9 * float(np.prod(norms))


def mesh_problem(obj, max_vertices: int | None = None, *, editable: bool = True) -> str | None:
    """Why ``obj`` cannot be used as a face mesh (a sentence saying what to do), or None when it can.

    ``editable``: also require that the object and its mesh can be changed (not linked from a library); a
    mesh that is only read (a bake source) passes False.
    """
    if obj is None:
        return "Select a mesh object (none is active)"
    if obj.type != "MESH":
        return f"'{obj.name}' is {_a(obj.type.lower().replace('_', ' '))}, not a mesh: select a mesh object"
    if obj.mode not in USABLE_MODES:
        return f"'{obj.name}' is in {obj.mode.replace('_', ' ').lower()} mode: switch to Object Mode"
    if editable:
        problem = edit_problem(obj)
        if problem:
            return problem
    me = obj.data
    if len(me.vertices) < 3 or len(me.polygons) == 0:
        return f"'{obj.name}' has no faces: the model needs a surface mesh"
    if max_vertices and len(me.vertices) > max_vertices:
        return (f"'{obj.name}' has {len(me.vertices)} vertices, more than 'Max vertices' "
                f"({max_vertices}) in the add-on preferences: decimate it or raise the limit")
    if singular_transform(np.array(obj.matrix_world, dtype=np.float64)[:3, :3]):
        return (f"'{obj.name}' has zero scale on an axis (its transform cannot be inverted): fix its scale "
                f"(Object > Transform) first")
    if editable:
        return mirror_problem(obj)
    return None


def mirror_problem(obj) -> str | None:
    """A sentence when ``obj`` has an enabled Mirror modifier (the mesh is half a head): the model would see half a
    face, and asymmetric keys / weights written to the half would be mirrored onto the other side. None otherwise."""
    for mod in getattr(obj, "modifiers", ()):
        if mod.type == "MIRROR" and (mod.show_viewport or mod.show_render):
            return (f"'{obj.name}' has a Mirror modifier ('{mod.name}'): apply the Mirror modifier first (its "
                    f"menu > Apply); the model needs the whole face, and asymmetric keys cannot live on a "
                    f"mirrored half")
    return None


def nonfinite_problem(obj, local: np.ndarray, mat: np.ndarray) -> str | None:
    """A sentence when ``obj``'s rest positions ``local`` (N, 3), or the same through the (4, 4) world matrix
    ``mat``, hold NaN or infinite values, else None."""
    bad = ~np.isfinite(local).all(axis=1)
    if bad.any():
        idx = np.flatnonzero(bad)
        return (f"'{obj.name}' has {idx.size} vertices with NaN or infinite coordinates (e.g. vertex "
                f"{', '.join(str(i) for i in idx[:3])}): fix or delete them first")
    with np.errstate(all="ignore"):
        world_ok = bool(np.isfinite(to_world(local, mat)).all())
    if not world_ok:
        return (f"'{obj.name}''s transform makes its coordinates NaN or infinite in world space: fix its location, "
                f"rotation and scale (or its parents')")
    return None


def precision_problem(obj, local: np.ndarray, max_rel: float = 1e-3) -> str | None:
    """A sentence when ``obj``'s float32 mesh data (N, 3) lies so far from the object's origin that Blender's
    float32 storage steps exceed ``max_rel`` of the mesh's size (the face's shape is already degraded there),
    else None. The object's own location may be anything: world positions are computed in float64."""
    if len(local) == 0:
        return None
    size = float(np.sqrt(((local.max(axis=0).astype(np.float64) - local.min(axis=0)) ** 2).sum()))
    far = float(np.abs(local).max())
    step = float(np.spacing(np.float32(far)))
    if size > 0 and step > max_rel * size:
        return (f"'{obj.name}''s mesh data lies about {far:.3g} units from its object origin, where Blender stores "
                f"coordinates in steps of {step:.2g} ({100 * step / size:.2g} % of the mesh's size): move the data "
                f"to the origin (Object > Set Origin > Origin to Geometry) and try again")
    return None


def matrix_world(obj) -> np.ndarray:
    """(4, 4) float64 world matrix of ``obj``."""
    return np.array(obj.matrix_world, dtype=np.float64)


def to_world(local: np.ndarray, mat: np.ndarray) -> np.ndarray:
    """Local positions (N, 3) -> world positions (N, 3) with a (4, 4) matrix."""
    return np.asarray(local, dtype=np.float64) @ mat[:3, :3].T + mat[:3, 3]


def local_rest_positions(obj) -> np.ndarray:
    """(N, 3) float32 object-space rest positions: the reference (Basis) shape key when the mesh has shape
    keys, else the mesh vertices."""
    me = obj.data
    n = len(me.vertices)
    buf = np.empty(n * 3, dtype=np.float32)
    key = me.shape_keys
    if key is not None and key.reference_key is not None and len(key.reference_key.points) == n:
        key.reference_key.points.foreach_get("co", buf)
    else:
        me.vertices.foreach_get("co", buf)
    return buf.reshape(n, 3)


def group_weights(obj, name: str) -> np.ndarray | None:
    """(N,) float64 each of ``obj``'s vertices' weight in its vertex group ``name`` (0 where unassigned), or None
    when it has no group of that name (a shape key limited to a missing group acts on every vertex in full)."""
    vg = obj.vertex_groups.get(name)
    if vg is None:
        return None
    out = np.zeros(len(obj.data.vertices))
    for v in obj.data.vertices:
        for g in v.groups:
            if g.group == vg.index:
                out[v.index] = g.weight
    return out


def key_deltas(obj, names) -> np.ndarray:
    """(K, N, 3) float64 object-space displacement each shape key ``names`` of ``obj`` adds at value 1, as Blender
    evaluates it: its points minus its relative key's (a corrective made relative to jawOpen carries only the
    correction; keys that are not relative, ``Key.use_relative`` off, minus the reference key), times the weights
    of the vertex group it is limited to (a "Smile_L" made from a whole smile limited to a left-side group moves
    the left side only)."""
    key = obj.data.shape_keys
    n = len(obj.data.vertices)
    buf = np.empty(n * 3, dtype=np.float32)
    out = np.empty((len(names), n, 3))
    bases, groups = {}, {}        # each relative key and vertex group read once (the keys share the Basis, 26 "_L"
    for k, name in enumerate(names):                                                    # keys may share a group)
        kb = key.key_blocks[name]
        rel = kb.relative_key if key.use_relative and kb.relative_key is not None else key.reference_key
        if rel.name not in bases:
            rel.points.foreach_get("co", buf)
            bases[rel.name] = buf.reshape(n, 3).astype(np.float64)
        kb.points.foreach_get("co", buf)
        out[k] = buf.reshape(n, 3) - bases[rel.name]
        if kb.vertex_group and kb.vertex_group not in groups:
            groups[kb.vertex_group] = group_weights(obj, kb.vertex_group)
        w = groups.get(kb.vertex_group) if kb.vertex_group else None
        if w is not None:
            out[k] *= w[:, None]
    return out


def rest_world_positions(obj, mat: np.ndarray | None = None) -> np.ndarray:
    """(N, 3) float64 world positions of the rest mesh (``local_rest_positions`` through ``matrix_world``)."""
    return to_world(local_rest_positions(obj), matrix_world(obj) if mat is None else mat)


def triangles(mesh) -> np.ndarray:
    """(F, 3) int32 vertex indices of the mesh's loop triangles."""
    mesh.calc_loop_triangles()
    n = len(mesh.loop_triangles)
    tris = np.empty(n * 3, dtype=np.int32)
    mesh.loop_triangles.foreach_get("vertices", tris)
    return tris.reshape(n, 3)


def evaluated_local_positions(obj, depsgraph) -> np.ndarray:
    """(M, 3) float32 object-space positions of the evaluated object (modifiers, shape keys, armature)."""
    ob_eval = obj.evaluated_get(depsgraph)
    me = ob_eval.data
    attr = me.attributes.get("position")
    m = len(me.vertices)
    buf = np.empty(m * 3, dtype=np.float32)
    if attr is not None and attr.domain == "POINT" and len(attr.data) == m:
        attr.data.foreach_get("vector", buf)
    else:  # pragma: no cover - very old files without a position attribute
        me.vertices.foreach_get("co", buf)
    return buf.reshape(m, 3)


def world_to_local_deltas(deltas_world: np.ndarray, mat: np.ndarray) -> np.ndarray:
    """World displacements (..., 3) -> object-local displacements with the inverse of ``mat``'s 3x3 part.

    Raises:
        ValueError: the object's scale is zero on some axis (the matrix cannot be inverted).
    """
    m3 = np.asarray(mat, dtype=np.float64)[:3, :3]
    if singular_transform(m3):
        raise ValueError("the object's transform has zero scale on an axis: apply or fix its scale")
    return np.asarray(deltas_world, dtype=np.float64) @ np.linalg.inv(m3).T
