"""A closed mouth's slit (``template_keys.lip_slit``) and the template's mouth fitted onto it
(``template_keys.fit_mouth_slit``): on a held-out ICT face given a stylised shape (the mouth 0.8x, the eyes 1.35x,
the nose 0.7x; its keys exact through the warp) the template's lip contact lands below the smaller mouth's slit;
fitted, its keys come nearer the truth. On the face as it is, and on the dev heads as modelled, nothing moves.

The numbers asserted are the ones docs/model.md (*The dev heads with stylised proportions, and a closed mouth's
slit*) reports."""
from __future__ import annotations

import numpy as np
import pytest

from model_core.dataset.ict import CROPS
from model_core.dataset.warps import Warp, feature_centres
from model_core.evaluation.evaluate import held_out_identities, relative_error
from model_core.evaluation.real_eval import lip_pair
from model_core.runtime import template_keys as tk
from model_core.runtime.regions import load_ict_labels


def stylised_warp(ict) -> Warp:
    """Eyes 1.35x (1.1x deep), nose 0.7x, mouth 0.8x (0.9x deep), each about its centre on ICT's generic head."""
    from model_core.dataset.warps import FEATURE_REACH
    c = feature_centres(ict.neutral[:CROPS["full"][0]].astype(np.float64), load_ict_labels())
    rows = []
    for name, scale in (("eyes", (1.35, 1.35, 1.1)), ("nose", (0.7, 0.7, 0.7)), ("mouth", (0.8, 0.8, 0.9))):
        centre, r1 = c[name]
        rows.append([*centre, *scale, r1, FEATURE_REACH * r1])
        if name == "eyes":                          # the right eye: the mirrored centre
            rows.append([*(centre * (-1.0, 1.0, 1.0)), *scale, r1, FEATURE_REACH * r1])
    return Warp(features=np.array(rows), kind="stylised")


@pytest.fixture(scope="module")
def faces(ict):
    """(plain, stylised): (verts (n, 3) cm, true keys (53, n, 3) cm) of the first held-out identity, face crop."""
    n = CROPS["face"][0]
    v = ict.identity_verts(held_out_identities(1)[0], "face").astype(np.float64)
    modes = ict.expression_modes[:, :n].astype(np.float64)
    w = stylised_warp(ict)
    return (v, modes), (w(v), w(v[None] + modes) - w(v)[None])


def template_error(ict, verts, true, monkeypatch, fit: bool) -> float:
    from model_core.runtime import Model
    if not fit:
        monkeypatch.setattr(tk, "fit_mouth_slit", lambda tpl, x0, pts, faces, *rest: x0)
    model = Model.load()
    keys = model.facs_basis(model.prepare(verts, ict.crop_faces("face"), "Y", "Z"), "ict", keys="template")[1]
    monkeypatch.undo()
    return relative_error(keys.astype(np.float64), true)


def test_the_slit_is_read_where_the_lips_meet(dev_heads):
    # the hand-made head: lips as two sheets, a slit between the artist's lip pair (upper, lower), 2 mm apart
    head = dev_heads["iphonemocap"]
    u, lo = lip_pair(head)
    v = head.verts * 100.0                                         # m -> cm, +Y up, +Z forward already
    centre = 0.5 * (v[u] + v[lo]) + np.array([0.0, 0.8, -0.3])     # a guess 8 mm too high, as a misplaced template's
    got = tk.lip_slit(v, head.faces, centre)
    assert got is not None
    c, width = got
    assert abs(c[1] - 0.5 * (v[u, 1] + v[lo, 1])) < 0.2, c        # within 2 mm of the lips' meeting height
    assert abs(c[0]) < 0.5 and 3.0 < width < 6.0, (c, width)      # centred; the mouth ~5 cm wide
    assert tk.lip_slit(v, head.faces, centre + np.array([0.0, 6.0, 0.0])) is None   # at the eyes: no mouth


def test_a_stylised_mouth_gets_the_template_mouth_fitted(ict, faces, monkeypatch):
    (v, true), (sv, strue) = faces
    # as it is: the slits agree, nothing moves (the same keys)
    assert template_error(ict, v, true, monkeypatch, True) == template_error(ict, v, true, monkeypatch, False)
    before = template_error(ict, sv, strue, monkeypatch, False)
    after = template_error(ict, sv, strue, monkeypatch, True)
    assert after < before - 0.02, (before, after)


def mouth_warp(ict, scale: float) -> Warp:
    """ICT's mouth alone scaled by ``scale`` across and up (0.9x deep) about its centre (an anime face's mouth is
    0.59x the template's by its slit)."""
    from model_core.dataset.warps import FEATURE_REACH
    centre, r1 = feature_centres(ict.neutral[:CROPS["full"][0]].astype(np.float64), load_ict_labels())["mouth"]
    return Warp(features=np.array([[*centre, scale, scale, 0.9, r1, FEATURE_REACH * r1]]), kind="stylised")


def test_a_far_narrower_mouth_is_fitted_after_the_profile_shift(ict, monkeypatch):
    # the second held-out identity with its mouth 0.55x: the front profile sees its lip line and moves the
    # template's lips onto it (``mouth_pose``), which used to leave the slit unread and ICT's 5 cm mouth on a
    # 2.8 cm one; now a mouth narrower than 0.7x the template's is also scaled to its slit. Measured 50.7 -> 39.5 %.
    from model_core.runtime import Model
    n = CROPS["face"][0]
    v = ict.identity_verts(held_out_identities(2)[1], "face").astype(np.float64)
    w = mouth_warp(ict, 0.55)
    sv, strue = w(v), w(v[None] + ict.expression_modes[:, :n].astype(np.float64)) - w(v)[None]
    model = Model.load()

    def error() -> float:
        model.clear_cache()
        keys = model.facs_basis(model.prepare(sv, ict.crop_faces("face"), "Y", "Z"), "ict", keys="template")[1]
        return relative_error(keys.astype(np.float64), strue)
    after = error()
    monkeypatch.setattr(tk, "SLIT_SHIFTED_MIN_LOG_SCALE", np.inf)     # the rule before: no slit after a shift
    before = error()
    assert after < before - 0.08, (before, after)


def test_after_a_shift_a_mouth_within_the_reading_spread_is_left(ict):
    # the widths one mouth reads at on ICT's remeshes spread 0.75-0.97x: a mouth 0.8x the template's is fitted to
    # its slit where the profile saw no lip line, and left alone where it did (``min_log_scale``)
    tpl = tk.default_template()
    x0 = tpl.verts.astype(np.float64)
    face = mouth_warp(ict, 0.8)(x0)
    assert not np.allclose(tk.fit_mouth_slit(tpl, x0, face, tpl.faces), x0)
    assert np.array_equal(tk.fit_mouth_slit(tpl, x0, face, tpl.faces, tk.SLIT_SHIFTED_MIN_LOG_SCALE), x0)
    narrow = mouth_warp(ict, 0.55)(x0)
    fitted = tk.fit_mouth_slit(tpl, x0, narrow, tpl.faces, tk.SLIT_SHIFTED_MIN_LOG_SCALE)
    centre = x0[tpl.ambiguity > tk.MOUTH_CONTACT].mean(axis=0)
    width = tk.lip_slit(fitted, tpl.faces, centre)[1]
    assert abs(width / tk.lip_slit(narrow, tpl.faces, centre)[1] - 1.0) < 0.1, width
