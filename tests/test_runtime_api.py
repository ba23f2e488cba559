"""The numpy runtime's Model API on real ICT meshes and small synthetic ones (no torch needed).

Random weights (runtime.random_weights, a small config, decoder code layer scaled up so displacements are
clearly non-zero) stand in for trained ones; every check here is about the API's contract: validation,
islands, orientation, frames and units, caching, the FACS basis, retargeting, the weights file format and
the mesh reader/writer.
"""
import json
import time

import numpy as np
import pytest

from model_core.runtime.config import FORMAT_VERSION, ModelConfig
from model_core.runtime.facs_names import ARKIT_INDEX, ICT_INDEX
from model_core.runtime.frames import axes_to_ict
from model_core.runtime.mesh import subdivide_midpoint, triangulate_polygons
from model_core.runtime import MIN_FACE_VERTICES, Cancelled, Model, load_weights, read_mesh, save_weights, write_mesh
from model_core.runtime.weights import Weights, expected_shapes
from small_model import SMALL, small_weights


def make_weights(cfg=SMALL, seed=0):
    arrays = small_weights(seed, cfg)
    arrays["expression_encoder.head.layers.1.weight"] *= 5.0
    return arrays


@pytest.fixture(scope="module")
def stem(tmp_path_factory):
    s = tmp_path_factory.mktemp("w") / "small"
    save_weights(s, make_weights(), config=SMALL)
    return s


@pytest.fixture(scope="module")
def model(stem):
    return Model.load(stem.with_suffix(".npz"))


@pytest.fixture(scope="module")
def narrow(ict):
    return ict.head(None, None, "narrow")


def subdivide(v, f):
    """Midpoint subdivision: (verts (N + E, 3), faces (4F, 3))."""
    return subdivide_midpoint(v, f)


def ict_part(ict, v_range, p_range):
    """Vertices and triangles of an ICT sub-mesh given by inclusive vertex / polygon index ranges."""
    sizes = ict.face_sizes.astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    corners = ict.corner_indices[starts[p_range[0]]:starts[p_range[1] + 1]].astype(np.int64)
    tris, _ = triangulate_polygons(corners, sizes[p_range[0]:p_range[1] + 1])
    return ict.neutral[v_range[0]:v_range[1] + 1].astype(np.float64), tris - v_range[0]


# ------------------------------------------------------------------------------------------ bad input
def test_bad_meshes_raise_clear_value_errors(model, narrow):
    v, f = narrow
    cases = {
        "no faces": (v, np.zeros((0, 3), int), "no faces"),
        "nan": (np.where(np.arange(len(v))[:, None] == 7, np.nan, v), f, "NaN"),
        "inf": (np.where(np.arange(len(v))[:, None] == 7, np.inf, v), f, "NaN or infinite"),
        "degenerate only": (v, np.stack([f[:, 0], f[:, 0], f[:, 1]], 1), "zero area"),
        "3 vertices": (np.eye(3), [[0, 1, 2]], "at least"),
        "5 vertices": (np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1.0]]),
                       [[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3], [1, 2, 4]], "at least"),
        "index out of range": (v, f + 1, "indices"),
        "bad shape": (v[:, :2], f, "shape"),
    }
    for name, (vv, ff, msg) in cases.items():
        with pytest.raises(ValueError, match=msg):
            model.prepare(vv, ff)
    with pytest.raises(ValueError, match="axis"):
        model.prepare(v, f, up="W")
    with pytest.raises(ValueError, match="perpendicular"):
        model.prepare(v, f, up="Y", forward="-Y")
    with pytest.raises(ValueError, match="other_islands"):
        model.prepare(v, f, other_islands="float")


def test_too_many_vertices_names_the_limit(stem, narrow):
    m = Model.load(stem)
    m.max_vertices = 5000
    v, f = narrow
    with pytest.raises(ValueError, match="limit of 5000"):
        m.prepare(v, f)


def test_300k_vertex_head_prepares_and_skins_in_time(model, ict):
    # ICT full crop subdivided twice (~180k) + the narrow crop subdivided twice (~107k) beside it: ~287k
    # vertices, two islands; the limit (300k) is not hit, prepare + skinning + a decode stay fast.
    v1, f1 = subdivide(*subdivide(*ict.head(None, None, "full")))
    v2, f2 = subdivide(*subdivide(*ict.head(None, None, "narrow")))
    v = np.concatenate([v1, v2 + [60.0, 0, 0]])
    f = np.concatenate([f1, f2 + len(v1)])
    assert 280_000 < len(v) <= model.max_vertices
    t = time.process_time()   # CPU seconds (all threads): steadier than wall time on a shared machine
    pm = model.prepare(v, f)
    probs, w = model.skinning(pm)
    d = model.decode_displacements(pm, np.eye(SMALL.z_dim)[ICT_INDEX["jawOpen"]])
    dt = time.process_time() - t
    assert pm.n_islands == 2 and len(pm.face_index) == len(v1)
    assert probs.shape == (len(v), 22) and d.shape == (len(v), 3) and np.isfinite(d).all()
    assert dt < 20.0, dt   # ~6 CPU s measured (prepare ~4 s: islands, k-NN to the proxy)


def test_several_islands_follow_or_stay_static(model, ict):
    face_v, face_f = ict.head(None, None, "full")
    eye_l = ict_part(ict, (21451, 23020), (21496, 23093))
    eye_r = ict_part(ict, (23021, 24590), (23094, 24691))
    v = np.concatenate([face_v, eye_l[0], eye_r[0]])
    f = np.concatenate([face_f, eye_l[1] + len(face_v), eye_r[1] + len(face_v) + len(eye_l[0])])
    code = np.zeros(SMALL.z_dim)
    code[ICT_INDEX["eyeBlink_L"]] = 1.0
    pm_face = model.prepare(face_v, face_f)
    pm = model.prepare(v, f)
    pm_static = model.prepare(v, f, other_islands="static")
    assert pm.n_islands >= 3 and len(pm.other_index) == len(eye_l[0]) + len(eye_r[0])
    np.testing.assert_array_equal(pm.face_index, np.arange(len(face_v)))
    d_face = model.decode_displacements(pm_face, code)
    d = model.decode_displacements(pm, code)
    d_static = model.decode_displacements(pm_static, code)
    # the face island is the same mesh as the face alone: identical results there
    np.testing.assert_allclose(d[: len(face_v)], d_face, atol=1e-12)
    np.testing.assert_allclose(d_static[: len(face_v)], d_face, atol=1e-12)
    assert np.abs(d[len(face_v):]).max() > 1e-3 * np.abs(d_face).max()    # eyes follow
    assert np.abs(d_static[len(face_v):]).max() == 0.0                      # or stay put
    probs, _ = model.skinning(pm)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    assert "other island" in pm.describe()


def test_split_vertices_are_welded_for_islands_and_normals(model, narrow):
    v, f = narrow
    soup_v, soup_f = v[f].reshape(-1, 3), np.arange(3 * len(f)).reshape(-1, 3)   # every triangle on its own
    pm, ps = model.prepare(v, f), model.prepare(soup_v, soup_f)
    assert ps.n_islands == 1 and len(ps.other_index) == 0
    np.testing.assert_allclose(ps.normals, pm.normals[f.ravel()], atol=1e-12)
    code = np.zeros(SMALL.z_dim)
    code[ICT_INDEX["jawOpen"]] = 1.0
    d, ds = model.decode_displacements(pm, code), model.decode_displacements(ps, code)
    check_equivariant(ds, d[f.ravel()], np.abs(d).max())


def test_flipped_normals_give_the_same_displacements(model, ict):
    v, f = ict.head(None, None, "face")
    pm = model.prepare(v, f)
    pmf = model.prepare(v, f[:, ::-1])
    assert not pm.flipped and pmf.flipped and "reversed" in pmf.describe()
    code = np.zeros(SMALL.z_dim)
    code[[ICT_INDEX["jawOpen"], ICT_INDEX["mouthSmile_R"]]] = 1.0
    d, df = model.decode_displacements(pm, code), model.decode_displacements(pmf, code)
    assert np.abs(d - df).max() <= 1e-4 * np.abs(d).max()
    np.testing.assert_allclose(model.skinning(pmf)[0], model.skinning(pm)[0], atol=1e-5)


def test_polygon_lists_are_triangulated(model, ict):
    sizes = ict.face_sizes[:6560].astype(int)
    corners = ict.corner_indices[: sizes.sum()].astype(int)
    polys = np.split(corners, np.cumsum(sizes)[:-1])
    v = ict.neutral[:6706]
    pm = model.prepare(v, [list(p) for p in polys])
    pm_tri = model.prepare(v, triangulate_polygons(corners, sizes)[0])
    assert pm is pm_tri   # same content after triangulation -> cache hit


# ------------------------------------------------------------------------------------------ frames, units
def test_frame_change_scale_and_translation_are_equivariant(model, ict):
    v, f = ict.head(None, None, "narrow")
    posed = v + ict.expression_deltas(np.eye(53)[ICT_INDEX["jawOpen"]] * 0.8, "narrow")
    pm = model.prepare(v, f)
    z = model.expression(posed, pm)
    d = model.decode_displacements(pm, z)
    ref = np.abs(d).max()
    assert ref > 1e-3
    # Blender frame (Z up, -Y forward) in metres: p_b = (p_ict @ R) / 100 with R = axes_to_ict('Z', '-Y')
    r = axes_to_ict("Z", "-Y")
    to_b = lambda p: (p @ r) / 100.0  # noqa: E731
    pmb = model.prepare(to_b(v), f, up="Z", forward="-Y")
    zb = model.expression(to_b(posed), pmb)
    np.testing.assert_allclose(zb, z, atol=1e-3)  # the basis fit amplifies the proxy's k-NN round-off ties a little
    np.testing.assert_allclose(model.expression(to_b(posed), pmb, method="encoder"),
                               model.expression(posed, pm, method="encoder"), atol=1e-5)
    db = model.decode_displacements(pmb, z)
    check_equivariant(db, to_b(d), ref / 100.0)
    check_equivariant(model.skinning(pmb)[0], model.skinning(pm)[0], 1.0)
    # scale by 100 and translate
    pms = model.prepare(v * 100.0 + [3.0, -40.0, 7.0], f)
    np.testing.assert_allclose(model.expression(posed * 100.0 + [3.0, -40.0, 7.0], pms), z, atol=1e-3)
    check_equivariant(model.decode_displacements(pms, z), 100.0 * d, 100.0 * ref)


def check_equivariant(a, b, ref):
    """a == b up to float round-off, except at the few vertices where round-off flips a tie between the k-th
    and (k+1)-th nearest proxy vertex (proxy.knn_weights is not continuous there; on ICT's symmetric midline
    the tied neighbours are left/right twins): those stay within 2 % of the output scale."""
    err = np.abs(np.asarray(a) - np.asarray(b)).reshape(len(a), -1).max(axis=1)
    assert (err <= 1e-5 * ref).mean() >= 0.98, (err > 1e-5 * ref).mean()
    assert err.max() <= 0.02 * ref, err.max() / ref


def test_cache_hits_on_re_prepare(stem, narrow):
    m = Model.load(stem)
    v, f = narrow
    a = m.prepare(v, f)
    b = m.prepare(v.astype(np.float64).copy(), f.copy())
    assert a is b and m.cache_info()["hits"] == 1 and m.cache_info()["misses"] == 1
    c = m.prepare(v, f, up="y", forward="+z")   # same axes, other spelling
    assert c is a
    d = m.prepare(v + 1.0, f)
    assert d is not a and m.cache_info()["misses"] == 2
    m.cache_size = 1
    assert m.prepare(v, f) is a and m.cache_info()["size"] == 1


# ------------------------------------------------------------------------------------------ decoding
def test_zero_code_gives_exactly_zero_displacement(model, narrow):
    pm = model.prepare(*narrow)
    d = model.decode_displacements(pm, np.zeros(SMALL.z_dim))
    assert d.shape == (pm.n_verts, 3) and not d.any()
    pos = model.decode(pm, np.zeros((2, SMALL.z_dim)))
    assert pos.shape == (2, pm.n_verts, 3)
    np.testing.assert_array_equal(pos[1], pm.verts)


def test_batched_and_chunked_decode_agree(stem, narrow):
    m = Model.load(stem)
    pm = m.prepare(*narrow)
    rng = np.random.default_rng(0)
    z = rng.uniform(0, 1, (3, SMALL.z_dim)).astype(np.float32)
    d = m.decode_displacements(pm, z)
    m.decode_rows = 1000
    pm2 = Model.load(stem).prepare(*narrow)
    # float32: batch shape and chunking change the BLAS blocking, hence round-off only
    assert np.abs(m.decode_displacements(pm2, z) - d).max() <= 1e-5 * np.abs(d).max()
    np.testing.assert_allclose(m.decode_displacements(pm, z[1]), d[1], atol=1e-5 * np.abs(d).max())


def test_facs_basis_iter_equals_facs_basis_and_one_hot_decodes(model, narrow):
    pm = model.prepare(*narrow)
    names, deltas = model.facs_basis(pm)
    assert names[0] == "browDown_L" and deltas.shape == (53, pm.n_verts, 3) and deltas.dtype == np.float32
    for i, name, d in model.facs_basis_iter(pm):
        assert names[i] == name
        np.testing.assert_array_equal(d, deltas[i])
    scale = np.abs(deltas).max()
    assert scale > 0
    for k in (0, ICT_INDEX["jawOpen"], 52):
        ref = model.decode_displacements(pm, np.eye(SMALL.z_dim)[k])
        assert np.abs(deltas[k] - ref).max() <= 1e-5 * scale
    an, ad = model.facs_basis(pm, names="arkit")
    assert len(an) == 52 and ad.shape == (52, pm.n_verts, 3)
    assert not ad[ARKIT_INDEX["tongueOut"]].any()
    both = np.zeros(SMALL.z_dim)
    both[[ICT_INDEX["browInnerUp_L"], ICT_INDEX["browInnerUp_R"]]] = 1.0
    ref = model.decode_displacements(pm, both)
    assert np.abs(ad[ARKIT_INDEX["browInnerUp"]] - ref).max() <= 1e-5 * scale
    np.testing.assert_array_equal(ad[ARKIT_INDEX["eyeBlinkLeft"]], deltas[ICT_INDEX["eyeBlink_L"]])
    with pytest.raises(ValueError, match="names"):
        model.facs_basis(pm, names="apple")


@pytest.mark.parametrize("dec_mode", ["bilinear", "mlp"])
def test_facs_basis_streams_a_dense_head_once_and_matches_one_hot_decodes(tmp_path, ict, monkeypatch, dec_mode):
    """Issue 17: above the per-mesh cache (``_CACHE_BYTES``) every one of the 53 keys used to recompute the
    decoder's per-mesh part (32 s at 45k vertices). Now each vertex goes through ``decoder.base`` exactly once
    per basis, cached or not, and the shapes equal the one-hot decodes (the old per-key path) and the cached
    path's."""
    import model_core.runtime.model_decoder as rm
    cfg = ModelConfig(**{**SMALL.__dict__, "dec_mode": dec_mode})
    save_weights(tmp_path / "w", make_weights(cfg), config=cfg)
    v, f = subdivide(*ict.head(None, None, "full"))                    # 44,786 vertices
    assert 30_000 <= len(v) <= 50_000
    rows = []

    def counted(base):
        def fn(pos, nrm, z_id):
            rows.append(len(pos))
            return base(pos, nrm, z_id)
        return fn

    results = {}
    for cache in ("streamed", "cached"):
        monkeypatch.setattr(rm, "_CACHE_BYTES", 0 if cache == "streamed" else 1 << 40)
        m = Model.load(tmp_path / "w.npz")
        m.decode_rows = 8192                                          # 6 chunks
        m.net.decoder.base = counted(m.net.decoder.base)
        pm = m.prepare(v, f)
        nf = len(pm.face_index)
        rows.clear()
        results[cache] = m.facs_basis(pm)[1]
        assert sum(rows) == nf, (cache, sum(rows), nf)             # one decoder pass, not 53
        if cache == "streamed":
            rows.clear()
            ref = m.decode_displacements(pm, np.eye(cfg.z_dim)[:53])       # the per-key decode, chunk by chunk
            assert sum(rows) == nf                         # a batch of codes decodes with one decoder pass too
            an, ad = m.facs_basis(pm, names="arkit")
            both = np.zeros(cfg.z_dim)
            both[[ICT_INDEX["cheekPuff_L"], ICT_INDEX["cheekPuff_R"]]] = 1.0
            ref_puff = m.decode_displacements(pm, both)
    basis = results["streamed"]
    scale = np.abs(basis).max()
    assert scale > 0 and np.isfinite(basis).all()
    assert np.abs(basis - ref).max() <= 1e-5 * scale
    assert np.abs(basis - results["cached"]).max() <= 1e-5 * scale
    assert np.abs(ad[ARKIT_INDEX["cheekPuff"]] - ref_puff).max() <= 1e-5 * scale
    np.testing.assert_array_equal(ad[ARKIT_INDEX["jawOpen"]], basis[ICT_INDEX["jawOpen"]])


def test_painted_region_weights_override_the_model(model, narrow):
    pm = model.prepare(*narrow)
    probs, w = model.skinning(pm)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    assert w.shape == (pm.n_verts, SMALL.z_dim)
    painted = np.zeros_like(probs)
    painted[:100, 3] = 2.0                       # renormalised to one-hot
    p2, w2 = model.skinning(pm, override_probs=painted)
    np.testing.assert_allclose(p2[:100, 3], 1.0)
    np.testing.assert_array_equal(p2[100:], probs[100:])   # zero rows keep the model's
    code = np.zeros(SMALL.z_dim)
    code[ICT_INDEX["jawOpen"]] = 1.0
    d0 = model.decode_displacements(pm, code)
    d1 = model.decode_displacements(pm, code, probs=painted)
    np.testing.assert_array_equal(d1[100:][pm.face_mask[100:]], d0[100:][pm.face_mask[100:]])
    assert np.abs(d1[:100] - d0[:100]).max() > 0
    with pytest.raises(ValueError, match="non-negative"):
        model.skinning(pm, override_probs=-painted)
    with pytest.raises(ValueError, match="shape"):
        model.skinning(pm, override_probs=painted[:10])


def test_expression_and_retarget(model, ict):
    rng = np.random.default_rng(1)
    sv, sf = ict.head(rng.standard_normal(100), None, "narrow")
    tv, tf = ict.head(rng.standard_normal(100), None, "face")
    w = rng.uniform(0, 1, (5, 53)) * (rng.uniform(size=(5, 53)) < 0.2)
    frames = np.stack([sv + ict.expression_deltas(x, "narrow") for x in w])
    src, tgt = model.prepare(sv, sf), model.prepare(tv, tf)
    z = model.expression(frames, src)
    assert z.shape == (5, SMALL.z_dim) and z.dtype == np.float32
    np.testing.assert_allclose(model.expression(frames[2], src), z[2], atol=1e-6)
    calls = []
    res = model.retarget(frames, src, tgt, positions=True, progress=lambda d, n: calls.append((d, n)), batch=2)
    np.testing.assert_allclose(res["z_ge"], z, atol=1e-6)
    np.testing.assert_array_equal(res["facs"], res["z_ge"][:, :53])
    assert res["positions"].shape == (5, len(tv), 3)
    d3 = model.decode_displacements(tgt, res["z_ge"][3])
    np.testing.assert_allclose(res["positions"][3], tgt.verts + d3, atol=1e-5 * np.abs(d3).max())
    assert calls[-1] == (10, 10) and len(calls) == 6
    with pytest.raises(Cancelled):
        model.retarget(frames, src, tgt, progress=lambda d, n: False)
    with pytest.raises(ValueError, match="shape"):
        model.expression(frames[:, :-1], src)
    bad = frames[0].copy()
    bad[5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.expression(bad, src)
    with pytest.raises(ValueError, match="z_ge"):
        model.decode(tgt, np.zeros(7))


def test_non_finite_outputs_raise_runtime_error(stem, narrow):
    wts = load_weights(stem)
    arrays = dict(wts.arrays)
    arrays["dec_rest.layers.0.weight"] = np.full_like(arrays["dec_rest.layers.0.weight"], 3e38)
    m = Model(Weights(arrays=arrays, config=wts.config, region_names=wts.region_names,
                      expression_names=wts.expression_names, meta=wts.meta))
    pm = m.prepare(*narrow)
    with np.errstate(all="ignore"), pytest.raises(RuntimeError, match="non-finite"):
        m.decode_displacements(pm, np.eye(SMALL.z_dim)[26])


def test_model_attributes(model):
    assert model.config == SMALL
    assert len(model.region_names) == 22 and model.region_colors.shape == (22, 3)
    assert model.region_colors.dtype == np.float32 and 0 <= model.region_colors.min() <= model.region_colors.max() <= 1
    assert len(model.expression_names) == 53 and model.expression_names[0] == "browDown_L"
    assert model.max_vertices == 300_000
    assert MIN_FACE_VERTICES > 5


# ------------------------------------------------------------------------------------------ weights files
def test_weights_file_errors(tmp_path, stem):
    npz, js = stem.with_suffix(".npz"), stem.with_suffix(".json")
    with pytest.raises(FileNotFoundError, match="nowhere.npz"):
        Model.load(tmp_path / "nowhere.npz")
    with pytest.raises(FileNotFoundError, match="export"):
        Model.load(tmp_path / "nowhere")

    def variant(name, npz_bytes=None, meta=None, arrays=None):
        s = tmp_path / name
        if arrays is not None:
            save_weights(s, arrays, config=SMALL)
        else:
            s.with_suffix(".npz").write_bytes(npz_bytes if npz_bytes is not None else npz.read_bytes())
            s.with_suffix(".json").write_text(json.dumps(meta) if isinstance(meta, dict) else
                                              (meta if meta is not None else js.read_text()))
        return s

    good_meta = json.loads(js.read_text())
    raw = npz.read_bytes()
    with pytest.raises(ValueError, match="truncated or corrupt"):
        Model.load(variant("trunc", npz_bytes=raw[: len(raw) // 2], meta={**good_meta, "weights_sha256": None}))
    with pytest.raises(ValueError, match="checksum"):
        Model.load(variant("trunc2", npz_bytes=raw[: len(raw) // 2]))
    with pytest.raises(ValueError, match="not valid JSON"):
        Model.load(variant("badjson", meta=js.read_text()[:40]))
    with pytest.raises(ValueError, match=f"version 99.*version {FORMAT_VERSION}"):
        Model.load(variant("version", meta={**good_meta, "format_version": 99}))
    with pytest.raises(ValueError, match="unknown model config keys"):
        Model.load(variant("cfgkey", meta={**good_meta, "config": {**good_meta["config"], "warp": 1}}))
    with pytest.raises(ValueError, match="unknown decoder frame 'warped'"):
        Model.load(variant("frame", meta={**good_meta, "config": {**good_meta["config"], "dec_frame": "warped"}}))
    with pytest.raises(ValueError, match="face_core region indices below n_regions"):
        Model.load(variant("core", meta={**good_meta, "config": {**good_meta["config"], "dec_frame": "face",
                                                                   "face_core": [2, 99]}}))
    # format 4 (before dec_frame existed) still loads, as the mesh frame
    old_cfg = {k: v for k, v in good_meta["config"].items() if k not in ("dec_frame", "face_core", "face_ref")}
    old = Model.load(variant("v4", meta={**good_meta, "format_version": 4, "config": old_cfg}))
    assert old.config.dec_frame == "mesh" and old.config == SMALL
    # format 5 (before id_offset existed) loads without identity offsets; id_offset needs the face frame
    v5_cfg = {k: v for k, v in good_meta["config"].items() if k not in ("id_offset", "offset_scale")}
    assert not Model.load(variant("v5", meta={**good_meta, "format_version": 5, "config": v5_cfg})).config.id_offset
    with pytest.raises(ValueError, match="id_offset needs dec_frame 'face'"):
        Model.load(variant("offset", meta={**good_meta, "config": {**good_meta["config"], "id_offset": True}}))
    with pytest.raises(ValueError, match="id_offset must be true or false"):
        Model.load(variant("offset2", meta={**good_meta, "config": {**good_meta["config"], "id_offset": "yes"}}))
    with pytest.raises(ValueError, match="region_names"):
        Model.load(variant("regions", meta={**good_meta, "region_names": ["a", "b"]}))
    a = make_weights()
    del a["dec_id.weight"]
    with pytest.raises(ValueError, match="missing 1 arrays"):
        Model.load(variant("missing", arrays=a))
    a = make_weights()
    a["extra.weight"] = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match="unexpected arrays"):
        Model.load(variant("extra", arrays=a))
    a = make_weights()
    a["dec_geo.weight"] = np.zeros((48, 7), np.float32)
    with pytest.raises(ValueError, match="shape"):
        Model.load(variant("shape", arrays=a))
    a = make_weights()
    a["dec_geo.bias"][0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        Model.load(variant("nan", arrays=a))
    # the json or the stem load the same weights
    assert Model.load(js).config == Model.load(stem).config == SMALL
    assert set(load_weights(stem).arrays) == set(expected_shapes(SMALL))


def test_default_weights_path_missing_says_what_to_do(monkeypatch, tmp_path):
    from model_core.runtime import weights as wmod
    monkeypatch.setattr(wmod, "DEFAULT_WEIGHTS", tmp_path / "nfs_v5.npz")
    with pytest.raises(FileNotFoundError, match="python -m model_core.training.export"):
        Model.load()


# ------------------------------------------------------------------------------------------ mesh files
def test_mesh_files_round_trip(tmp_path, ict):
    sizes = ict.face_sizes[:6560].astype(np.int64)
    corners = ict.corner_indices[: sizes.sum()].astype(np.int64)
    v = ict.neutral[:6706].astype(np.float64)
    for name, kw in (("a.obj", {}), ("b.ply", {}), ("c.ply", {"binary": False})):
        write_mesh(tmp_path / name, v, (corners, sizes), **kw)
        m = read_mesh(tmp_path / name)
        np.testing.assert_allclose(m.verts, v, rtol=1e-6, atol=1e-5)
        np.testing.assert_array_equal(m.corners, corners)
        np.testing.assert_array_equal(m.sizes, sizes)
        np.testing.assert_array_equal(m.faces, triangulate_polygons(corners, sizes)[0])
    # all-triangle binary PLY (fast path) and OBJ with slashes, negative indices, comments
    tri = triangulate_polygons(corners, sizes)[0]
    write_mesh(tmp_path / "t.ply", v, tri)
    np.testing.assert_array_equal(read_mesh(tmp_path / "t.ply").faces, tri)
    (tmp_path / "n.obj").write_text("# hi\no x\nv 0 0 0\nv 1 0 0 1.0\nv 0 1 0\nvt 0 0\nv 1 1 0\n"
                                    "f 1/1/1 2//1 3\nf -3 -1 -2\n")
    m = read_mesh(tmp_path / "n.obj")
    assert m.verts.shape == (4, 3) and m.faces.tolist() == [[0, 1, 2], [1, 3, 2]]
    (tmp_path / "bad.obj").write_text("v 0 0 0\nv 1 0 x\nf 1 2 3\n")
    with pytest.raises(ValueError, match="bad.obj"):
        read_mesh(tmp_path / "bad.obj")
    (tmp_path / "bad.ply").write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 100\n"
                                       b"property float x\nproperty float y\nproperty float z\nend_header\n\0\0")
    with pytest.raises(ValueError, match="truncated"):
        read_mesh(tmp_path / "bad.ply")
    with pytest.raises(FileNotFoundError):
        read_mesh(tmp_path / "none.obj")
    (tmp_path / "x.stl").write_text("solid x\n")
    with pytest.raises(ValueError, match="unsupported"):
        read_mesh(tmp_path / "x.stl")


def test_face_crop_uses_face_regions_only(ict):
    """crop='face' runs the encoders on face-region skin only; the rest follows (or stays with 'static').
    The committed weights' own skinning decides what is face (nfs_v5's segmentation is 92-95 % right)."""
    from model_core.runtime.regions import REGION_NAMES, load_ict_labels
    from model_core.runtime import Model
    from model_core.runtime.model_prepare import NON_FACE_REGIONS
    model = Model.load()
    v, f = ict.head(None, None, "full")
    full = model.prepare(v, f)
    face = model.prepare(v, f, crop="face", other_islands="static")
    assert face is not full and len(face.face_index) < len(full.face_index)
    # what the crop keeps is face skin by ICT's own labels, what it leaves is not (measured: 0.4 % and 96.4 %
    # non-face labels; 29 % of the whole head)
    non_face = np.isin(load_ict_labels(), [REGION_NAMES.index(n) for n in NON_FACE_REGIONS])
    assert non_face[face.face_index].mean() < 0.01 and non_face[face.other_index].mean() > 0.95
    assert len(face.face_index) + len(face.other_index) == len(v) and face.faces.shape == f.shape
    z = np.zeros(128, np.float32)
    z[26] = 1.0
    d = model.decode_displacements(face, z)
    assert np.isfinite(d).all() and np.abs(d[face.other_index]).max() == 0.0
    with pytest.raises(ValueError, match="crop"):
        model.prepare(v, f, crop="ears")


def test_fit_recovers_facs_combinations_of_the_models_own_basis(model, ict):
    """expression(method='fit') inverts the mesh's own FACS basis: a frame built from that basis with known
    weights in [0, 1] comes back with those weights; the encoder-only path is the raw network output."""
    v, f = ict.head(None, None, "narrow")
    pm = model.prepare(v, f)
    _, basis = model.facs_basis(pm, "ict")
    rng = np.random.default_rng(0)
    w = np.zeros((3, 53))
    for r in w:
        r[rng.choice(53, 4, replace=False)] = rng.uniform(0.3, 1.0, 4)
    frames = v[None] + np.einsum("bk,knc->bnc", w, basis)
    z = model.expression(frames, pm, sparsity=0.0)
    assert z.shape == (3, 128) and np.abs(z[:, 53:]).max() == 0.0
    assert z.min() >= 0.0 and z.max() <= 1.0
    # the fitted combination reproduces the frame (random weights give a degenerate basis, so the weights
    # themselves need not be unique; the displacement is)
    fitted = np.einsum("bk,knc->bnc", z[:, :53], basis)
    err = np.linalg.norm(fitted - (frames - v[None]), axis=-1).mean()
    assert err < 1e-2 * np.linalg.norm(frames - v[None], axis=-1).mean()
    with pytest.raises(ValueError, match="method"):
        model.expression(frames[0], pm, method="guess")
    with pytest.raises(ValueError, match="sparsity"):
        model.expression(frames[0], pm, sparsity=-1.0)


def test_sparse_fit_drops_keys_that_only_fit_noise(model, ict):
    """With the default sparsity, a frame made of two strong keys plus noise comes back with those two keys
    at their weights (the relaxed refit removes the penalty's shrinkage), while plain least squares
    (sparsity 0) switches on many more keys to fit the noise."""
    v, f = ict.head(None, None, "narrow")
    pm = model.prepare(v, f)
    _, basis = model.facs_basis(pm, "ict")
    norms = np.linalg.norm(basis.reshape(53, -1), axis=1)
    strong = np.argsort(norms)[-10:]
    rng = np.random.default_rng(3)
    keys = rng.choice(strong, 2, replace=False)
    w = np.zeros(53)
    w[keys] = [0.9, 0.6]
    disp = np.einsum("k,knc->nc", w, basis)
    noise = rng.normal(size=disp.shape) * 0.05 * np.sqrt((disp ** 2).sum(1).mean() / 3)
    frame = v + disp + noise
    z0 = model.expression(frame, pm, sparsity=0.0)[:53]
    z1 = model.expression(frame, pm)[:53]
    assert model.fit_sparsity > 0
    n0, n1 = int((z0 > 0.01).sum()), int((z1 > 0.01).sum())
    assert n1 < n0, (n0, n1)
    assert set(np.nonzero(z1 > 0.01)[0]) >= set(keys.tolist())
    np.testing.assert_allclose(z1[keys], w[keys], atol=0.05)
    assert np.abs(np.delete(z1, keys)).sum() < np.abs(np.delete(z0, keys)).sum()
