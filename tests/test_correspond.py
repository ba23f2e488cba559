"""The numpy-only correspondence kernels (model_core/runtime/correspond.py) against dense references, and
the template keys on ICT's own head (where ICT's keys are the truth)."""
from __future__ import annotations

import numpy as np

from model_core.runtime.mesh import subdivide_midpoint, unique_edges
from model_core.runtime.proxy import knn_weights
from model_core.runtime.correspond import (Laplacian, closest_points, conjugate_gradient, harmonic_fill, knn_grid,
                                           pose_gap, register, rotation_degrees, similarity_icp, umeyama)


def _sphere(n_sub: int = 2):
    t = (1 + 5 ** 0.5) / 2
    v = np.array([[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t], [0, 1, t], [0, -1, -t], [0, 1, -t],
                  [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1]], float)
    f = np.array([[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4], [11, 10, 2],
                  [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9], [4, 9, 5],
                  [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]])
    for _ in range(n_sub):
        v, f = subdivide_midpoint(v, f)
    return v / np.linalg.norm(v, axis=1, keepdims=True), f


def test_knn_grid_matches_brute_force():
    rng = np.random.default_rng(0)
    v, _ = _sphere(3)
    q = np.concatenate([v[::2] + rng.normal(0, 0.05, (len(v[::2]), 3)), [[5.0, 5.0, 5.0]]])  # + one far query
    a = knn_grid(q, v, 5)
    b, _ = knn_weights(q, v, 5)
    da = np.sort(np.linalg.norm(v[a] - q[:, None], axis=2), axis=1)
    db = np.sort(np.linalg.norm(v[b] - q[:, None], axis=2), axis=1)
    assert np.abs(da - db).max() < 1e-12


def test_closest_points_match_brute_force():
    rng = np.random.default_rng(1)
    v, f = _sphere(2)
    q = rng.normal(0, 1, (300, 3)) * rng.uniform(0.5, 1.5, (300, 1))
    face, bary, d2 = closest_points(q, v, f)
    from model_core.runtime.correspond import closest_point_triangles
    # brute force over every triangle
    best = np.full(len(q), np.inf)
    for t in f:
        _, dd = closest_point_triangles(q, *(np.repeat(v[None, i], len(q), 0) for i in t))
        best = np.minimum(best, dd)
    np.testing.assert_allclose(d2, best, atol=1e-12)
    p = np.einsum("mk,mkc->mc", bary, v[f[face]])
    np.testing.assert_allclose(((p - q) ** 2).sum(1), d2, atol=1e-12)


def test_conjugate_gradient_matches_dense_solve():
    v, f = _sphere(2)
    lap = Laplacian(v, f)
    n = len(v)
    dense = np.zeros((n, n))
    eye = np.eye(n)
    for c in range(0, n, 64):  # columns of L by applying it to unit vectors
        dense[:, c:c + 64] = lap(eye[:, c:c + 64])
    a = dense @ dense + np.diag(np.linspace(0.5, 2.0, n))
    rhs = np.random.default_rng(2).normal(size=(n, 3))
    x = conjugate_gradient(lambda y: lap(lap(y)) + np.linspace(0.5, 2.0, n)[:, None] * y, rhs, np.zeros_like(rhs),
                           iters=2000, tol=1e-12, precond=np.diag(a).copy())
    np.testing.assert_allclose(x, np.linalg.solve(a, rhs), rtol=1e-7, atol=1e-9)


def test_harmonic_fill_matches_dense_dirichlet_solve():
    v, f = _sphere(2)
    n = len(v)
    known = v[:, 2] > 0.2
    vals = np.where(known[:, None], np.stack([v[:, 0], v[:, 1] ** 2], 1), 0.0)
    out = harmonic_fill(f, vals, known, tol=1e-9)
    e = unique_edges(f)
    L = np.zeros((n, n))
    L[e[:, 0], e[:, 1]] = L[e[:, 1], e[:, 0]] = -1
    L[np.arange(n), np.arange(n)] = -L.sum(1)
    u = ~known
    ref = np.linalg.solve(L[np.ix_(u, u)], -L[np.ix_(u, known)] @ vals[known])
    np.testing.assert_allclose(out[u], ref, atol=1e-6)
    np.testing.assert_array_equal(out[known], vals[known])


def test_harmonic_fill_of_zero_known_values_is_zero():
    """Known values all 0 (a key that moves none of the known vertices): the fill is 0, not a crash (the solve
    asked for one more singular vector than the zero field has: a ValueError in a Match proportions transfer)."""
    v, f = _sphere(2)
    known = v[:, 2] > 0.2
    vals = np.where(known[:, None], 0.0, np.nan)
    out = harmonic_fill(f, np.nan_to_num(vals), known)
    np.testing.assert_array_equal(out, 0.0)


def test_rotation_degrees_reads_the_angle_of_one_rotation_or_a_stack():
    def about_z(deg):
        a = np.radians(deg)
        return np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(rotation_degrees(about_z(30.0)), 30.0)
    np.testing.assert_allclose(rotation_degrees(about_z(-170.0)), 170.0)
    np.testing.assert_allclose(rotation_degrees(np.stack([np.eye(3), about_z(20.0) @ about_z(25.0).T])), [0.0, 5.0],
                               atol=1e-6)


def test_pose_gap_reads_scale_ratio_and_turn():
    a = np.radians(30.0)
    rz = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])
    gap = pose_gap((2.0, rz, np.ones(3)), (1.0, np.eye(3), np.zeros(3)))
    np.testing.assert_allclose(gap, (np.log(2.0), 30.0))
    np.testing.assert_allclose(pose_gap((1.0, np.eye(3), 0), (2.0, rz, 0)), (np.log(2.0), 30.0))


def test_umeyama_and_icp_recover_a_similarity():
    v, f = _sphere(2)
    v = v * np.array([1.0, 1.3, 0.8])  # not rotationally symmetric
    ang = 0.2
    R = np.array([[np.cos(ang), -np.sin(ang), 0], [np.sin(ang), np.cos(ang), 0], [0, 0, 1]])
    dst = 2.5 * v @ R.T + np.array([0.3, -0.2, 0.1])
    s, R2, t = umeyama(v, dst)
    assert abs(s - 2.5) < 1e-9 and np.abs(R2 - R).max() < 1e-9
    # ICP from a start 4 % off in scale, 3 degrees off in rotation and shifted
    small = np.array([[np.cos(0.05), -np.sin(0.05), 0], [np.sin(0.05), np.cos(0.05), 0], [0, 0, 1]])
    dst = 2.5 * v @ small.T + np.array([0.3, -0.2, 0.1])
    start = (2.4, np.eye(3), np.array([0.35, -0.2, 0.1]))
    s, R3, t3 = similarity_icp(v[::3], dst, f, init=start)

    def gap(s_, r_, t_):  # mean distance of the moved points to where they belong
        return np.linalg.norm(s_ * v[::3] @ r_.T + t_ - dst[::3], axis=1).mean()
    assert abs(s - 2.5) < 0.015
    assert gap(s, R3, t3) < 0.5 * gap(*start)


def test_register_pulls_a_template_onto_a_deformed_copy():
    v, f = _sphere(3)
    warped = v * np.array([1.25, 0.85, 1.0]) + 0.1 * np.sin(3 * v)
    x = register(v, f, warped, f)
    d_before = np.linalg.norm(v - warped, axis=1).mean()
    _, _, d2 = closest_points(x, warped, f)
    assert np.sqrt(d2).mean() < 0.05 * d_before


def _block_reference(grid, q, k):
    """What ``PointGrid``'s 27-cell search returns, written out plainly: the k nearest of the points in the 27
    cells around each query (ties by the cells' order, then the points' order), -1 / inf where fewer."""
    from model_core.runtime.correspond import _OFFSETS
    idx, d2 = -np.ones((len(q), k), np.int64), np.full((len(q), k), np.inf)
    for r, p in enumerate(q):
        c = np.floor((p - grid.lo) / grid.h).astype(np.int64) + _OFFSETS
        c = c[np.all((c >= 0) & (c < grid.dims), axis=1)]
        keys = grid._key(c)
        cand = np.concatenate([grid.order[grid.skey == key] for key in keys]) if len(keys) else np.zeros(0, int)
        if not len(cand):
            continue
        dd = ((grid.targets[cand] - p) ** 2).sum(axis=1)
        o = np.argsort(dd, kind="stable")[:k]
        idx[r, :len(o)], d2[r, :len(o)] = cand[o], dd[o]
    return idx, d2


def test_point_grid_fast_paths_give_the_plain_answers():
    # the half-cell pass, the cubes of dense queries and the growing cells of exact queries (issue 17) answer
    # exactly what the plain 27-cell search (inexact) and brute force (exact) answer
    from model_core.runtime.correspond import PointGrid, knn_brute
    rng = np.random.default_rng(3)
    v, _ = _sphere(3)                                                # 642 points
    near = v[rng.integers(0, len(v), 3000)] + rng.normal(0, 0.03, (3000, 3))   # dense: more queries than points
    few = v[::9] + rng.normal(0, 0.3, (len(v[::9]), 3))               # sparse, some far from every point
    g = PointGrid(v)
    for q in (near, few):
        for k in (1, 2, 3):
            i, d = g.knn(q, k, exact=False)
            ri, rd = _block_reference(g, q, k)
            np.testing.assert_array_equal(i, ri)
            np.testing.assert_array_equal(d, rd)
            i, d = g.knn(q, k, exact=True)
            bi, bd = knn_brute(q, v, k)
            np.testing.assert_allclose(d, bd, rtol=0, atol=1e-12)
            reach = 0.2                                               # within the reach every answer is exact
            i, d = g.knn(q, k, exact=True, reach=reach)
            ok = bd[:, -1] <= reach ** 2
            np.testing.assert_allclose(d[ok], bd[ok], rtol=0, atol=1e-12)


def test_point_grid_many_neighbours_and_ties_give_the_plain_answers():
    # k > _FINE_K picks by one partition per row (issue 16): the same order as the plain search, ties included
    # (points repeated, and on a lattice, where many distances are equal)
    from model_core.runtime.correspond import PointGrid, _first_smallest
    rng = np.random.default_rng(5)
    v, _ = _sphere(3)
    lattice = np.stack(np.meshgrid(*[np.arange(6.0)] * 3), -1).reshape(-1, 3) / 5.0
    for pts in (np.concatenate([v, v[::3]]), lattice):
        g = PointGrid(pts, cell=0.3)
        for q in (pts, pts[::5] + rng.normal(0, 0.05, (len(pts[::5]), 3))):
            for k in (5, 24):
                i, d = g.knn(q, k, exact=False)
                ri, rd = _block_reference(g, q, k)
                np.testing.assert_array_equal(i, ri)
                np.testing.assert_array_equal(d, rd)
    dd = rng.integers(0, 4, (200, 30)).astype(float)
    dd[::7, 20:] = np.inf
    for k in (1, 5, 29, 30):
        np.testing.assert_array_equal(_first_smallest(dd, k), np.argsort(dd, axis=1, kind="stable")[:, :k])


def test_closest_on_triangles_sums_as_the_row_version_did():
    # closest_on_triangles (issue 16) works on (3, M) components; its sums follow the (M, 3) rows' order (einsum's
    # dot products, and ((q - p) ** 2).sum(1)): bit for bit on this machine's numpy 1.26 and 2.3, asserted to 1e-12
    # here because numpy's own SIMD paths may round another way on another CPU
    from model_core.runtime.correspond import _dot3, closest_on_triangles
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(2, 5000, 3)) * rng.lognormal(size=(2, 5000, 1))
    np.testing.assert_allclose(_dot3(x.T, y.T), np.einsum("ij,ij->i", x, y), rtol=1e-12, atol=1e-12)
    p, a = rng.normal(size=(2, 5000, 3))
    b, c = a + rng.normal(size=(5000, 3)), a + rng.normal(size=(5000, 3))
    bary, d2 = closest_on_triangles(p.T, a.T, b.T, c.T)
    q = bary[:, :1] * a + bary[:, 1:2] * b + bary[:, 2:] * c
    np.testing.assert_allclose(d2, ((q - p) ** 2).sum(1), rtol=1e-12, atol=1e-12)


def test_register_pulls_per_component_are_the_row_numbers():
    # register's point-to-plane products run per component (issue 16): plane_pull's numbers and einsum's B y
    from model_core.runtime.correspond import _pull_columns, plane_pull
    rng = np.random.default_rng(10)
    v, nrm = rng.normal(size=(2, 4000, 3))
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
    cols = [np.ascontiguousarray(x.T) for x in (v, nrm)]
    got = _pull_columns(list(cols[0]), list(cols[1]), [0.9 * c for c in cols[1]], 0.9)
    np.testing.assert_allclose(np.stack(got, 1), plane_pull(v, nrm, 0.9), rtol=1e-12, atol=1e-12)
    y = rng.normal(size=(500, 3))
    tri, b = rng.integers(0, 500, (4000, 3)), rng.random((4000, 3))
    by = [(b[:, 0] * y[tri[:, 0], c] + b[:, 1] * y[tri[:, 1], c]) + b[:, 2] * y[tri[:, 2], c] for c in range(3)]
    np.testing.assert_allclose(np.stack(by, 1), np.einsum("mk,mkc->mc", b, y[tri]), rtol=1e-12, atol=1e-12)


def test_laplacian_columns_and_twice_are_the_row_numbers():
    # Laplacian per contiguous column, and L L x without rows in between (issue 16): the old numbers bit for bit
    v, f = _sphere(2)
    lap = Laplacian(v, f)
    x = np.random.default_rng(11).normal(size=(len(v), 3))
    ref = lap.deg[:, None] * x
    for c in range(3):
        ref[:, c] -= np.bincount(lap.i, lap.w * x[lap.j, c], lap.n) + np.bincount(lap.j, lap.w * x[lap.i, c], lap.n)
    np.testing.assert_array_equal(lap(x), ref)
    np.testing.assert_array_equal(lap.twice(x), lap(lap(x)))


def test_unique_edges_are_the_sorted_unique_rows():
    # one integer sort of lo * n + hi keys (issue 16): the rows np.unique(axis=0) gives, in the faces' dtype
    rng = np.random.default_rng(6)
    for dtype in (np.int32, np.int64):
        f = rng.integers(0, 50, (300, 3)).astype(dtype)
        ref = np.unique(np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1), axis=0)
        e = unique_edges(f)
        assert e.dtype == ref.dtype
        np.testing.assert_array_equal(e, ref)
    assert unique_edges(np.zeros((0, 3), np.int64)).shape == (0, 2)


def test_closest_points_with_a_reach_are_exact_within_it():
    from model_core.runtime.correspond import Surface
    rng = np.random.default_rng(4)
    v, f = _sphere(2)
    q = rng.normal(0, 1, (4000, 3)) * rng.uniform(0.5, 1.5, (4000, 1))
    surf = Surface(v, f)
    face, bary, d2 = surf.closest(q)
    f2, b2, e2 = surf.closest(q, max_dist=0.2)
    ok = d2 <= 0.2 ** 2
    np.testing.assert_array_equal(f2[ok], face[ok])
    np.testing.assert_array_equal(e2[ok], d2[ok])
    assert (e2[~ok] > 0.2 ** 2).all()                                   # beyond it: skipped (inf) or farther


def test_nearest_vertex_within_a_reach_is_the_nearest_vertex_at_any_density():
    """Far queries get the nearest vertex within the reach, on a coarse and a dense sphere alike (the grid's own
    inexact answer reaches one or two cells: 0.08 on the dense one)."""
    from model_core.runtime.correspond import Surface
    rng = np.random.default_rng(6)
    q = rng.normal(size=(300, 3))
    q *= (1.0 + rng.uniform(0.05, 0.6, (300, 1))) / np.linalg.norm(q, axis=1, keepdims=True)  # 0.05-0.6 outside
    for n_sub in (2, 5):
        v, f = _sphere(n_sub)
        surf = Surface(v, f)
        idx, d2 = surf.nearest_vertex_within(q, 0.3)
        bi, bd = knn_grid(q, v, 1)[:, 0], ((q - v[knn_grid(q, v, 1)[:, 0]]) ** 2).sum(1)
        near = bd <= 0.3 ** 2
        np.testing.assert_array_equal(idx[near], bi[near])
        np.testing.assert_allclose(d2[near], bd[near], rtol=1e-12)
        assert (idx[~near] == -1).all() and np.isinf(d2[~near]).all()
        if n_sub == 5:      # the grid alone leaves most of them unanswered
            assert (~np.isfinite(surf.closest(q, exact=False)[2])).mean() > 0.5


def test_harmonic_fill_rows_and_carry_deltas_match_the_whole_array_versions():
    from model_core.runtime.correspond import carry_deltas, harmonic_fill_rows
    rng = np.random.default_rng(5)
    v, f = _sphere(3)
    values = rng.normal(size=(len(v), 6))
    known = np.abs(v[:, 2]) > 0.3
    full = harmonic_fill(f, values, known)
    unknown, rows = harmonic_fill_rows(f, lambda idx: values[idx], known)
    np.testing.assert_array_equal(unknown, np.flatnonzero(~known))
    np.testing.assert_allclose(rows, full[~known], rtol=0, atol=1e-12)
    modes = rng.normal(size=(5, len(v), 3)).astype(np.float32)
    tri = f[rng.integers(0, len(f), 700)]
    bary = rng.random((700, 3))
    bary /= bary.sum(axis=1, keepdims=True)
    rot = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    weight = np.where(rng.random(700) < 0.3, 0.0, rng.random(700))
    want = 1.3 * np.einsum("kmj,ij->kmi", np.einsum("kmjc,mj->kmc", modes[:, tri], bary), rot) * weight[None, :, None]
    got = carry_deltas(modes, tri, bary, 1.3, rot, weight, chunk=128)
    np.testing.assert_array_equal(got, want.astype(np.float32))
    sel = np.array([3, 10, 650])
    np.testing.assert_allclose(carry_deltas(modes, tri, bary, 1.3, rot, weight, sel),      # float64: round-off
                               want[:, sel].transpose(1, 0, 2).reshape(3, -1), rtol=0, atol=1e-14)


def test_neighbour_sums_are_reduceat_bit_for_bit():
    """``harmonic_fill``'s slot-by-slot neighbour sums give np.add.reduceat's numbers exactly (issue 17 speed-up),
    rows of up to ``_SLOT_MAX`` neighbours and longer ones, known neighbours (-1) adding nothing."""
    from model_core.runtime.correspond import _NeighbourSums
    rng = np.random.default_rng(3)
    n, e = 2000, 15000
    row = np.sort(rng.integers(0, n, e))
    nb = rng.integers(-1, n, e)
    nb[rng.random(e) < 0.3] = -1
    y = rng.normal(size=(n, 7)) * 10.0 ** rng.integers(-6, 6, size=(n, 1))
    deg = np.bincount(row, minlength=n)
    start = np.concatenate([[0], np.cumsum(deg[deg > 0])[:-1]])
    ext = np.concatenate([y, np.zeros((1, 7))])
    want = np.add.reduceat(ext[np.where(nb < 0, n, nb)], start, axis=0)
    rows, got = _NeighbourSums(nb, row, start, n)(y)
    out = np.zeros((n, 7))
    out[rows] = got
    assert deg.max() > 8 and (deg[deg > 0] <= 8).any()
    assert np.array_equal(out[deg > 0], want)


def test_icp_and_register_take_a_prebuilt_surface():
    """A target ``Surface`` built once and passed to ``similarity_icp`` and ``register`` gives their own answers."""
    from model_core.runtime.correspond import Surface
    v, f = _sphere(3)
    dst = 1.1 * v * np.array([1.0, 1.2, 0.9]) + 0.05
    surf = Surface(dst, f)
    start = (1.0, np.eye(3), np.zeros(3))
    a = similarity_icp(v[::3], dst, f, init=start, iters=5)
    b = similarity_icp(v[::3], dst, f, init=start, iters=5, surface=surf)
    assert a[0] == b[0] and np.array_equal(a[1], b[1]) and np.array_equal(a[2], b[2])
    x0 = a[0] * v @ a[1].T + a[2]
    assert np.array_equal(register(x0, f, dst, f, schedule=(3.0, 1.0), inner=1),
                          register(x0, f, dst, f, schedule=(3.0, 1.0), inner=1, dst_surface=surf))


def test_closest_within_reach_on_a_collapsed_surface():
    """A surface shrunk to 3 % of ICT's face (what a failed fit leaves) queried with a 3 cm reach: ``PointGrid._gap``
    would dilate a grid of (3 cm / its ~0.1 mm cells)^3 cells (68 s in the add-on's robustness matrix, which timed
    out); above ``GAP_WORK`` it bounds by the bounding box instead. Every point within reach still gets its exact
    closest point."""
    from model_core.runtime.correspond import Surface
    from model_core.runtime.template_keys import default_template
    t = default_template()
    c = t.verts.mean(axis=0)
    x = c + (t.verts - c) * 0.03
    _, _, exact = Surface(x, t.faces).closest(t.verts)
    s = Surface(x, t.faces)
    _, _, d2 = s.closest(t.verts, max_dist=3.0)
    near = exact <= 9.0
    assert near.sum() > 100
    np.testing.assert_allclose(d2[near], exact[near], rtol=0, atol=1e-12)
    assert getattr(s.grid, "_gap_dist", None) is None          # the dilated grid was not built


def test_accelerated_icp_reaches_the_long_runs_fit():
    """``similarity_icp(accelerate=True)``: ICT's narrow face (every 8th point) fitted to a held-out-like target (ICT's
    template scaled 0.7, turned 6 degrees about Y and 4 about X, shifted) in 30 steps lands where 400 plain steps
    land; 30 plain steps stop short. Measured on the dev heads: 30 + 10 accelerated steps within 0.2 degrees and
    0.3 % of scale of 300 + 200 plain ones (docs/model.md)."""
    from model_core.runtime.correspond import rotation_power, similarity_icp
    from model_core.runtime.template_keys import default_template
    t = default_template()
    src = t.verts[:t.narrow][::8]
    a, b = np.radians(6.0), np.radians(4.0)
    Ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    Rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    dst = 0.7 * t.verts @ (Rx @ Ry).T + [0.5, -1.0, 2.0]
    long = similarity_icp(src, dst, t.faces, iters=400)
    fast = similarity_icp(src, dst, t.faces, iters=30, accelerate=True)
    short = similarity_icp(src, dst, t.faces, iters=30)

    def apart(x, y):
        """(scale ratio - 1, angle between the rotations in degrees)"""
        c = np.clip((np.trace(x[1] @ y[1].T) - 1) / 2, -1, 1)
        return abs(x[0] / y[0] - 1), np.degrees(np.arccos(c))
    ds, dr = apart(fast, long)
    assert ds < 3e-3 and dr < 0.2, (ds, dr)
    assert apart(short, long)[0] > 2 * ds or apart(short, long)[1] > 2 * dr
    R = Rx @ Ry
    np.testing.assert_allclose(rotation_power(R, 0.5) @ rotation_power(R, 0.5), R, atol=1e-12)
    np.testing.assert_allclose(rotation_power(np.eye(3), 3.0), np.eye(3))


def test_knn_within_a_reach_that_rounds_below_its_last_grid():
    """``PointGrid.knn(exact=True, reach=)``: the last grid has cells of ``reach / h`` cells, and (reach / h) * h
    rounds below ``reach`` for this cell size and reach (measured on the demo head, where the template's 3.79 cm
    longest edge made the reach 6.787 cm): the loop used to test ``factor * h >= reach`` again and went on with that
    grid for ever (the demo hung in Generate FACS Shape Keys on one machine and not on another). It now stops
    after the last grid; queries within reach get their exact nearest points."""
    import signal
    from model_core.runtime.correspond import PointGrid, knn_brute
    h, reach = 0.8243942236864032, 6.7871545914389735
    assert (reach / h) * h < reach
    rng = np.random.default_rng(0)
    targets = rng.uniform(-50.0, 50.0, (20000, 3)) * [1.0, 1.0, 0.01]         # a wide thin slab (27 cells of the
                                                                                # reach hold < 25 %: no brute force)
    q = rng.uniform(-40.0, 40.0, (300, 3)) * [1.0, 1.0, 0.0] + [0.0, 0.0, 4.0]  # 4 cm off it, and ~7 cm: just out of
    q[::2, 2] = 7.4                                                              # reach, never done by the last grid
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError("knn did not stop")))
    signal.alarm(20)
    try:
        idx, d2 = PointGrid(targets, cell=h).knn(q, 2, exact=True, reach=reach)
    finally:
        signal.alarm(0)
    bi, bd = knn_brute(q, targets, 2)
    near = bd[:, -1] <= reach * reach
    assert 100 < near.sum() < 200
    np.testing.assert_allclose(d2[near], bd[near], rtol=0, atol=1e-9)


def test_closest_on_an_open_polyline_skips_the_closing_segment():
    # an arc of a mouth loop (``template_keys.mouth_arcs``) is open: a point beside the chord between its two ends
    # snaps to the arc, not to the chord a closed polyline would have
    from model_core.runtime.correspond import closest_on_polyline
    arc = np.array([[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    p = np.array([[0.0, -0.1, 0.0]])
    np.testing.assert_allclose(closest_on_polyline(p, arc), [[0.0, 0.0, 0.0]])        # closed: on the chord
    q = closest_on_polyline(p, arc, closed=False)
    assert np.linalg.norm(q - p) > 0.7 and np.isclose(abs(q[0, 0]) + q[0, 1], 1.0)     # open: on the arc
