"""Shape keys between two meshes of one topology: vertex i of the source is vertex i of the target (numpy only).

Characters made from one base mesh (MakeHuman, VRoid, Ready Player Me, a studio's own head) share their vertices
and triangles whatever their shapes. There the correspondence is known exactly, and ``transfer.transfer_keys``
carries each key vertex for vertex instead of registering the heads:

- by default through the similarity (scale, rotation or reflection) that best puts the source's vertices on the
  target's (``correspond.umeyama``): the keys keep the source artist's shapes and strengths, scaled with the head;
- with ``proportions``, through each vertex's own linear map (a deformation gradient, deformation-transfer style:
  the least-squares map of its edge ring and its normal from the source onto the target), its stretch over the
  similarity clipped to ``STRETCH`` as the transfer's proportion map clips its own: a key follows a wider mouth
  or a longer chin where the target has one.

Units: positions and keys in the caller's frame and units of each mesh (the maps carry units across).
"""
from __future__ import annotations

import numpy as np

from .correspond import umeyama
from .mesh import unique_edges, vertex_normals

SAME_EDGES = 0.95           # two meshes of one vertex count are one topology when this share of the target's edges
                            # join the same vertices on the source (quads split along other diagonals: a few differ)
STRETCH = (0.8, 1.25)       # a vertex map's singular values over the similarity's scale are clipped to this range


def is_same_topology(src_faces: np.ndarray, src_n: int, tgt_faces: np.ndarray, tgt_n: int) -> bool:
    """True when two meshes are one topology: the same vertex count, and at least ``SAME_EDGES`` of the target's
    edges joining the same two vertices on the source. src_faces, tgt_faces (F, 3) int triangles; src_n, tgt_n
    vertex counts. Not the same triangles: Blender splits a quad along the diagonal its shape suits (a concave
    quad the other way), so one base mesh in two shapes may differ in a few diagonals, and its vertices still
    correspond one for one."""
    if int(src_n) != int(tgt_n) or not len(src_faces) or not len(tgt_faces):
        return False
    n = int(src_n)
    es, et = unique_edges(np.asarray(src_faces, np.int64)), unique_edges(np.asarray(tgt_faces, np.int64))
    shared = np.isin(et[:, 0] * n + et[:, 1], es[:, 0] * n + es[:, 1])
    return bool(shared.mean() >= SAME_EDGES)


def vertex_maps(src: np.ndarray, tgt: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Each vertex's least-squares linear map J (N, 3, 3) with J (x_j - x_i) ~ (y_j - y_i) over its edges and
    J n l ~ A n l along its normal n (unit, l the vertex's mean edge length): a surface's edges say nothing of
    the stretch across it, which is taken from the whole meshes' least-squares affine map A (deformation
    transfer's normal scaled as the surface would stretch a globally affine pair wrongly); src, tgt (N, 3)
    positions of one topology, faces (F, 3). A vertex with no edges gets A."""
    src = np.asarray(src, np.float64)
    tgt = np.asarray(tgt, np.float64)
    n = len(src)
    ms, mt = src.mean(axis=0), tgt.mean(axis=0)
    A = np.linalg.lstsq(src - ms, tgt - mt, rcond=None)[0].T                 # (3, 3): tgt - mt ~ A (src - ms)
    e = unique_edges(np.asarray(faces, np.int64))
    ds, dt = src[e[:, 1]] - src[e[:, 0]], tgt[e[:, 1]] - tgt[e[:, 0]]
    ss = np.zeros((n, 3, 3))
    ts = np.zeros((n, 3, 3))
    cnt = np.zeros(n)
    ls = np.zeros(n)
    outer_ss = ds[:, :, None] * ds[:, None, :]
    outer_ts = dt[:, :, None] * ds[:, None, :]
    for end in (0, 1):                          # an edge is in both of its ends' rings (its sign squares away)
        np.add.at(ss, e[:, end], outer_ss)
        np.add.at(ts, e[:, end], outer_ts)
        np.add.at(cnt, e[:, end], 1.0)
        np.add.at(ls, e[:, end], np.linalg.norm(ds, axis=1))
    ns = vertex_normals(src, np.asarray(faces, np.int64)) * (ls / np.maximum(cnt, 1.0))[:, None]
    nt = ns @ A.T
    ss += ns[:, :, None] * ns[:, None, :]
    ts += nt[:, :, None] * ns[:, None, :]
    out = np.tile(A, (n, 1, 1))
    ok = np.abs(np.linalg.det(ss)) > 1e-30
    out[ok] = ts[ok] @ np.linalg.inv(ss[ok])
    return out


def same_topology_keys(src: np.ndarray, keys: np.ndarray, tgt: np.ndarray, faces: np.ndarray,
                       proportions: bool = False) -> np.ndarray:
    """The source's keys (K, N, 3) on the target, vertex for vertex: src, tgt (N, 3) rest positions of one
    topology with faces (F, 3), each in its own frame and units. Default: turned and scaled by the similarity
    s R that puts src on tgt (``correspond.umeyama``, a reflection allowed: a mirrored copy's keys mirror); with
    ``proportions``, by each vertex's map (``vertex_maps``), its singular values over s clipped to ``STRETCH``.
    Returns (K, N, 3) float64 in the target's frame and units."""
    keys = np.asarray(keys, np.float64)
    # a reflection allowed: a copy mirrored by its object's negative scale keeps its keys
    s, R, _ = umeyama(np.asarray(src, np.float64), np.asarray(tgt, np.float64), reflect=True)
    if not proportions:
        return s * keys @ R.T
    J = vertex_maps(src, tgt, faces)
    # the map over the similarity, its stretches clipped, back on it: a vertex cannot turn or stretch a key
    # further than the proportion map allows the whole head
    M = np.einsum("ji,njk->nik", R, J) / s
    u, sig, vt = np.linalg.svd(M)
    d = np.sign(np.linalg.det(u @ vt))
    vt[:, 2] *= d[:, None]
    sig = np.clip(sig, *STRETCH)
    M = u @ (sig[:, :, None] * vt)
    J = s * np.einsum("ij,njk->nik", R, M)
    return np.einsum("nij,knj->kni", J, keys)
