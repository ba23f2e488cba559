"""Exact k nearest neighbours of many points among a small target set (numpy only; issue 17).

Used for the proxy's k-NN maps (``proxy.knn_weights``: every mesh vertex, up to 300k, against ~1k proxy
vertices); ``knn_brute`` is ``correspond.PointGrid``'s exact fallback.

Method (``knn``): the query points are put in a uniform grid of cubes of side ``h`` (about half the targets'
spacing). In each occupied cube, ``U`` = the k-th smallest over the targets of their farthest distance to the
cube bounds the k-th neighbour distance of every query inside it, so only targets whose nearest distance to
the cube is <= ``U`` can be among its neighbours (``_cell_candidates``). Each query is then compared with its
cube's candidates only (tens instead of all targets). The cubes are taken a few dozen at a time along a Z-order
curve, each group against a window of the targets nearest it that provably holds all their candidates (issue 16;
a superset of them, so the same answers). Cubes with more than ``max_cand`` candidates (queries far from every
target) are answered by brute force. Both return the k smallest in the order (squared distance,
target index), distances computed alike as (dx^2 + dy^2) + dz^2 of the differences, so their answers are
identical, exact ties included.

Units: any (the caller's), float64 inside.
"""
from __future__ import annotations

import numpy as np

_BLOCK = 1 << 20            # entries (rows x targets or candidates) of one block of distances: 8 MiB of float64
_MAX_AXIS_CELLS = 1 << 20   # cubes per axis at most (int64 cube keys cannot overflow)


def _sq_dist(q: np.ndarray, tx: np.ndarray, ty: np.ndarray, tz: np.ndarray) -> np.ndarray:
    """(M, C) squared distances between points q (M, 3) and targets given per axis as (M or 1, C) arrays."""
    return ((q[:, :1] - tx) ** 2 + (q[:, 1:2] - ty) ** 2) + (q[:, 2:] - tz) ** 2


def _k_smallest(dd: np.ndarray, cand: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` smallest entries of each row of ``dd`` (M, C) in the order (value, cand): (their cand (M, k),
    values (M, k)), ascending; among equal values the lower cand is taken. ``cand`` (M or 1, C) int64: the
    index of every column."""
    cand = np.broadcast_to(cand, dd.shape)
    if dd.shape[1] > k:
        part = np.argpartition(dd, k - 1, axis=1)
        kth = np.take_along_axis(dd, part[:, k - 1:k], 1)
        part = part[:, :k]
        tied = np.flatnonzero((dd <= kth).sum(axis=1) > k)     # equal values across the k-th: by index
        if len(tied):
            part[tied] = np.lexsort((cand[tied], dd[tied]), axis=1)[:, :k]
        dd, cand = np.take_along_axis(dd, part, 1), np.take_along_axis(cand, part, 1)
    o = np.lexsort((cand, dd), axis=1)
    return np.take_along_axis(cand, o, 1), np.take_along_axis(dd, o, 1)


def knn_brute(points: np.ndarray, targets: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute force: (idx (M, k) int64, d2 (M, k) float64 squared distances) of the ``k`` nearest of ``targets``
    (P, 3) to each of ``points`` (M, 3), nearest first, equal distances by lower index; k clipped to P."""
    points, targets = np.asarray(points, np.float64), np.asarray(targets, np.float64)
    k = min(k, len(targets))
    idx, d2 = np.empty((len(points), k), np.int64), np.empty((len(points), k))
    t = [targets[None, :, j] for j in range(3)]
    ids = np.arange(len(targets))[None]
    step = max(1, _BLOCK // max(len(targets), 1))
    for s in range(0, len(points), step):
        idx[s:s + step], d2[s:s + step] = _k_smallest(_sq_dist(points[s:s + step], *t), ids, k)
    return idx, d2


_WINDOW_CUBES = 32         # cubes whose candidates are looked for among one window of targets


def _window(centre: np.ndarray, half: float, targets: np.ndarray, k: int, far2_of) -> tuple[np.ndarray, np.ndarray]:
    """(win (W,) ascending target indices, far2 (C, W)): a window of the targets (P, 3) that holds every candidate
    of the cubes of centres ``centre`` (C, 3) and half side ``half``: the targets nearest the cubes' bounding box,
    as many as it takes for the farthest of them to lie beyond every cube's bound U (the k-th smallest farthest
    distance within the window, >= the bound over all targets), with a margin for round-off; then no target
    outside can be a candidate, and the window's candidates are a superset of those among all targets (the same
    k nearest). ``far2_of(win)`` (C, W) the farthest squared distances to the window's targets."""
    p = len(targets)
    lo, hi = centre.min(axis=0) - half, centre.max(axis=0) + half
    gap = np.maximum(np.maximum(lo - targets, targets - hi), 0.0)
    dbox2 = (gap ** 2).sum(axis=1)                                   # (P,) squared distance to the box
    order = np.argsort(dbox2, kind="stable")
    m = min(p, max(8 * k, 64))
    while True:
        win = np.sort(order[:m])
        far2 = far2_of(win)
        if m >= p:
            return win, far2
        bound = float(np.partition(far2, k - 1, axis=1)[:, k - 1].max())
        if dbox2[order[m]] > bound * (1.0 + 1e-6) + 1e-9 * half * half:   # the nearest target left out is beyond
            return win, far2
        m = min(p, 2 * m)


def _cell_candidates(corner: np.ndarray, h: float, targets: np.ndarray, k: int, max_cand: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The targets (P, 3) that can be among the ``k`` nearest of a point inside each cube [corner, corner + h]
    (corner (C, 3)), as lists: (start (C + 1,) int64 offsets into idx, idx int64 ascending per cube). A cube with
    more than ``max_cand`` candidates gets an empty list (its queries are left to brute force). The cubes are
    taken ``_WINDOW_CUBES`` at a time, each group against a window of the targets around it (``_window``: a
    superset of its candidates; issue 16), not against all of them."""
    half = 0.5 * h
    centre = corner + half
    counts, lists = [], []
    perm = _morton_order(np.rint((corner - corner.min(axis=0)) / h).astype(np.int64))   # groups close together
    for s in range(0, len(centre), _WINDOW_CUBES):
        c = centre[perm[s:s + _WINDOW_CUBES]]

        def far2_of(win, c=c):
            """(C, W) farthest squared distance of each cube to each window target."""
            far2 = np.zeros((len(c), len(win)))
            for j in range(3):
                far2 += (np.abs(c[:, j, None] - targets[None, win, j]) + half) ** 2
            return far2

        win, far2 = _window(c, half, targets, k, far2_of)
        near2 = np.zeros_like(far2)                                  # nearest squared distance to the cube
        for j in range(3):
            near2 += np.maximum(np.abs(c[:, j, None] - targets[None, win, j]) - half, 0.0) ** 2
        bound = np.partition(far2, k - 1, axis=1)[:, k - 1:k]
        ok = near2 <= bound * (1.0 + 1e-9) + 1e-300                  # slack: round-off never drops a neighbour
        cnt = ok.sum(axis=1)
        ok[cnt > max_cand] = False
        counts.append(np.where(cnt > max_cand, 0, cnt))
        lists.append(win[np.nonzero(ok)[1]])
    counts = np.concatenate(counts).astype(np.int64)                 # in the order perm
    idx = np.concatenate(lists).astype(np.int64)
    idx = idx[np.argsort(np.repeat(perm, counts), kind="stable")]    # back to the cubes' order, each list kept
    counts[perm] = counts.copy()
    start = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=start[1:])
    return start, idx


def _morton_order(cell: np.ndarray) -> np.ndarray:
    """(C,) the order of integer cells (C, 3) >= 0 along the Z-order curve (bits of x, y and z interleaved): runs
    of consecutive cells in it lie close together."""
    code = np.zeros(len(cell), np.int64)
    for b in range(int(cell.max(initial=0)).bit_length()):
        for j in range(3):
            code |= ((cell[:, j] >> b) & 1) << (3 * b + j)
    return np.argsort(code, kind="stable")


def knn(points: np.ndarray, targets: np.ndarray, k: int, *, max_cand: int = 256
        ) -> tuple[np.ndarray, np.ndarray]:
    """Exact (idx (M, k) int64, d2 (M, k) float64 squared distances) of the ``k`` nearest of ``targets`` (P, 3)
    to each of ``points`` (M, 3), nearest first, equal distances by lower index; ``k`` is clipped to P.
    Same answer as ``knn_brute`` (module docstring); cost ~ M x (candidates per cube, tens) + cubes x P."""
    points, targets = np.asarray(points, np.float64), np.asarray(targets, np.float64)
    m, p = len(points), len(targets)
    k = min(k, p)
    if m == 0 or k == 0:
        return np.zeros((m, k), np.int64), np.zeros((m, k))
    if p <= 4 * max(k, 8) or m * p <= 1 << 16:
        return knn_brute(points, targets, k)
    lo = points.min(axis=0)
    text = np.maximum(np.ptp(targets, axis=0), 1e-300)
    area = 2.0 * (text[0] * text[1] + text[1] * text[2] + text[0] * text[2])   # ~ a closed surface's area
    h = max(0.5 * float(np.sqrt(area / p)), float(np.ptp(points, axis=0).max()) / _MAX_AXIS_CELLS, 1e-300)
    cell = np.floor((points - lo) / h).astype(np.int64)
    dims = cell.max(axis=0) + 1
    _, first, inv = np.unique((cell[:, 0] * dims[1] + cell[:, 1]) * dims[2] + cell[:, 2], return_index=True,
                              return_inverse=True)
    inv = np.asarray(inv).ravel()
    start, cidx = _cell_candidates(lo + cell[first] * h, h, targets, k, max_cand)
    count = np.diff(start)[inv]                                     # (M,) candidates of each query's cube
    idx, d2 = np.empty((m, k), np.int64), np.empty((m, k))
    brute = count == 0
    if brute.any():
        idx[brute], d2[brute] = knn_brute(points[brute], targets, k)
    # queries by ascending candidate count, in blocks padded to their largest count (<= _BLOCK entries)
    qs = np.flatnonzero(~brute)
    qs = qs[np.argsort(count[qs], kind="stable")]
    sc = count[qs]
    tx, ty, tz = (np.append(targets[:, j], np.inf) for j in range(3))   # index p: padding at infinity
    s = 0
    while s < len(qs):
        e = min(len(qs), s + max(1, _BLOCK // int(sc[s])))
        if (e - s) * int(sc[e - 1]) > _BLOCK:
            e = s + max(1, _BLOCK // int(sc[e - 1]))
        q, width = qs[s:e], int(sc[e - 1])
        col = np.arange(width)[None]
        pos = start[inv[q]][:, None] + col
        cand = np.where(col < count[q][:, None], cidx[np.minimum(pos, len(cidx) - 1)], p)
        idx[q], d2[q] = _k_smallest(_sq_dist(points[q], tx[cand], ty[cand], tz[cand]), cand, k)
        s = e
    return idx, d2
