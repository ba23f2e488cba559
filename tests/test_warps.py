"""Training faces outside ICT's identity space (``dataset/warps.py``): smooth one-to-one maps applied alike to a
group's neutral and posed faces, so the labels stay exact (issue 18, training data beyond ICT's identity space)."""
from __future__ import annotations

import numpy as np
import pytest

from model_core.dataset.batch import prepare_group
from model_core.dataset.sampler import FaceSampler
from model_core.dataset.warps import KINDS, Warp, feature_centres, sample_warp
from model_core.runtime.config import ModelConfig
from model_core.runtime.mesh import face_normals
from model_core.runtime.regions import load_ict_labels


@pytest.fixture(scope="module")
def centres(ict):
    return feature_centres(ict.neutral[:11248].astype(np.float64), load_ict_labels())


def test_every_kind_of_warp_is_smooth_and_one_to_one_on_the_head(ict, centres):
    v = ict.neutral[:11248].astype(np.float64)
    f = ict.crop_faces("full")
    n0 = face_normals(v, f)
    rng = np.random.default_rng(0)
    moved = {}
    for kind in KINDS:
        for _ in range(40):
            w = sample_warp(rng, centres, kind)
            x = w(v)
            # no triangle turns over (a fold); the worst measured: 0.67 (a stylised face's eye ring)
            assert (face_normals(x, f) * n0).sum(axis=1).min() > 0.3, (kind, w.to_array())
            moved[kind] = max(moved.get(kind, 0.0), float(np.linalg.norm(x - v, axis=1).max()))
    # caricatures change the identity (id_gain), not space; the others move features by centimetres
    assert moved["caricature"] == 0.0
    assert moved["smooth"] > 0.5 and moved["features"] > 1.0 and moved["stylised"] > 1.5, moved


def test_a_stored_warp_is_the_same_map(centres):
    rng = np.random.default_rng(1)
    x = rng.normal(0, 6, (50, 3))
    for kind in KINDS:
        w = sample_warp(rng, centres, kind)
        back = Warp.from_array(w.to_array())
        np.testing.assert_array_equal(back(x), w(x))
        assert back.id_gain == w.id_gain
    assert Warp()(x).tolist() == x.tolist() and Warp().is_identity
    with pytest.raises(ValueError, match="numbers"):
        Warp.from_array([1, 0, 1.0, 0.0])
    with pytest.raises(ValueError, match="positive"):
        Warp(bumps=[[0, 0, 0, 1, 0, 0, 0.0]])
    with pytest.raises(ValueError, match="unknown warp kind"):
        sample_warp(rng, centres, "cubist")


def test_warped_groups_keep_exact_labels(ict):
    s = FaceSampler(ict, seed=5, augment=False, warp_prob=1.0, ict_topology_prob=1.0, crops=("face",),
                    crop_probs=(1.0,), n_expr=3)
    kinds = set()
    for g in s.take(6):
        w = Warp.from_array(g.warp)
        kinds.add((w.id_gain != 1.0, w.is_identity))
        neutral, posed = s.crop_vertices(g.id_coeffs, g.facs)      # id_coeffs carry the caricature's gain
        n = g.n_verts
        np.testing.assert_allclose(g.neutral, w(neutral[:n]), atol=1e-9)
        np.testing.assert_allclose(g.posed, w(posed[:, :n]), atol=1e-9)
    # without warps the stream is the one before the option existed
    plain = FaceSampler(ict, seed=5, augment=False, ict_topology_prob=1.0, crops=("face",), crop_probs=(1.0,),
                        n_expr=3).take(2)
    assert all(g.warp is None for g in plain)
    with pytest.raises(ValueError, match="warp_prob"):
        FaceSampler(ict, warp_prob=1.5)


def test_a_warped_groups_training_targets_go_through_the_same_map(ict, tmp_path):
    """The decoder's 53 single shapes on the group's own topology and the ICT template's keys are W(n + d) - W(n);
    the identity terms are off (``warped``), as no ICT identity describes a warped face."""
    cfg = ModelConfig(enc_width=16, enc_blocks=1, k_eig=16, proxy_target=300, skin_hidden=16, dec_width=32,
                      dec_layers=2, z_dim=64)
    s = FaceSampler(ict, load_ict_labels(), seed=2, warp_prob=1.0, n_expr=2)
    g = next(gr for gr in s.take(8) if not Warp.from_array(gr.warp).is_identity)
    w = Warp.from_array(g.warp)
    item = prepare_group(g, ict, cfg, np.random.default_rng(0), n_faces=40, n_template=30,
                         template_labels=load_ict_labels())
    assert item["warped"] == 1.0 and not item["t_id_modes"].any()
    # a caricature stays in ICT's identity space (its coefficients scaled): its identity terms stay on
    car = next(gr for gr in s.take(40) if Warp.from_array(gr.warp).is_identity)
    item_c = prepare_group(car, ict, cfg, np.random.default_rng(0), n_faces=40, n_template=30)
    assert item_c["warped"] == 0.0 and item_c["t_id_modes"].any()
    # a combination of the single shapes = the group's own displacement, to first order in the expression:
    # exactly so for the linear ICT model, here within the warp's curvature (small against the motion)
    sub = item["sub_idx"]
    combo = np.einsum("bk,ksc->bsc", g.facs.astype(np.float64), item["sub_singles"].astype(np.float64))
    err = np.abs(combo - item["sub_disp"]).max() / np.abs(item["sub_disp"]).max()
    assert err < 0.2, err
    # each single shape is W(n + d) - W(n) at the subset's points (in the group's canonical frame)
    corners, bary = g.corners[sub], g.bary[sub]
    n = np.einsum("sjc,sj->sc", ict.identity_verts(g.id_coeffs, g.crop)[corners], bary)
    d = np.einsum("sjc,sj->sc", ict.expression_modes[7][corners].astype(np.float64), bary)
    want = w(n + d) - w(n)
    got = item["sub_singles"][7].astype(np.float64)
    scale = np.linalg.norm(want, axis=1).max() / np.linalg.norm(got, axis=1).max()
    np.testing.assert_allclose(np.linalg.norm(got, axis=1) * scale, np.linalg.norm(want, axis=1), atol=1e-4 * scale)
