"""``transfer_keys(..., proportions=True)`` on a dev head carried onto a warped, remeshed copy of itself (ground
truth by construction, ``benchmarks/bench_transfer.py``'s case; ../shared/data/real_faces, evaluation only).

The numbers asserted are the ones docs/model.md (*Carrying a character's own keys onto another head*) reports:
half the warp, proportion map 8.5 % pooled relative error against nearest's 32.9 % (the issue's >= 40 % lower
is met here), the default transfer 11.9 % (9.6 / 14.5 % before the registration's point-to-plane pulls,
``transfer.PLANE``); no jawOpen / blink triangle turned over. With nfs_v5 (whose face-core frame places the heads
for the registration's first ICP) 8.9 and 11.7 %."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from model_core.evaluation.evaluate import relative_error
from model_core.evaluation.real_eval import nearest_keys, triangle_damage
from model_core.runtime import Model
from model_core.runtime.transfer import transfer_keys

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def warped(dev_heads):
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from bench_transfer import warped_copy
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    head = dev_heads["iphonemocap"]
    tv, tf, true = warped_copy(head, 0.5, 3000)
    return head, tv, tf, true


def test_proportion_map_carries_keys_through_a_stretch(warped):
    head, tv, tf, true = warped
    model = Model.load()
    pa, pb = model.prepare(head.verts, head.faces, "Y", "Z"), model.prepare(tv, tf, "Y", "Z")
    prop = transfer_keys(model, pa, head.deltas, pb, names=head.names, proportions=True).astype(np.float64)
    plain = transfer_keys(model, pa, head.deltas, pb, names=head.names).astype(np.float64)
    near = nearest_keys(head.verts, head.faces, head.deltas, tv, tf, 1.0)
    ours, default, base = relative_error(prop, true), relative_error(plain, true), relative_error(near, true)
    print("proportions", ours, "default", default, "nearest", base)
    assert abs(ours - 0.085) < 0.015 and abs(default - 0.119) < 0.015 and abs(base - 0.329) < 0.01
    assert ours < 0.6 * base and ours < 0.8 * default      # 0.76 of it with nfs_v5, 0.71 with nfs_v4
    for key in ("jawOpen", "eyeBlinkLeft", "eyeBlinkRight"):
        assert triangle_damage(tv, tf, prop[head.names.index(key)])[0] == 0


def test_a_piece_of_the_source_is_not_shrunk_into(dev_heads, monkeypatch):
    # the front half of the same remeshed copy (a face mask cut from the head: a piece of the source's surface).
    # Fitted from the source's side, similarity and proportion map alike pulled the whole head into the half;
    # fitted from the target's side (``template_keys.reverse_pose``, ``proportion_map``) measured: default 17.6 ->
    # 9.1 %, proportions 24.2 -> 6.2 %, nearest 36.7 %
    from model_core.runtime import template_keys as tk
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from bench_transfer import front_piece, warped_copy
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    head = dev_heads["iphonemocap"]
    tv, tf, true, at, pts = warped_copy(head, 0.0, 3000, with_truth=True)
    tv, tf, true, _, _ = front_piece(tv, tf, true, at, pts, np.flatnonzero(tv[:, 2] > np.median(tv[:, 2])))
    model = Model.load()
    pa, pb = model.prepare(head.verts, head.faces, "Y", "Z"), model.prepare(tv, tf, "Y", "Z")
    e = {}
    for label, area in (("reverse", tk.REVERSE_AREA), ("source side", 0.0)):
        monkeypatch.setattr(tk, "REVERSE_AREA", area)
        for prop in (False, True):
            k = transfer_keys(model, pa, head.deltas, pb, names=head.names, proportions=prop).astype(np.float64)
            e[label, prop] = relative_error(k, true)
    near = relative_error(nearest_keys(head.verts, head.faces, head.deltas, tv, tf, 1.0), true)
    assert e["reverse", False] < 0.11 and e["reverse", True] < 0.08 and near > 0.3, (e, near)
    assert e["source side", False] > 0.15 and e["source side", True] > 0.2, e


def test_a_proportion_map_fitted_in_another_basin_starts_from_the_ict_poses(ict, dev_heads, monkeypatch):
    # Rocketbox onto a held-out ICT face crop with the proportion map: its similarity ICP from scale 1 stopped in
    # another basin, and the keys came out weak and misplaced (mean cosine against ICT's own keys 0.26, jawOpen
    # 0.53; MakeHuman onto Face Cap: 0.002, every key ~0). Started where the heads' ICT poses put the source when
    # the ICP's fit lies more than 20 degrees or 1.5x in scale from it (``transfer.AFFINE_TURN``): 0.67 (jawOpen
    # 0.84), about the default transfer's 0.65
    from model_core.evaluation.evaluate import held_out_identities
    from model_core.evaluation.real_eval import key_metrics
    from model_core.runtime import template_keys as tk
    from model_core.runtime import transfer as tr
    from model_core.runtime.facs_names import ARKIT_NAMES, ict_to_arkit_deltas
    src = dev_heads["rocketbox"]
    v = ict.identity_verts(held_out_identities(2)[1], "face") / 100.0
    f = ict.crop_faces("face")
    own = dict(zip(ARKIT_NAMES, ict_to_arkit_deltas(ict.expression_modes[:, :len(v)] / 100.0)))
    common = [n for n in src.names if n in own]
    model = Model.load()
    pa, pb = model.prepare(src.verts, src.faces, "Y", "Z"), model.prepare(v, f, "Y", "Z")

    def cosines():
        model.clear_cache()
        k = transfer_keys(model, pa, src.deltas, pb, names=src.names, proportions=True).astype(np.float64)
        cos = {n: key_metrics(k[src.names.index(n)], own[n])["cos"] for n in common}
        return float(np.mean(list(cos.values()))), cos["jawOpen"]
    now = cosines()
    monkeypatch.setattr(tr, "AFFINE_TURN", 1e9)
    monkeypatch.setattr(tk, "START_LOG_SCALE", 1e9)
    before = cosines()
    print("mean / jawOpen cosine against ICT's keys: now", now, "before", before)
    assert now[0] > 0.6 and now[1] > 0.8 and before[0] < 0.35, (now, before)
