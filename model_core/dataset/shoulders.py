"""ICT heads with shoulders joined below the neck, as busts and heads cut at the chest carry them (numpy only).

ICT-FaceKit's full crop ends at the base of the neck. ``with_shoulders`` joins a smooth skirt to that neck ring:
rings of the ring's own vertices flaring out and down like a bust's shoulders and upper chest. ICT's 53 keys are
exact on the skin and ~0 on the neck ring, so the skin's truth stays exact and the skirt's is zero. Used by
``scripts/shoulders_eval.py`` and ``tests/test_neck.py`` (``runtime/neck.py`` cuts such a piece for the model).

Units: ICT centimetres, +Y up, face toward +Z.
"""
from __future__ import annotations

import numpy as np

from ..runtime.mesh import boundary_loops

__all__ = ["with_shoulders"]


def with_shoulders(verts: np.ndarray, faces: np.ndarray, rings: int = 8, width: float = 1.7, depth: float = 1.4,
                   drop: float = 14.0) -> tuple[np.ndarray, np.ndarray]:
    """A head (verts (N, 3) cm, +Y up; faces (F, 3) triangles, consistently wound) with a skirt joined to its
    neck ring (its lowest boundary loop, L vertices).

    Args:
        rings: rings in the skirt; width, depth: how many times the ring's own half-width (X) and half-depth (Z)
            the last ring spans (ICT's neck base is already 25 cm wide: 1.7 gives 42 cm shoulders); drop: how far
            (cm) the last ring lies below the neck ring.
    Returns:
        (verts (N + rings * L, 3), faces (F + 2 * rings * L, 3)): the input's first, the skirt wound as the neck.
    """
    verts = np.asarray(verts, np.float64)
    faces = np.asarray(faces, np.int64)
    if verts.ndim != 2 or verts.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"verts must be (N, 3) and faces (F, 3) triangles, got {verts.shape} and {faces.shape}")
    loops = boundary_loops(faces)
    if not loops:
        raise ValueError("the head has no open boundary: there is no neck ring to join shoulders to")
    ring = np.asarray(min(loops, key=lambda lp: verts[lp, 1].mean()))
    p0 = verts[ring]
    c = p0.mean(axis=0)
    new_v, new_f = [], []
    prev, n = ring, len(verts)
    nxt = np.roll(np.arange(len(ring)), -1)
    for j in range(1, rings + 1):
        t = j / rings
        s = t * t * (3 - 2 * t)
        p = p0.copy()
        p[:, 0] = c[0] + (p0[:, 0] - c[0]) * (1 + (width - 1) * s)
        p[:, 2] = c[2] + (p0[:, 2] - c[2]) * (1 + (depth - 1) * s)
        p[:, 1] = p0[:, 1] - drop * (0.25 * t + 0.75 * t * t)
        idx = n + np.arange(len(ring))
        n += len(ring)
        new_v.append(p)
        new_f += [np.stack([prev, prev[nxt], idx[nxt]], 1), np.stack([prev, idx[nxt], idx], 1)]
        prev = idx
    skirt = np.concatenate(new_f)
    # wound as the neck: the neck's triangle on the ring's first edge runs a -> b, so the skirt's must run b -> a
    a, b = ring[0], ring[1]
    owner = [int(x) for x in faces[(faces == a).any(1) & (faces == b).any(1)][0]]
    if owner[(owner.index(a) + 1) % 3] == b:
        skirt = skirt[:, ::-1]
    return np.concatenate([verts] + new_v), np.concatenate([faces, skirt])
