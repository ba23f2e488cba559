"""Keys carried through a correspondence that squeezes the template keep the template's gradients (numpy only).

A face vertex takes the motion of the template point it matched (``template_keys``: d = d_tpl o phi, phi the
face -> template correspondence). Its gradient is the template's times phi's Jacobian: where phi maps a small
feature of the face onto a larger one of the template (an anime face's small nose onto ICT's, up to 4x across),
the template's motion changes within millimetres of the face where it changed over centimetres of the template,
and the surface folds (VRoid's mouthLeft creased the side of its nose; Rokoko's mouthFunnel crumpled the
skin above its lips).

``limit_gradients`` takes, on each triangle where phi stretches the template more than ``SIGMA_MAX`` along a
direction, the key's gradient with that direction's part scaled down to ``SIGMA_MAX`` (the template's gradient
carried by phi with its stretch clipped: J_d' = J_d V diag(min(1, SIGMA_MAX / sigma_i)) V^T, phi's Jacobian
J_phi = U diag(sigma) V^T), and solves the screened Poisson problem for the change delta of the key on the free
vertices near them:

    min  sum_T area_T |grad(delta)_T - (J_d' - J_d)_T|^2 + mu sum_v mass_v |delta_v|^2,   mu = 1 / SCREEN_CM^2,

so the key keeps its values beyond ~``SCREEN_CM`` of the squeezed triangles and everywhere phi squeezes less,
and where it squeezes more, the motion spreads over the face's feature as it spread over the template's.
Vertices the caller fixes (the lids, whose closure ``close_openings`` sets; the lip contact, filled across) keep
their motion. Conjugate gradients on the free vertices (``correspond.conjugate_gradient``), all keys' columns at
once. docs/model.md, *Squeezed features*, has the measurements.
"""
from __future__ import annotations

import numpy as np

from .correspond import conjugate_gradient
from .mesh import vertex_areas
from .nearest import knn
from .proxy import cluster_decimate, knn_weights

SIGMA_MAX = 1.5          # phi may stretch the template this much along a direction before the gradient is clipped
SCREEN_CM = 1.0          # the change fades over about this distance (cm) from the clipped triangles
REACH_SCREENS = 2.0      # ... and is solved for on the free vertices within this many SCREEN_CM of them
CG_TOL = 1e-4            # conjugate gradients: relative residual per column
CG_ITERS = 300
COARSE_ABOVE = 2500      # more unknowns than this (a dense face) are solved on a copy clustered to about this many
FINE_ITERS = 10          # ... then this many steps on the face itself, from the coarse solution, on the vertices
FINE_REACH_CM = 0.5      # ... within this of a clipped triangle
COARSE_KNN = 4           # ... and the solution read back from each vertex's this many nearest coarse vertices
KEY_CHUNK = 8            # keys whose right-hand sides are formed at once


def triangle_gradients(verts: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The gradients of the three hat functions on each triangle, (F, 3 corners, 3) in 1 / (verts' units), and
    the triangles' areas (F,): a linear function f on triangle t has gradient sum_i f[faces[t, i]] * g[t, i].
    Degenerate triangles have zero gradients."""
    p0, p1, p2 = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    n = np.cross(p1 - p0, p2 - p0)
    a2 = np.linalg.norm(n, axis=1)
    ok = a2 > 1e-300
    inv = np.where(ok, 1.0 / np.where(ok, a2, 1.0), 0.0)
    n = n * inv[:, None]
    g = np.stack([np.cross(n, e) * inv[:, None] for e in (p2 - p1, p0 - p2, p1 - p0)], axis=1)
    return g, 0.5 * a2


def stretch_clip(grads: np.ndarray, rest: np.ndarray, faces: np.ndarray, sigma_max: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per triangle, the map phi's stretch (its Jacobian's two singular values, (F, 2), template length per face
    length) and the (F, 3, 3) matrix S = V diag(min(1, sigma_max / sigma_i)) V^T (V: its right singular vectors,
    in the face triangle's plane; identity across it) that clips a gradient's part along each direction phi
    stretches more than ``sigma_max``. grads (F, 3, 3) from ``triangle_gradients`` on the face; rest (N, 3): the
    template point each face vertex matched, in the face's units. Per triangle, not averaged over its neighbours:
    averaged (against a closest point's jitter), the squeezes, a few triangles wide, fell below the threshold."""
    jac = np.einsum("fic,fid->fcd", rest[faces], grads)          # (F, 3, 3): sum_i rest_i (outer) grad_i
    _, sig, vt = np.linalg.svd(jac)
    f = np.minimum(1.0, sigma_max / np.maximum(sig, 1e-12))
    f[:, 2] = 1.0                                                 # across the triangle: nothing to clip
    return sig[:, :2], np.einsum("fki,fk,fkj->fij", vt, f, vt)


def limit_gradients(keys: np.ndarray, pts: np.ndarray, faces: np.ndarray, rest: np.ndarray, fixed: np.ndarray, *,
                    sigma_max: float = SIGMA_MAX, screen: float = SCREEN_CM) -> tuple[np.ndarray, int]:
    """Keys whose gradients the correspondence steepened past ``sigma_max``, made as steep as that (module
    docstring). keys (K, N, 3) motion on the face pts (N, 3) (cm), faces (F, 3); rest (N, 3): the template point
    each vertex matched, scaled onto the face (cm); fixed (N,) bool: vertices that keep their motion (a triangle
    with one is not clipped). Returns (keys: a new (K, N, 3) array of keys' dtype, or ``keys`` itself when
    nothing is clipped; the number of triangles clipped)."""
    keys = np.asarray(keys)
    pts = np.asarray(pts, np.float64)
    faces = np.asarray(faces, np.int64)
    rest = np.asarray(rest, np.float64)
    fixed = np.asarray(fixed, bool)
    if keys.ndim != 3 or keys.shape[1:] != pts.shape or rest.shape != pts.shape or fixed.shape != (len(pts),):
        raise ValueError(f"limit_gradients: keys (K, {len(pts)}, 3), rest ({len(pts)}, 3) and fixed ({len(pts)},) "
                         f"expected, got {keys.shape}, {rest.shape}, {fixed.shape}")
    grads, area = triangle_gradients(pts, faces)
    sig, clip = stretch_clip(grads, rest, faces, sigma_max)
    act = (sig[:, 0] > sigma_max) & ~fixed[faces].any(axis=1) & (area > 0)
    if not act.any() or not len(keys):
        return keys, 0
    # the free vertices within reach of the clipped triangles: the unknowns
    corners = np.unique(faces[act])
    d2 = knn(pts, pts[corners], 1)[1][:, 0]
    free = (d2 <= (REACH_SCREENS * screen) ** 2) & ~fixed
    idx = np.full(len(pts), -1, np.int64)
    unknown = np.flatnonzero(free)
    idx[unknown] = np.arange(len(unknown))

    # right-hand side: b_i = sum_T area_T grad_i . h_T, h_T = J_d (S - I) on the clipped triangles
    fa, ga, aa = faces[act], grads[act], area[act]
    sa = clip[act] - np.eye(3)
    k_n = len(keys)
    to_corners = _Scatter(idx[fa], len(unknown))
    rhs = np.zeros((len(unknown), 3 * k_n))
    for k0 in range(0, k_n, KEY_CHUNK):                                          # bounded memory on dense faces
        k1 = min(k0 + KEY_CHUNK, k_n)
        jd = np.einsum("kfic,fid->kfcd", keys[k0:k1, fa].astype(np.float64), ga)  # (k, Fa, 3 comps, 3 dims)
        h = np.einsum("kfcd,fde->kfce", jd, sa) * aa[None, :, None, None]
        rhs[:, 3 * k0:3 * k1] = to_corners(np.einsum("kfce,fie->fikc", h, ga).reshape(len(fa) * 3, -1))
    cols = np.flatnonzero(np.abs(rhs).max(axis=0) > 0)
    if not len(cols):
        return keys, int(act.sum())
    mu = 1.0 / (screen * screen)
    region = faces[free[faces].any(axis=1) & (area > 0)]      # the triangles the unknowns lie on
    if len(unknown) <= COARSE_ABOVE:
        delta = screened_solve(pts, region, free, rhs[:, cols], mu)
    else:
        delta = _two_grid(pts, region, free, rhs[:, cols], mu, d2[unknown] <= FINE_REACH_CM ** 2)
    out = keys.copy()
    full = np.zeros((len(unknown), 3 * k_n))
    full[:, cols] = delta
    out[:, unknown] += full.reshape(len(unknown), k_n, 3).transpose(1, 0, 2).astype(keys.dtype)
    return out, int(act.sum())


def screened_operator(verts: np.ndarray, faces: np.ndarray, free: np.ndarray, mu: float) -> "_Sparse":
    """(K + mu M) on the U free vertices (free (N,) bool, in index order; the others held at 0): K the FEM stiffness
    (K_ij = sum_T area_T grad_i . grad_j over faces (F, 3) on verts (N, 3)), M the lumped vertex areas."""
    grads, area = triangle_gradients(verts, faces)
    idx = np.full(len(verts), -1, np.int64)
    unknown = np.flatnonzero(free)
    idx[unknown] = np.arange(len(unknown))
    ft = idx[faces]                                                 # -1: a held corner
    rows, cols, vals = [], [], []
    for i in range(3):
        for j in range(3):
            ok = (ft[:, i] >= 0) & (ft[:, j] >= 0)
            rows.append(ft[ok, i])
            cols.append(ft[ok, j])
            vals.append(area[ok] * (grads[ok, i] * grads[ok, j]).sum(axis=1))
    op = _Sparse(np.concatenate(rows), np.concatenate(cols), np.concatenate(vals), len(unknown))
    op.add_diagonal(mu * vertex_areas(verts, faces)[unknown])
    return op


def screened_solve(verts: np.ndarray, faces: np.ndarray, free: np.ndarray, rhs: np.ndarray, mu: float, *,
                   start: np.ndarray | None = None, iters: int = 0) -> np.ndarray:
    """delta (U, C) on the U free vertices solving ``screened_operator``(...) delta = rhs (U, C), delta = 0 on the
    others; conjugate gradients with a Jacobi preconditioner, every column at once, from ``start`` (U, C) (None: 0)
    for ``iters`` steps at most (0: ``CG_ITERS``)."""
    op = screened_operator(verts, faces, free, mu)
    return conjugate_gradient(op, rhs, np.zeros_like(rhs) if start is None else start, iters=iters or CG_ITERS,
                              tol=CG_TOL, precond=op.diagonal)


def _two_grid(pts: np.ndarray, region: np.ndarray, free: np.ndarray, rhs: np.ndarray, mu: float,
              near: np.ndarray) -> np.ndarray:
    """``screened_solve`` for many unknowns (a dense face), on a coarser copy of the region: its triangles (R, 3)
    clustered to about ``COARSE_ABOVE`` vertices (``proxy.cluster_decimate``); a cluster holding a fixed vertex is
    fixed. The right-hand side rhs (U, C) is restricted to the coarse vertices and the solution interpolated back
    by the same weights (each free vertex's ``COARSE_KNN`` nearest coarse vertices); then ``FINE_ITERS`` steps on
    the face's own unknowns ``near`` (U,) bool (the clipped triangles' surroundings) with the rest held, for what
    the coarse copy cannot hold (folds a few triangles wide). Returns (U, C)."""
    used, local = np.unique(region, return_inverse=True)
    size = max(float(np.ptp(pts[used], axis=0).max()), 1e-12)      # clustered at unit size (its cell sizes' range)
    pv, pf, cluster, _ = cluster_decimate(pts[used] / size, np.asarray(local).reshape(-1, 3), COARSE_ABOVE)
    pv = pv * size
    fixed_c = np.zeros(len(pv), bool)
    held = (~free[used]) & (cluster >= 0)
    fixed_c[cluster[held]] = True
    unknown = np.flatnonzero(free)
    nb, w = knn_weights(pts[unknown], pv, COARSE_KNN)               # (U, k) coarse neighbours, weights
    w = w * ~fixed_c[nb]                                             # a fixed coarse vertex stays at 0
    idx = np.full(len(pv), -1, np.int64)
    idx[~fixed_c] = np.arange(int((~fixed_c).sum()))
    rows = idx[nb]
    keep = rows >= 0
    delta = np.zeros_like(rhs)
    if keep.any():                                                  # (every coarse vertex fixed: from 0)
        b = np.zeros((int((~fixed_c).sum()), rhs.shape[1]))
        for c in range(rhs.shape[1]):                               # b = P^T rhs, P the interpolation
            b[:, c] = np.bincount(rows[keep], (w * rhs[:, c, None])[keep], len(b))
        delta_c = screened_solve(pv, pf, ~fixed_c, b, mu)
        delta = np.einsum("uk,ukc->uc", w * keep, delta_c[np.maximum(rows, 0)])
    if not near.any():
        return delta
    rest = delta.copy()
    rest[near] = 0.0
    rhs_near = (rhs - screened_operator(pts, region, free, mu)(rest))[near]    # the held values moved right
    free_near = np.zeros(len(pts), bool)
    free_near[unknown[near]] = True
    delta[near] = screened_solve(pts, region[free_near[region].any(axis=1)], free_near, rhs_near, mu,
                                 start=delta[near], iters=FINE_ITERS)
    return delta


class _Scatter:
    """Sums rows of values (T * 3, C), one per triangle corner of ``corners`` (T, 3) (row t * 3 + i is corner i of
    triangle t; -1: a fixed corner, left out) into (n, C) per vertex: sorted once, one ``add.reduceat`` a call."""

    def __init__(self, corners: np.ndarray, n: int):
        rows = corners.reshape(-1)
        keep = np.flatnonzero(rows >= 0)
        order = keep[np.argsort(rows[keep], kind="stable")]
        r = rows[order]
        self.order, self.n = order, n
        self.starts = np.flatnonzero(np.r_[True, r[1:] != r[:-1]]) if len(r) else np.zeros(0, np.int64)
        self.rows = r[self.starts]

    def __call__(self, values: np.ndarray) -> np.ndarray:
        out = np.zeros((self.n, values.shape[1]))
        if len(self.order):
            out[self.rows] = np.add.reduceat(values[self.order], self.starts, axis=0)
        return out


class _Sparse:
    """A sparse (n, n) matrix from (row, col, value) triples (repeats summed), applied to (n, C) columns at once:
    the off-diagonal products gathered and summed per row by ``add.reduceat``, the diagonal apart."""

    def __init__(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, n: int):
        on = rows == cols
        self.diagonal = np.bincount(rows[on], vals[on], n)
        rows, cols, vals = rows[~on], cols[~on], vals[~on]
        key, inv = np.unique(rows * n + cols, return_inverse=True)
        self.vals = np.bincount(np.asarray(inv).ravel(), vals, len(key))
        self.vals32 = self.vals.astype(np.float32)
        self.rows, self.cols = key // n, key % n
        self.starts = np.flatnonzero(np.r_[True, self.rows[1:] != self.rows[:-1]]) if len(key) else key
        self.urows = self.rows[self.starts]
        self.n = n

    def add_diagonal(self, d: np.ndarray) -> None:
        self.diagonal = self.diagonal + d

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """(n, C) float64 products; the off-diagonal ones summed in float32 (half the memory traffic; their rounding
        lies far below ``CG_TOL``)."""
        out = self.diagonal[:, None] * x
        if len(self.vals):
            xs = x.astype(np.float32)
            out[self.urows] += np.add.reduceat(self.vals32[:, None] * xs[self.cols], self.starts, axis=0)
        return out
