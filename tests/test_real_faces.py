"""Keys on an artist-made head (../shared/data/real_faces, evaluation only): the real-face metrics and the
keys the CLI and the add-on make by default (``keys='auto'``: here the template's) against ICT nearest transfer on one
dev head, and the geometry-path bake of the artist's keys.

The numbers asserted are the ones docs/model.md (*Keys on real characters*) reports for this head."""
from __future__ import annotations

import numpy as np
import pytest

from model_core.runtime.facs_names import ARKIT_NAMES
from model_core.runtime.mesh import turned_over
from model_core.evaluation.real_eval import (evaluate_head, ict_nearest_arkit, key_metrics, lid_travel, lip_gap, lip_pair,
                                  performance_weights, triangle_damage)


@pytest.fixture(scope="module")
def head(dev_heads):
    return dev_heads["iphonemocap"]      # iphonemocap_johnsmith_head: 947 vertices, MIT


def test_key_metrics_are_scale_free_and_zero_is_100_percent():
    rng = np.random.default_rng(0)
    g = rng.normal(size=(50, 3))
    m = key_metrics(3.0 * g, g)
    assert m["err"] < 1e-12 and abs(m["cos"] - 1) < 1e-12 and abs(m["amp"] - 3.0) < 1e-12
    m = key_metrics(np.zeros_like(g), g)
    assert abs(m["err"] - 1.0) < 1e-12 and m["cos"] == 0.0


def test_lip_pair_straddles_the_mouth_and_the_artist_opens_it(head):
    u, l = lip_pair(head)
    v = head.verts
    assert v[u, 1] > v[l, 1] and abs(v[u, 0]) < 1e-3 and abs(v[l, 0]) < 1e-3
    assert np.linalg.norm(v[u] - v[l]) < 0.005                       # touching lips, < 5 mm apart at rest
    assert lip_gap(head, head.key("jawOpen"), (u, l)) > 0.03         # the artist opens them by 37.6 mm


def test_triangle_damage_counts_a_flip():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], float)
    f = np.array([[0, 1, 2], [1, 3, 2]])
    d = np.zeros_like(v)
    d[3] = [-3.0, -3.0, 0.0]              # folds the second triangle over, its edges 3.6x longer
    assert triangle_damage(v, f, d) == (1, 1)
    assert triangle_damage(v, f, np.zeros_like(v)) == (0, 0)


def test_lid_travel_of_the_artist_is_whole(head):
    g = head.key("eyeBlinkLeft")
    share, outside = lid_travel(g, g, head.verts)
    assert abs(share - 1.0) < 1e-9 and outside < 1e-3


def test_performance_weights_blink_and_speak():
    w = performance_weights(600, seed=7)
    assert w.shape == (600, 52) and w.min() >= 0 and w.max() <= 1
    assert w[:, ARKIT_NAMES.index("eyeBlinkLeft")].max() > 0.95     # full blinks
    jaw = w[:, ARKIT_NAMES.index("jawOpen")]
    assert 0.1 < jaw.mean() < 0.5 and (jaw < 0.05).mean() > 0.1      # speech with pauses


def test_default_keys_beat_nearest_on_a_low_poly_head(head, ict):
    from model_core.evaluation.real_eval import bake_error
    from model_core.runtime import Model
    model = Model.load()
    pm = model.prepare(head.verts, head.faces, "Y", "Z")
    ours = model.facs_basis(pm, names="arkit", keys="auto")[1]                   # the CLI's, the add-on's default
    # an artist's head disagrees with the decoder far beyond ICT's own faces (41 % here, held-out ICT 11-19 %):
    # 'auto' takes the template's keys
    assert model.auto_face_keys(pm)[1] == 0.0
    np.testing.assert_array_equal(ours, model.facs_basis(pm, names="arkit", keys="template")[1])
    res = evaluate_head(head, {"ours": ours.astype(np.float64), "nearest": ict_nearest_arkit(ict, head)})
    o, n = res["ours"], res["nearest"]
    # docs/model.md: err 112.3 % vs 134.6 %, cosine 0.558 vs 0.52, jawOpen lip gap 63 %, blinks 112 / 110 %,
    # no inverted triangles on jawOpen (3 before ``template_keys.unfold_contact``)
    assert o["err"] < n["err"] - 0.15 and o["cos"] > n["cos"]
    assert o["jaw_gap"] > 0.5 and o["jaw_cos"] > 0.65
    assert 0.9 < min(o["blink"]) and max(o["blink"]) < 1.15 and max(o["blink_outside_m"]) < 0.002
    assert o["jaw_damage"][0] == 0
    # geometry-path bake of the artist's keys, read back on the template's keys: MAE10 0.117 (0.127 when the fit
    # also read the neck: docs/model.md, *The fit reads the face, not the neck*)
    mae, saturated = bake_error(model, pm, head, "auto")
    assert mae < 0.122 and saturated < 0.01


def test_jaw_open_parts_lips_modelled_as_two_sheets(head, monkeypatch):
    # this head's closed lips are two sheets running into the mouth, a millimetre apart at the slit: there the
    # closest points picked either of the template's lips and the harmonic fill blended them, so jawOpen parted the
    # lips by 59 % of the artist's gap with the upper lip pulled 4 mm down. A lip's top and underside now take the
    # template's lip facing the same way (``template_keys.choose_lip_sides``; docs/model.md, *Lip sides*): 99 %,
    # jawOpen's cosine 0.73 -> 0.77, mean error 112.2 -> 110.7 % (since the eyes meet lid by lid, session 32: the
    # registration without lip sides has jawOpen's cosine 0.769, with them 0.789)
    from model_core.runtime import Model, template_keys
    scores = {}
    for cos in (2.0, template_keys.LIP_SIDE_COS):                 # 2: no normal faces that far: as before
        monkeypatch.setattr(template_keys, "LIP_SIDE_COS", cos)
        model = Model.load()
        keys = model.facs_basis(model.prepare(head.verts, head.faces, "Y", "Z"), names="arkit", keys="auto")[1]
        scores[cos] = evaluate_head(head, {"ours": keys.astype(np.float64)})["ours"]
        upper = keys[ARKIT_NAMES.index("jawOpen")][lip_pair(head)[0]]
    before, after = scores[2.0], scores[template_keys.LIP_SIDE_COS]
    assert before["jaw_gap"] < 0.65 and after["jaw_gap"] > 0.9, (before["jaw_gap"], after["jaw_gap"])
    assert after["jaw_cos"] > before["jaw_cos"] + 0.015 and after["jaw_cos"] > 0.75
    assert after["err"] < before["err"] - 0.01 and after["cos"] >= before["cos"]
    assert after["jaw_damage"][0] == 0 and after["jaw_damage"][1] <= before["jaw_damage"][1]
    assert abs(upper[1]) < 0.001                                   # the upper lip no longer dragged down (3.7 mm)


def test_trimmed_tails_bring_the_keys_nearer_the_artists(head, monkeypatch):
    # the template's keys with each key's motion below 5 % of its largest faded out (``TEMPLATE_TAIL``) against the
    # same keys untrimmed (docs/model.md, *Key tails*): mean error 127.0 -> 116.6 %, cosine 0.551 -> 0.555, the
    # brow raise 235 -> 137 %; the artist's browOuterUpLeft moves 1 % of the vertices above 5 % of its peak
    from model_core.runtime import Model, model_keys
    monkeypatch.setattr(model_keys, "EAR_TAIL", 0.0)                  # the ears apart: the next test
    scores = {}
    for tail in (0.0, model_keys.TEMPLATE_TAIL):
        monkeypatch.setattr(model_keys, "TEMPLATE_TAIL", tail)
        model = Model.load()
        keys = model.facs_basis(model.prepare(head.verts, head.faces, "Y", "Z"), names="arkit", keys="template")[1]
        scores[tail] = evaluate_head(head, {"ours": keys.astype(np.float64)})["ours"]
    before, after = scores[0.0], scores[model_keys.TEMPLATE_TAIL]
    assert after["err"] < before["err"] - 0.08 and after["cos"] > before["cos"]
    brow = [s["keys"]["browOuterUpLeft"]["err"] for s in (before, after)]
    assert brow[1] < 0.7 * brow[0], brow
    better = sum(after["keys"][n]["err"] <= before["keys"][n]["err"] for n in before["keys"])
    assert better >= 0.9 * len(before["keys"]), better


def test_the_ears_stay_still(head, monkeypatch):
    # ICT's scans move the ear with the cheek (mouthSmile_L: 1.8 mm of 15.8, uniform over the ear); an ear is fixed
    # to the skull and the artists' keys leave it still. The template path fades each key's motion below 25 % of its
    # largest on the ears (``EAR_TAIL``, in the share of the skinning's ear probability): on this head's ears (272
    # of its 947 vertices) the smile moved 1.6 mm, now nothing; mean error 116.5 -> 112.3 %, browOuterUpLeft and
    # the smiles 27-43 points better (docs/model.md, *Key tails*)
    from model_core.runtime import Model, model_keys
    from model_core.runtime.regions import REGION_NAMES
    scores, smile = {}, {}
    for ear_tail in (0.0, model_keys.EAR_TAIL):
        monkeypatch.setattr(model_keys, "EAR_TAIL", ear_tail)
        model = Model.load()
        pm = model.prepare(head.verts, head.faces, "Y", "Z")
        names, keys = model.facs_basis(pm, names="arkit", keys="template")
        probs = model.skinning(pm)[0]
        ear = probs[:, [REGION_NAMES.index("ear_L"), REGION_NAMES.index("ear_R")]].sum(axis=1) > 0.9
        smile[ear_tail] = np.linalg.norm(keys[names.index("mouthSmileLeft")][ear], axis=1).max()
        scores[ear_tail] = evaluate_head(head, {"ours": keys.astype(np.float64)})["ours"]
    assert ear.sum() > 200
    assert smile[0.0] > 0.001 and smile[model_keys.EAR_TAIL] < 1e-5, smile
    before, after = scores[0.0], scores[model_keys.EAR_TAIL]
    assert after["err"] < before["err"] - 0.03 and after["cos"] > before["cos"]
    assert all(after["keys"][n]["err"] <= before["keys"][n]["err"] + 0.005 for n in before["keys"])


def test_arkit_sums_turn_no_triangle_their_halves_do_not(dev_heads):
    # ARKit's cheekPuff is ICT's cheekPuff_L + _R: on Rokoko the sum turned 40 triangles under the nose where
    # neither half turns one (19 since the keys are no steeper than the template's: ``key_gradients``; the
    # artist's key: none); relaxed away (``FacsKeys._unturned_sum``), as every triangle a sum turns that none of its
    # halves does
    from model_core.runtime import Model
    from model_core.runtime.facs_names import ICT_NAMES
    rokoko = dev_heads["rokoko"]
    model = Model.load()
    pm = model.prepare(rokoko.verts, rokoko.faces, "Y", "Z")
    _, arkit = model.facs_basis(pm, names="arkit", keys="auto")
    _, ict = model.facs_basis(pm, names="ict", keys="auto")
    v, f = rokoko.verts, rokoko.faces
    halves = [ict[ICT_NAMES.index(n)] for n in ("cheekPuff_L", "cheekPuff_R")]
    own = turned_over(v, f, halves[0]) | turned_over(v, f, halves[1])
    assert own.sum() <= 2             # cheekPuff_L: 2 at the left lip corner (since its mouth is an opening, not a cut)
    assert (turned_over(v, f, halves[0] + halves[1]) & ~own).sum() > 12
    puff = arkit[ARKIT_NAMES.index("cheekPuff")]
    assert not (turned_over(v, f, puff) & ~own).any()
    # 0.859, 0.858 unrelaxed (0.872 both before the keys were carried in the head's upright frame,
    # ``template_keys.KEYS_UPRIGHT``)
    assert key_metrics(puff, rokoko.key("cheekPuff"))["cos"] > 0.845
    # the other keys are the plain sums, untouched
    brow = arkit[ARKIT_NAMES.index("browInnerUp")]
    np.testing.assert_allclose(brow, ict[ICT_NAMES.index("browInnerUp_L")] + ict[ICT_NAMES.index("browInnerUp_R")],
                               atol=1e-7)


def test_a_head_closed_all_round_keeps_its_mouth_as_an_opening(dev_heads):
    # Rokoko's head has no cut: its borders are its eyes (34 vertices each), a 12-vertex hole and its mouth, cut open
    # at a wavy lip line 23.9 cm round in ICT's frame (ICT's mouth opening: 10.6 cm). Taken as the longest loop, the
    # mouth was dropped from a transfer source's openings, and as a border over 20 cm long it counted as a cut
    # (``is_cut_loop``: a cut is also 4 cm wide; this mouth 2.6 cm)
    from model_core.runtime import Model
    from model_core.runtime import template_keys as tk
    rokoko = dev_heads["rokoko"]
    model = Model.load()
    pm = model.prepare(rokoko.verts, rokoko.faces, "Y", "Z")
    pts = model.template_frame(pm)[0]
    src = tk.FaceTemplate(pts, pm.face_faces, np.zeros((1, len(pts), 3), np.float32), np.zeros(len(pts)), len(pts),
                          np.zeros(3), 1.0)
    assert sorted(len(o) for o in src.openings) == [12, 34, 34, 52]
    cut = tk.border_faces(pts, pm.face_faces)
    assert cut is not None and not cut.any()
    ict = tk.default_template()                     # ICT's narrow face: its outer border is its only cut
    assert sorted(len(o) for o in ict.openings) == [42, 42, 74]


def test_a_blink_leaves_no_slit_on_a_stylised_eye(dev_heads, monkeypatch):
    # Rokoko's eyes are cut open at the lid margin and larger than ICT's: the blink, scaled to close them as far as
    # ICT's closes its own (``close_openings``), stayed up to 2.1 mm open in the middle while it passed the lower
    # margin by 3.2 mm near the outer corner; ``seal_lids`` closes the slit (docs/model.md, *Blinks that shut*)
    from model_core.runtime import Model
    from model_core.runtime import template_keys as tk
    rokoko = dev_heads["rokoko"]
    v = rokoko.verts
    loops, shapes = tk.face_loops(v, rokoko.faces)
    eye = max((lp for lp, (c, r) in zip(loops, shapes) if len(lp) == 34), key=lambda lp: v[lp, 0].mean())
    c = v[eye].mean(axis=0)
    up, lo = eye[v[eye, 1] >= c[1]], eye[v[eye, 1] < c[1]]
    lo = lo[np.argsort(v[lo, 0])]
    inner = up[np.abs(v[up, 0] - c[0]) < 0.35 * np.ptp(v[eye, 0])]   # the middle 70 % across

    def blink():
        model = Model.load()
        names, keys = model.facs_basis(model.prepare(v, rokoko.faces, "Y", "Z"), names="arkit", keys="auto")
        d = keys[names.index("eyeBlinkLeft")].astype(np.float64)
        p = v + d
        slit = p[inner, 1] - np.interp(v[inner, 0], v[lo, 0], p[lo, 1])      # m above the lower margin
        return d, float(slit.max())

    d, slit = blink()
    m = key_metrics(d, rokoko.key("eyeBlinkLeft"))
    assert slit < 0.0003, slit                                       # 0.2 mm at most (the artist's: 0.4 mm)
    assert m["cos"] > 0.86 and m["err"] < 0.70, m                    # 0.866 / 68.2 % (0.854 / 70.4 % unsealed)
    # the triangles the scaled blink crumples beside the eye's corners are relaxed (``UNFOLD_LIDS``): 47 -> 23
    # turned over (the artist's own blink: 15), the margins keep their sealed motion
    assert turned_over(v, rokoko.faces, d).sum() < 30
    monkeypatch.setattr(tk, "seal_lids", lambda key, *args: key)
    assert blink()[1] > 0.0015                                        # unsealed: 2.1 mm


def test_a_blink_on_a_tall_eye_moves_the_whole_upper_lid(dev_heads, monkeypatch):
    # Rokoko's eye is 1.7x as tall as the template's: its blink is scaled 1.7x, and the lid above the band between
    # margin and crease stood still while the band stretched; spread as far as it is scaled (``stretch_lids``),
    # the blink comes nearer the artist's (docs/model.md, *A tall lid moves whole*: 54.6 % / 0.91 -> 44.1 % / 0.95,
    # lid travel 84 -> 96 %) and still moves nothing outside the eye
    from model_core.runtime import Model
    from model_core.runtime import template_keys as tk
    rokoko = dev_heads["rokoko"]
    model = Model.load()
    true = rokoko.key("eyeBlinkLeft")

    def blink():
        model.clear_cache()
        names, keys = model.facs_basis(model.prepare(rokoko.verts, rokoko.faces, "Y", "Z"), names="arkit",
                                       keys="auto")
        d = keys[names.index("eyeBlinkLeft")].astype(np.float64)
        return key_metrics(d, true), lid_travel(true, d, rokoko.verts)

    m, (travel, outside) = blink()
    monkeypatch.setattr(tk, "STRETCH_LIDS", False)
    m0, (travel0, _) = blink()
    print("stretched:", m, travel, outside, "template's extent:", m0, travel0)
    assert m["err"] < 0.46 and m["cos"] > 0.94 and travel > 0.92 and outside < 0.002
    assert m0["err"] > 0.52 and m0["cos"] < 0.92 and travel0 < 0.87


def test_a_blink_closes_each_column_as_far_as_the_template(dev_heads, monkeypatch):
    # scaled by one factor for the whole eye, Rokoko's blink passed the lower lid by 9 % of the eye's height near
    # the outer corner (the registration had put the template's lid there lower), and the skin above came down with
    # it; scaled column by column (``template_keys.column_gains``) every column of the central 80 % closes as the
    # template's does (docs/model.md, *A blink closed column by column*), and the blink is nearer the artist's
    from model_core.runtime import Model
    from model_core.runtime import template_keys as tk
    rokoko = dev_heads["rokoko"]
    v = rokoko.verts
    model = Model.load()
    true = rokoko.key("eyeBlinkLeft")
    loops, _ = tk.face_loops(v, rokoko.faces)
    eye = max(loops, key=lambda lp: np.linalg.norm(true[lp], axis=1).mean())

    def blink():
        model.clear_cache()
        names, keys = model.facs_basis(model.prepare(v, rokoko.faces, "Y", "Z"), names="arkit", keys="auto")
        d = keys[names.index("eyeBlinkLeft")].astype(np.float64)
        u, closed, ok = tk.column_closure(v[eye], d[eye])
        return float(closed[ok & (u > 0.1) & (u < 0.9)].max()), key_metrics(d, true)

    over, m = blink()
    monkeypatch.setattr(tk, "CLOSURE_COLUMNS", False)
    over0, m0 = blink()
    print("largest column closure, blink error: by column", over, m, "one factor", over0, m0)
    assert over < 1.02 and over0 > 1.05                     # 1.005 / 1.089
    assert m["err"] < m0["err"] - 0.01                      # 41.7 / 44.1 %


def test_a_mouth_bags_roof_stays_when_the_jaw_opens(dev_heads, monkeypatch):
    # Rocketbox's mouth is a flat bag joined to the lips (1-2.5 cm tall, 6 cm deep). ICT's socket is a 5 cm tall
    # cavity, so the bag's roof lay nearer ICT's lower inner lip and lip corners and swung down with the jaw
    # (1.2 cm; the artist's roof stays). Each side of the mouth now reads its own socket, above or below it
    # (``inner_parts.fill_sockets``): the roof the palate, the floor the jaw's floor (docs/model.md, *A mouth bag's
    # roof and floor*)
    from model_core.runtime import Model
    from model_core.runtime import template_keys as tk
    rb = dev_heads["rocketbox"]
    v = rb.verts
    u, lo = lip_pair(rb)
    yc, zf = 0.5 * (v[u, 1] + v[lo, 1]), max(v[u, 2], v[lo, 2])
    bag = (np.abs(v[:, 0]) < 0.015) & (v[:, 2] < zf - 0.02) & (v[:, 2] > zf - 0.07) & (np.abs(v[:, 1] - yc) < 0.025)
    roof, floor = bag & (v[:, 1] > yc + 0.003), bag & (v[:, 1] < yc - 0.003)
    assert roof.sum() >= 4 and floor.sum() >= 20
    assert np.linalg.norm(rb.key("jawOpen")[roof], axis=1).max() == 0.0          # the artist's roof stays
    out = {}
    for sides in (False, True):
        monkeypatch.setattr(tk, "SOCKET_SIDES", sides)
        model = Model.load()
        names, keys = model.facs_basis(model.prepare(v, rb.faces, "Y", "Z"), names="arkit", keys="auto")
        m = np.linalg.norm(keys[names.index("jawOpen")], axis=1)
        out[sides] = (m[roof].mean() / m[floor].mean(), evaluate_head(rb, {"ours": keys.astype(np.float64)})["ours"])
    (before, b), (after, a) = out[False], out[True]
    assert before > 0.4 and after < 0.1, (before, after)              # measured 0.50 -> 0.00
    # the whole head: 124.1 -> 122.6 %, cosine 0.556 -> 0.570, performance error 248 -> 234 %
    assert a["err"] < b["err"] - 0.01 and a["cos"] > b["cos"] + 0.01 and a["perf"] < b["perf"], (a["err"], b["err"])
    assert a["jaw_damage"][0] == 0


def test_template_keys_do_not_drift_on_a_denser_copy_of_the_same_surface(dev_heads):
    """The face mask head twice midpoint-subdivided (3.6k -> 57k vertices, the same surface; the artist's keys
    subdivided with it): the template path's similarity fit and keys stay where the original's are. Before the
    ICPs' 1 cm reach (``template_keys.ICP_REACH_CM``) the grid's reach fell to 2 mm there, the template points
    off the mask sat out, and the fit grew 20 % (scale 0.715 -> 0.857; mean cosine 0.834 -> 0.775)."""
    from model_core.runtime import Model
    from model_core.runtime.mesh import subdivide_midpoint
    head = dev_heads["rokoko"]
    model = Model.load()
    v, f, keys = head.verts, head.faces, head.deltas
    for _ in range(2):
        keys = np.stack([subdivide_midpoint(k, f)[0] for k in keys])
        v, f = subdivide_midpoint(v, f)
    got = {}
    for label, (vv, ff, kk) in {"original": (head.verts, head.faces, head.deltas), "dense": (v, f, keys)}.items():
        pm = model.prepare(vv, ff, "Y", "Z")
        ours = model.facs_basis(pm, names="arkit", keys="template")[1]
        cos = [key_metrics(ours[k].astype(np.float64), kk[head.names.index(n)])["cos"]
               for k, n in enumerate(ARKIT_NAMES) if n in head.names and n != "tongueOut"]
        got[label] = (model._template_match(pm)[1].scale, float(np.mean(cos)))
    (s0, c0), (s1, c1) = got["original"], got["dense"]
    assert len(v) > 50000
    assert abs(s1 / s0 - 1) < 0.03, got           # 0.715 -> 0.722
    assert abs(c1 - c0) < 0.01, got               # 0.834 -> 0.839


def test_a_face_mask_cut_from_a_head_with_unmerged_halves_gets_the_heads_keys(head):
    """The hand-made head's two halves meet at an open seam 2-10 um wide (never merged; the back of the head joins
    them). Cut to a face mask (448 of 947 vertices within 0.45 head heights of the nose tip), the halves fell
    apart and the mask's keys were all zero (relative difference 1.01 to the whole head's keys on the same
    vertices): one half was taken as the face, badly placed. ``mesh_checks.weld_open_seams`` closes the seam."""
    from model_core.runtime import Model
    model = Model.load()
    v, f = head.verts, head.faces
    full = model.facs_basis(model.prepare(v, f, "Y", "Z"), names="arkit", keys="auto")[1].astype(np.float64)
    keep = np.linalg.norm(v - v[np.argmax(v[:, 2])], axis=1) < 0.45 * np.ptp(v[:, 1])
    idx = -np.ones(len(v), np.int64)
    idx[keep] = np.arange(keep.sum())
    pm = model.prepare(v[keep], idx[f[keep[f].all(axis=1)]], "Y", "Z")
    assert len(pm.face_index) >= keep.sum() - 2                     # both halves (2 loose vertices aside)
    mask = model.facs_basis(pm, names="arkit", keys="auto")[1].astype(np.float64)
    diff = [np.linalg.norm(mask[k] - full[k][keep], axis=1).mean() / np.linalg.norm(full[k][keep], axis=1).mean()
            for k, n in enumerate(ARKIT_NAMES) if n != "tongueOut"]
    # 0.25 (0.16 when written); 0.33 since the lip sides (``template_keys.choose_lip_sides``): the mask's template
    # keys came nearer the artist's (108.0 % / 0.575 against 109.6 % / 0.562) and nearer the decoder's, whose share
    # in 'auto' rose 0.59 -> 0.98 there (disagreement 0.24 -> 0.20; docs/model.md, *Lip sides*)
    assert np.mean(diff) < 0.36, np.mean(diff)


def test_vertices_split_at_a_seam_move_as_one(head):
    """The hand-made head's 46 split vertex groups (its midline seam, 2-10 um apart) move together in every key:
    each side was filled and unfolded on its own and the mesh opened up to 10.97 mm (mouthSmileRight, below the
    lip) before ``model_decoder.seam_mean``."""
    from model_core.runtime import Model
    from model_core.runtime.model_decoder import seam_mean
    model = Model.load()
    pm = model.prepare(head.verts, head.faces, "Y", "Z")
    g = pm.face_weld
    assert g is not None and (np.bincount(g) > 1).sum() == 46
    keys = model.facs_basis(pm, names="arkit", keys="auto")[1][:, pm.face_index]
    np.testing.assert_array_equal(keys, keys[:, np.unique(g, return_index=True)[1][g]])
    x = np.random.default_rng(0).normal(size=(2, len(g), 3))
    m = seam_mean(x, g)
    for k in np.flatnonzero(np.bincount(g) > 1)[:5]:
        np.testing.assert_allclose(m[:, g == k], x[:, g == k].mean(axis=1, keepdims=True).repeat((g == k).sum(), 1))


def test_a_tightly_cut_face_mask_keeps_the_heads_keys(dev_heads):
    """Rokoko's head cut to a tight face mask (within 0.35 head heights, ~8 cm, of the nose tip): the similarity ICPs
    make no pair on the mask's cut (``template_keys.border_faces``), so the template's points beyond it do not pull
    the fit onto it. Mean cosine against the artist's keys on the kept vertices: 0.616 before, 0.778 then, 0.836
    since an opening must also be 4 cm wide to be a cut (``is_cut_loop``: Rokoko's wavy mouth, 23.9 cm round, was
    one, so its lips made no pair either); the whole head's keys on those vertices score 0.849. The fit's scale is
    barely constrained on so tight a mask (fewer than 60 % of the template's points near it): started from five
    scales, the fit with the least median distance is kept (``template_keys.SCALE_STARTS``): 0.836 -> 0.854."""
    from model_core.runtime import Model
    h = dev_heads["rokoko"]
    model = Model.load()
    v, f = h.verts, h.faces
    keep = np.linalg.norm(v - v[np.argmax(v[:, 2])], axis=1) < 0.35 * np.ptp(v[:, 1])
    idx = -np.ones(len(v), np.int64)
    idx[keep] = np.arange(keep.sum())
    pm = model.prepare(v[keep], idx[f[keep[f].all(axis=1)]], "Y", "Z")
    ours = model.facs_basis(pm, names="arkit", keys="auto")[1].astype(np.float64)
    cos = [key_metrics(ours[k], h.key(n)[keep])["cos"] for k, n in enumerate(ARKIT_NAMES) if n != "tongueOut"]
    assert 0.6 * len(v) < keep.sum() < 0.8 * len(v)                  # 2,585 of 3,626 vertices
    assert np.mean(cos) > 0.845, np.mean(cos)
    # jawOpen at the mask's edge 4 cm and more below the nose tip, against the whole head's keys there: the
    # registration's pulls skip the cut too (``register(dst_skip=)``); before, the edge lay 2 cm off the registered
    # template, faded and flapped (min ratio 0.66, now 0.85)
    from model_core.runtime.mesh import boundary_loops
    whole = model.facs_basis(model.prepare(v, f, "Y", "Z"), names="arkit", keys="auto")[1]
    mf = idx[f[keep[f].all(axis=1)]]
    rim = max(boundary_loops(mf), key=len)
    vk = v[keep]
    low = rim[vk[rim, 1] < vk[np.argmax(vk[:, 2]), 1] - 0.04]
    j = ARKIT_NAMES.index("jawOpen")
    ratio = np.linalg.norm(ours[j][low], axis=1) / np.linalg.norm(whole[j][keep][low], axis=1)
    assert len(low) > 10 and ratio.min() > 0.8, ratio.min()


def test_a_symmetric_head_gets_mirror_symmetric_keys(dev_heads, monkeypatch):
    # Rocketbox is modelled nearly mirror-symmetric (72 % of its vertices have a mirror partner within 2 mm). The
    # similarity ICPs left the template 1.3 degrees of yaw and 2 mm across its midline, so each left key differed
    # from its mirrored right key by 23 % (of the left key's motion); the template's mirror plane is now put on the
    # face's (``symmetry.symmetric_pose``): 9 % (docs/model.md, *Mirror planes*)
    from model_core.runtime import Model
    from model_core.runtime import template_keys as tk
    from model_core.runtime.nearest import knn
    rb = dev_heads["rocketbox"]
    v = rb.verts
    idx, d2 = knn(v * [-1.0, 1.0, 1.0], v, 1)
    partner, ok = idx[:, 0], np.sqrt(d2[:, 0]) < 0.002
    assert 0.6 < ok.mean() < 0.8

    def asymmetry():
        model = Model.load()
        names, keys = model.facs_basis(model.prepare(v, rb.faces, "Y", "Z"), names="arkit", keys="auto")
        out = []
        for n in names:
            if n.endswith("Left"):
                left, right = keys[names.index(n)], keys[names.index(n[:-4] + "Right")]
                gap = np.linalg.norm((left - right[partner] * [-1.0, 1.0, 1.0])[ok], axis=1).mean()
                out.append(gap / max(np.linalg.norm(left[ok], axis=1).mean(), 1e-12))
        return float(np.mean(out))

    monkeypatch.setattr(tk, "SYMMETRY", False)
    before = asymmetry()
    monkeypatch.setattr(tk, "SYMMETRY", True)
    after = asymmetry()
    # measured 0.233 -> 0.094; since the eyes are read as pockets (their margins meet the template's rims on both
    # sides: docs/model.md, *Eyes modelled as pockets*) 0.176 -> 0.091
    assert before > 0.15 and after < 0.12 and after < 0.6 * before, (before, after)


def test_a_head_without_jawopen_is_scored_on_the_keys_it_has(dev_heads):
    # an anime face whose jaw is a bone has no jawOpen shape (a VRoid face: 30 ARKit shapes); it is scored on the
    # keys it has, with NaN for the jaw's metrics, instead of failing to find its lips
    from model_core.evaluation.real_eval import RealHead
    h = dev_heads["iphonemocap"]
    keep = [i for i, n in enumerate(h.names) if n not in ("jawOpen", "eyeBlinkRight")]
    head = RealHead("no_jaw", h.verts, h.faces, [h.names[i] for i in keep], h.deltas[keep])
    own = np.zeros((len(ARKIT_NAMES),) + h.verts.shape)
    for n in h.names:
        own[ARKIT_NAMES.index(n)] = h.key(n)
    got = evaluate_head(head, {"artist": own})["artist"]
    assert np.isnan(got["jaw_cos"]) and np.isnan(got["jaw_gap"]) and np.isnan(got["blink"][1])
    assert abs(got["cos"] - 1.0) < 1e-9 and len(got["keys"]) == len(keep) and got["blink"][0] > 0.99


def test_a_pitched_head_keeps_its_keys(head):
    """docs/model.md, *Pose*: the default keys on an artist's head pitched 10 degrees either way (its artist's keys
    pitched with it) lose 0.010 / 0.012 of cosine and 0 / 10 points of error (measured; asserted within 0.02 and
    12 points)."""
    from model_core.evaluation.real_eval import format_tilt_real, tilt_real
    rows = tilt_real([head], (0.0, 10.0, -10.0))
    by = {r["angle"]: r for r in rows}
    assert [r["head"] for r in rows] == [head.name] * 3
    assert abs(by[0.0]["cos"] - 0.570) < 0.01                   # the upright head scores as evaluate --real says
    for a in (10.0, -10.0):
        assert by[0.0]["cos"] - by[a]["cos"] < 0.02
        assert by[a]["err"] - by[0.0]["err"] < 0.12
        assert by[a]["jaw_cos"] > 0.65
    assert format_tilt_real(rows).count("\n") == 2              # header, rule, one head
