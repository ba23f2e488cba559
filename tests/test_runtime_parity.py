"""The numpy runtime computes what the torch network computes (same weights via export_model, same inputs).

A seeded, randomly initialised FaceSkinningNet (default ModelConfig, R = len(REGION_NAMES)) with its decoder
code layer and heads scaled up (so that codes and displacements are far from zero) is exported with
``export.export_model`` and loaded with ``runtime.Model``. On three meshes of different vertex counts (ICT
full-head crop 11248, face crop 9409, narrow crop subdivided once ~26.6k) the runtime's z_ID, z_GE, region
probabilities, skinning weights, displacements and FACS-basis shapes match torch run on the runtime's own
prepared inputs, and those inputs equal the training path's (batch.prepare_group: normalisation, proxy,
features).
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")  # torch tests run in the Python 3.11 venv (scripts/test.sh)
pytestmark = pytest.mark.torch

from model_core.runtime.config import ModelConfig  # noqa: E402
from model_core.training.export import export_model  # noqa: E402
from model_core.runtime.frames import canonical_normalization  # noqa: E402
from model_core.runtime.mesh import subdivide_midpoint, vertex_areas, vertex_normals  # noqa: E402
from model_core.training.network import FaceSkinningNet  # noqa: E402
from model_core.runtime.proxy import build_proxy, expression_features, neutral_features  # noqa: E402
from model_core.runtime.regions import REGION_NAMES  # noqa: E402
from model_core.runtime import Model, expected_shapes  # noqa: E402
from model_core.runtime.facs_names import ICT_INDEX  # noqa: E402

ABS_TOL = 1e-4


@pytest.fixture(scope="module", params=["bilinear", "mlp", "bilinear-face", "bilinear-face-offset"])
def models(tmp_path_factory, request):
    torch.manual_seed(1234)
    mode, frame, offset = (request.param.split("-") + ["", ""])[:3]
    cfg = ModelConfig(n_regions=len(REGION_NAMES), dec_mode=mode, dec_frame=frame or "mesh",
                      id_offset=offset == "offset")
    net = FaceSkinningNet(cfg).eval()
    with torch.no_grad():   # perturb the init so that codes and displacements are not trivially ~0
        if net.bilinear:
            net.dec_rest.layers[-1].weight.mul_(20.0)
        else:
            net.dec_code.weight.mul_(150.0)
        net.skin_mlp.layers[1].weight.mul_(3.0)
        net.expression_encoder.head.layers[1].weight.mul_(6.0)
        net.skinning_encoder.lin_out.weight.mul_(4.0)
        for layer in net.dec_rest.layers:
            layer.weight.mul_(2.5)
    stem = tmp_path_factory.mktemp("weights") / f"parity_{request.param}"
    export_model(net, stem)
    return net, Model.load(stem.with_suffix(".npz"))


def _meshes(ict):
    rng = np.random.default_rng(5)
    out = []
    for crop in ("full", "face", "narrow_subdivided"):
        base = "narrow" if crop == "narrow_subdivided" else crop
        idc = rng.standard_normal(100) * 0.8
        w = np.zeros(53)
        w[[ICT_INDEX["jawOpen"], ICT_INDEX["mouthSmile_L"], ICT_INDEX["eyeBlink_R"]]] = (0.7, 0.9, 1.0)
        v, f = ict.head(idc, None, base)
        posed = v + ict.expression_deltas(w, base)
        if crop == "narrow_subdivided":
            posed, _ = subdivide_midpoint(posed, f)
            v, f = subdivide_midpoint(v, f)
        out.append((crop, v, f, posed))
    return out


def test_exported_arrays_match_expected_shapes(models):
    net, model = models
    want = expected_shapes(net.cfg)
    got = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert got == want
    assert list(got) == list(want)
    assert model.region_names == list(REGION_NAMES)


def test_numpy_matches_torch_on_three_meshes(models, ict):
    net, model = models
    cfg = net.cfg
    t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)  # noqa: E731
    report = []
    for crop, v, f, posed in _meshes(ict):
        pm = model.prepare(v, f)
        assert pm.n_verts == len(v) and len(pm.other_index) == 0 and not pm.flipped
        # the runtime's inputs are exactly the training path's (batch.prepare_group)
        nz = canonical_normalization(v, f)
        cn = nz.apply(v)
        proxy = build_proxy(cn, f, target=cfg.proxy_target, k_eig=cfg.k_eig, knn=cfg.knn)
        np.testing.assert_array_equal(pm.canon, cn)
        np.testing.assert_array_equal(pm.normals, vertex_normals(cn, f))
        np.testing.assert_array_equal(pm.feats_n, neutral_features(proxy).astype(np.float32))
        np.testing.assert_array_equal(pm.op[1], proxy.evecs.astype(np.float32))
        np.testing.assert_array_equal(pm.knn_idx, proxy.knn_idx)
        feats_e = expression_features(proxy, (nz.apply(posed) - cn)[None], cfg.expr_feat_scale).astype(np.float32)

        op = tuple(t(a) for a in pm.op)
        with torch.no_grad():
            z_id_t = net.identity(t(pm.feats_n), op).numpy()
            logits, off_t = net.skinning_outputs(t(pm.feats_n), op, torch.as_tensor(pm.knn_idx), t(pm.knn_w))
            probs_t = torch.softmax(logits, -1)
            w_t = net.skin_weights(probs_t)
            z_ge_t = net.expression(t(feats_e), op)
            codes = torch.cat([z_ge_t, torch.zeros(1, cfg.z_dim)])
            codes[1, ICT_INDEX["jawOpen"]] = 1.0
            frame = net.decoder_frame(t(pm.canon), probs_t, t(vertex_areas(pm.canon, f)))
            d_t = net.decode_in_frame(frame, t(pm.canon), t(pm.normals), w_t, codes, t(z_id_t), shift=off_t).numpy()
        a, b = model.decoder_frame(pm)
        assert abs(a - float(frame[0])) < 1e-5 * a and np.abs(b - frame[1].numpy()).max() < 1e-5
        if cfg.dec_frame == "face":   # (random weights: some frame other than the mesh's)
            assert abs(a - 1.0) > 0.05 and np.abs(b).max() > 0.05, (crop, a, b)
        else:
            assert a == 1.0 and not b.any()

        z_id = model.identity(pm)
        probs, weights = model.skinning(pm)
        # the network alone: the frame as it is (the runtime would first take out a rigid head motion it finds)
        z_ge = model.expression(posed, pm, method="encoder", remove_head=False)
        d = model.decode_displacements(pm, codes.numpy())                       # (2, N, 3) caller frame (cm)
        d_canon_t = nz.invert_vectors(d_t.astype(np.float64))                  # torch's, in the same frame
        _, basis = model.facs_basis(pm)
        errs = {
            "z_id": np.abs(z_id - z_id_t).max(),
            "z_ge": np.abs(z_ge - z_ge_t.numpy()[0]).max(),
            "probs": np.abs(probs - probs_t.numpy()).max(),
            "weights": np.abs(weights - w_t.numpy()).max(),
            "disp/size": np.abs(d - d_canon_t).max() / nz.size,
            "basis/size": np.abs(basis[ICT_INDEX["jawOpen"]] - d_canon_t[1]).max() / nz.size,
        }
        if cfg.id_offset:   # the decoder's input points: a * canon + b - offsets, same in both
            off = model.identity_offsets(pm)
            errs["offsets"] = np.abs(off - off_t.numpy()).max()
            assert np.abs(off).max() > 1e-3
        mags = {"|z_ge|": np.abs(z_ge).max(), "|disp|/size": np.abs(d).max() / nz.size,
                "|probs| max": probs.max()}
        report.append((crop, len(v), errs, mags))
        print(crop, len(v), {k: f"{x:.2e}" for k, x in errs.items()}, {k: f"{x:.3g}" for k, x in mags.items()})
        # the perturbed init makes the compared quantities non-trivial
        assert mags["|z_ge|"] > 0.1 and mags["|disp|/size"] > 1e-3 and probs.max() > 0.2
        for k, e in errs.items():
            assert e <= ABS_TOL, (crop, k, e)
    assert [r[1] for r in report][:2] == [11248, 9409] and report[2][1] > 25000
