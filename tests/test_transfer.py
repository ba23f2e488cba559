"""Shape-key transfer between heads of different identity and topology (model_core/runtime/transfer.py and
``python -m model_core transfer``): ICT identity A's own keys onto identity B remeshed, where B's true keys are
known by construction, against nearest-point transfer after scaled ICP (the numbers docs/model.md reports)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model_core.dataset.ict import crop_sizes
from model_core.evaluation.evaluate import held_out_identities
from model_core.evaluation.real_eval import nearest_keys
from model_core.dataset.remesh import make_topology
from model_core.runtime import Model, read_mesh
from model_core.runtime.meshio import write_obj
from model_core.runtime.transfer import transfer_keys

REPO = Path(__file__).resolve().parents[1]
KEYS = ("jawOpen", "eyeBlink_L", "mouthSmile_R", "browInnerUp_L")


@pytest.fixture(scope="module")
def heads(ict):
    n = crop_sizes("full")[0]
    ids = held_out_identities(2)
    va = ict.identity_verts(ids[0])[:n].astype(np.float64)
    vb = ict.identity_verts(ids[1])[:n].astype(np.float64)
    k = [list(ict.expression_names).index(x) for x in KEYS]
    modes = ict.expression_modes[k, :n].astype(np.float64)
    topo = make_topology(ict, "full", 2000, "decimate", 3)
    tb = topo.positions(vb)
    true = np.stack([topo.positions(vb + m) - tb for m in modes])
    return dict(va=va, fa=ict.crop_faces("full"), keys=modes, tb=tb, fb=topo.faces, true=true,
                ta=topo.positions(va))


def _rel(p, t):
    return float(np.linalg.norm(p - t, axis=2).mean() / np.linalg.norm(t, axis=2).mean())


def test_transfer_beats_nearest_across_identity_and_topology(heads):
    h = heads
    model = Model.load()
    pa, pb = model.prepare(h["va"], h["fa"], "Y", "Z"), model.prepare(h["tb"], h["fb"], "Y", "Z")
    out, corr = transfer_keys(model, pa, h["keys"], pb, names=list(KEYS), return_correspondence=True)
    assert out.shape == h["true"].shape and out.dtype == np.float32 and np.isfinite(out).all()
    # where each of B's vertices landed on A, against the truth (the same surface point of A); docs/model.md:
    # closest-point registration slides ~5 mm tangentially (ICT units are cm)
    ok = np.isfinite(corr[:, 0])
    moving = np.linalg.norm(h["true"], axis=2).max(axis=0) > 0.1        # where the keys move > 1 mm
    miss = np.linalg.norm(corr - h["ta"], axis=1)
    # nearest-point correspondence after scaled ICP, by carrying A's own positions as a "key"
    near_corr = nearest_keys(h["va"], h["fa"], h["va"][None], h["tb"], h["fb"], 1.0)[0]
    near_miss = np.linalg.norm(near_corr - h["ta"], axis=1)
    print("correspondence miss cm where the keys move: ours", miss[moving].mean(), "nearest", near_miss[moving].mean())
    assert ok[moving].all() and miss[moving].mean() < 0.8 * near_miss[moving].mean()
    near = nearest_keys(h["va"], h["fa"], h["keys"], h["tb"], h["fb"], 1.0)
    ours, base = _rel(out, h["true"]), _rel(near, h["true"])
    print("transfer rel", ours, "nearest rel", base)
    # docs/model.md: 53 keys, 2k decimation: 19.7 % against nearest's 25.2 %
    assert ours < 0.9 * base and ours < 0.25


def test_the_sides_of_the_head_follow_the_ears(heads, monkeypatch):
    """The similarity fits the face; behind it B's ears and jaw angle sit ~1.3 cm lower, relative to its face,
    than A's, and the registration's pulls along the normal cannot move the template up or down a smooth upright
    side. ``back_shift`` fits the template's band at the ears' level first (docs/model.md, *The sides of the
    head*): where B's sides landed on A (ears to the jaw angle) 1.56 -> 0.56 cm from the truth (median), the
    four keys 17.0 -> 12.4 % (jawOpen 16.0 -> 10.5 %)."""
    from model_core.runtime import template_keys
    h = heads
    side = (h["tb"][:, 2] < 6.0) & (np.abs(h["tb"][:, 1]) < 8.0)
    got = {}
    for on in (False, True):
        monkeypatch.setattr(template_keys, "BACK_SHIFT", on)
        model = Model.load()
        pa, pb = model.prepare(h["va"], h["fa"], "Y", "Z"), model.prepare(h["tb"], h["fb"], "Y", "Z")
        out, corr = transfer_keys(model, pa, h["keys"], pb, names=list(KEYS), return_correspondence=True)
        miss = corr[side] - h["ta"][side]
        got[on] = (float(np.nanmedian(np.linalg.norm(miss, axis=1))), float(np.nanmean(miss[:, 1])),
                   _rel(out, h["true"]))
    print("side miss median cm, mean vertical miss cm, keys' error: off", got[False], "on", got[True])
    assert got[False][0] > 1.2 and got[False][1] < -1.0                    # the slide this answers
    assert got[True][0] < 0.8 and abs(got[True][1]) < 0.6
    assert got[True][2] < 0.14 and got[True][2] < got[False][2] - 0.03


def test_a_target_cut_at_its_lid_margins_meets_the_source_lid_margin(ict):
    """A game head's eyes are cut open at the lid margin: its eye loops must meet the source's lid margin, as
    ``match_openings`` decides by the way the loop's surroundings face. Meeting whichever of the source's margin or
    socket opening lies nearer (measured on 2d2db8a and not used: docs/model.md) sent
    one eye to the socket: eyeBlink_L 34.9 % error against 21.3 % (ICT A's full head onto B's face cut at the
    margins)."""
    from capped_eyes_face import margin_cut
    n = crop_sizes("full")[0]
    ids = held_out_identities(2)
    va = ict.identity_verts(ids[0])[:n].astype(np.float64)
    vb, fb, kept = margin_cut(ict, ids[1])
    names = list(ict.expression_names)
    k = [names.index(x) for x in ("eyeBlink_L", "eyeBlink_R")]
    model = Model.load()
    pa, pb = model.prepare(va, ict.crop_faces("full"), "Y", "Z"), model.prepare(vb, fb, "Y", "Z")
    out = transfer_keys(model, pa, ict.expression_modes[k, :n].astype(np.float64), pb).astype(np.float64)
    true = ict.expression_modes[k][:, kept].astype(np.float64)
    rel = [float(np.linalg.norm(out[i] - true[i], axis=1).mean() / np.linalg.norm(true[i], axis=1).mean())
           for i in range(2)]
    print("eyeBlink L / R rel", rel)
    assert max(rel) < 0.27


def test_transfer_rejects_keys_of_another_mesh(heads):
    model = Model.load()
    pa = model.prepare(heads["va"], heads["fa"], "Y", "Z")
    with pytest.raises(ValueError, match="source_keys must have shape"):
        transfer_keys(model, pa, heads["keys"][:, :100], pa)


def test_cli_transfer_writes_one_obj_per_key(heads, tmp_path):
    h = heads
    write_obj(tmp_path / "src.obj", h["va"], h["fa"])
    write_obj(tmp_path / "tgt.obj", h["tb"], h["fb"])
    (tmp_path / "keys").mkdir()
    for name, d in zip(KEYS, h["keys"]):
        write_obj(tmp_path / "keys" / f"{name}.obj", h["va"] + d, h["fa"])
    r = subprocess.run([sys.executable, "-m", "model_core", "transfer", "--source", tmp_path / "src.obj",
                        "--source-keys", tmp_path / "keys", "--target", tmp_path / "tgt.obj", "-o", tmp_path / "out",
                        "--keys", "jawOpen,eyeBlink_L"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert sorted(p.stem for p in (tmp_path / "out").glob("*.obj")) == ["eyeBlink_L", "jawOpen"]
    jaw = read_mesh(tmp_path / "out" / "jawOpen.obj").verts - h["tb"]
    assert _rel(jaw[None], h["true"][:1]) < 0.3
    r = subprocess.run([sys.executable, "-m", "model_core", "transfer", "--source", tmp_path / "src.obj",
                        "--source-keys", tmp_path / "keys", "--target", tmp_path / "tgt.obj", "-o", tmp_path / "x",
                        "--keys", "nope"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "no source key named nope" in r.stderr


def test_landmarks_correct_the_correspondence(ict, heads):
    # a user's landmark pairs A's nose tip (ICT landmark 30) with B's subnasale (landmark 33), 2.3 cm away on
    # the face: the target vertex there then lands on A's nose tip, instead of on its true point (0.43 cm)
    h = heads
    model = Model.load()
    pa, pb = model.prepare(h["va"], h["fa"], "Y", "Z"), model.prepare(h["tb"], h["fb"], "Y", "Z")
    lm = np.asarray(ict.landmarks)
    vb = ict.identity_verts(held_out_identities(2)[1])[:len(h["va"])].astype(np.float64)
    s_pt, t_pt = h["va"][lm[30]], vb[lm[33]]
    tv = int(np.argmin(np.linalg.norm(h["tb"] - t_pt, axis=1)))
    _, plain = transfer_keys(model, pa, h["keys"][:1], pb, return_correspondence=True)
    _, fixed = transfer_keys(model, pa, h["keys"][:1], pb, return_correspondence=True,
                             landmarks=(s_pt[None], t_pt[None]))
    assert np.linalg.norm(plain[tv] - s_pt) > 1.5 and np.linalg.norm(fixed[tv] - s_pt) < 0.3
    # measured: the rest of the face keeps its match (mean change where the keys move, far from the nose)
    far = np.linalg.norm(h["tb"] - t_pt, axis=1) > 6.0
    ok = far & np.isfinite(plain[:, 0]) & np.isfinite(fixed[:, 0])
    assert np.linalg.norm(plain[ok] - fixed[ok], axis=1).mean() < 0.1
    with pytest.raises(ValueError, match="off the target's face"):
        transfer_keys(model, pa, h["keys"][:1], pb, landmarks=(s_pt[None], (t_pt + 50.0)[None]))
    with pytest.raises(ValueError, match="in pairs"):
        transfer_keys(model, pa, h["keys"][:1], pb, landmarks=(h["va"][lm[:2]], t_pt[None]))


def test_cli_transfer_landmarks(ict, heads, tmp_path):
    h = heads
    write_obj(tmp_path / "src.obj", h["va"], h["fa"])
    write_obj(tmp_path / "tgt.obj", h["tb"], h["fb"])
    np.savez(tmp_path / "keys.npz", names=np.array(["jawOpen"]), deltas=h["keys"][:1])
    lm = np.asarray(ict.landmarks)
    vb = ict.identity_verts(held_out_identities(2)[1])[:len(h["va"])].astype(np.float64)
    s_pt, t_pt = h["va"][lm[30]], vb[lm[33]]
    (tmp_path / "lm.csv").write_text("name,sx,sy,sz,tx,ty,tz\n# the nose tip onto the subnasale\n"
                                     f"nose,{','.join(map(repr, s_pt))},{','.join(map(repr, t_pt))}\n")
    args = ["--source", tmp_path / "src.obj", "--source-keys", tmp_path / "keys.npz", "--target", tmp_path / "tgt.obj"]
    r = subprocess.run([sys.executable, "-m", "model_core", "transfer", *args, "-o", tmp_path / "out.npz",
                        "--landmarks", tmp_path / "lm.csv"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "1 landmarks from" in r.stdout
    # the keys the API gives for what the CLI read (the OBJs, the .npz, the CSV), and the landmark's effect
    model = Model.load()
    src, tgt = read_mesh(tmp_path / "src.obj"), read_mesh(tmp_path / "tgt.obj")
    spm, tpm = model.prepare(src.verts, src.faces), model.prepare(tgt.verts, tgt.faces)
    keys = np.load(tmp_path / "keys.npz")["deltas"]
    pts = np.loadtxt(tmp_path / "lm.csv", delimiter=",", skiprows=2, usecols=range(1, 7))
    exp = transfer_keys(model, spm, keys, tpm, names=["jawOpen"], landmarks=(pts[None, :3], pts[None, 3:]))
    plain = transfer_keys(model, spm, keys, tpm, names=["jawOpen"])
    got = np.load(tmp_path / "out.npz")["deltas"]
    # another process's round-off can move a closest point across the lip contact (docs/model.md, *Not exactly
    # invariant*): measured 0.17-0.22 of the landmark's own effect (mean abs), so compare the fields' means
    off, effect = np.abs(got - exp).mean(), np.abs(plain - exp).mean()
    print("CLI vs API (mean abs):", off, "landmark effect:", effect)
    print("landmark effect, largest:", np.abs(plain - exp).max(), "of a largest move", np.abs(exp).max())
    assert np.abs(plain - exp).max() > 0.02 * np.abs(exp).max() and off < 0.35 * effect
    (tmp_path / "bad.csv").write_text("nose,1,2,3,4,5\n")
    r = subprocess.run([sys.executable, "-m", "model_core", "transfer", *args, "-o", tmp_path / "x.npz",
                        "--landmarks", tmp_path / "bad.csv"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "expected 7 fields" in r.stderr


def test_the_source_teeth_and_eyeballs_carry_onto_the_target_ones(ict):
    """Both heads with their teeth and eyeballs as pieces (ICT identities A and B): the target's pieces take the
    source's pieces' motion through the registration (``transfer._piece_keys``), not the target's skin's. Measured
    (cm, mean error on the teeth / eyeballs): jawOpen 1.03 -> 0.17 of the teeth's 1.54, mouthSmile_L 0.42 -> 0.00,
    eyeBlink_L eyeballs 0.07 -> 0.00."""
    from test_inner_parts import EYEBALLS, TEETH, _ict_parts
    vb, fb, idx, true = _ict_parts(ict, [(0, crop_sizes("full")[0]), (TEETH[0], EYEBALLS[1])])
    va = ict.identity_verts(held_out_identities(2)[1])[idx]
    names = list(ict.expression_names)
    k = [names.index(x) for x in ("jawOpen", "mouthSmile_L", "eyeBlink_L")]
    model = Model.load()
    pa, pb = model.prepare(va, fb, "Y", "Z"), model.prepare(vb, fb, "Y", "Z")
    out = transfer_keys(model, pa, true[k], pb).astype(np.float64)
    teeth = (idx >= TEETH[0]) & (idx < TEETH[1])
    eyes = (idx >= EYEBALLS[0]) & (idx < EYEBALLS[1])
    err = [float(np.linalg.norm(out[i][sel] - true[k[i]][sel], axis=1).mean())
           for i, sel in ((0, teeth), (1, teeth), (2, eyes))]
    print("teeth jawOpen, teeth smile, eyeballs blink (cm):", err)
    assert err[0] < 0.25 < 0.5 * np.linalg.norm(true[k[0]][teeth], axis=1).mean()
    assert err[1] < 0.03 and err[2] < 0.02
