"""Dense correspondence between two face surfaces, numpy only (runs inside Blender).

- ``closest_points``: closest point on a triangle mesh (face index + barycentrics) for many query points.
- ``umeyama`` / ``similarity_icp``: a scaled rigid alignment (s, R, t), trimmed ICP onto a surface.
- ``register``: non-rigid registration of a template mesh onto a target surface: the template's vertices move
  to minimise a two-way closest-point distance (template -> target and target -> template) plus a
  Laplacian term that keeps the template's local shape, with a stiffness that falls over a schedule
  (coarse alignment first, detail last). Sparse normal equations solved by conjugate gradients (no scipy).
- ``harmonic_fill``: replace a field's values on some vertices by the harmonic interpolation of the others
  along the mesh's own edges.

Units: whatever the caller's; every array is float64 inside.
"""
from __future__ import annotations

import numpy as np

from .mesh import concat_ranges, cotan_weights, face_normals, vertex_normals
from .nearest import knn_brute


# ------------------------------------------------------------------ nearest neighbours
_STEPS = np.array([-1, 0, 1])
_OFFSETS = np.array([(i, j, l) for i in _STEPS for j in _STEPS for l in _STEPS])


_TABLE_CELLS = 1 << 21      # a grid with at most this many cells looks its cells up in a dense start table
_MAX_CAND = 1 << 21         # candidate distances computed at a time (16 MiB of float64)
_PICK_BLOCK = 1 << 17       # (query, candidate) distances of one block of ``PointGrid._pick`` (1 MiB of float64)
_REACH_VERTS = 20000        # Surface.nearest_vertex_within searches at most this many (seeded) vertices
_FINE_K = 4                 # queries of at most this many neighbours try a grid of half the cell side first
ICP_ALIGNED = 0.95          # similarity_icp(accelerate=True): two steps this aligned (cosine) ...
ICP_JUMP = 10.0             # ... make a jump of at most this many steps
GAP_WORK = 5e7              # PointGrid._gap dilates at most this many cells x rounds (else: the bounding box's bound)


def _first_smallest(dd: np.ndarray, k: int) -> np.ndarray:
    """(B, k) int64 column indices of the ``k`` smallest entries of each row of ``dd`` (B, W), k <= W, ascending,
    equal values by column (the order of ``np.argsort(dd, axis=1, kind="stable")[:, :k]``, and of k passes of
    ``np.argmin`` that each take out the minimum): one partition per row, then a stable sort of the k columns
    taken, in column order; rows whose k-th value has ties beyond the k taken are sorted whole."""
    w = dd.shape[1]
    if k >= w:
        return np.argsort(dd, axis=1, kind="stable")
    part = np.sort(np.argpartition(dd, k - 1, axis=1)[:, :k], axis=1)         # the k smallest, in column order
    v = np.take_along_axis(dd, part, 1)
    out = np.take_along_axis(part, np.argsort(v, axis=1, kind="stable"), 1)
    kth = v.max(axis=1, keepdims=True)
    tied = np.flatnonzero((dd <= kth).sum(axis=1) > k)                        # which of the equals: by column
    if len(tied):
        out[tied] = np.argsort(dd[tied], axis=1, kind="stable")[:, :k]
    return out


class PointGrid:
    """A uniform hash grid over points (P, 3) for nearest-neighbour queries, with ~``per_cell`` points per
    occupied cell (cell side from the points' surface density), or cells of side ``cell``. Build once, query
    many times.

    Speed (issue 17; same answers): a query of ``k <= _FINE_K`` neighbours first looks at the 27 cells of a grid
    of half the side (a quarter of the candidates on a surface) and keeps that answer when its k-th neighbour
    lies within the half side (then it is the exact answer, which the 27 full cells hold too); exact queries
    whose k-th neighbour lies beyond one cell side climb grids of 2, 4, 8 ... times the side instead of
    comparing with every point. Grids of up to ``_TABLE_CELLS`` cells find a cell's points by a table lookup."""

    def __init__(self, targets: np.ndarray, per_cell: float = 8.0, cell: float | None = None):
        self.targets = np.asarray(targets, np.float64)
        t = self.targets
        self.lo = t.min(axis=0)
        ext = np.maximum(t.max(axis=0) - self.lo, 1e-12)
        self.ext = ext
        area = 2.0 * (ext[0] * ext[1] + ext[1] * ext[2] + ext[0] * ext[2])  # ~2x a closed surface's area
        self.h = max(0.5 * float(np.sqrt(area * per_cell / max(len(t), 1))), 1e-12) if cell is None else cell
        self.dims = np.floor(ext / self.h).astype(np.int64) + 1
        key = self._key(np.minimum(np.floor((t - self.lo) / self.h).astype(np.int64), self.dims - 1))
        self.order = np.argsort(key, kind="stable")
        self.skey = key[self.order]
        self._table = None
        self._grids: dict = {}

    def _key(self, c: np.ndarray) -> np.ndarray:
        return (c[..., 0] * self.dims[1] + c[..., 1]) * self.dims[2] + c[..., 2]

    def _scaled(self, factor: float) -> "PointGrid":
        """The grid of the same points with cells ``factor`` times as wide (built once)."""
        if factor not in self._grids:
            self._grids[factor] = PointGrid(self.targets, cell=self.h * factor)
        return self._grids[factor]

    def _ranges(self, key: np.ndarray, inside: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(start, count) in ``order`` of the points of the cells ``key`` (0 points for cells not ``inside``)."""
        n_cells = int(np.prod(self.dims))
        if n_cells <= _TABLE_CELLS:
            if self._table is None:
                self._table = np.searchsorted(self.skey, np.arange(n_cells + 1))
            key = np.where(inside, key, 0)
            start = self._table[key]
            return start, np.where(inside, self._table[key + 1] - start, 0)
        if getattr(self, "_occupied", None) is None:     # the occupied cells: (key, start, count), ascending
            ukey, ustart, ucount = np.unique(self.skey, return_index=True, return_counts=True)
            self._occupied = (ukey, ustart, ucount)
        ukey, ustart, ucount = self._occupied
        pos = np.minimum(np.searchsorted(ukey, key), len(ukey) - 1)   # one search among the occupied cells only
        hit = inside & (ukey[pos] == key)
        return ustart[pos], np.where(hit, ucount[pos], 0)

    def _box_distance(self, q: np.ndarray) -> np.ndarray:
        """(M,) each query's distance to the points' bounding box (0 inside): a lower bound of its nearest."""
        return np.linalg.norm(np.maximum(np.maximum(self.lo - q, q - self.lo - self.ext), 0.0), axis=1)

    def _gap(self, q: np.ndarray, reach: float) -> np.ndarray:
        """(M,) a lower bound of each query's distance to the nearest point, exact enough up to ``reach``: from
        the Chebyshev distance (in cells) between its cell and the nearest occupied one (a point in a cell D
        cells away is at least (D - 1) cells away), by dilating the occupied cells (built once per reach)."""
        if getattr(self, "_gap_reach", None) != reach:
            m = int(np.ceil(reach / self.h)) + 2
            shape = tuple(int(x) for x in self.dims + 2 * m)
            if float(np.prod(np.asarray(shape, np.float64))) * m > GAP_WORK:   # a reach of very many cells (the
                return self._box_distance(q)     # points collapsed by a failed fit): their bounding box bounds it
            occ = np.zeros(shape, bool)
            c = np.minimum(np.floor((self.targets - self.lo) / self.h).astype(np.int64), self.dims - 1) + m
            occ[c[:, 0], c[:, 1], c[:, 2]] = True
            dist = np.where(occ, 0, m + 1).astype(np.int64)
            grown = occ
            for r in range(1, m + 1):
                g = grown.copy()
                for ax in range(3):                       # 3x3x3 dilation, one axis at a time
                    a = np.moveaxis(g, ax, 0)
                    b = a.copy()
                    b[1:] |= a[:-1]
                    b[:-1] |= a[1:]
                    g = np.moveaxis(b, 0, ax)
                dist[g & ~grown] = r
                grown = g
            self._gap_reach, self._gap_m, self._gap_dist = reach, m, dist
        m, dist = self._gap_m, self._gap_dist
        c = np.floor((q - self.lo) / self.h).astype(np.int64) + m
        inside = np.all((c >= 0) & (c < np.array(dist.shape)), axis=1)
        cheb = np.full(len(q), m + 1)
        ci = c[inside]
        cheb[inside] = dist[ci[:, 0], ci[:, 1], ci[:, 2]]
        return np.maximum(cheb - 1, 0) * self.h

    def _counts(self, q: np.ndarray):
        """Per query (M,): the 27 cells' (start, count) in ``order`` (M, 27) and their total (M,). The cells' keys
        are the query cell's key plus each offset's (``_key`` is linear), their inside test the product of three
        per-axis tests of the (-1, 0, +1) neighbours (M, 3): no (M, 27, 3) arrays."""
        c = np.floor((q - self.lo) / self.h).astype(np.int64)
        shift = self._key(_OFFSETS)                    # (27,) key offset of each neighbour cell
        ok = [(c[:, j, None] + _STEPS >= 0) & (c[:, j, None] + _STEPS < self.dims[j]) for j in range(3)]   # (M, 3)
        inside = (ok[0][:, :, None, None] & ok[1][:, None, :, None] & ok[2][:, None, None, :]).reshape(len(q), 27)
        start, count = self._ranges(self._key(c)[:, None] + shift, inside)
        return start, count, count.sum(axis=1)

    def _block(self, q: np.ndarray, k: int, counted=None) -> tuple[np.ndarray, np.ndarray]:
        """(idx (M, k), d2 (M, k)): the ``k`` nearest of the points in the 27 cells around each query, nearest
        first (idx -1, d2 inf where they hold fewer than k). At most ``_MAX_CAND`` candidates at a time."""
        m = len(q)
        idx = -np.ones((m, k), np.int64)
        d2 = np.full((m, k), np.inf)
        start, count, tot = self._counts(q) if counted is None else counted
        cum = np.cumsum(tot)
        s = 0
        while s < m:       # queries s:e hold at most _MAX_CAND candidates (or are one query)
            e = max(s + 1, int(np.searchsorted(cum, (cum[s - 1] if s else 0) + _MAX_CAND, "right")))
            idx[s:e], d2[s:e] = self._select(q[s:e], k, start[s:e].ravel(), count[s:e].ravel(), tot[s:e])
            s = e
        return idx, d2

    def _select(self, q, k, start, count, tot):
        if int(tot.sum()) == 0:
            return -np.ones((len(q), k), np.int64), np.full((len(q), k), np.inf)
        return self._pick(q, k, self.order[concat_ranges(start, count)], tot)

    def _dense(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``_block``'s answer for many queries close together (more queries than points): the queries are
        grouped by cubes of half a cell; each cube keeps, of its cell's 27-cell block, only the points that can be
        among the k nearest of a point inside it (nearest distance to the cube <= the k-th smallest farthest
        distance), in the block's order; each query then compares with its cube's list (a few points, not ~100).
        The same answers as ``_block``, ties included."""
        m = len(q)
        hf = 0.5 * self.h
        fc = np.floor((q - self.lo) / hf).astype(np.int64)           # floor(2y) // 2 == floor(y): the same cells
        base = fc.min(axis=0)
        span = fc.max(axis=0) - base + 1
        code = ((fc[:, 0] - base[0]) * span[1] + (fc[:, 1] - base[1])) * span[2] + (fc[:, 2] - base[2])
        ucode, first, inv = np.unique(code, return_index=True, return_inverse=True)
        inv = np.asarray(inv).ravel()
        cube = fc[first]                                              # (C, 3) fine cell of each cube
        corner = self.lo + cube * hf
        cells = (cube // 2)[:, None, :] + _OFFSETS[None]
        inside = np.all((cells >= 0) & (cells < self.dims), axis=2)
        start, count = self._ranges(self._key(cells), inside)
        tot = count.sum(axis=1)
        cand = self.order[concat_ranges(start.ravel(), count.ravel())]   # (sum tot,) grouped by cube
        row = np.repeat(np.arange(len(cube)), tot)
        t = self.targets[cand]
        lo_c = corner[row]
        e = np.abs(t - (lo_c + 0.5 * hf))                             # per axis, from the cube's centre
        far2 = ((e + 0.5 * hf) ** 2).sum(axis=1)
        near2 = (np.maximum(e - 0.5 * hf, 0.0) ** 2).sum(axis=1)
        bound = np.full(len(cube), np.inf)                            # k-th smallest far2 of each cube
        nz = np.flatnonzero(tot > 0)
        if len(nz):
            gf = (np.cumsum(tot) - tot)[nz]
            f2 = far2.copy()
            for j in range(k):                                        # (inf where a cube holds fewer than k)
                bound[nz] = np.minimum.reduceat(f2, gf)
                if j < k - 1:
                    hit = np.flatnonzero(f2 == bound[row])
                    _, where = np.unique(row[hit], return_index=True)
                    f2[hit[where]] = np.inf
        keep = near2 <= bound[row] * (1.0 + 1e-9) + 1e-300           # slack: round-off never drops a neighbour
        kc = np.bincount(row[keep], minlength=len(cube))
        kept = cand[keep]                                              # grouped by cube, block order kept
        kstart = np.cumsum(kc) - kc
        qtot = kc[inv]
        if int(qtot.sum()) == 0:
            return -np.ones((m, k), np.int64), np.full((m, k), np.inf)
        return self._pick(q, k, kept[concat_ranges(kstart[inv], qtot)], qtot)

    def _pick(self, q, k, cand, tot):
        """The k nearest of each query's candidates (cand flat, grouped by query; tot (M,) per query): (idx (M, k),
        d2 (M, k)), nearest first, equal distances by the first in the query's list (idx -1, d2 inf past its
        candidates). The queries, by rising count, in blocks of at most ``_PICK_BLOCK`` entries padded to the
        block's largest count: one (B, W) distance table and k argmins per block (no per-row reductions; for
        ``k > _FINE_K`` one stable argsort of each row instead, the same order);
        distances (dx^2 + dy^2) + dz^2, as ``((t - q) ** 2).sum(axis=1)`` computes them."""
        m = len(q)
        idx = -np.ones((m, k), np.int64)
        d2 = np.full((m, k), np.inf)
        if not hasattr(self, "_axes"):
            self._axes = [np.ascontiguousarray(self.targets[:, j]) for j in range(3)]
        tx, ty, tz = self._axes
        start = np.cumsum(tot) - tot
        order = np.argsort(tot, kind="stable")
        order = order[tot[order] > 0]
        st = tot[order]
        s = 0
        while s < len(order):
            w = int(st[min(len(order), s + max(1, _PICK_BLOCK // int(st[s]))) - 1])
            e = min(len(order), s + max(1, _PICK_BLOCK // w))
            w = int(st[e - 1])
            qi = order[s:e]
            col = np.arange(w)
            valid = col[None] < st[s:e, None]
            c = cand[np.minimum(start[qi, None] + col[None], len(cand) - 1)]
            qq = q[qi]
            dd = (tx[c] - qq[:, :1]) ** 2
            dd += (ty[c] - qq[:, 1:2]) ** 2
            dd += (tz[c] - qq[:, 2:]) ** 2
            dd[~valid] = np.inf
            if k > _FINE_K:     # many neighbours: the argmins' order (by value, ties by position) by one partition
                a = _first_smallest(dd, min(k, w))
                v = np.take_along_axis(dd, a, 1)
                ok = np.isfinite(v)
                idx[qi, :a.shape[1]] = np.where(ok, np.take_along_axis(c, a, 1), -1)
                d2[qi, :a.shape[1]] = v
                s = e
                continue
            r = np.arange(len(qi))
            for j in range(min(k, w)):  # j-th nearest: the first minimum of each row, then taken out
                a = np.argmin(dd, axis=1)
                v = dd[r, a]
                ok = np.isfinite(v)
                idx[qi[ok], j] = c[r[ok], a[ok]]
                d2[qi[ok], j] = v[ok]
                dd[r, a] = np.inf
            s = e
        return idx, d2

    def knn(self, points: np.ndarray, k: int = 1, *, exact: bool = True, chunk: int = 16384,
            reach: float | None = None):
        """(idx (M, k) int64, d2 (M, k)) of the ``k`` nearest points, nearest first.

        A query looks at the 27 cells around it; its answer is exact when its k-th neighbour lies within one
        cell side. Others are answered exactly when ``exact`` (by grids of growing cells, then by brute force),
        else get what the 27 cells hold (idx -1, d2 inf where they hold fewer than k points). With ``reach``
        (exact only), a query whose k-th neighbour lies further than ``reach`` may get that inexact answer."""
        points = np.asarray(points, np.float64)
        k = min(k, len(self.targets))
        idx = -np.ones((len(points), k), np.int64)
        d2 = np.full((len(points), k), np.inf)
        fine = self._scaled(0.5) if 0 < k <= _FINE_K and len(self.targets) > 27 * k else None
        safe = (0.5 * self.h * (1.0 - 1e-9)) ** 2                  # within it, the half-size grid's answer is exact
        dense = 0 < k <= _FINE_K and len(points) > 2 * len(self.targets)
        for s in range(0, len(points), chunk):
            q = points[s:s + chunk]
            if dense:
                idx[s:s + chunk], d2[s:s + chunk] = self._dense(q, k)
                continue
            if fine is None:
                idx[s:s + chunk], d2[s:s + chunk] = self._block(q, k)
                continue
            i_f, d_f = fine._block(q, k)
            redo = ~(d_f[:, -1] <= safe)
            i_f[redo], d_f[redo] = self._block(q[redo], k)
            idx[s:s + chunk], d2[s:s + chunk] = i_f, d_f
        if exact:
            far = np.flatnonzero(~(d2[:, -1] <= self.h * self.h))
            # distance to the points' bounding box: no grid of smaller cells can answer a query further out
            out = self._box_distance(points[far])
            if reach is not None and len(far):            # nothing within reach: leave the inexact answer
                gone = self._gap(points[far], reach) > reach
                far, out = far[~gone], out[~gone]
            factor, last = 2.0, False
            while len(far):
                if reach is not None and factor * self.h >= reach:
                    factor, last = reach / self.h, True      # the last grid: cells of the reach
                g = self._scaled(factor)
                if factor * self.h >= self.ext.max():
                    idx[far], d2[far] = knn_brute(points[far], self.targets, k)   # one cell holds all: compare
                    break
                near = out <= g.h
                if near.any():
                    now = far[near]
                    counted = g._counts(points[now])
                    if counted[2].mean() > 0.25 * len(self.targets):
                        idx[far], d2[far] = knn_brute(points[far], self.targets, k)   # big cells: compare with all
                        break
                    if len(now) > len(self.targets) // 4 and k <= _FINE_K:    # many: by cubes, in chunks
                        i_g, d_g = np.empty((len(now), k), np.int64), np.empty((len(now), k))
                        for c in range(0, len(now), 4096):
                            i_g[c:c + 4096], d_g[c:c + 4096] = g._dense(points[now[c:c + 4096]], k)
                    else:
                        i_g, d_g = g._block(points[now], k, counted)
                    better = ~(d_g[:, -1] > d2[now, -1])            # never worse than what the small cells held
                    i_g[~better], d_g[~better] = idx[now[~better]], d2[now[~better]]
                    idx[now], d2[now] = i_g, d_g
                    done = np.zeros(len(far), bool)
                    done[near] = d_g[:, -1] <= g.h * g.h
                    far, out = far[~done], out[~done]
                if last:        # (not factor * h >= reach again: (reach / h) * h may round below reach, and
                    break       # the loop then went on with that grid for ever: the demo head hung)
                factor *= 2.0
        return idx, d2


def knn_grid(points: np.ndarray, targets: np.ndarray, k: int, *, per_cell: float = 8.0) -> np.ndarray:
    """Indices (M, k) int64 of the ``k`` nearest ``targets`` (P, 3) of every point (M, 3), exact, nearest first
    (``PointGrid``)."""
    return PointGrid(targets, per_cell).knn(points, k)[0]


# ------------------------------------------------------------------ closest points
def closest_point_triangles(p, a, b, c) -> tuple[np.ndarray, np.ndarray]:
    """Closest point of triangles to points, vectorised (Ericson's region tests).

    Args: p, a, b, c: (M, 3) query points and triangle corners.
    Returns: (bary (M, 3) weights of (a, b, c) of the closest point, d2 (M,) squared distance)."""
    return closest_on_triangles(*(np.ascontiguousarray(np.asarray(x, np.float64).T) for x in (p, a, b, c)))


def _dot3(x, y) -> np.ndarray:
    """(M,) dot products of vectors given by components x, y (3, M): (x0 y0 + x2 y2) + x1 y1, the order in which
    ``np.einsum("ij,ij->i", ...)`` sums them for (M, 3) rows (numpy 1.26 and 2.3, checked bit for bit)."""
    return (x[0] * y[0] + x[2] * y[2]) + x[1] * y[1]


def closest_on_triangles(p, a, b, c) -> tuple[np.ndarray, np.ndarray]:
    """``closest_point_triangles`` on components: p, a, b, c (3, M) (x, y and z rows, each contiguous: no
    (M, 3) rows with 3-long inner loops). The same numbers: every product and sum in the same order."""
    ab, ac, ap = b - a, c - a, p - a
    bp, cp = p - b, p - c
    d1, d2 = _dot3(ab, ap), _dot3(ac, ap)
    d3, d4 = _dot3(ab, bp), _dot3(ac, bp)
    d5, d6 = _dot3(ab, cp), _dot3(ac, cp)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2
    with np.errstate(divide="ignore", invalid="ignore"):
        den = va + vb + vc
        v_in, w_in = vb / den, vc / den
        v_ab = d1 / (d1 - d3)
        w_ac = d2 / (d2 - d6)
        w_bc = (d4 - d3) / ((d4 - d3) + (d5 - d6))
    one, zero = np.ones_like(d1), np.zeros_like(d1)
    conds = [(d1 <= 0) & (d2 <= 0), (d3 >= 0) & (d4 <= d3), (vc <= 0) & (d1 >= 0) & (d3 <= 0),
             (d6 >= 0) & (d5 <= d6), (vb <= 0) & (d2 >= 0) & (d6 <= 0), (va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0)]
    v = np.select(conds, [zero, one, v_ab, zero, zero, 1 - w_bc], v_in)
    w = np.select(conds, [zero, zero, zero, one, w_ac, w_bc], w_in)
    bad = ~(np.isfinite(v) & np.isfinite(w))
    if bad.any():  # degenerate triangle: fall back to the nearest corner
        dd = np.stack([_dot3(ap, ap), _dot3(bp, bp), _dot3(cp, cp)], 1)[bad]
        k = np.argmin(dd, axis=1)
        v[bad], w[bad] = (k == 1).astype(float), (k == 2).astype(float)
    v, w = np.clip(v, 0, 1), np.clip(w, 0, 1)
    u = np.clip(1 - v - w, 0, 1)
    s = (u + v) + w                                     # normalize_rows: the row sums, then each weight over them
    u, v, w = u / s, v / s, w / s
    d2 = np.zeros_like(u)
    for j in range(3):                                  # ((q - p) ** 2).sum(1) with q = (u a + v b) + w c
        e = (u * a[j] + v * b[j]) + w * c[j] - p[j]
        d2 += e * e
    return np.stack([u, v, w], 1), d2


def vertex_faces(n_verts: int, faces: np.ndarray, max_valence: int = 16) -> np.ndarray:
    """(N, max_valence) int64 faces around each vertex, padded by repeating the first (-1 for isolated ones)."""
    flat = faces.ravel()
    order = np.argsort(flat, kind="stable")
    fid = order // 3
    counts = np.bincount(flat, minlength=n_verts)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = concat_ranges(np.zeros_like(start), counts)
    out = -np.ones((n_verts, max_valence), np.int64)
    keep = rank < max_valence
    out[flat[order][keep], rank[keep]] = fid[keep]
    first = out[:, :1]
    return np.where(out < 0, first, out)


class Surface:
    """A triangle mesh ready for closest-point queries: its vertex grid and the faces around each vertex.

    verts (N, 3), faces (F, 3). ``closest(points)`` -> (face (M,) int64, bary (M, 3), d2 (M,)): the closest
    point on the surface of each query, searched among the triangles around its ``k`` nearest vertices
    (exact on reasonable meshes). ``exact=False`` skips queries with no vertex within one grid cell
    (face 0, d2 inf) instead of searching every vertex for them."""

    def __init__(self, verts: np.ndarray, faces: np.ndarray, vf: np.ndarray | None = None):
        self.verts = np.asarray(verts, np.float64)
        self.faces = np.asarray(faces, np.int64)
        self.grid = PointGrid(self.verts)
        self.vf = self.faces_around(len(self.verts), self.faces) if vf is None else vf

    @staticmethod
    def faces_around(n_verts: int, faces: np.ndarray) -> np.ndarray:
        """The ``vf`` table of a surface with these faces (N, <= 12) (topology only: a caller that queries the
        same mesh moved many times, e.g. ``register``, builds it once and passes it in)."""
        val = np.bincount(faces.ravel(), minlength=n_verts)
        return vertex_faces(n_verts, faces, max_valence=int(min(12, max(val.max(), 1))))

    def _edge(self) -> float:
        """The longest edge (a point on a triangle lies within it of each of the triangle's corners)."""
        if not hasattr(self, "_max_edge"):
            v, f = self.verts, self.faces
            self._max_edge = float(max((np.linalg.norm(v[f[:, i]] - v[f[:, (i + 1) % 3]], axis=1).max(initial=0.0)
                                        for i in range(3)), default=0.0))
        return self._max_edge

    def closest(self, points, *, k: int = 2, exact: bool = True, max_dist: float | None = None,
                chunk: int = 4096):
        """See the class; with ``max_dist``, queries provably further than it from the surface may be skipped
        (face 0, d2 inf) or answered inexactly (d2 beyond ``max_dist ** 2``) instead of searched for exactly: a
        query within ``max_dist`` has ``k <= 3`` vertices within ``max_dist`` + the longest edge, where the
        exact search (``PointGrid.knn``'s ``reach``) stops."""
        points = np.asarray(points, np.float64)
        if exact and max_dist is not None:
            f, b, d = self.closest(points, k=k, exact=False, chunk=chunk)
            rest = np.flatnonzero(~np.isfinite(d))
            if len(rest):
                reach = max_dist + self._edge() if k <= 3 else None
                f[rest], b[rest], d[rest] = self._closest(points[rest], k, True, chunk, reach)
            return f, b, d
        return self._closest(points, k, exact, chunk, None)

    def nearest_vertex_within(self, points, reach: float) -> tuple[np.ndarray, np.ndarray]:
        """(idx (M,) int64, d2 (M,)): a vertex within ``reach`` of each query (M, 3), the nearest of at most
        ``_REACH_VERTS`` evenly spread, seeded vertices; -1 and inf where none lies within ``reach``. What a far
        query gets on any mesh density: ``closest(exact=False)`` reaches one or two grid cells, a few millimetres
        on a dense head and centimetres on a low-poly one. The grid (cells of side ``reach``) is built once per
        reach."""
        grids = self.__dict__.setdefault("_reach_grids", {})
        if reach not in grids:
            n = len(self.verts)
            keep = (np.sort(np.random.default_rng(0).choice(n, _REACH_VERTS, replace=False)) if n > _REACH_VERTS
                    else np.arange(n))
            grids[reach] = (keep, PointGrid(self.verts[keep], cell=float(reach)))
        keep, grid = grids[reach]
        idx, d2 = grid.knn(np.asarray(points, np.float64), 1, exact=False)
        ok = (idx[:, 0] >= 0) & (d2[:, 0] <= reach * reach)
        return np.where(ok, keep[np.maximum(idx[:, 0], 0)], -1), np.where(ok, d2[:, 0], np.inf)

    def _closest(self, points, k, exact, chunk, reach):
        out_f = np.zeros(len(points), np.int64)
        out_b = np.zeros((len(points), 3))
        out_b[:, 0] = 1.0
        out_d = np.full(len(points), np.inf)
        f = self.faces
        if not hasattr(self, "_cols"):
            self._cols = components(self.verts)                                       # x, y, z: 1-D gathers
        cols = self._cols
        near, _ = self.grid.knn(points, k, exact=exact, reach=reach)   # all at once: dense queries share cells
        for s in range(0, len(points), chunk):
            p = points[s:s + chunk]
            idx = near[s:s + chunk]
            found = idx[:, 0] >= 0
            if not found.any():
                continue
            p, idx = p[found], np.where(idx[found] < 0, idx[found][:, :1], idx[found])
            cand = self.vf[idx].reshape(len(p), -1)
            cand = np.where(cand < 0, 0, cand)
            m, c = cand.shape
            # each triangle once per query (the faces around two neighbouring vertices overlap, and
            # ``vertex_faces`` pads by repeating): later repeats score inf, so the argmin is the same
            o = np.argsort(cand, axis=1, kind="stable")
            sc = np.take_along_axis(cand, o, 1)
            rep = np.zeros((m, c), bool)
            np.put_along_axis(rep, o[:, 1:], sc[:, 1:] == sc[:, :-1], 1)
            keep = np.flatnonzero(~rep.ravel())
            tri = f[cand.ravel()[keep]].T
            who = keep // c
            bary_u, d2_u = closest_on_triangles(_gather3(p.T, who), *(_gather3(cols, t) for t in tri))
            d2 = np.full(m * c, np.inf)
            d2[keep] = d2_u
            d2 = d2.reshape(m, c)
            best = np.argmin(d2, axis=1)
            rows = np.arange(m)
            pos = np.searchsorted(keep, rows * c + best)
            sel = s + np.flatnonzero(found)
            out_f[sel] = cand[rows, best]
            out_b[sel] = bary_u[pos]
            out_d[sel] = d2[rows, best]
        return out_f, out_b, out_d


def components(x: np.ndarray) -> list:
    """The columns of x (M, C) as C contiguous (M,) arrays (per-component work: 1-D gathers and sums)."""
    return [np.ascontiguousarray(x[:, c]) for c in range(x.shape[1])]


def _gather3(cols, idx: np.ndarray) -> np.ndarray:
    """(3, M): the rows ``idx`` (M,) of the three components cols (3 arrays or rows (N,)), each gathered alone."""
    out = np.empty((3, len(idx)))
    for j in range(3):
        np.take(cols[j], idx, out=out[j])
    return out


def closest_points(points, verts, faces, *, k: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closest point on the mesh (verts (N, 3), faces (F, 3)) of every query point (M, 3): (face (M,) int64,
    bary (M, 3), d2 (M,) squared distances). Build a ``Surface`` instead to query one mesh many times."""
    return Surface(verts, faces).closest(points, k=k)


def interpolate(values: np.ndarray, faces: np.ndarray, face: np.ndarray, bary: np.ndarray) -> np.ndarray:
    """Per-vertex values (N, ...) at points (face (M,), bary (M, 3)) -> (M, ...)."""
    vals = values[faces[face]]
    return np.einsum("mk...,mk->m...", vals, bary)


# ------------------------------------------------------------------ similarity alignment
def umeyama(src: np.ndarray, dst: np.ndarray, w: np.ndarray | None = None, reflect: bool = False):
    """Least-squares similarity (s, R, t (3,)) with s R src + t ~ dst; src, dst (M, 3), w (M,) >= 0. R is a
    rotation, or with ``reflect`` any orthogonal map (a mirrored copy of one mesh, matched vertex for vertex)."""
    w = np.ones(len(src)) if w is None else np.asarray(w, np.float64)
    w = w / w.sum()
    ms, md = w @ src, w @ dst
    a, b = src - ms, dst - md
    var = float(w @ (a * a).sum(1))
    u, sig, vt = np.linalg.svd((b * w[:, None]).T @ a)
    d = np.ones(3)
    if not reflect:
        d[2] = np.sign(np.linalg.det(u @ vt)) or 1.0
    R = u @ np.diag(d) @ vt
    s = float((sig * d).sum() / max(var, 1e-300))
    return s, R, md - s * R @ ms


def rotation_degrees(R: np.ndarray) -> np.ndarray | float:
    """R (..., 3, 3) rotations -> their angles (...,) in degrees, 0..180 (from the trace; R_a @ R_b.T gives the turn
    between two rotations)."""
    c = (np.trace(np.asarray(R, np.float64), axis1=-2, axis2=-1) - 1.0) / 2.0
    return np.degrees(np.arccos(np.clip(c, -1.0, 1.0)))


def pose_gap(a, b) -> tuple[float, float]:
    """How far apart two similarities a, b = (s, R (3, 3), t (3,)) lie: (|log(s_a / s_b)|, the angle of R_a R_b^T in
    degrees)."""
    return abs(np.log(a[0] / float(b[0]))), float(rotation_degrees(a[1] @ np.asarray(b[1]).T))


def rotation_power(R: np.ndarray, a: float) -> np.ndarray:
    """R (3, 3) rotation -> R^a (3, 3): the same axis, ``a`` times the angle (Rodrigues; angle in [0, pi])."""
    w = np.array([R[2, 1] - R[1, 2], R[0, 2] - R[2, 0], R[1, 0] - R[0, 1]])
    n = float(np.linalg.norm(w))
    if n < 1e-15:
        return np.eye(3)
    th = a * float(np.arccos(np.clip((np.trace(R) - 1.0) / 2.0, -1.0, 1.0)))
    k = w / n
    K = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + np.sin(th) * K + (1.0 - np.cos(th)) * K @ K


def _extrapolated(prev, new, src_mean: np.ndarray, jump: float):
    """The similarity ``jump`` more steps along the step prev -> new, each (s, R (3, 3), t (3,)): the rotation
    and the scale by their powers, the points' centroid along a line."""
    (s0, R0, t0), (s1, R1, t1) = prev, new
    R = rotation_power(R1 @ R0.T, jump) @ R1
    s = s1 * (s1 / s0) ** jump
    c1 = s1 * R1 @ src_mean + t1
    c = c1 + jump * (c1 - (s0 * R0 @ src_mean + t0))
    return s, R, c - s * R @ src_mean


def similarity_icp(src, dst_verts, dst_faces, *, init_scale: float = 1.0, iters: int = 40, trim: float = 0.85,
                   init=None, surface: "Surface | None" = None, reach: float | None = None,
                   skip: np.ndarray | None = None, exempt: np.ndarray | None = None, accelerate: bool = False):
    """Align points ``src`` (M, 3) onto the surface (dst_verts, dst_faces) by a similarity: trimmed ICP.

    Start: ``init`` = (s, R, t), or scale ``init_scale`` with the most +Z points (nose tips, for faces
    toward +Z) matched. Each step keeps the ``trim`` share of closest pairs. ``surface``: the target's
    ``Surface`` when the caller has built it already (the same answers; a dense target's grid is built once
    for several alignments and the registration). ``reach`` (target units): a point the closest-point grid
    leaves unanswered (nothing within a cell or two: millimetres on a dense mesh) pairs with a target vertex
    within ``reach`` (``Surface.nearest_vertex_within``), so the pairs, and the fit, do not depend on the
    target's vertex density; None: unanswered points sit out (as before this option). ``skip`` (F,) bool: target
    triangles whose closest points make no pair (its open border: a point beyond a cut face mask would pull the
    fit onto the cut); ``exempt`` (M,) bool: points that pair there all the same (the source's own cut: a neck
    ring meets the target's neck ring). An iteration where ``skip`` would leave fewer than 4 pairs (a mesh that
    is all border) pairs as without it. ``accelerate``: where two steps in a row move the points the same way
    (cosine > ``ICP_ALIGNED``) and the second is shorter by a ratio r, jump ahead by the rest of that geometric
    series, r / (1 - r) steps (at most ``ICP_JUMP``), and keep the jump only when the next trimmed error is not
    larger (Besl and McKay's accelerated ICP, in that spirit): plain trimmed ICP creeps along a face's shallow
    valleys (a dev head moved 2 degrees of yaw and 3 % of scale between steps 30 and 300) and left the fits of a
    head and its mirror image apart; accelerated, 30 + 10 steps land within 0.2 degrees and 0.3 % of 300 + 200
    plain steps (docs/model.md). Returns (s, R (3, 3), t (3,))."""
    src = np.asarray(src, np.float64)
    dv = np.asarray(dst_verts, np.float64)
    surf = Surface(dv, dst_faces) if surface is None else surface
    if init is None:
        s, R = float(init_scale), np.eye(3)
        t = dv[np.argmax(dv[:, 2])] - s * src[np.argmax(src[:, 2])]
    else:
        s, R, t = init
    src_mean, last, jumped = src.mean(axis=0), None, None     # (accelerate) the last step, a jump on trial
    for _ in range(iters):
        moved = s * src @ R.T + t
        f, b, d2 = surf.closest(moved, exact=False)
        q = interpolate(dv, surf.faces, f, b)
        found = np.isfinite(d2)
        on_cut = np.zeros(len(src), bool)
        if reach is not None and not found.all():
            miss = np.flatnonzero(~found)
            vi, vd2 = surf.nearest_vertex_within(moved[miss], reach)
            hit = vi >= 0
            if skip is not None:       # a vertex is on the border when a triangle around it is skipped
                around = surf.vf[np.maximum(vi, 0)]
                on_cut[miss[hit]] = (skip[np.maximum(around, 0)] & (around >= 0)).any(axis=1)[hit]
            q[miss[hit]], d2[miss[hit]] = dv[vi[hit]], vd2[hit]
        if skip is not None:
            on_cut[found] = skip[f[found]]
            if exempt is not None:
                on_cut &= ~exempt
            if (np.isfinite(d2) & ~on_cut).sum() >= 4:
                d2[on_cut] = np.inf
        fin = np.isfinite(d2)
        if fin.sum() < 4:
            raise ValueError("the surfaces do not overlap: align them roughly first")
        keep = fin & (d2 <= np.quantile(d2[fin], trim))
        if jumped is not None:                  # a jump is kept only when it did not raise the trimmed error
            err = float(d2[keep].mean())
            if err > jumped[1]:
                (s, R, t), jumped, last = jumped[0], None, None
                continue
            jumped = None
        s2, R2, t2 = umeyama(src[keep], q[keep])
        done = abs(s2 / s - 1) < 1e-5 and np.abs(t2 - t).max() < 1e-6 * s2
        if accelerate and not done:
            step = s2 * src @ R2.T + t2 - moved
            if last is not None:
                a, b = float(np.linalg.norm(step)), float(np.linalg.norm(last))
                r = a / max(b, 1e-300)
                if float((step * last).sum()) > ICP_ALIGNED * a * b and r < 0.98:
                    jumped = ((s2, R2, t2), float(d2[keep].mean()))
                    s, R, t = _extrapolated((s, R, t), (s2, R2, t2), src_mean, min(r / (1.0 - r), ICP_JUMP))
                    last = None
                    continue
            last = step
        s, R, t = s2, R2, t2
        if done:
            break
    return s, R, t


# ------------------------------------------------------------------ sparse algebra (no scipy)
class Laplacian:
    """Cotangent Laplacian L = D - W of a triangle mesh (weights clipped to >= 0), applied by bincount."""

    def __init__(self, verts: np.ndarray, faces: np.ndarray):
        e, w = cotan_weights(verts, faces)
        w = np.clip(w, 0.0, None) + 1e-3 * max(float(np.median(w)), 1e-9)  # stay connected on flat spots
        self.n = len(verts)
        self.i, self.j, self.w = e[:, 0], e[:, 1], w
        self.deg = np.bincount(self.i, w, self.n) + np.bincount(self.j, w, self.n)

    def _columns(self, cols: list) -> list:
        """L applied to columns given as contiguous (N,) arrays: a list of (N,) arrays."""
        return [self.deg * x - (np.bincount(self.i, self.w * x[self.j], self.n)
                                + np.bincount(self.j, self.w * x[self.i], self.n)) for x in cols]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """L x for x (N, 3) (per column, contiguous: the same products, faster)."""
        return np.stack(self._columns(components(x)), 1)

    def twice(self, x: np.ndarray) -> np.ndarray:
        """L L x for x (N, 3): ``self(self(x))``'s numbers, the columns kept apart in between."""
        return np.stack(self._columns(self._columns(components(x))), 1)


def conjugate_gradient(apply, rhs: np.ndarray, x0: np.ndarray, *, iters: int = 200, tol: float = 1e-6,
                       precond: np.ndarray | None = None) -> np.ndarray:
    """Solve A x = rhs for a symmetric positive definite A given as ``apply(x)``; rhs, x0 (N, C): the C columns
    are solved together (one step length per column). ``precond`` (N,): Jacobi diagonal."""
    x = x0.copy()
    r = rhs - apply(x)
    minv = 1.0 if precond is None else 1.0 / precond[:, None]
    z = r * minv
    p = z.copy()
    rz = (r * z).sum(0)
    norm0 = np.sqrt((rhs * rhs).sum(0)) + 1e-300
    for _ in range(iters):
        ap = apply(p)
        alpha = rz / np.maximum((p * ap).sum(0), 1e-300)
        x += alpha * p
        r -= alpha * ap
        if (np.sqrt((r * r).sum(0)) / norm0).max() < tol:
            break
        z = r * minv
        rz_new = (r * z).sum(0)
        p = z + (rz_new / np.maximum(rz, 1e-300)) * p
        rz = rz_new
    return x


def conjugate_gradient_joint(apply, rhs: np.ndarray, x0: np.ndarray, *, iters: int = 200, tol: float = 1e-6,
                             precond: np.ndarray | None = None) -> np.ndarray:
    """``conjugate_gradient`` for an operator that mixes the columns (e.g. a point-to-plane pull couples x, y and
    z): the (N, C) unknowns solved as one vector of N * C values, one step length for all (``conjugate_gradient``
    takes one per column, which is right only when A acts on each column alike). rhs, x0 (N, C); precond (N,):
    the Jacobi diagonal of each row, used for all its columns. Returns (N, C)."""
    n, c = rhs.shape

    def flat(v):
        return apply(v.reshape(n, c)).reshape(-1, 1)

    pre = None if precond is None else np.repeat(np.asarray(precond, np.float64), c)
    x = conjugate_gradient(flat, rhs.reshape(-1, 1), np.asarray(x0, np.float64).reshape(-1, 1), iters=iters, tol=tol,
                           precond=pre)
    return x.reshape(n, c)


# ------------------------------------------------------------------ non-rigid registration
DEFAULT_SCHEDULE = (30.0, 10.0, 3.0, 1.0, 0.3)


def register(tpl_verts, tpl_faces, dst_verts, dst_faces, *, schedule=DEFAULT_SCHEDULE, inner: int = 3,
             landmarks=None, landmark_weight: float = 10.0, curves=None, tpl_weight=None,
             max_dist: float | None = None, max_back: int = 6000, progress=None, plane: float = 0.0,
             dst_surface: "Surface | None" = None, dst_skip: np.ndarray | None = None) -> np.ndarray:
    """Non-rigidly move a template (already similarity-aligned to the target) onto the target surface.

    Args:
        tpl_verts (N, 3), tpl_faces (F, 3): the template, in the target's units and frame.
        dst_verts (M, 3), dst_faces (G, 3): the target surface.
        schedule: Laplacian stiffness per stage (dimensionless, relative to the data terms), falling.
        inner: closest-point updates per stage.
        landmarks: optional (tpl_index (L,), dst_points (L, 3)) pairs that must meet.
        curves: optional list of (tpl_index (L,), polyline (P, 3)[, closed]): curves of the target (e.g. the rims
            of eye and mouth openings; closed unless the third item says otherwise) that the template's vertices
            ``tpl_index`` must lie on; each step pulls every one of them to its closest point on the polyline,
            with ``landmark_weight``.
        tpl_weight: optional (N,) weight of each template vertex's pull toward the target (0 = only follow).
        max_dist: pairs further apart than this are ignored (default: 10 % of the target's extent).
        max_back: at most this many target vertices (a seeded subset) pull on the template.
        plane: in [0, 1), the share of each closest-point pull that acts along the target's normal only
            (point-to-plane; ``plane_pull``): a pair then holds the template on the surface without dragging it
            along it, so the stiffness, not the closest points, decides where it sits along the surface; 0 (the
            default): point-to-point pulls, as before this option.
        dst_surface: the target's ``Surface`` when the caller has one already (e.g. from ``similarity_icp``).
        dst_skip: optional (G,) bool target triangles that pull no template vertex (a cut: what lies beyond it
            follows by stiffness instead of piling onto the cut); the target's vertices still pull the template.
    Returns: (N, 3) registered template positions."""
    if not 0.0 <= plane < 1.0:
        raise ValueError(f"plane must lie in [0, 1) (the share of each pull along the target's normal), got {plane}; "
                         f"at 1 nothing holds the template along the surface")
    x0 = np.asarray(tpl_verts, np.float64)
    tf = np.asarray(tpl_faces, np.int64)
    dv, df = np.asarray(dst_verts, np.float64), np.asarray(dst_faces, np.int64)
    n, m = len(x0), len(dv)
    lap = Laplacian(x0, tf)
    lx0 = lap(x0)
    dst = Surface(dv, df) if dst_surface is None else dst_surface
    scale_l = float(np.median(lap.deg))
    if max_dist is None:
        max_dist = 0.1 * float(np.ptp(dv, axis=0).max())
    wt = np.ones(n) if tpl_weight is None else np.asarray(tpl_weight, np.float64)
    x = x0.copy()
    if m > max_back:  # target -> template pairs from an evenly spread, seeded subset of a dense target
        keep = np.sort(np.random.default_rng(0).choice(m, max_back, replace=False))
        mark = np.zeros(m, bool)
        mark[keep] = True
        # the normals of the kept vertices from their own triangles only (the same sums, in the same order)
        dv_back, dvn_back = dv[keep], vertex_normals(dv, df[mark[df].any(axis=1)])[keep]
    else:
        dv_back, dvn_back = dv, vertex_normals(dv, df)
    bw = n / len(dv_back)  # target -> template pairs weigh as much in total as template -> target ones
    steps = [(a, k) for a in schedule for k in range(inner)]
    fixed = landmarks
    tpl_vf = Surface.faces_around(n, tf)        # the template's topology: its faces around each vertex, once
    nbc = components(dvn_back)                  # the back pairs' normals, per component
    pnbc = [plane * v for v in nbc]
    llx0 = lap(lx0)                             # the stiffness term's right-hand side and the diagonal of L L: the
    lap_diag = lap.deg ** 2 + np.bincount(lap.i, lap.w ** 2, n) + np.bincount(lap.j, lap.w ** 2, n)   # same each step
    for step, (alpha, _) in enumerate(steps):
        if curves:
            idx = [np.asarray(fixed[0], np.int64)] if fixed is not None else []
            pts = [np.asarray(fixed[1], np.float64)] if fixed is not None else []
            for ti, poly, *closed in curves:
                idx.append(np.asarray(ti, np.int64))
                pts.append(closest_on_polyline(x[ti], poly, *closed))
            landmarks = (np.concatenate(idx), np.concatenate(pts))
        # template -> target pairs
        f1, b1, d1 = dst.closest(x, exact=False)
        q1 = interpolate(dv, df, f1, b1)
        tn = vertex_normals(x, tf)
        fn1 = face_normals(dv, df[f1])
        ok1 = (d1 < max_dist ** 2) & ((tn * fn1).sum(1) > 0.3)
        if dst_skip is not None:
            ok1 &= ~dst_skip[f1]
        w1 = wt * ok1
        n1 = fn1 if plane else None
        # target -> template pairs
        f2, b2, d2 = Surface(x, tf, tpl_vf).closest(dv_back, exact=False)
        ok2 = (d2 < max_dist ** 2) & ((dvn_back * face_normals(x, tf)[f2]).sum(1) > 0.3)
        w2 = bw * ok2
        tri2 = tf[f2]
        tri2t, b2t = np.ascontiguousarray(tri2.T), np.ascontiguousarray(b2.T)
        a = alpha / scale_l  # L L ~ deg^2: alpha * deg per vertex against a data weight of 1

        # a pulled vertex pulled once: a plain indexed add (the same sums as add.at, much faster)
        once = landmarks is not None and len(np.unique(landmarks[0])) == len(landmarks[0])

        if plane:
            n1c = components(n1)
            pn1c = [plane * v for v in n1c]

        def apply(y, a=a, w1=w1, w2=w2, tri2=tri2, b2=b2, tri2t=tri2t, b2t=b2t, once=once, n1=n1,
                  n1c=n1c if plane else None, pn1c=pn1c if plane else None):
            if plane:           # plane_pull's numbers, per component (contiguous 1-D arrays, no (M, 3) rows)
                out = a * lap.twice(y)
                yc = components(y)
                for c, pull in enumerate(_pull_columns(yc, n1c, pn1c, plane)):
                    out[:, c] += w1 * pull
                by = [(b2t[0] * v[tri2t[0]] + b2t[1] * v[tri2t[1]]) + b2t[2] * v[tri2t[2]] for v in yc]   # B y
                wb = [w2 * pull for pull in _pull_columns(by, nbc, pnbc, plane)]
            else:
                out = a * lap.twice(y) + w1[:, None] * y
                wb = np.ascontiguousarray((w2[:, None] * np.einsum("mk,mkc->mc", b2, y[tri2])).T)  # W B y, by column
            for k in range(3):
                for c in range(3):
                    out[:, c] += np.bincount(tri2t[k], wb[c] * b2t[k], n)
            if landmarks is not None:     # add.at: a vertex may be pulled twice (a landmark on a rim)
                if once:
                    out[landmarks[0]] += landmark_weight * y[landmarks[0]]
                else:
                    np.add.at(out, landmarks[0], landmark_weight * y[landmarks[0]])
            return out

        if plane:
            rhs = a * llx0 + w1[:, None] * plane_pull(q1, n1, plane)
            wp = w2[:, None] * plane_pull(dv_back, dvn_back, plane)
        else:
            rhs = a * llx0 + w1[:, None] * q1
            wp = w2[:, None] * dv_back
        for k in range(3):
            for c in range(3):
                rhs[:, c] += np.bincount(tri2[:, k], wp[:, c] * b2[:, k], n)
        if landmarks is not None:
            np.add.at(rhs, landmarks[0], landmark_weight * np.asarray(landmarks[1], np.float64))
        diag = a * lap_diag + w1
        for k in range(3):
            diag += np.bincount(tri2[:, k], w2 * b2[:, k] ** 2, n)
        if plane:      # the pulls mix x, y and z: one system, not three
            x = conjugate_gradient_joint(apply, rhs, x, iters=40, tol=1e-5, precond=np.maximum(diag, 1e-12))
        else:
            x = conjugate_gradient(apply, rhs, x, iters=40, tol=1e-5, precond=np.maximum(diag, 1e-12))
        if progress is not None:
            progress(step + 1, len(steps))
    return x


def _pull_columns(v: list, normals: list, scaled: list, plane: float) -> list:
    """``plane_pull`` on components: v, normals and scaled = plane * normals, each three (M,) arrays (x, y, z);
    returns three (M,) arrays, the same numbers (n . v by ``_dot3``: the order numpy's einsum takes for (M, 3) rows,
    (n_x v_x + n_z v_z) + n_y v_y, checked by a test)."""
    d = _dot3(normals, v)
    return [(1.0 - plane) * v[c] + scaled[c] * d for c in range(3)]


def plane_pull(v: np.ndarray, normals: np.ndarray, plane: float) -> np.ndarray:
    """(M, 3): the pull matrix of a closest-point pair applied to vectors v (M, 3): (1 - plane) v + plane n (n . v),
    n = normals (M, 3) unit. plane 0: point-to-point (v); 1: point-to-plane (only v's component along n).
    Symmetric and positive semi-definite, so the registration's normal equations stay so."""
    return (1.0 - plane) * v + plane * normals * np.einsum("mc,mc->m", normals, v)[:, None]


def closest_on_polyline(points: np.ndarray, poly: np.ndarray, closed: bool = True) -> np.ndarray:
    """Closest points (M, 3) on the polyline ``poly`` (P, 3): segments poly[i] -> poly[i+1], wrapping round to
    poly[0] when ``closed``."""
    a, b = (poly, np.roll(poly, -1, axis=0)) if closed else (poly[:-1], poly[1:])
    ab = b - a
    t = np.einsum("mpc,pc->mp", points[:, None] - a[None], ab) / np.maximum((ab * ab).sum(1), 1e-300)
    q = a[None] + np.clip(t, 0, 1)[..., None] * ab[None]
    best = np.argmin(((q - points[:, None]) ** 2).sum(2), axis=1)
    return q[np.arange(len(points)), best]


def harmonic_fill(faces: np.ndarray, values: np.ndarray, known: np.ndarray, *, iters: int = 500,
                  tol: float = 1e-4) -> np.ndarray:
    """Replace the values of the vertices not ``known`` by the harmonic interpolation (uniform graph Laplacian
    of the mesh's own edges) of the known ones, so a field follows the mesh's connectivity, not proximity.

    Args: faces (F, 3); values (N, C); known (N,) bool. Returns (N, C) float64 (known rows unchanged).
    Vertices not connected to any known vertex end at 0. Only the unknown rows are solved (conjugate
    gradients on the Dirichlet system to relative residual ``tol``, each neighbour sum one ``reduceat`` over
    the columns that have a non-zero known neighbour; the others are 0)."""
    from .mesh import unique_edges
    values = np.asarray(values, np.float64)
    unk = ~np.asarray(known, bool)
    out = values.copy()
    if not unk.any() or unk.all():
        return out
    e = unique_edges(faces)
    both = np.concatenate([e, e[:, ::-1]])
    both = both[unk[both[:, 0]]]                          # edges leaving an unknown vertex
    both = both[np.argsort(both[:, 0], kind="stable")]
    u_idx = np.flatnonzero(unk)
    local = -np.ones(len(values), np.int64)
    local[u_idx] = np.arange(len(u_idx))
    row = local[both[:, 0]]
    deg = np.bincount(row, minlength=len(u_idx)).astype(np.float64)
    lonely = deg == 0
    start = np.concatenate([[0], np.cumsum(deg[~lonely]).astype(np.int64)[:-1]])
    nb_u = local[both[:, 1]]                              # -1 for known neighbours
    known_sum = np.zeros((len(u_idx), values.shape[1]))
    k_rows, k_sums = _NeighbourSums(np.where(nb_u < 0, both[:, 1], -1), row, start, len(u_idx))(values)
    known_sum[k_rows] = k_sums                              # the known neighbours' values (unknown ones add 0)
    sums = _NeighbourSums(nb_u, row, start, len(u_idx))

    def apply(y):
        rows, acc = sums(y)
        r = deg[:, None] * y
        r[rows] -= acc
        return r + lonely[:, None] * y

    # the solution is linear in the right-hand side: solve for its leading singular vectors only (the
    # columns of a field are far from independent), to ``tol`` of its energy
    u, sv, vt = np.linalg.svd(known_sum, full_matrices=False)
    energy = np.cumsum(sv ** 2) / max(float((sv ** 2).sum()), 1e-300)
    r = min(int(np.searchsorted(energy, 1.0 - tol)) + 1, len(sv))   # (all known neighbours 0: energy 0)
    y = conjugate_gradient(apply, u[:, :r] * sv[:r], np.zeros((len(u_idx), r)), iters=iters, tol=tol,
                           precond=np.maximum(deg, 1.0))
    out[u_idx] = y @ vt[:r]
    return out


_SLOT_MAX = 8                   # rows of up to this many neighbours are summed slot by slot (np.add.reduceat's
                                # order: its first term plus the rest in turn); longer rows by reduceat itself


class _NeighbourSums:
    """The neighbour sums of ``harmonic_fill``'s Laplacian, sum_j y[nb_j] per row, bit-identical to
    ``np.add.reduceat(ext[nb], start, axis=0)`` (ext = y and a zero row) but ~3x faster: rows of at most
    ``_SLOT_MAX`` neighbours are gathered slot by slot, (R,) rows at a time instead of an (E, C) gather and a
    per-row reduction. reduceat adds a row's first term to the sum of the rest taken in turn from 0 (numpy's
    pairwise sum below 8 terms; longer rows are left to reduceat itself); a known neighbour adds 0 there and is
    skipped here (the same sums).

    nb (E,) each edge's neighbour (-1: one that adds 0, e.g. a known vertex), row (E,) its row (0..n-1,
    ascending), start (R0,) the first edge of each row with an edge."""

    def __init__(self, nb: np.ndarray, row: np.ndarray, start: np.ndarray, n: int):
        deg = np.bincount(row, minlength=n)
        rows = row[start]                                       # ascending, one per row with an edge
        d = deg[rows]
        small = d <= _SLOT_MAX
        c = d[small]
        order = np.argsort(-c, kind="stable")                   # by falling count: slot j is a prefix
        self.n = n
        self.rows = rows[small][order]
        first, c = start[small][order], c[order]
        self.head = nb[first]                                   # (R,) first term (-1: 0)
        self.slots = []
        for j in range(1, int(c.max(initial=1))):
            cnt = int((c > j).sum())
            idx = nb[first[:cnt] + j]
            live = np.flatnonzero(idx >= 0)
            self.slots.append((live, idx[live]))
        big = np.flatnonzero(~small)
        self.big_rows = rows[big]
        if len(big):
            e = concat_ranges(start[big], d[big])
            self.big_nb = nb[e]
            self.big_start = np.cumsum(d[big]) - d[big]

    def __call__(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows (R,), their sums (R, C)) for y (P, C) (P: whatever ``nb`` indexes)."""
        rest = np.zeros((len(self.rows), y.shape[1]))
        for live, idx in self.slots:
            rest[live] += y[idx]
        head = np.where((self.head >= 0)[:, None], y[np.maximum(self.head, 0)], 0.0)
        sums = head + rest
        if not len(self.big_rows):
            return self.rows, sums
        ext = np.concatenate([y, np.zeros((1, y.shape[1]))])
        big = np.add.reduceat(ext[np.where(self.big_nb < 0, len(y), self.big_nb)], self.big_start, axis=0)
        return np.concatenate([self.rows, self.big_rows]), np.concatenate([sums, big])


def harmonic_fill_rows(faces: np.ndarray, values_at, known: np.ndarray, **kw) -> tuple[np.ndarray, np.ndarray]:
    """``harmonic_fill`` for a field that is costly to hold whole: only the rows it reads and writes.

    Args: faces (F, 3); values_at(idx (M,) ascending) -> (M, C) float64 rows of the field; known (N,) bool;
    kw: ``harmonic_fill``'s. Returns (unknown (U,) ascending vertex indices, (U, C) float64 their filled values):
    the same numbers as ``harmonic_fill(faces, values, known)[unknown]`` (the fill reads only the triangles
    around the unknown vertices, renumbered here in the same order), at a cost that follows the unknown
    vertices, not the mesh."""
    faces = np.asarray(faces, np.int64)
    known = np.asarray(known, bool)
    unknown = np.flatnonzero(~known)
    near = faces[(~known[faces]).any(axis=1)]                        # the triangles at an unknown vertex
    verts = np.unique(near)                                          # ascending: the order of every sum is kept
    vals = values_at(verts)
    out = np.zeros((len(unknown), vals.shape[1]))
    local_known = known[verts]
    if not len(verts) or local_known.all():
        return unknown, out
    if not local_known.any():                                        # no known neighbour anywhere: 0
        return unknown, out
    filled = harmonic_fill(np.searchsorted(verts, near), vals, local_known, **kw)
    out[np.searchsorted(unknown, verts[~local_known])] = filled[~local_known]
    return unknown, out


def carry_deltas(modes: np.ndarray, tri: np.ndarray, bary: np.ndarray, scale: float, rot: np.ndarray,
                 weight: np.ndarray, rows: np.ndarray | None = None, *, chunk: int = 8192) -> np.ndarray:
    """Per-vertex deltas of a template carried to points on it, rotated, scaled and weighted.

    modes (K, T, 3) the template's deltas; tri (M, 3) template vertex indices and bary (M, 3) weights of each
    point; ``scale * rot @ delta * weight`` per point (rot (3, 3), weight (M,)). Returns (K, M, 3) float32
    (points of weight 0 get 0 without being computed), or with ``rows`` (R,) the float64 (R, K * 3) rows of
    those points only (vertex-major: the layout ``harmonic_fill`` takes). Computed ``chunk`` points at a time
    in float64, in the order of ``einsum("kmjc,mj->kmc")`` then ``einsum("kmj,ij->kmi")``."""
    k = len(modes)
    # (T, 3 * K) component-major (all keys' x, then y, then z): every step below runs on contiguous (n, K) blocks
    # (numpy's inner loops over 3-long axes are slow), the same products and sums per element
    flat = np.ascontiguousarray(np.asarray(modes).transpose(1, 2, 0)).reshape(modes.shape[1], -1)
    rot = np.asarray(rot, np.float64)

    def block(sel):
        """(len(sel), K, 3) float64."""
        t, b = tri[sel], bary[sel]
        d = flat[t[:, 0]] * b[:, 0, None]                           # float32 * float64 -> float64
        d += flat[t[:, 1]] * b[:, 1, None]
        d += flat[t[:, 2]] * b[:, 2, None]
        d = d.reshape(len(sel), 3, k)
        w = (scale, weight[sel][:, None])
        r = np.empty((len(sel), k, 3))
        for c in range(3):
            rc = d[:, 0] * rot[c, 0]
            rc += d[:, 1] * rot[c, 1]
            rc += d[:, 2] * rot[c, 2]
            rc *= w[0]
            rc *= w[1]
            r[:, :, c] = rc
        return r

    if rows is not None:
        rows = np.asarray(rows, np.int64)
        return block(rows).reshape(len(rows), -1)
    out = np.zeros((k, len(tri), 3), np.float32)
    live = np.flatnonzero(np.asarray(weight) != 0)
    for s in range(0, len(live), chunk):
        sel = live[s:s + chunk]
        out[:, sel] = block(sel).transpose(1, 0, 2)
    return out
