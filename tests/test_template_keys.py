"""ICT's keys carried by dense correspondence (model_core/runtime/template_keys.py): the eye openings met at
ICT's lid margin, and eye keys scaled to close a face's own eye (docs/model.md, *Keys on real characters*)."""
from __future__ import annotations

import numpy as np
import pytest

from model_core.evaluation.evaluate import held_out_identities, relative_error as _rel
from model_core.runtime.facs_names import ICT_NAMES
from model_core.dataset.ict import crop_sizes
from model_core.runtime.mesh import boundary_loops, remove_unreferenced, turned_over, vertex_normals, vertex_rings
from model_core.runtime import Model
from model_core.runtime import template_keys as tk
from capped_eyes_face import margin_cut
from lip_cut_face import lip_cut_face

BLINK_L = ICT_NAMES.index("eyeBlink_L")


def test_vertex_rings_count_edge_hops():
    # a strip of 4 triangles: 0-1-2 / 1-3-2 / 2-3-4 / 3-5-4: hops from vertex 0
    faces = np.array([[0, 1, 2], [1, 3, 2], [2, 3, 4], [3, 5, 4]])
    ring = vertex_rings(7, faces, [0], 2)
    assert ring.tolist() == [0, 1, 1, 2, 2, -1, -1]   # 5 is 3 hops away, 6 is unreachable


def test_template_rims_are_the_lid_margins():
    tpl = tk.default_template()
    vn = vertex_normals(tpl.verts, tpl.faces)
    (eye_l, inner_l), (eye_r, inner_r), (mouth, inner_m) = tpl.rims
    for rim, inner, opening in ((eye_l, inner_l, tpl.openings[0]), (eye_r, inner_r, tpl.openings[1])):
        # two rings fold back over the eyeball behind the margin (docs/model.md)
        assert len(rim) == len(opening) and len(inner) == 2 * len(opening)
        assert vn[rim, 2].mean() > 0.2 and vn[opening, 2].mean() < -0.5
    # ICT's own blink closes its lid margin by ~91 %, its socket opening by a third of that
    rim = tpl.rims[0][0]
    at_rim = tk.opening_closure(tpl.verts[rim], tpl.modes[:, rim].astype(np.float64))[BLINK_L]
    at_socket = tk.opening_closure(tpl.verts[tpl.openings[0]],
                                   tpl.modes[:, tpl.openings[0]].astype(np.float64))[BLINK_L]
    assert at_rim > 0.85 and at_socket < 0.45
    # the lips touch: the mouth keeps its opening, nothing hidden behind
    assert len(inner_m) == 0 and np.array_equal(np.sort(mouth), np.sort(tpl.openings[2]))


@pytest.fixture(scope="module")
def eye_cut_face(ict):
    """The first held-out identity's face cut at the lid margins (``capped_eyes_face.margin_cut``): verts, faces, true
    keys (53, N, 3), the left eye's rim (R,)."""
    verts, faces, kept = margin_cut(ict, held_out_identities(1)[0])
    true = ict.expression_modes[:, kept].astype(np.float64)
    rim = np.searchsorted(kept, tk.default_template().rims[0][0])
    return verts, faces, true, rim


def _trimmed_alike(model, pm, true):
    """ICT's keys (K, N, 3) on a one-piece face trimmed as the template path trims its own (``trim_tails`` with
    ``Model.template_tail``: each key's tail, and on the ears more), to score the template's keys against."""
    assert np.array_equal(pm.face_index, np.arange(len(true[0])))
    return tk.trim_tails(true.copy(), model.template_tail(pm))


def test_eyes_cut_at_the_margin_blink_like_ict(eye_cut_face):
    verts, faces, true, rim = eye_cut_face
    model = Model.load()
    pm = model.prepare(verts, faces, "Y", "Z")
    _, d = model.facs_basis(pm, "ict", keys="template")
    # measured (docs/model.md): blink 9.7 % / 17.0 % relative error on two held-out faces cut this way (this is
    # the first), against 22.9 / 33.6 % when the template's socket met the face's margin; all 53 keys 11.6 %.
    # ICT's own blink leaves this margin 4 % open (closure 0.958; 0.915 on the second face): ours closes it
    # (``seal_lids``; 7.9 / 15.5 % before). The template path trims each key's tail (``trim_tails``), and the ears'
    # motion: it is scored against ICT's keys trimmed alike
    true = _trimmed_alike(model, pm, true)
    assert _rel(d[BLINK_L], true[BLINK_L]) < 0.11 and _rel(d, true) < 0.12
    assert tk.opening_closure(verts[rim], d[:, rim].astype(np.float64))[BLINK_L] > 0.97


def test_trim_tails_fades_a_keys_small_motion_only():
    # one key: a bump falling from 1 cm to 0 over the line; the other all zero (left as it is)
    x = np.linspace(0.0, 1.0, 1001)
    keys = np.zeros((2, len(x), 3), np.float32)
    keys[0, :, 2] = (1.0 - x) ** 2
    before = keys.copy()
    out = tk.trim_tails(keys, 0.05)
    assert out is keys and np.array_equal(keys[1], before[1])
    z, z0 = keys[0, :, 2], before[0, :, 2]
    assert np.array_equal(z[z0 >= 0.1], z0[z0 >= 0.1])                 # from twice the threshold: exact
    assert np.all(z[z0 <= 0.05] == 0.0) and (z0 <= 0.05).sum() > 100   # below it: still
    assert np.all(np.diff(z) <= 1e-7) and np.abs(np.diff(z)).max() < 0.01   # monotone and continuous
    with pytest.raises(ValueError, match="share"):
        tk.trim_tails(keys, 1.0)


def test_trim_tails_gives_back_a_triangle_it_would_turn_over():
    # one triangle whose top corner drops 1.5 past the others (0.6 each: the key keeps it upright); the key's
    # peak (10, a vertex elsewhere) puts the threshold at 0.5, so trimming alone leaves the bottom corners at
    # 3 % of their motion and turns the triangle over
    pts = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [5, 5, 0]])
    faces = np.array([[0, 1, 2]])
    key = np.array([[[0.0, -0.6, 0], [0, -0.6, 0], [0, -1.5, 0], [10, 0, 0]]])
    assert not turned_over(pts, faces, key[0]).any()
    alone = tk.trim_tails(key.copy(), 0.05)
    assert turned_over(pts, faces, alone[0]).all()
    kept = tk.trim_tails(key.copy(), 0.05, pts, faces)
    np.testing.assert_array_equal(kept, key)                       # the corners' motion back, the peak as it was
    with pytest.raises(ValueError, match="both"):
        tk.trim_tails(key.copy(), 0.05, pts)


def test_seal_lids_closes_a_slit_and_leaves_a_fold():
    # an eye cut open at the margin (an ellipse 4 x 2 cm, 16 vertices) and a blink that drops the upper margin by
    # 1.6 cm alike: in the middle (2 cm high) it stays 0.4 cm open, near the corners it passes the lower margin
    t = np.linspace(0.0, 2.0 * np.pi, 16, endpoint=False)
    rim = np.stack([2.0 * np.cos(t), np.sin(t), np.zeros_like(t)], axis=1)
    lid = rim[rim[:, 1] > 0.1] + [0.0, 0.5, 0.0]                      # a row of the upper lid above the margin
    out = np.array([[2.6, 0.3, 0.0]])                                  # beyond the outer corner
    pts = np.concatenate([rim, lid, out])
    loop = np.arange(len(rim))
    upper = rim[:, 1] >= 0.0
    key = np.zeros_like(pts)
    key[loop[upper], 1] = -1.6
    key[len(rim):len(rim) + len(lid), 1] = -0.8                       # the lid moves half as far as its margin
    key[-1, 1] = -0.5
    before = key.copy()
    tk.seal_lids(key, pts, loop, np.arange(len(pts)))
    moved = pts + key
    lower_y = -np.sqrt(1.0 - (rim[:, 0] / 2.0) ** 2)                   # the lower margin at each vertex's X (still)
    slit = upper & (rim[:, 1] - 1.6 > lower_y + 1e-9)
    through = upper & ~slit
    assert slit.sum() >= 3 and (through & (np.abs(rim[:, 0]) < 1.99)).sum() >= 2
    # where it stayed open the margin now meets the lower one (to the lower margin's polyline: 5 mm at most here)
    assert np.all(np.abs(moved[loop[slit], 1] - lower_y[slit]) < 0.05)
    np.testing.assert_array_equal(key[loop[through]], before[loop[through]])   # the fold is left as it was
    np.testing.assert_array_equal(key[loop[~upper]], before[loop[~upper]])     # the lower margin does not move
    mid = len(rim) + int(np.argmin(np.abs(lid[:, 0])))                 # the lid above the middle: half the fix
    m = int(np.argmin(np.abs(rim[:, 0]) + 10 * (rim[:, 1] < 0)))
    fix = key[m, 1] - before[m, 1]
    assert fix < -0.3 and abs((key[mid, 1] - before[mid, 1]) - 0.5 * fix) < 1e-9
    np.testing.assert_array_equal(key[-1], before[-1])                 # nothing beyond the corners


def test_stretch_lids_spreads_the_upper_lids_motion_as_far_as_its_scale():
    # a flat face (+Z forward) with an eye 4 cm wide: upper margin at y = 0 (x in [-2, 2]), lower at y = -1; a
    # blink whose upper lid moves 1 cm at the margin, fading linearly to nothing 1 cm above it (the crease)
    xs, ys = np.meshgrid(np.arange(-40, 41) * 0.1, np.arange(-15, 31) * 0.1)
    grid = np.stack([xs.ravel(), ys.ravel(), np.zeros(xs.size)], axis=1)
    nx = xs.shape[1]
    quads = np.array([[r * nx + c, r * nx + c + 1, (r + 1) * nx + c + 1, (r + 1) * nx + c]
                      for r in range(xs.shape[0] - 1) for c in range(nx - 1)])
    faces = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])
    on_rim = (np.abs(grid[:, 0]) <= 2.0 + 1e-9) & ((np.abs(grid[:, 1]) < 1e-9) | (np.abs(grid[:, 1] + 1.0) < 1e-9))
    loop = np.flatnonzero(on_rim)
    h = grid[:, 1]
    key = np.zeros_like(grid)
    key[:, 1] = -np.clip(1.0 - h, 0.0, 1.0) * (h >= 0.0)
    before = key.copy()
    tk.stretch_lids(key, grid, loop, np.arange(len(grid)), np.full(len(grid), 2.0), faces)
    # between the corners the profile is stretched 2x: the key at h is the old key at h / 2, so it reaches 2 cm up
    # instead of 1
    mid = (np.abs(grid[:, 0]) <= 2.0 + 1e-9) & (h > 0.0)
    np.testing.assert_allclose(key[mid, 1], -np.clip(1.0 - h[mid] / 2.0, 0.0, 1.0), atol=0.03)
    assert key[mid & (np.abs(h - 1.5) < 1e-9), 1].max() < -0.2        # was 0: the lid above the crease moves
    # the margin, the lower lid and everything a quarter of the eye's width (1 cm) beyond the corners keep their
    # motion; in between the stretch eases out
    keep = (h <= 1e-9) | (np.abs(grid[:, 0]) >= 3.0 - 1e-9)
    np.testing.assert_array_equal(key[keep], before[keep])
    ease = (np.abs(np.abs(grid[:, 0]) - 2.7) < 1e-9) & (np.abs(h - 1.1) < 1e-9)   # 0.7 cm out: s = 1.22, key -0.1
    assert np.all((key[ease, 1] < -0.05) & (key[ease, 1] > key[mid & (np.abs(h - 1.1) < 1e-9), 1].max() + 0.2))


def _eye_loop(n: int = 24) -> np.ndarray:
    """(n, 3) an almond eye 4 cm wide and 1 cm tall (x in [0, 4]), its loop in order round it."""
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    return np.stack([2.0 - 2.0 * np.cos(t), 0.5 * np.sin(t) * (1.0 + 0.3 * np.cos(t)), np.zeros(n)], axis=1)


def _column_closures(p, disp, span=(0.2, 0.8)):
    u, c, ok = tk.column_closure(p, disp)
    sel = ok & (u >= span[0]) & (u <= span[1])
    return u[sel], c[sel]


def test_column_gains_close_each_column_as_the_template_does():
    # the template's blink closes its eye 93 % in every column; the face's raw blink closes the inner side 40 %
    # and the outer side 130 % (the registration put the lid unevenly: Ready Player Me's outer half shut, its inner
    # half open). One factor for the eye would leave the inner side open and push the outer side further past the
    # lower lid; the column gains close each column as the template does
    p = _eye_loop()
    up = p[:, 1] > 1e-9
    lo_y = np.interp(p[:, 0], *zip(*sorted(zip(p[~up, 0], p[~up, 1]))))
    gap = np.where(up, p[:, 1] - lo_y, 0.0)
    u = p[:, 0] / 4.0
    tpl_disp = np.zeros_like(p)
    tpl_disp[:, 1] = -0.93 * gap
    face_disp = np.zeros_like(p)
    face_disp[:, 1] = -(0.4 + 0.9 * u) * gap
    f = tk.column_gains(p, face_disp, p, tpl_disp, p[:, 0], 1.0)
    assert f[np.argmin(np.abs(u - 0.15))] > 1.6 and f[np.argmin(np.abs(u - 0.85))] < 0.85
    out = face_disp * f[:, None]
    _, closed = _column_closures(p, out)
    np.testing.assert_allclose(closed, 0.93, atol=0.06)          # 0.4-1.3 raw, 0.45-1.4 by one factor
    # a face whose blink already closes as the template's is left as it is
    np.testing.assert_allclose(tk.column_gains(p, tpl_disp, p, tpl_disp, p[:, 0], 1.0), 1.0, atol=1e-12)
    # and a loop with no columns to read keeps the whole-eye factor
    np.testing.assert_array_equal(tk.column_gains(p[:2], face_disp[:2], p, tpl_disp, p[:2, 0], 1.3), [1.3, 1.3])


def test_blink_closes_a_larger_eye(eye_cut_face, monkeypatch):
    verts, faces, _, rim = eye_cut_face
    # the left eye 1.6x larger across and up, fading out from 1.2 to 2.6 cm around its centre (stylised eyes)
    c = verts[rim].mean(axis=0)
    d = np.linalg.norm((verts - c)[:, :2], axis=1)
    grow = 1.0 + 0.6 * np.clip((2.6 - d) / 1.4, 0.0, 1.0)
    big = verts.copy()
    big[:, :2] = c[:2] + (verts - c)[:, :2] * grow[:, None]
    model = Model.load()

    def closure():
        model.clear_cache()
        _, keys = model.facs_basis(model.prepare(big, faces, "Y", "Z"), "ict", keys="template")
        return tk.opening_closure(big[rim], keys[:, rim].astype(np.float64))[BLINK_L], keys

    closed, keys = closure()
    monkeypatch.setattr(tk, "close_openings", lambda tpl, k, *args: k)
    unscaled, keys0 = closure()
    print("blink closure of the enlarged eye:", closed, "without the correction:", unscaled)
    assert closed > 0.85 and unscaled < 0.75
    # the correction stays near the eye: beyond CLOSURE_REACH radii of it the blink is not touched
    p = big[rim]
    r = np.sqrt(((p - p.mean(axis=0)) ** 2).sum(axis=1).mean())
    far = np.linalg.norm(big - p.mean(axis=0), axis=1) > tk.CLOSURE_REACH[1] * r
    near = np.linalg.norm(big - p.mean(axis=0), axis=1) < tk.CLOSURE_REACH[0] * r
    assert far.sum() > 0.5 * len(big)
    assert np.array_equal(keys[BLINK_L][far], keys0[BLINK_L][far])
    assert np.abs(keys[BLINK_L][near]).max() > 1.3 * np.abs(keys0[BLINK_L][near]).max()
    # it scales the motion across the eye (Y, Z), not along it: the lids' sideways slide stays the template's
    # (``CLOSURE_ACROSS``; scaled whole, the largest sideways motion near the eye was 1.66x the uncorrected's)
    assert np.abs(keys[BLINK_L][near, 0]).max() <= 1.05 * np.abs(keys0[BLINK_L][near, 0]).max()


def test_a_large_eye_set_lower_and_further_out_is_met(eye_cut_face, monkeypatch):
    # an anime face's eye: the left eye 1.7x larger across and up and moved 0.8 cm out and 1 cm down (fading out from
    # 1.4 to 3 cm around its centre). The template's eye centre lies 1.3 of its radii from the face's, beyond the
    # match's reach, but inside the face's eye: met there (``EYE_INSIDE``), the template's eye is scaled to it and the
    # blink closes it (measured closure 1.00); missed, the blink closed a quarter of it (0.24), as on a VRoid face
    # (docs/model.md, *A large eye set off the template's*)
    verts, faces, _, rim = eye_cut_face
    tpl = tk.default_template()
    c = verts[rim].mean(axis=0)
    g = np.clip((3.0 - np.linalg.norm((verts - c)[:, :2], axis=1)) / 1.6, 0.0, 1.0)
    g = g * g * (3 - 2 * g)
    big = verts.copy()
    big[:, :2] = c[:2] + (verts - c)[:, :2] * (1.0 + 0.7 * g)[:, None] + g[:, None] * np.array([0.8, -1.0])
    closure = {}
    for inside in (False, True):
        monkeypatch.setattr(tk, "EYE_INSIDE", inside)
        keys = tk.template_keys(tpl, big, faces)
        closure[inside] = tk.opening_closure(big[rim], keys[:, rim].astype(np.float64))[BLINK_L]
    assert closure[True] > 0.9 and closure[False] < 0.5, closure


def test_auto_takes_the_templates_eye_keys_on_large_eyes(eye_cut_face, monkeypatch):
    # both eyes 2x larger across and up (stylised): the rest of the face stays ICT's, so 'auto' keeps mostly
    # the decoder's other keys (share 0.85), but the eye keys disagree by over 70 % (ICT's faces, remeshed or
    # not: at most 56 %) and come from the template: the decoder's blink closes a third of the eye
    # (docs/model.md, *Which keys*). With the tails not trimmed, a blend is share * decoder + (1 - share) *
    # template (``test_auto_keys_are_continuous_in_the_decoders_share`` for the trimmed case)
    from model_core.runtime import model_keys
    monkeypatch.setattr(model_keys, "TEMPLATE_TAIL", 0.0)
    monkeypatch.setattr(model_keys, "EAR_TAIL", 0.0)
    verts, faces, true, rim = eye_cut_face
    big = verts.copy()
    for eye in (verts[rim].mean(axis=0), verts[rim].mean(axis=0) * (-1.0, 1.0, 1.0)):
        d = np.linalg.norm((verts - eye)[:, :2], axis=1)
        g = np.clip((2.8 - d) / 1.8, 0.0, 1.0)[:, None]
        g = g * g * (3 - 2 * g)
        big = big + g * np.array([1.0, 1.0, 0.25]) * (verts - eye)
    model = Model.load()
    pm = model.prepare(big, faces, "Y", "Z")
    keys, share = model.auto_face_keys(pm)
    _, auto = model.facs_basis(pm, "ict", keys="auto")
    _, dec = model.facs_basis(pm, "ict", keys="decoder")
    _, tpl = model.facs_basis(pm, "ict", keys="template")
    eyes = [k for k, n in enumerate(ICT_NAMES) if n.startswith("eye")]
    rest = [k for k in range(len(ICT_NAMES)) if k not in eyes]
    assert share > 0.5                                  # the rest mostly the decoder's
    closure = lambda k: tk.opening_closure(big[rim], k[:, rim].astype(np.float64))[BLINK_L]
    judged = model.auto_disagreement(pm)             # eye keys 77 %, all 21.5 %
    assert judged["eyes"] > 0.7 and judged["all"] < 0.25
    np.testing.assert_allclose(auto[eyes], tpl[eyes], atol=1e-6)
    np.testing.assert_allclose(auto[rest], share * dec[rest] + (1 - share) * tpl[rest], atol=1e-6)
    assert closure(auto) > 0.85 and closure(dec) < 0.5


def test_auto_keys_are_continuous_in_the_decoders_share(eye_cut_face, monkeypatch):
    # 'auto' at a share just above 0 gives nearly the keys it gives at 0 (the template's, tails trimmed), not the
    # template's untrimmed keys: before session 14 any blend took them as carried, and a face judged at share 0.02
    # (s2's weights on the hand-made dev head) lost 14.7 points to the same face at share 0 (112.2 -> 126.9 %)
    from model_core.runtime import model_keys
    verts, faces, _, _ = eye_cut_face
    d = Model.load().auto_disagreement(Model.load().prepare(verts, faces, "Y", "Z"))
    judged = max(d["all"], d["jawOpen"])
    got = {}
    for share in (0.0, 0.02):
        # thresholds that put this face at ``share``: (hi - judged) / (hi - lo) = share; the eyes judged alike
        monkeypatch.setattr(model_keys, "AUTO_DISAGREEMENT", (judged + share - 1.0, judged + share))
        monkeypatch.setattr(model_keys, "AUTO_EYE_DISAGREEMENT", (10.0, 11.0))
        model = Model.load()
        pm = model.prepare(verts, faces, "Y", "Z")
        keys, s = model.auto_face_keys(pm)
        assert abs(s - share) < 1e-6
        got[share] = (keys, model.template_face_keys(pm), model._template_match(pm)[0])
    keys0, trimmed, carried = got[0.0]
    assert np.array_equal(keys0, trimmed)
    # share 0.02: within 2 % of the trimmed keys; the carried keys (what a blend took before) are further off
    assert _rel(got[0.02][0], trimmed) < 0.02 < _rel(carried, trimmed)


def test_auto_keys_are_the_decoders_on_an_ict_face(ict):
    # a held-out ICT identity: the decoder and the template disagree by 11-19 % (docs/model.md), so 'auto'
    # takes the decoder's keys, the more accurate there (12.2 % against the template's 22.5 % on this face;
    # 17.9 % against ICT's keys with their tails trimmed as the template's are)
    n = crop_sizes("full")[0]
    v = ict.identity_verts(held_out_identities(2)[1])[:n].astype(np.float64)
    model = Model.load()
    pm = model.prepare(v, ict.crop_faces("full"), "Y", "Z")
    keys, share = model.auto_face_keys(pm)
    assert share == 1.0
    _, auto = model.facs_basis(pm, "ict", keys="auto")
    _, dec = model.facs_basis(pm, "ict", keys="decoder")
    _, tpl = model.facs_basis(pm, "ict", keys="template")
    np.testing.assert_allclose(auto, dec, atol=1e-6)
    true = ict.expression_modes[:, :n].astype(np.float64)
    assert _rel(auto, true) < 0.13 and _rel(tpl, true) > _rel(auto, true) + 0.03
    # the template's jawOpen turns 5 triangles over at the lip contact (39 before ``unfold_contact``; ICT's own
    # key turns 26 inside its mouth: docs/model.md)
    f = ict.crop_faces("full")
    jaw = ICT_NAMES.index("jawOpen")
    assert _turned(v, f, tpl[jaw]) <= 8 < 20 <= _turned(v, f, true[jaw])


def _turned(v, f, d) -> int:
    return int(turned_over(v, f, d).sum())


def test_unfold_contact_rechooses_only_guessed_vertices():
    # a 5 x 5 grid in the xy-plane; key 0 throws the centre vertex (12) two cells to the right, past its
    # neighbours: its triangles turn over. Where 12's motion was a guess (free) it takes a neighbour's (0 here):
    # nothing is turned over, nothing else moves; where it was not, the key stays as it is.
    x, y = np.meshgrid(np.arange(5.0), np.arange(5.0))
    pts = np.stack([x.ravel(), y.ravel(), np.zeros(25)], axis=1)
    q = np.arange(25).reshape(5, 5)
    faces = np.concatenate([np.stack([q[:-1, :-1].ravel(), q[:-1, 1:].ravel(), q[1:, 1:].ravel()], 1),
                            np.stack([q[:-1, :-1].ravel(), q[1:, 1:].ravel(), q[1:, :-1].ravel()], 1)])
    keys = np.zeros((2, 25, 3), np.float32)
    keys[0, 12] = (2.0, 0.0, 0.0)
    keys[1] = 0.1                                                       # a rigid shift: nothing turns over
    assert _turned(pts, faces, keys[0]) > 0
    free = np.zeros(25, bool)
    free[[11, 12, 13]] = True
    out = tk.unfold_contact(keys, pts, faces, free)
    assert _turned(pts, faces, out[0]) == 0
    np.testing.assert_array_equal(out[0, 12], 0.0)
    np.testing.assert_array_equal(np.delete(out[0], 12, axis=0), np.delete(keys[0], 12, axis=0))
    np.testing.assert_array_equal(out[1], keys[1])
    free[12] = False
    assert tk.unfold_contact(keys, pts, faces, free) is keys           # a known vertex is never re-chosen


def test_a_margin_cut_source_is_its_own_rim(eye_cut_face):
    # a transfer source cut open at the lid margins (a game mesh) has no socket behind its eye openings: each
    # opening is its own rim (before, a low-poly source's second ring was taken and its blink came out 3x too
    # large on a remeshed copy of itself: benchmarks/README.md, bench_transfer)
    verts, faces, true, _ = eye_cut_face
    src = tk.FaceTemplate(verts, faces, true.astype(np.float32), np.zeros(len(verts)), len(verts),
                          np.zeros(3), 1.0)
    eyes = [k for k, o in enumerate(src.openings) if len(o) == 42]
    assert len(eyes) == 2
    for k in eyes:
        rim, interior = src.rims[k]
        assert np.array_equal(np.sort(rim), np.sort(src.openings[k])) and len(interior) == 0


JAW = ICT_NAMES.index("jawOpen")


def test_parted_lips_meet_a_parted_template(eye_cut_face):
    """A face modelled with parted lips (ICT's face with jawOpen 0.3 at rest: its keys stay ICT's, they are
    linear) registered against ICT's closed lips loses its mouth: the lower lip's top lands on the upper lip's
    underside (docs/model.md, *Parted lips*: 25.4 % over all keys, 22.3 % on jawOpen). ``mouth_pose`` measures the
    face's lip gap and parts the template's lips as far (0.31) first: 10.2 %, jawOpen 9.0 %, as good as the
    same face with closed lips (11.2 %)."""
    verts, faces, true, _ = eye_cut_face
    tpl = tk.default_template()
    closed, m0 = tk.template_keys(tpl, verts, faces, return_match=True)
    assert m0.mouth_open == 0.0                      # a closed mouth is left as it is: bit-identical keys
    assert np.array_equal(closed, tk.template_keys(tpl, verts, faces, mouth_open=0.0))
    parted = verts + 0.3 * true[JAW]
    keys, m = tk.template_keys(tpl, parted, faces, return_match=True)
    assert abs(m.mouth_open - 0.3) < 0.05
    assert _rel(keys, true) < 0.11 and _rel(keys[JAW], true[JAW]) < 0.10
    unposed = tk.template_keys(tpl, parted, faces, mouth_open=0.0)
    assert _rel(unposed, true) > 0.2                 # the failure it fixes


def _feature_warp(x, centre, scale, r_in, r_out):
    """Scale x (N, 3) about centre by scale (3,), whole within r_in of it (distance across X, Y), none beyond r_out."""
    g = np.clip((r_out - np.linalg.norm((x - centre)[..., :2], axis=-1)) / (r_out - r_in), 0, 1)[..., None]
    return x + g * g * (3 - 2 * g) * (np.asarray(scale) - 1.0) * (x - centre)


def test_a_stylised_mouth_meets_the_templates_lip_line(ict):
    """A held-out face (the second identity) with a small stylised nose (0.6 x 0.6 x 0.5 about a point 1.5 cm below
    its tip, a smooth warp): the warp lifts the upper lip, and the registration took the lower lip's top for the
    upper lip's underside; the mouth stayed shut as a curtain (jawOpen error 33 %). ``mouth_pose``
    finds the lips' opening 6.4 mm above and their fronts 8.3 mm before the template's, and ``shift_mouth``
    moves the template's mouth there first: jawOpen error 33.0 -> 25.2 % (docs/model.md, *Parted lips*; 29.6 -> 22.8 %
    since the keys are carried in the head's upright frame)."""
    tpl = tk.default_template()
    verts, faces, kept = margin_cut(ict, held_out_identities(2)[1])
    nose = verts[np.argmax(verts[:, 2])] - [0, 1.5, 0]
    warp = _feature_warp(verts, nose, (0.6, 0.6, 0.5), 1.0, 2.5)
    jaw = _feature_warp(verts + ict.expression_modes[JAW, kept], nose, (0.6, 0.6, 0.5), 1.0, 2.5) - warp
    mo = np.searchsorted(kept, tpl.openings[2])
    mo = mo[np.abs(warp[mo, 0]) < 0.4]
    up, lo = mo[np.argmax(warp[mo, 1])], mo[np.argmin(warp[mo, 1])]

    def gap_share(d):
        return float((d[up, 1] - d[lo, 1]) / (jaw[up, 1] - jaw[lo, 1]))

    keys, m = tk.template_keys(tpl, warp, faces, return_match=True)
    assert m.mouth_open == 0.0 and 0.5 < m.mouth_shift[0] < 0.8 and 0.6 < m.mouth_shift[1] < 1.0
    assert gap_share(keys[JAW]) > 0.6 and _rel(keys[JAW], jaw) < 0.28
    # the failure it fixes: without the lip line (and without the slit fit, which a mouth without one would get:
    # 0.259 here, ``fit_mouth_slit``). Measured 0.208 with it, 0.278 without (the sides moved onto the head's first,
    # ``back_shift``: 0.228 and 0.296 before); 0.257 and 0.317 before the keys were carried in the head's upright
    # frame (``KEYS_UPRIGHT``: the fit pitches the template 5.9 degrees onto this head)
    unshifted = tk.template_keys(tpl, warp, faces, mouth_shift=False, slit=False)
    assert _rel(unshifted[JAW], jaw) > max(0.26, _rel(keys[JAW], jaw) + 0.05)


def test_a_fold_under_the_lower_lip_is_not_parted_lips(ict):
    """The third held-out identity's full lower lip leaves a fold above the chin 0.95 cm tall and over
    ``GAP_DEPTH_CM`` deep; ``lip_profile`` took it for parted lips, ``mouth_pose`` parted the template's (jawOpen
    0.30, mouth moved 0.5 cm down) and the template's keys were 35.5 % off ICT's, so 'auto' took them (35.5 %
    against the decoder's 12.7 %). The profile slopes into a fold but steps into a gap between lips
    (``GAP_JUMP_CM``): now closed, 16.0 % against ICT's keys trimmed alike, and auto is the decoder's (docs/model.md,
    *Parted lips*)."""
    n = crop_sizes("full")[0]
    v = ict.identity_verts(held_out_identities(4)[2])[:n].astype(np.float64)
    model = Model.load()
    pm = model.prepare(v, ict.crop_faces("full"), "Y", "Z")
    _, match = model._template_match(pm)
    assert match.mouth_open == 0.0 and not match.mouth_shift.any()
    true = ict.expression_modes[:, :n].astype(np.float64)
    _, tpl = model.facs_basis(pm, "ict", keys="template")
    assert _rel(tpl, _trimmed_alike(model, pm, true)) < 0.18
    _, auto = model.facs_basis(pm, "ict", keys="auto")
    assert model.auto_face_keys(pm)[1] == 1.0 and _rel(auto, true) < 0.13


def test_parted_lips_cut_open_at_the_margin(ict, eye_cut_face):
    """The same parted face (jawOpen 0.3 at rest) with its mouth cut open at the lips' margin, as game heads are:
    its forward-facing mouth loop meets the parted template's lip margin (``FaceTemplate.margins``; the mouth's
    inner surface behind it hidden, the closing of the opening measured on the posed template): 20.6 % -> 9.7 %
    over all keys, jawOpen 16.7 -> 9.1 % (docs/model.md, *Parted lips*)."""
    verts, faces, true, _ = eye_cut_face
    tpl = tk.default_template()
    opening = tpl.openings[2]
    ring = vertex_rings(len(tpl.verts), tpl.faces, opening, tk.MAX_RIM_RINGS)
    margin, inner = tpl.margins[2]
    assert len(margin) == len(opening) and len(inner) == 7 * len(opening)   # 7 rings of inner lip behind it
    assert np.array_equal(np.sort(margin), np.flatnonzero(ring == 7))
    kept = margin_cut(ict, held_out_identities(1)[0])[2]               # the fixture's vertices
    assert len(kept) == len(verts)
    cut = np.isin(kept, inner)
    v2, f2, k2 = remove_unreferenced(verts, faces[~cut[faces].any(axis=1)])
    t2 = true[:, k2]
    parted = v2 + 0.3 * t2[JAW]
    keys, m = tk.template_keys(tpl, parted, f2, return_match=True)
    assert abs(m.mouth_open - 0.3) < 0.05
    assert _rel(keys, t2) < 0.105 and _rel(keys[JAW], t2[JAW]) < 0.10
    assert _rel(tk.template_keys(tpl, parted, f2, mouth_open=0.0, mouth_shift=False), t2) > 0.18


def test_mouth_ambiguity_reads_the_grid_distances_as_norm_does():
    # the radius test reads the k-NN's squared distances (issue 16): the same numbers as the norm of the differences
    from model_core.runtime.correspond import PointGrid
    from model_core.runtime.template_keys import mouth_ambiguity
    rng = np.random.default_rng(12)
    v = rng.uniform(0, 3, (3000, 3))
    jaw = rng.normal(size=(3000, 3))
    idx, _ = PointGrid(v, cell=0.6).knn(v, 24, exact=False)
    ok = idx >= 0
    idx = np.where(ok, idx, np.arange(len(v))[:, None])
    near = ok & (np.linalg.norm(v[idx] - v[:, None], axis=2) <= 0.6)
    ref = (np.linalg.norm(jaw[idx] - jaw[:, None], axis=2) * near).max(axis=1) / np.linalg.norm(jaw, axis=1).max()
    np.testing.assert_allclose(mouth_ambiguity(v, jaw, 0.6), ref, rtol=1e-12, atol=1e-12)


def test_cuts_are_the_long_open_borders(ict):
    """``border_faces``: on ICT's full head only the neck's cut (the eye and mouth openings are shorter than
    ``CUT_LOOP_CM``); on a surface full of holes (every third triangle of that head kept: 99 % of its triangles touch
    a long border) no cut at all, so the similarity ICPs keep their pairs (this surface used to leave fewer than 4
    and raise "the surfaces do not overlap"). ICT's narrow face has no cut of its own (``FaceTemplate.on_cut``)."""
    v = np.asarray(ict.neutral, np.float64)
    f = ict.crop_faces("full")
    v, f, _ = remove_unreferenced(v, f)
    cut = tk.border_faces(v, f)
    assert cut is not None and 0.0 < cut.mean() < 0.02
    assert v[f[cut]][..., 1].max() < v[:, 1].min() + 0.35 * np.ptp(v[:, 1])      # all in the lower third: the neck
    holes = f[::3]
    cut = tk.border_faces(v, holes)
    assert cut is None or not cut.any()          # no border 4 cm wide is left (``is_cut_loop``): nothing to skip
    model = Model.load()
    _, d = model.facs_basis(model.prepare(*remove_unreferenced(v, holes)[:2], "Y", "Z"), "ict", keys="template")
    assert np.isfinite(d).all() and np.abs(d).max() > 0.1                        # cm: keys, not an error
    tpl = tk.default_template()
    assert not tpl.on_cut[:tpl.narrow].any() and tpl.on_cut.sum() > 100


def _yawed(p, deg, shift):
    a = np.radians(deg)
    R = np.array([[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]])   # yaw, about +Y
    return p @ R.T + shift, R


@pytest.mark.parametrize("deg", [1.0, 5.0])
def test_symmetry_plane_finds_a_turned_faces_midplane(deg):
    # ICT's narrow face is mirror-symmetric about x = 0; turned and moved 4 mm across, its plane is found to within
    # 0.02 degrees and 0.1 mm (``symmetry.symmetry_plane``), and ``symmetric_pose`` turns a similarity that left
    # the template 2 degrees off and 3 mm across back onto the face's midplane
    from model_core.runtime import symmetry
    tpl = tk.default_template()
    faces = tpl.faces[(tpl.faces < tpl.narrow).all(axis=1)]
    pts, R = _yawed(tpl.verts[:tpl.narrow], deg, np.array([0.4, 0.0, 0.0]))
    n, d, rms = symmetry.symmetry_plane(pts, faces)
    want = R @ np.array([1.0, 0.0, 0.0])
    assert np.degrees(np.arccos(min(1.0, float(n @ want)))) < 0.02 and abs(d - 0.4 * want[0]) < 0.01
    assert rms < 0.01
    off = _yawed(np.eye(3), deg - 2.0, 0.0)[1]          # the fit left 2 degrees of yaw and 3 mm across
    R2, t2 = symmetry.symmetric_pose(tpl, 1.0, off, np.array([0.1, 0.0, 0.0]), pts, faces)
    # turned back onto the face (the least turn: what lies in the mirror plane, such as a shift up, stays)
    assert np.degrees(np.arccos(np.clip((np.trace(R2.T @ R) - 1) / 2, -1, 1))) < 0.02
    off_plane = (tpl.verts[:tpl.narrow] @ R2.T + t2 - pts) @ want
    assert np.abs(off_plane).max() < 0.01, np.abs(off_plane).max()         # cm across: on the face's midplane
    # a face cut lopsided (its right cheek and eye gone) is not mirror-symmetric enough to say: the pose stays
    keep = ~((tpl.verts[:tpl.narrow, 0] < -2.0) & (tpl.verts[:tpl.narrow, 1] > -2.0))
    cut = faces[keep[faces].all(axis=1)]
    used = np.unique(cut)
    _, _, rms = symmetry.symmetry_plane(pts[used], np.searchsorted(used, cut))
    assert rms > symmetry.RMS_MAX, rms
    R3, t3 = symmetry.symmetric_pose(tpl, 1.0, off, np.zeros(3), pts[used], np.searchsorted(used, cut))
    assert np.array_equal(R3, off) and np.array_equal(t3, np.zeros(3))


def test_a_poor_similarity_fit_is_run_again_from_the_second_start(ict):
    """A head with its mouth bag and eye sockets joined (a 2k decimation of a held-out identity, ICT's sockets,
    4.8k vertices) handed over at 0.68 of its size, as nfs_v5's face-core frame read such heads: the fit from
    scale 1 stays poor (``fit_share`` under ``RETRY_BELOW``) and its keys miss (measured 18.8 % against ICT's truth
    on the skin); from ``retry_scale`` (where the face's own canonical frame puts the template) they are the keys
    of the head at its size (14.3 / 14.0 %). A right frame leaves the fit as it was (no retry asked)."""
    from model_core.dataset.remesh import make_topology
    from model_core.dataset.sockets import with_sockets
    tpl = tk.default_template()
    topo = with_sockets(ict, make_topology(ict, "full", 2000, "decimate", 3), ("mouth", "eye_L", "eye_R"))
    v = ict.identity_verts(held_out_identities(1)[0], "sockets")
    p = topo.positions(v)
    skin = topo.corners[:, 0] < crop_sizes("full")[0]
    true = np.stack([topo.positions(v + ict.expression_modes[j, :len(v)]) - p for j in range(53)])[:, skin]
    right = _rel(tk.template_keys(tpl, p, topo.faces, retry_scale=0.68)[:, skin], true)
    a = 0.68
    small = p * a + np.array([0.0, 1.0, 2.0]) * (1 - a) * 10
    stuck = _rel(tk.template_keys(tpl, small, topo.faces)[:, skin] / a, true)
    again = _rel(tk.template_keys(tpl, small, topo.faces, retry_scale=a)[:, skin] / a, true)
    assert right < 0.15 and stuck > right + 0.03 and again < right + 0.01, (right, stuck, again)


def test_keys_are_carried_in_the_heads_upright_frame(ict, monkeypatch):
    # ICT's identities are all upright and share ICT's keys in centimetres; the similarity fit still pitches the
    # template 5.9 degrees onto this held-out head (its profile, not a nod). Carried with that pitch its keys
    # missed ICT's truth by 16.9 % (jawOpen 16.5 %); in the head's upright frame (``KEYS_UPRIGHT``: the fit's turn
    # without its pitch) by 14.6 % (13.2 %) (docs/model.md, *Keys in the head's upright frame*)
    n = crop_sizes("full")[0]
    v = ict.identity_verts(held_out_identities(2)[1])[:n].astype(np.float64)
    f = ict.crop_faces("full")
    true = ict.expression_modes[:, :n].astype(np.float64)
    jaw = ICT_NAMES.index("jawOpen")
    got = {}
    for upright in (True, False):
        monkeypatch.setattr(tk, "KEYS_UPRIGHT", upright)
        keys, m = tk.template_keys(tk.default_template(), v, f, return_match=True)
        got[upright] = _rel(keys, true), _rel(keys[jaw], true[jaw])
    forward = m.rot[:, 2]
    assert np.degrees(np.arctan2(-forward[1], forward[2])) > 4.0          # the fit's pitch (measured 5.9)
    assert got[True][0] < 0.155 and got[False][0] > got[True][0] + 0.015, got
    assert got[False][1] > got[True][1] + 0.02, got


def test_lips_cut_open_with_overlapping_edges_meet_lip_by_lip(ict, monkeypatch):
    # a held-out face cut open at the lips' margin (as avatars are) whose upper lip's edge hangs 3 mm lower and the
    # lower lip's 1.8 mm higher, fading out over 1 cm: the edges overlap, and pulled to the whole loop the template's
    # lower lip took the face's upper edge (a Ready Player Me head: jawOpen left the lower lip's top behind as a
    # torn curtain, lip gap 0 %). Met lip by lip (``mouth_arcs``) the keys are nearer ICT's truth: measured jawOpen
    # 14.6 -> 11.3 %, all keys 13.8 -> 12.0 % (docs/model.md, *Lips cut open with overlapping edges*)
    tpl = tk.default_template()
    verts, faces, kept = lip_cut_face(ict, held_out_identities(2)[0])
    true = ict.expression_modes[:, kept].astype(np.float64)
    jaw = true[JAW]
    mouth = min((lp for lp in boundary_loops(faces) if np.ptp(verts[lp, 0]) > 3.0), key=len)   # not the crop's edge
    assert len(mouth) == len(tpl.margins[2][0])
    near = np.linalg.norm(verts[:, None] - verts[mouth][None], axis=2).min(axis=1)
    fade = np.clip(1.0 - near, 0.0, 1.0) ** 2
    verts[:, 1] += np.where(jaw[:, 1] < -0.3, 0.18, -0.3) * fade            # cm: the lower lip up, the upper down
    got = {}
    for arcs in (False, True):
        monkeypatch.setattr(tk, "LIP_ARCS", arcs)
        keys, m = tk.template_keys(tpl, verts, faces, return_match=True)
        got[arcs] = _rel(keys[JAW], jaw), _rel(keys, true)
    assert m.mouth_open == 0.0
    assert got[True][0] < 0.125 and got[False][0] > got[True][0] + 0.02, got
    assert got[False][1] > got[True][1] + 0.01, got


def test_a_face_split_along_uv_seams_is_read_welded(dev_heads, monkeypatch):
    # a head imported split along its UV seams (Blender's glTF importer does so by default) has a boundary loop along
    # every seam; a Ready Player Me head's lips meet at one, which the template met as a mouth opening (jawOpen: lip
    # gap 64 % of the artist's and 26 triangles turned, against 89 % and none welded). The template path reads the
    # face welded (``mesh_checks.welded``): here Rocketbox split along its lip line sees only its own loops, and each
    # split vertex takes its twin's keys (docs/model.md, *Split UV seams*)
    from model_core.runtime import model_keys as mk
    from model_core.runtime.facs_names import ARKIT_NAMES as AN
    h = dev_heads["rocketbox"]
    v, f = h.verts, h.faces
    jaw = np.linalg.norm(h.key("jawOpen"), axis=1)
    low = jaw > 0.5 * jaw.max()
    lowf = low[f].all(axis=1)
    near = (np.abs(v[:, 1] - v[low, 1].max()) < 0.012) & (v[:, 2] > np.percentile(v[:, 2], 60))
    shared = np.zeros(len(v), bool)
    shared[np.unique(f[lowf])] = True
    other = np.zeros(len(v), bool)
    other[np.unique(f[~lowf])] = True
    seam = np.flatnonzero(shared & other & near)
    assert len(seam) >= 8
    twin = np.full(len(v), -1)
    twin[seam] = len(v) + np.arange(len(seam))
    v2 = np.concatenate([v, v[seam]])
    f2 = f.copy()
    f2[lowf] = np.where(twin[f[lowf]] >= 0, twin[f[lowf]], f[lowf])
    assert len(boundary_loops(f2)) > len(boundary_loops(f))
    seen = []
    real = tk.template_keys

    def spy(tpl, pts, faces, **kw):
        seen.append(sorted(len(lp) for lp in boundary_loops(faces)))
        return real(tpl, pts, faces, **kw)
    monkeypatch.setattr(tk, "template_keys", spy)
    model = Model.load()
    pm = model.prepare(v2, f2, "Y", "Z")
    assert pm.face_weld is not None
    keys = model.facs_basis(pm, "arkit", keys="template")[1]
    assert seen == [sorted(len(lp) for lp in boundary_loops(f))]          # the seam's loops are gone
    j = AN.index("jawOpen")
    np.testing.assert_array_equal(keys[j, len(v):], keys[j, seam])
    monkeypatch.setattr(mk, "TEMPLATE_WELD", False)
    model.clear_cache()
    model.facs_basis(model.prepare(v2, f2, "Y", "Z"), "arkit", keys="template")
    assert len(seen[-1]) > len(seen[0])                                  # unwelded, the template saw them


def test_welded_joins_a_seam_but_not_a_flap_on_it():
    # two triangles split along their shared edge (a UV seam) are joined; a third triangle touching the same edge
    # (a piece lying on the surface, as ICT's eye occlusion on the lid margin) would leave three triangles on one
    # edge: its vertices stay apart (``mesh_checks.welded``)
    from model_core.runtime.mesh_checks import welded
    p = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], float)
    f = np.array([[0, 1, 2], [3, 5, 4]])
    weld = np.array([0, 1, 2, 1, 2, 3])
    pts, faces, group = welded(p, f, weld)
    assert len(pts) == 4 and np.array_equal(group, [0, 1, 2, 1, 2, 3])
    assert len(boundary_loops(faces)) == 1 and len(boundary_loops(f)) == 2
    flap_p = np.concatenate([p, [[1, 0, 0], [0, 1, 0], [1, 1, 1]]])
    flap_f = np.concatenate([f, [[6, 7, 8]]])
    pts, faces, group = welded(flap_p, flap_f, np.array([0, 1, 2, 1, 2, 3, 1, 2, 4]))
    assert len(set(group[[1, 3, 6]])) == 3 and len(pts) == 9          # the shared edge's copies stay apart


def test_tunnel_rims_meet_a_socket_of_the_templates_size_only_when_asked(ict):
    """ICT's face crop against its own template (aligned as it is): its socket eyes are the template's size, so
    ``tunnel_rims`` leaves them to the registration, which meets them margin to margin; an opening in ``any_size``
    (``side_rimmed``'s, met loop to loop) is closed at the face's margin all the same: the template's rim."""
    tpl = tk.default_template()
    n, f = crop_sizes("face")[0], ict.crop_faces("face")
    v = ict.neutral[:n].astype(np.float64)
    matched = [m for m in tk.match_openings(tpl, tpl.verts, v, f) if not tk.opened_by_jaw(tpl, tpl.openings[m[0]])]
    assert len(matched) == 2 and not any(fw for _, _, fw in matched)          # two sockets, loops facing back
    same = tk.tunnel_rims(tpl, tpl.verts, v, f, matched)
    assert all(a == b for a, b in zip(same, matched))
    eye = matched[0][0]
    met = tk.tunnel_rims(tpl, tpl.verts, v, f, matched, any_size=frozenset({eye}))
    assert met[0][2] and set(met[0][1].tolist()) == set(tpl.rims[eye][0].tolist())
    assert met[1] == matched[1]


def test_an_eye_opened_in_a_socket_closes_at_its_margin(ict, monkeypatch):
    # ICT's face crop opens its eyes deep in the sockets (loops facing back); a stylised warp makes them 1.2-1.45x
    # larger (labels exact: neutral and keys through the same map). The template's lids were scaled and closed only
    # for eyes cut open at the margin, so this blink stopped half-way. With the socket's rim met as the margin
    # (``tunnel_rims``) it closes as ICT's does and lands nearer the truth
    from model_core.dataset.warps import feature_centres, sample_warp
    from model_core.runtime.regions import load_ict_labels
    n = crop_sizes("face")[0]
    centres = feature_centres(ict.neutral[:crop_sizes("full")[0]].astype(np.float64), load_ict_labels())
    warp = sample_warp(np.random.default_rng(90210), centres, "stylised")
    v = warp(ict.identity_verts(held_out_identities(1)[0], "face").astype(np.float64))
    true = warp(ict.identity_verts(held_out_identities(1)[0], "face")[None] + ict.expression_modes[:, :n]) - v[None]
    faces = ict.crop_faces("face")
    names = list(ICT_NAMES)
    blinks = [names.index("eyeBlink_L"), names.index("eyeBlink_R")]
    rim = tk.default_template().rims[0][0]                      # ICT's left lid margin (the face crop's numbering)
    got = {}
    for on in (False, True):
        monkeypatch.setattr(tk, "TUNNEL_RIMS", on)
        model = Model.load()
        k = model.facs_basis(model.prepare(v, faces, "Y", "Z"), "ict", keys="template")[1].astype(np.float64)
        got[on] = (float(tk.opening_closure(v[rim], k[blinks[:1]][:, rim])[0]), _rel(k[blinks], true[blinks]))
    truth = float(tk.opening_closure(v[rim], true[blinks[:1]][:, rim])[0])
    print("left blink closure (truth %.2f) and the blinks' error, without / with the rims:" % truth, got)
    assert got[False][0] < 0.7 and got[True][0] > 0.85, got
    assert got[True][1] < got[False][1] - 0.1, got
