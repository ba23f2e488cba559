"""Smooth away the triangles a carried key turns over, and the edges it folds (numpy only; runs inside Blender).

A key carried by closest points can pull two neighbouring target vertices from different sides of a fold on
the source (an upper and a lower lid, the two lips, the chin and the neck); at weight 1 the triangle between
them turns over. ``unflip_keys`` relaxes the motion of the vertices around each turned triangle toward their
neighbours' mean (damped Jacobi steps of the uniform graph Laplacian on the key's displacement, in a region
that grows by one ring each round) until no triangle of the key faces against its rest normal, or a round
limit. Keys and vertices with no turned triangle are never changed; a key the relaxation would change by more
than ``MAX_CHANGE`` of its motion, or leave with more turned triangles, is kept as it was.

``relax_folds`` does the same where a key folds an edge (its dihedral angle changes by more than ``FOLD_DEG``)
without turning a triangle over: a crumple a few triangles wide, where a template's steep motion meets a face's
small features (an eye corner's caruncle, the skin beside a lip corner). It relaxes only within ``FOLD_REACH`` of
the folded triangles and keeps a result only when it folds less.
"""
from __future__ import annotations

import numpy as np

from .mesh import dihedral_angles, dihedral_change, edge_face_pairs, face_normals, turned_over, unique_edges
from .nearest import knn

ROUNDS = 6         # at most this many rounds (each: grow the region one ring, relax it, re-check)
RELAX = 4          # damped Jacobi steps per round
DAMP = 0.5         # each step moves a region vertex this share toward its neighbours' mean
MAX_CHANGE = 0.5   # a key whose relaxation moves it by more than this share of its mean motion is kept as it
                   # was (the fold is the key's: a lid closing over a closed eye surface), as is one whose
                   # relaxation leaves more triangles turned (allowed ones included) than it had
FOLD_DEG = 90.0    # ``relax_folds``: an edge whose dihedral angle a key changes by more than this is folded
FOLD_REACH = 0.3   # ... relaxed only within this distance of its triangles (the caller's units: cm on the template
                   # frame, 3 mm)


def unflip_keys(keys: np.ndarray, verts: np.ndarray, faces: np.ndarray, rounds: int = ROUNDS, allowed=None,
                max_change: float = MAX_CHANGE) -> tuple[np.ndarray, np.ndarray]:
    """(keys (K, N, 3) with the turned triangles relaxed, (K,) turned-triangle count left per key).

    keys: (K, N, 3) displacements (any float dtype, returned in the same dtype, a copy only where a key
    changed); verts (N, 3) rest positions; faces (F, 3). A triangle is turned when its normal at weight 1
    points against its rest normal (``real_eval.triangle_damage``'s count). allowed: optional (K, F) bool, or
    a function k -> (F,) bool (asked only for keys that turn a triangle over): triangles a key may turn over
    (where the source's own key turns its triangles: lips pressed through each other); they are neither
    relaxed nor counted."""
    verts = np.asarray(verts, np.float64)
    faces = np.asarray(faces, np.int64)
    n0 = face_normals(verts, faces, normalize=False)
    e = unique_edges(faces)
    n = len(verts)
    out = keys
    left = np.zeros(len(keys), np.int64)

    def turned_all(d):
        return turned_over(verts, faces, d, n0)

    ok = None

    def turned(d):
        t = turned_all(d)
        return t if ok is None else t & ~ok

    for k in range(len(keys)):
        d0 = np.asarray(keys[k], np.float64)
        ok = None
        bad = turned(d0)
        if not bad.any():
            continue
        if allowed is not None:
            ok = allowed(k) if callable(allowed) else allowed[k]
            bad = turned(d0)
            if not bad.any():
                continue
        d = d0.copy()
        region = np.zeros(n, bool)
        for _ in range(rounds):
            region = _relax_round(d, region, faces[bad].ravel(), e)
            bad = turned(d)
            if not bad.any():
                break
        change = np.linalg.norm(d - d0, axis=1).mean() / max(float(np.linalg.norm(d0, axis=1).mean()), 1e-30)
        if change > max_change or turned_all(d).sum() > turned_all(d0).sum():
            left[k] = int(turned(d0).sum())
            continue
        left[k] = int(bad.sum())
        if out is keys:
            out = np.array(keys, copy=True)
        out[k] = d.astype(out.dtype)
    return out, left


def _relax_round(d: np.ndarray, region: np.ndarray, seeds: np.ndarray, e: np.ndarray,
                 movable: np.ndarray | None = None) -> np.ndarray:
    """One round of the relaxation: the region (N,) bool takes the seed vertices and one more ring (edges e (E, 2)),
    and its vertices (those ``movable``, default all) take ``RELAX`` damped Jacobi steps of the uniform graph
    Laplacian on d (N, 3) float64, changed in place. Returns the grown region."""
    n = len(d)
    region = region.copy()
    region[seeds] = True
    region = _grow(region, e)                              # one more ring around the region
    sel = e[region[e[:, 0]] | region[e[:, 1]]]
    deg = np.bincount(sel.ravel(), minlength=n).astype(np.float64)
    idx = np.flatnonzero(region & (deg > 0) & (True if movable is None else movable))
    for _ in range(RELAX):
        s = np.zeros((n, 3))
        np.add.at(s, sel[:, 0], d[sel[:, 1]])
        np.add.at(s, sel[:, 1], d[sel[:, 0]])
        d[idx] += DAMP * (s[idx] / deg[idx, None] - d[idx])
    return region


def relax_folds(keys: np.ndarray, verts: np.ndarray, faces: np.ndarray, hold=None, limit_deg: float = FOLD_DEG,
                reach: float = FOLD_REACH, rounds: int = ROUNDS, max_change: float = MAX_CHANGE
                ) -> tuple[np.ndarray, np.ndarray]:
    """(keys (K, N, 3) with their folded edges relaxed, (K,) bool: the keys changed).

    keys: (K, N, 3) displacements (any float dtype, returned in the same dtype, a copy only where a key changed);
    verts (N, 3) rest positions; faces (F, 3); hold: optional (N,) bool, vertices that keep their motion (an
    opening's margin, whose closure the key sets). An edge is folded when the key changes its dihedral angle by more
    than ``limit_deg`` degrees (``mesh.dihedral_change``). The vertices within ``reach`` (verts' units) of a folded
    edge's triangles relax as in ``unflip_keys`` (a region growing one ring a round, at most ``rounds``) until no
    edge is folded. A key keeps the result only when it has fewer folded edges, a lower fold energy (the sum over
    the edges of max(0, change - limit_deg / 2)^2: no new bends where the fold was spread), no more triangles
    turned over, and changed by at most ``max_change`` of its mean motion; otherwise it stays as it was."""
    verts = np.asarray(verts, np.float64)
    faces = np.asarray(faces, np.int64)
    if np.ndim(keys) != 3 or np.shape(keys)[1:] != (len(verts), 3):
        raise ValueError(f"keys must have shape (K, {len(verts)}, 3) for these vertices, got {np.shape(keys)}")
    hold = np.zeros(len(verts), bool) if hold is None else np.asarray(hold, bool)
    if hold.shape != (len(verts),):
        raise ValueError(f"hold must have shape ({len(verts)},), one flag per vertex, got {hold.shape}")
    pairs = edge_face_pairs(faces)
    n0 = face_normals(verts, faces, normalize=False)
    rest = dihedral_angles(verts, faces, pairs)
    e = unique_edges(faces)
    out = keys
    changed = np.zeros(len(keys), bool)

    def energy(c):
        return float((np.maximum(c - 0.5 * limit_deg, 0.0) ** 2).sum())

    def n_turned(d, tris):
        return int(turned_over(verts, faces[tris], d, n0[tris]).sum())

    for k in range(len(keys)):
        d0 = np.asarray(keys[k], np.float64)
        c0 = dihedral_change(verts, faces, d0, pairs, rest)
        bad = c0 > limit_deg
        if not bad.any():
            continue
        movable = ~hold & _within(verts, e, np.unique(faces[pairs[bad].ravel()]), reach, rounds + 1)
        # only the triangles with a movable corner change: the checks run on them and the edges they share
        moved = movable[faces].any(axis=1)
        near = np.flatnonzero(moved[pairs].any(axis=1))
        if not len(near):                                   # every folded edge's corners held
            continue
        tri = np.unique(pairs[near].ravel())
        sub_faces, sub_pairs = faces[tri], np.searchsorted(tri, pairs[near])
        local = np.flatnonzero(moved)
        before = c0[near]
        d = d0.copy()
        region = np.zeros(len(verts), bool)
        c = before
        for _ in range(rounds):
            region = _relax_round(d, region, np.unique(sub_faces[sub_pairs[c > limit_deg].ravel()]), e, movable)
            c = dihedral_change(verts, sub_faces, d, sub_pairs, rest[near])
            if not (c > limit_deg).any():
                break
        change = np.linalg.norm(d - d0, axis=1).mean() / max(float(np.linalg.norm(d0, axis=1).mean()), 1e-30)
        if ((c > limit_deg).sum() >= (before > limit_deg).sum() or energy(c) >= energy(before)
                or n_turned(d, local) > n_turned(d0, local) or change > max_change):
            continue
        if out is keys:
            out = np.array(keys, copy=True)
        out[k] = d.astype(out.dtype)
        changed[k] = True
    return out, changed


def _within(verts: np.ndarray, e: np.ndarray, seeds: np.ndarray, reach: float, rings: int) -> np.ndarray:
    """(N,) bool: the vertices of verts (N, 3) within ``rings`` edges (e (E, 2)) and ``reach`` (straight) of one of
    the vertices ``seeds`` (S,)."""
    near = np.zeros(len(verts), bool)
    near[seeds] = True
    for _ in range(rings):
        near = _grow(near, e)
    cand = np.flatnonzero(near)
    near[cand] = knn(verts[cand], verts[seeds], 1)[1][:, 0] <= reach * reach
    return near


def _grow(mask: np.ndarray, e: np.ndarray) -> np.ndarray:
    """(N,) bool: the vertices of ``mask`` (N,) bool and their neighbours along the edges e (E, 2)."""
    out = mask.copy()
    out[e[mask[e[:, 0]], 1]] = True
    out[e[mask[e[:, 1]], 0]] = True
    return out
