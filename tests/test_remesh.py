"""Cross-topology meshes (model_core.dataset.remesh) on the real ICT-FaceKit data.

Checks that generated topologies are exact (vertices on the posed ICT surface), area preserving, single-island,
consistently oriented, deterministic, cached, span 1k-30k vertices, and that bad input raises clear errors.
"""
import numpy as np
import pytest

from model_core.dataset.ict import CROPS, load_ict
from model_core.runtime.mesh import connected_components, face_areas, vertex_normals
from model_core.dataset.remesh import (Topology, TopologyBank, ict_topology, make_topology, random_topology,
                               topology_stats)

TOL_CM = 1e-3  # 0.01 mm


@pytest.fixture(scope="module")
def bank(ict, tmp_path_factory):
    return TopologyBank(ict, seed=1, sizes=(1000, 30000), crops=("full", "narrow"), per_size=1,
                        cache_dir=tmp_path_factory.mktemp("bank"))


@pytest.fixture(scope="module")
def extra(ict):
    """Kinds the small bank does not hold: adaptive (decimate), projected subdivision (+ edge flips)."""
    return [make_topology(ict, "face", 3000, "decimate", 3, flips=True),
            make_topology(ict, "face", 12000, "subdiv", 4, flips=True),
            random_topology(ict, "face", 2000, np.random.default_rng(5))]


@pytest.fixture(scope="module")
def topologies(bank, extra):
    return bank.all() + extra


def _point_triangle_distance(p, a, b, c):
    """Brute force, independent of remesh: distance of points p (P, 3) to triangles (T, 3) -> (P, T).
    Inside the prism: distance to the plane; outside: the nearest of the three edges."""
    def seg(p_, x, y):
        d = y - x
        t = np.clip(np.einsum("ptk,tk->pt", p_[:, None] - x[None], d) / np.maximum((d * d).sum(1), 1e-300), 0, 1)
        q = x[None] + t[..., None] * d[None]
        return np.linalg.norm(p_[:, None] - q, axis=2)

    n = np.cross(b - a, c - a)
    area2 = np.linalg.norm(n, axis=1)
    nu = n / np.maximum(area2, 1e-300)[:, None]
    rel = p[:, None] - a[None]
    h = np.einsum("ptk,tk->pt", rel, nu)
    proj = p[:, None] - h[..., None] * nu[None]
    # barycentric of the projection by sub-triangle areas (signed along the normal)
    def signed(x, y, z):
        return np.einsum("ptk,tk->pt", np.cross(y - x, z - x), nu)
    wa = signed(b[None], c[None], proj) / area2
    wb = signed(c[None], a[None], proj) / area2
    wc = 1 - wa - wb
    inside = (wa >= 0) & (wb >= 0) & (wc >= 0)
    d_edge = np.minimum(np.minimum(seg(p, a, b), seg(p, b, c)), seg(p, c, a))
    return np.where(inside, np.abs(h), d_edge)


def _posed(ict, crop, seed):
    rng = np.random.default_rng(seed)
    c = rng.standard_normal(100)
    w = np.zeros(53)
    w[rng.choice(53, 4, replace=False)] = rng.uniform(0.2, 1, 4)
    return ict.head(c, w, crop=crop)


def test_ict_triangulated_area_matches_polygon_area(ict):
    for crop, (n_v, n_p) in CROPS.items():
        v, f = ict.head(crop=crop)
        tri_area = face_areas(v, f).sum()
        poly_area = 0.0  # independent: loop over the original polygons, fan from the first corner
        for poly in ict.polygons()[:n_p]:
            pv = v[poly]
            for k in range(1, len(poly) - 1):
                poly_area += 0.5 * np.linalg.norm(np.cross(pv[k] - pv[0], pv[k + 1] - pv[0]))
        assert abs(tri_area - poly_area) / poly_area < 1e-6, crop
        assert f.max() == n_v - 1 and len(np.unique(f)) == n_v
        topo = ict_topology(ict, crop)
        assert np.abs(topo.positions(v) - v).max() == 0.0  # identity map


def test_head_is_neutral_plus_modes(ict):
    rng = np.random.default_rng(0)
    c, w = rng.standard_normal(100), rng.uniform(0, 1, 53)
    v, _ = ict.head(c, w, crop="full")
    ref = ict.neutral[:11248].astype(np.float64).copy()
    for i in range(100):
        ref += c[i] * ict.identity_modes[i, :11248]
    for k in range(53):
        ref += w[k] * ict.expression_modes[k, :11248]
    assert np.abs(v - ref).max() < 1e-5


def test_vertices_lie_on_posed_surface(ict, topologies):
    for i, topo in enumerate(topologies):
        pv, pf = _posed(ict, topo.crop, 100 + i)
        x = topo.positions(pv)
        assert x.shape == (topo.n_verts, 3) and np.isfinite(x).all()
        assert (topo.bary >= 0).all() and np.allclose(topo.bary.sum(1), 1.0, atol=1e-12)
        # distance to the mapped posed triangle (all vertices) ...
        tri = pf[topo.src_face]
        d_own = np.array([_point_triangle_distance(x[j:j + 1], pv[tri[j:j + 1, 0]], pv[tri[j:j + 1, 1]],
                                                   pv[tri[j:j + 1, 2]])[0, 0] for j in range(0, topo.n_verts, 97)])
        assert d_own.max() < TOL_CM, (topo.kind, d_own.max())
        # ... and to the whole posed surface, brute force over every triangle for a subsample
        sub = np.random.default_rng(i).choice(topo.n_verts, 60, replace=False)
        d = _point_triangle_distance(x[sub], pv[pf[:, 0]], pv[pf[:, 1]], pv[pf[:, 2]]).min(1)
        assert d.max() < TOL_CM, (topo.kind, topo.crop, d.max())


def test_area_counts_components_orientation(ict, topologies):
    counts = []
    for topo in topologies:
        tv, tf = ict.head(crop=topo.crop)
        x = topo.positions(tv)
        a = face_areas(x, topo.faces)
        ratio = a.sum() / face_areas(tv, tf).sum()
        tol = 0.06 if topo.n_verts < 3000 else 0.015
        assert abs(ratio - 1) < tol, (topo.kind, topo.crop, topo.n_verts, ratio)
        assert np.isfinite(x).all() and a.min() > 1e-10
        assert connected_components(topo.n_verts, topo.faces).max() == 0  # one island
        assert len(np.unique(topo.faces)) == topo.n_verts  # no unreferenced vertices
        # orientation: face normal vs the template's vertex normals interpolated at the face's corners
        vn = vertex_normals(tv, tf)
        tn = np.einsum("nkd,nk->nd", vn[topo.corners], topo.bary)[topo.faces].sum(1)
        fn = np.cross(x[topo.faces[:, 1]] - x[topo.faces[:, 0]], x[topo.faces[:, 2]] - x[topo.faces[:, 0]])
        agree = (np.einsum("ij,ij->i", fn, tn) > 0).mean()
        assert agree > 0.99, (topo.kind, agree)
        st = topology_stats(topo, ict)
        assert st["nonmanifold_edges"] == 0 and st["components"] == 1
        assert st["holes"] <= 3, st  # remaining holes: template folds at mouth corners, ears at 1k
        counts.append(topo.n_verts)
    assert min(counts) <= 1100 and max(counts) >= 26000, counts
    assert 900 <= min(counts) and max(counts) <= 31500, counts


def test_generated_vertices_are_not_ict_vertices(ict, topologies):
    from scipy.spatial import cKDTree
    seen = set()
    for topo in topologies:
        base = topo.kind.split("+")[0]
        tv, _ = ict.head(crop=topo.crop)
        d, _ = cKDTree(tv).query(topo.positions(tv))
        at_vertex = (d < 1e-6).mean()
        if base in ("voronoi", "aniso", "decimate", "subdiv2", "subdiv3"):
            assert at_vertex < 0.05, (topo.kind, at_vertex)
        elif base == "flip":
            assert at_vertex == 1.0
            f_ict = ict.crop_faces(topo.crop)
            same = np.isin(np.sort(topo.faces, 1) @ [1, 10 ** 5, 10 ** 10], np.sort(f_ict, 1) @ [1, 10 ** 5, 10 ** 10])
            assert same.mean() < 0.8  # re-triangulated
        seen.add(base)
    assert {"voronoi", "aniso", "decimate", "flip", "subdiv2-ict", "subdiv2"} <= seen, seen


def test_labels_follow_largest_weight(ict, topologies):
    topo = topologies[0]
    n = CROPS[topo.crop][0]
    lab = np.arange(n) * 7
    got = topo.labels(lab)
    ref = np.array([topo.corners[j, np.argmax(topo.bary[j])] * 7 for j in range(topo.n_verts)])
    assert got.dtype == np.int64 and np.array_equal(got, ref)
    full = ict_topology(ict, "face")
    assert np.array_equal(full.labels(np.arange(11248)), np.arange(9409))


def test_determinism_and_cache(ict, bank, tmp_path):
    a = make_topology(ict, "narrow", 1000, "aniso", 11, flips=True)
    b = make_topology(ict, "narrow", 1000, "aniso", 11, flips=True)
    c = make_topology(ict, "narrow", 1000, "aniso", 12, flips=True)
    for name in ("faces", "src_face", "bary", "corners"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert a.key == b.key and a.key != c.key
    r1 = random_topology(ict, "narrow", 1500, np.random.default_rng(3))
    r2 = random_topology(ict, "narrow", 1500, np.random.default_rng(3))
    assert r1.key == r2.key and r1.kind == r2.kind
    again = TopologyBank(ict, seed=1, sizes=(1000, 30000), crops=("full", "narrow"), per_size=1,
                         cache_dir=bank.cache_path.parent)
    assert again.loaded_from_cache and not bank.loaded_from_cache
    assert [t.key for t in again.all()] == [t.key for t in bank.all()]
    assert [t.kind for t in again.all()] == [t.kind for t in bank.all()]
    other = TopologyBank(ict, seed=2, sizes=(1000,), crops=("narrow",), per_size=1, cache_dir=tmp_path)
    assert other.cache_key != bank.cache_key and other.cache_path.is_file()
    assert len(other.for_crop("narrow")) == 2
    rng = np.random.default_rng(0)
    assert other.sample("narrow", rng).crop == "narrow"


def test_bad_input_raises(ict, tmp_path, monkeypatch):
    topo = ict_topology(ict, "narrow")
    with pytest.raises(ValueError, match="narrow"):
        topo.positions(np.zeros((100, 3)))
    with pytest.raises(ValueError, match="crop"):
        make_topology(ict, "nose", 1000, "voronoi", 0)
    with pytest.raises(ValueError, match="kind"):
        make_topology(ict, "full", 1000, "marching", 0)
    with pytest.raises(ValueError, match="n_target"):
        make_topology(ict, "full", 10, "voronoi", 0)
    with pytest.raises(ValueError, match="sizes"):
        TopologyBank(ict, sizes=(10 ** 6,), cache_dir=False)
    with pytest.raises(ValueError, match="crop"):
        TopologyBank(ict, crops=("mouth",), cache_dir=False)
    with pytest.raises(ValueError, match="bary"):
        Topology("narrow", topo.faces, topo.src_face, topo.bary[:, :2], "ict", 0, corners=topo.corners)
    bad = topo.bary.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        Topology("narrow", topo.faces, topo.src_face, bad, "ict", 0, corners=topo.corners)
    with pytest.raises(ValueError, match="labels"):
        topo.labels(np.zeros(10))
    c = np.zeros(100)
    c[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ict.head(c, None, crop="full")
    with pytest.raises(ValueError, match="shape"):
        ict.head(np.zeros(99), None, crop="full")
    with pytest.raises(ValueError, match="crop"):
        ict.head(None, None, crop="ear")
    monkeypatch.setenv("NFS_ICT_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="NFS_ICT_DIR"):
        load_ict(cache=False)


def test_crop_topology_keeps_exact_ground_truth(ict):
    from model_core.evaluation.evaluate import face_mask_topology
    from model_core.dataset.remesh import crop_topology
    mask = face_mask_topology(ict, 9.0)
    v_face, f_face = ict.head(None, None, "face")
    nose = v_face[ict.landmarks[30]]
    # ICT's own vertices within 9 cm of the nose tip, each at its own position, triangles from the face crop
    pos = mask.positions(v_face)
    assert 4000 < mask.n_verts < 9409 and np.linalg.norm(pos - nose, axis=1).max() < 9.0
    orig = mask.corners[np.arange(mask.n_verts), mask.bary.argmax(1)]      # face-crop vertex of each vertex
    assert np.array_equal(v_face[orig], pos) and len(np.unique(orig)) == mask.n_verts
    face_set = {tuple(sorted(t)) for t in f_face.tolist()}
    assert all(tuple(sorted(t)) in face_set for t in orig[mask.faces].tolist())
    # every face-crop triangle inside the sphere is kept
    inside = (np.linalg.norm(v_face - nose, axis=1) < 9.0)[f_face].all(1)
    assert len(mask.faces) == inside.sum()
    assert mask.kind == "ict mask r9cm" and mask.faces.max() == mask.n_verts - 1
    with pytest.raises(ValueError, match="no triangle"):
        crop_topology(mask, np.zeros(mask.n_verts, bool))
    with pytest.raises(ValueError, match="keep must have shape"):
        crop_topology(mask, np.ones(3, bool))
