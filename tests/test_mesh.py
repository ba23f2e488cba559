"""Numpy mesh operations."""
import numpy as np
import pytest

from model_core.runtime.mesh import (barycentric_interpolate, closed_components, concat_ranges, connected_components,
                                     cotan_weights, face_areas, mesh_hash, validate_mesh, vertex_areas, vertex_normals)

TET = (np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float), np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]]))


def test_validate_errors_say_what_to_fix():
    v, f = TET
    with pytest.raises(ValueError, match="no faces"):
        validate_mesh(v, np.zeros((0, 3), int))
    with pytest.raises(ValueError, match="NaN"):
        validate_mesh(np.where(np.arange(12).reshape(4, 3) == 5, np.nan, v), f)
    with pytest.raises(ValueError, match="at least"):
        validate_mesh(v[:3], f[:1])
    with pytest.raises(ValueError, match="triangulate"):
        validate_mesh(v, np.zeros((2, 4), int))
    with pytest.raises(ValueError, match="indices"):
        validate_mesh(v, f + 10)


def test_areas_normals_components():
    v, f = TET
    assert np.isclose(face_areas(v, f).sum(), 1.5 + np.sqrt(3) / 2)
    assert np.isclose(vertex_areas(v, f).sum(), face_areas(v, f).sum())
    n = vertex_normals(v, f)
    assert np.allclose(np.linalg.norm(n, axis=1), 1) and (n[0] < 0).all()  # outward at the origin corner
    two = np.concatenate([f, f + 4])
    assert connected_components(8, two).tolist() == [0, 0, 0, 0, 1, 1, 1, 1]


def test_cotan_laplacian_reproduces_linear_functions_inside():
    # flat grid: the cotan Laplacian of a linear function vanishes at interior vertices
    n = 6
    xs, ys = np.meshgrid(np.arange(n), np.arange(n))
    v = np.stack([xs.ravel(), ys.ravel(), np.zeros(n * n)], 1).astype(float)
    f = []
    for i in range(n - 1):
        for j in range(n - 1):
            a = i * n + j
            f += [[a, a + 1, a + n + 1], [a, a + n + 1, a + n]]
    f = np.array(f)
    e, w = cotan_weights(v, f)
    u = 2 * v[:, 0] + 3 * v[:, 1]
    lap = np.zeros(n * n)
    np.add.at(lap, e[:, 0], w * (u[e[:, 0]] - u[e[:, 1]]))
    np.add.at(lap, e[:, 1], w * (u[e[:, 1]] - u[e[:, 0]]))
    interior = [(i * n + j) for i in range(1, n - 1) for j in range(1, n - 1)]
    assert np.abs(lap[interior]).max() < 1e-9


def test_barycentric_and_hash():
    v, f = TET
    p = barycentric_interpolate(v, f, np.array([3]), np.array([[0.2, 0.3, 0.5]]))
    assert np.allclose(p, 0.2 * v[1] + 0.3 * v[2] + 0.5 * v[3])
    assert mesh_hash(v, f) == mesh_hash(v.copy(), f.copy()) != mesh_hash(v + 1e-9, f)


def test_edge_components_and_midpoint_subdivision():
    from model_core.runtime.mesh import edge_components, subdivide_midpoint
    assert edge_components(6, np.array([[4, 5], [0, 2], [2, 1]])).tolist() == [0, 0, 0, 1, 2, 2]
    v, f = TET
    v2, f2 = subdivide_midpoint(v, f)
    assert v2.shape == (10, 3) and f2.shape == (16, 3)
    assert np.isclose(face_areas(v2, f2).sum(), face_areas(v, f).sum())  # planar faces: area preserved
    assert connected_components(10, f2).tolist() == [0] * 10


QUAD = np.array([[0, 1, 2], [0, 2, 3]])  # two triangles sharing the diagonal 0-2; boundary 0-1-2-3


def test_half_edges_and_edge_table():
    from model_core.runtime.mesh import edge_table, half_edges, unique_edges
    he = half_edges(QUAD)
    assert he.tolist() == [[0, 1], [0, 2], [1, 2], [2, 3], [2, 0], [3, 0]]  # corner k -> k+1, k-major
    edge_id, edges, count, he2 = edge_table(QUAD)
    assert edges.tolist() == [[0, 1], [0, 2], [0, 3], [1, 2], [2, 3]]
    assert count.tolist() == [1, 2, 1, 1, 1]  # only the diagonal is interior
    assert edge_id.tolist() == [0, 1, 3, 4, 1, 2]
    assert np.array_equal(he2, he) and np.array_equal(unique_edges(QUAD), edges)
    _, _, count, _ = edge_table(np.array([[0, 1, 2], [1, 0, 3], [0, 1, 4]]))
    assert count.max() == 3  # a non-manifold edge is counted as such


def test_boundary_loops_follow_the_boundary():
    from model_core.runtime.mesh import boundary_loops
    loops = boundary_loops(QUAD)
    assert len(loops) == 1 and loops[0].tolist() == [0, 1, 2, 3]
    assert boundary_loops(TET[1]) == []  # closed surface
    assert [lp.tolist() for lp in boundary_loops(np.concatenate([QUAD, QUAD + 4]))] == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_nondegenerate_and_triangle_keys():
    from model_core.runtime.mesh import nondegenerate, triangle_keys
    f = np.array([[0, 1, 2], [2, 1, 0], [1, 1, 2], [0, 2, 3], [3, 3, 3]])
    assert nondegenerate(f).tolist() == [True, True, False, True, False]
    k = triangle_keys(f, 4)
    assert k[0] == k[1] != k[3] and len(set(k.tolist())) == 4


def test_barycentric_combine_and_interpolate_shapes():
    from model_core.runtime.mesh import barycentric_combine
    v, f = TET
    b = np.array([[1.0, 0.0, 0.0], [0.25, 0.25, 0.5]])
    fi = np.array([1, 3])
    expect = np.stack([v[f[1, 0]], 0.25 * v[1] + 0.25 * v[2] + 0.5 * v[3]])
    assert np.allclose(barycentric_interpolate(v, f, fi, b), expect)
    scal = np.array([10.0, 20.0, 30.0, 40.0])  # one value per vertex: (M,) out
    assert np.allclose(barycentric_interpolate(scal, f, fi, b), [10.0, 32.5])
    batch = np.stack([v, 2 * v])  # (B, N, 3) -> (B, M, 3)
    assert np.allclose(barycentric_combine(batch[:, f[fi]], b), np.stack([expect, 2 * expect]))


def test_referenced_renumbering_and_remove_unreferenced():
    from model_core.runtime.mesh import referenced_renumbering, remove_unreferenced
    f = np.array([[4, 1, 3]])
    kept, remap = referenced_renumbering(f, 5)
    assert kept.tolist() == [1, 3, 4] and remap.tolist() == [-1, 0, -1, 1, 2]
    v = np.arange(15.0).reshape(5, 3)
    v2, f2, kept2 = remove_unreferenced(v, f)
    assert f2.tolist() == [[2, 0, 1]] and np.array_equal(v2, v[[1, 3, 4]]) and kept2.tolist() == [1, 3, 4]
    assert np.array_equal(v2[f2], v[f])  # the same triangle


def test_closest_point_segments():
    from model_core.runtime.mesh import closest_point_segments
    a = np.zeros((4, 3))
    b = np.array([[2.0, 0, 0], [2.0, 0, 0], [2.0, 0, 0], [0.0, 0, 0]])
    p = np.array([[0.5, 1.0, 0], [3.0, 0, 1.0], [-1.0, 0, 0], [0, 3.0, 4.0]])
    t, d2 = closest_point_segments(p, a, b)
    assert np.allclose(t, [0.25, 1.0, 0.0, 0.0]) and np.allclose(d2, [1.0, 2.0, 1.0, 25.0])


def test_argmin_per_group():
    from model_core.runtime.mesh import argmin_per_group
    group = np.array([2, 0, 2, 0, 2])
    value = np.array([3.0, 5.0, 1.0, 5.0, 2.0])
    assert argmin_per_group(group, value, 4).tolist() == [1, -1, 2, -1]  # ties: first index; empty groups: -1


def test_normalize_rows():
    from model_core.runtime.mesh import normalize_rows
    p = np.array([[1.0, 3.0], [0.0, 0.0], [2.0, 0.0]])
    assert np.allclose(normalize_rows(p, 0.5), [[0.25, 0.75], [0.5, 0.5], [1.0, 0.0]])
    other = np.array([[0.0, 1.0]] * 3)
    assert np.allclose(normalize_rows(p, other), [[0.25, 0.75], [0.0, 1.0], [1.0, 0.0]])
    assert np.allclose(normalize_rows(p[[0, 2]]), [[0.25, 0.75], [1.0, 0.0]])


def test_unit_rows():
    from model_core.runtime.mesh import unit_rows
    u = unit_rows(np.array([[3.0, 0.0, 4.0], [0.0, 0.0, 0.0], [0.0, -2.0, 0.0]]))
    assert np.allclose(u, [[0.6, 0.0, 0.8], [0.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def _components_by_search(n, a, b, parity):
    """Reference: breadth-first search from each node in index order -> (root, bit, consistent)."""
    nb = [[] for _ in range(n)]
    for x, y, p in zip(a, b, parity):
        nb[x].append((y, p))
        nb[y].append((x, p))
    root, bit, ok = -np.ones(n, int), np.zeros(n, int), True
    for s in range(n):
        if root[s] >= 0:
            continue
        root[s], queue = s, [s]
        while queue:
            x = queue.pop()
            for y, p in nb[x]:
                if root[y] < 0:
                    root[y], bit[y] = s, bit[x] ^ p
                    queue.append(y)
                ok &= bool(bit[y] == bit[x] ^ p)
    return root, bit, ok


def test_union_roots_match_a_search_on_random_graphs():
    from model_core.runtime.mesh import edge_components, union_roots
    rng = np.random.default_rng(3)
    for trial in range(200):
        n = int(rng.integers(1, 80))
        e = rng.integers(0, n, (int(rng.integers(0, 2 * n)), 2))
        bits = rng.integers(0, 2, n)            # consistent parities from hidden bits, or random ones
        par = bits[e[:, 0]] ^ bits[e[:, 1]] if trial % 2 else rng.integers(0, 2, len(e))
        root, bit = union_roots(n, e[:, 0], e[:, 1], par)
        ref_root, ref_bit, ok = _components_by_search(n, e[:, 0], e[:, 1], par)
        assert root.tolist() == ref_root.tolist()
        if ok:
            assert bit.tolist() == ref_bit.tolist()
        assert edge_components(n, e).tolist() == np.unique(ref_root, return_inverse=True)[1].tolist()


def test_orient_consistently_vectorised_agrees_with_the_search():
    """Random re-winding of two closed pieces and a Moebius strip (no consistent winding): the faces turned are
    exactly those of the breadth-first search from each piece's first face (majority winding per piece)."""
    from model_core.runtime import mesh_checks
    from model_core.runtime.mesh import subdivide_midpoint
    rng = np.random.default_rng(4)
    v, f = TET
    for _ in range(3):
        v, f = subdivide_midpoint(v, f)
    strip = []                                   # 2 x 10 quads with a half twist
    for i in range(10):
        a, b, c, d = 2 * i, 2 * i + 1, (2 * i + 2) % 20, (2 * i + 3) % 20
        strip += [[a, b, c], [b, d, c]] if i < 9 else [[a, b, 1], [b, 0, 1]]
    strip = np.array(strip)
    for share in (0.1, 0.3, 0.7):
        g = np.concatenate([f, f + len(v), strip + 2 * len(v)])
        order = rng.permutation(len(g))
        g, on_strip = g[order], order >= 2 * len(f)
        turn = rng.random(len(g)) < share
        g[turn] = g[turn][:, [0, 2, 1]]
        for tris in (g, g[~on_strip]):           # with the strip (searched) and without (vectorised)
            f1, f2, need = mesh_checks._face_pairs(tris, None)
            ref = mesh_checks._bfs_flips(len(tris), f1, f2, need).astype(bool)
            out, n_rev = mesh_checks.orient_consistently(tris)
            assert n_rev == ref.sum() > 0
            np.testing.assert_array_equal(out, np.where(ref[:, None], tris[:, [0, 2, 1]], tris))


def test_concat_ranges_against_a_loop():
    rng = np.random.default_rng(3)
    starts, counts = rng.integers(0, 50, 40), rng.integers(0, 5, 40)        # some groups empty
    want = np.concatenate([np.arange(a, a + c) for a, c in zip(starts, counts)])
    np.testing.assert_array_equal(concat_ranges(starts, counts), want)
    assert concat_ranges([], []).shape == (0,)
    np.testing.assert_array_equal(concat_ranges([0, 0, 0], [2, 0, 3]), [0, 1, 0, 1, 2])   # ranks within groups


def test_weld_open_seams_closes_hairline_cracks_only():
    """Two strips side by side with their open edges 1e-6 apart are one piece; 1e-2 apart, two; a vertex of a
    third strip lying 1e-6 off an interior vertex (not on an open edge of both) is not joined."""
    from model_core.runtime.mesh_checks import weld_open_seams

    def strip(x0):
        v = np.array([[x0, 0, 0], [x0 + 1, 0, 0], [x0, 1, 0], [x0 + 1, 1, 0]], float)
        return v, np.array([[0, 1, 2], [1, 3, 2]])

    for gap, pieces in ((1e-6, 1), (1e-2, 2)):
        (va, fa), (vb, fb) = strip(0.0), strip(1.0 + gap)
        v, f = np.vstack([va, vb]), np.vstack([fa, fb + 4])
        weld = weld_open_seams(v, f, np.arange(8), tol=1e-4)
        assert len(np.unique(connected_components(int(weld.max()) + 1, weld[f])[weld])) == pieces
    # a fan: vertex 0 is interior (every edge at it shared); a separate triangle touching it is left apart
    ang = np.linspace(0, 2 * np.pi, 7)[:-1]
    v = np.vstack([[0, 0, 0], np.stack([np.cos(ang), np.sin(ang), 0 * ang], 1), [[1e-6, 0, 0], [0, 0, 1], [0, 1, 1]]])
    f = np.array([[0, i + 1, (i + 1) % 6 + 1] for i in range(6)] + [[7, 8, 9]])
    weld = weld_open_seams(v, f, np.arange(10), tol=1e-4)
    assert weld[7] != weld[0]


def test_face_normals_and_turned_over_are_np_cross():
    # computed per component (issue 16): np.cross's numbers, and the rows' sum of the old turned_over
    from model_core.runtime.mesh import face_normals, turned_over
    rng = np.random.default_rng(8)
    v = rng.normal(size=(400, 3))
    f = rng.integers(0, 400, (900, 3))
    d = rng.normal(scale=0.5, size=(400, 3)).astype(np.float32)
    for verts in (v, v.astype(np.float32)):
        ref = np.cross(verts[f[:, 1]] - verts[f[:, 0]], verts[f[:, 2]] - verts[f[:, 0]])
        n = face_normals(verts, f, normalize=False)
        assert n.dtype == ref.dtype
        np.testing.assert_allclose(n, ref, rtol=1e-12, atol=1e-12)
    n0 = face_normals(v, f, normalize=False)
    np.testing.assert_array_equal(turned_over(v, f, d), (face_normals(v + d, f, normalize=False) * n0).sum(axis=1) < 0)


def test_vertex_normals_sum_as_add_at_did():
    from model_core.runtime.mesh import face_normals, vertex_normals
    rng = np.random.default_rng(9)
    v = rng.normal(size=(300, 3))
    f = rng.integers(0, 300, (700, 3))
    fn = face_normals(v, f, normalize=False)
    out = np.zeros((len(v), 3))
    for j in range(3):
        np.add.at(out, f[:, j], fn)
    norm = np.linalg.norm(out, axis=1, keepdims=True)
    np.testing.assert_allclose(vertex_normals(v, f), np.where(norm > 1e-30, out / np.maximum(norm, 1e-30), 0.0),
                               rtol=1e-12, atol=1e-12)


def test_keep_unturned_gives_back_the_motion_of_a_triangle_turned_over():
    # a strip of four triangles in the z = 0 plane; the new field pushes vertex 2 across the strip (turning both its
    # triangles over), the old one moved it a little; a triangle the old field already turned is left turned
    from model_core.runtime.mesh import keep_unturned, turned_over
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 2, 0], [1, 2, 0]], float)
    f = np.array([[0, 1, 2], [1, 3, 2], [2, 3, 4], [3, 5, 4]])
    old = np.zeros_like(v)
    old[2] = (0.1, 0.0, 0.0)
    new = old.copy()
    new[2] = (0.0, -1.5, 0.0)
    new[5] = (0.0, 0.01, 0.0)                          # a change that turns nothing: kept
    assert turned_over(v, f, new).any() and not turned_over(v, f, old).any()
    out = keep_unturned(new.copy(), old, v, f)
    assert not turned_over(v, f, out).any()
    np.testing.assert_array_equal(out[2], old[2])
    np.testing.assert_array_equal(out[5], new[5])
    old2 = old.copy()
    old2[4] = (0.0, -1.5, 0.0)                         # the old field turns the top triangles itself
    new2 = old2.copy()
    new2[4] = (0.0, -1.6, 0.0)
    np.testing.assert_array_equal(keep_unturned(new2.copy(), old2, v, f), new2)


def test_front_hits_bins_give_the_numbers_of_testing_every_triangle():
    # the grid only prunes the (line, triangle) pairs: every hit, and every miss (NaN), as a brute-force test of all
    # pairs gives them, on a bumpy folded sheet with triangles of mixed sizes (one huge) and lines beyond it
    from model_core.runtime.mesh import front_hits
    rng = np.random.default_rng(3)
    n = 12
    gx, gy = np.meshgrid(np.linspace(0, 1, n), np.linspace(0, 1, n))
    v = np.stack([gx.ravel(), gy.ravel(), 0.1 * np.sin(7 * gx.ravel()) * np.cos(5 * gy.ravel())], 1)
    v[:, :2] += rng.normal(0, 0.01, (len(v), 2))
    q = np.arange(n * n).reshape(n, n)
    f = np.concatenate([np.stack([q[:-1, :-1].ravel(), q[:-1, 1:].ravel(), q[1:, :-1].ravel()], 1),
                        np.stack([q[1:, 1:].ravel(), q[1:, :-1].ravel(), q[:-1, 1:].ravel()], 1)])
    v = np.concatenate([v, v * [1, 1, -1] + [0, 0, -0.5], [[-1, -1, -2], [3, -1, -2], [-1, 3, -2]]])
    f = np.concatenate([f, f + n * n, [[2 * n * n, 2 * n * n + 1, 2 * n * n + 2]]])
    xy = rng.uniform(-0.5, 1.5, (500, 2))
    t = v[f]
    best = np.full(len(xy), -np.inf)
    for tri in t:                                              # the reference: every triangle, one at a time
        a, e1, e2 = tri[0, :2], tri[1, :2] - tri[0, :2], tri[2, :2] - tri[0, :2]
        det = e1[0] * e2[1] - e1[1] * e2[0]
        d = xy - a
        u = (d[:, 0] * e2[1] - d[:, 1] * e2[0]) / det
        w = (e1[0] * d[:, 1] - e1[1] * d[:, 0]) / det
        inside = (u >= 0) & (w >= 0) & (u + w <= 1)
        z = tri[0, 2] + u * (tri[1, 2] - tri[0, 2]) + w * (tri[2, 2] - tri[0, 2])
        best = np.where(inside, np.maximum(best, z), best)
    best[~np.isfinite(best)] = np.nan
    got = front_hits(v, f, xy)
    np.testing.assert_array_equal(got, best)
    assert np.isnan(got).any() and (got > -0.5).sum() > 100      # misses beyond the big triangle, hits on the sheet
    np.testing.assert_array_equal(front_hits(v, f, xy, chunk=7), got)


def test_closed_components_tell_a_closed_shell_from_an_open_one():
    """A tetrahedron (closed: an eyeball) and a triangle beside it (open: a lash card); a label with no triangle is
    not closed."""
    faces = np.array([[0, 1, 2], [0, 3, 1], [1, 3, 2], [2, 3, 0], [4, 5, 6]])
    labels = connected_components(8, faces)
    closed = closed_components(labels, faces)
    assert closed[labels[0]] and not closed[labels[4]] and not closed[labels[7]]
    assert closed_components(labels, np.zeros((0, 3), np.int64)).tolist() == [False] * (labels.max() + 1)


def test_depth_behind_front_reads_how_far_a_point_lies_behind_the_surface():
    from model_core.runtime.mesh import depth_behind_front
    # two unit squares facing +Z, the front one at z = 1 over x, y in [0, 1], the back one at z = 0 over [0, 2]
    sq = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float)
    v = np.concatenate([np.c_[sq, np.ones(4)], np.c_[2 * sq, np.zeros(4)]])
    f = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]])
    pts = np.array([[0.5, 0.5, 0.0],       # on the back square, under the front one: 1 behind
                    [1.5, 1.5, 0.0],       # on the back square where nothing covers it: 0
                    [0.5, 0.5, 1.0],       # on the front square itself: 0
                    [3.0, 3.0, -2.0]])     # no surface under it: 0
    np.testing.assert_allclose(depth_behind_front(v, f, pts), [1.0, 0.0, 0.0, 0.0], atol=1e-12)
