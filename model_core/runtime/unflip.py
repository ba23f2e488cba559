"""Smooth away the triangles a carried key turns over (numpy only; runs inside Blender).

A key carried by closest points can pull two neighbouring target vertices from different sides of a fold on
the source (an upper and a lower lid, the two lips, the chin and the neck); at weight 1 the triangle between
them turns over. ``unflip_keys`` relaxes the motion of the vertices around each turned triangle toward their
neighbours' mean (damped Jacobi steps of the uniform graph Laplacian on the key's displacement, in a region
that grows by one ring each round) until no triangle of the key faces against its rest normal, or a round
limit. Keys and vertices with no turned triangle are never changed; a key the relaxation would change by more
than ``MAX_CHANGE`` of its motion, or leave with more turned triangles, is kept as it was.
"""
from __future__ import annotations

import numpy as np

from .mesh import face_normals, turned_over, unique_edges

ROUNDS = 6         # at most this many rounds (each: grow the region one ring, relax it, re-check)
RELAX = 4          # damped Jacobi steps per round
DAMP = 0.5         # each step moves a region vertex this share toward its neighbours' mean
MAX_CHANGE = 0.5   # a key whose relaxation moves it by more than this share of its mean motion is kept as it
                   # was (the fold is the key's: a lid closing over a closed eye surface), as is one whose
                   # relaxation leaves more triangles turned (allowed ones included) than it had


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
            region[faces[bad].ravel()] = True
            grow = region.copy()                                   # one more ring around the region
            grow[e[region[e[:, 0]], 1]] = True
            grow[e[region[e[:, 1]], 0]] = True
            region = grow
            sel = e[region[e[:, 0]] | region[e[:, 1]]]
            deg = np.bincount(sel.ravel(), minlength=n).astype(np.float64)
            idx = np.flatnonzero(region & (deg > 0))
            for _ in range(RELAX):
                s = np.zeros((n, 3))
                np.add.at(s, sel[:, 0], d[sel[:, 1]])
                np.add.at(s, sel[:, 1], d[sel[:, 0]])
                d[idx] += DAMP * (s[idx] / deg[idx, None] - d[idx])
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
