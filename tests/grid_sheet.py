"""``grid_sheet``: a flat square grid of unit-spaced vertices split into triangles, for the tests of the key
relaxations (``runtime/unflip.py``)."""
from __future__ import annotations

import numpy as np


def grid_sheet(n: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """(verts (n * n, 3) at (x, y, 0) for x, y in 0..n-1, faces (2 (n - 1)^2, 3)): vertex y * n + x; each square
    split along its (x, y) -> (x + 1, y + 1) diagonal."""
    x, y = np.meshgrid(np.arange(n, dtype=np.float64), np.arange(n, dtype=np.float64))
    verts = np.stack([x.ravel(), y.ravel(), np.zeros(n * n)], axis=1)
    i = np.arange(n - 1)
    a = (i[:, None] * n + i[None, :]).ravel()
    faces = np.concatenate([np.stack([a, a + 1, a + n + 1], 1), np.stack([a, a + n + 1, a + n], 1)])
    return verts, faces
