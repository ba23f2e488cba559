"""Held-out ICT faces taken outside ICT's identity space by the training warps (``dataset/warps.py``), scored
against their exact keys: how the model's keys and regions hold up on other proportions, for one or more weights.

``OPENBLAS_NUM_THREADS=1 python scripts/warped_eval.py [--weights A.npz,B.npz] [--identities 2] [--per-kind 3]``

For each held-out identity (``evaluate.held_out_identities``, never trained on) and each warp kind (``none``, then
``warps.KINDS``; warps drawn from their own seed stream, ``--seed``), on ICT's face-crop triangulation: the 53
single keys' relative error (mean_k,v |p - t| / mean_k,v |t|, t = W(n + d) - W(n)) of the decoder's keys
(``facs_basis(keys='decoder')``) and of the add-on's default (``keys='auto'``), and the share of vertices whose
region (argmax of the skinning) is the true one. Prints a table per weights file, then the mean per kind.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from model_core.dataset.ict import CROPS, load_ict
from model_core.dataset.warps import KINDS, Warp, feature_centres, sample_warp
from model_core.evaluation.evaluate import held_out_identities, relative_error
from model_core.runtime import Model
from model_core.runtime.regions import load_ict_labels

CROP = "face"


def faces(ict, labels, n_ids: int, per_kind: int, seed: int) -> list:
    """[(kind, identity index, verts (n, 3) cm, true keys (53, n, 3) cm)] on ICT's ``CROP`` triangulation."""
    n = CROPS[CROP][0]
    centres = feature_centres(ict.neutral[:CROPS["full"][0]].astype(np.float64), labels)
    rng = np.random.default_rng(seed)
    modes = ict.expression_modes[:, :n].astype(np.float64)
    out = []
    for i, c in enumerate(held_out_identities(n_ids)):
        for kind in ("none",) + tuple(KINDS):
            for _ in range(1 if kind == "none" else per_kind):
                w = Warp() if kind == "none" else sample_warp(rng, centres, kind)
                v = ict.identity_verts(c * w.id_gain, CROP).astype(np.float64)
                out.append((kind, i, w(v), w(v[None] + modes) - w(v)[None]))
    return out


def score(weights, cases, ict, labels) -> list[dict]:
    model = Model.load(weights)
    f = ict.crop_faces(CROP)
    lab = labels[:CROPS[CROP][0]]
    rows = []
    for kind, i, v, true in cases:
        model.clear_cache()
        pm = model.prepare(v, f, "Y", "Z")
        dec = model.facs_basis(pm, "ict", keys="decoder")[1].astype(np.float64)
        auto = model.facs_basis(pm, "ict", keys="auto")[1].astype(np.float64)
        seg = float((model.skinning(pm)[0].argmax(axis=1) == lab).mean())
        rows.append({"kind": kind, "id": i, "decoder": relative_error(dec, true), "auto": relative_error(auto, true), "seg": seg})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="", help="comma-separated weights files (default: the committed ones)")
    ap.add_argument("--identities", type=int, default=2)
    ap.add_argument("--per-kind", type=int, default=3, help="warps per kind and identity")
    ap.add_argument("--seed", type=int, default=90210, help="the warps' seed (not a training stream)")
    a = ap.parse_args(argv)
    ict = load_ict()
    labels = load_ict_labels()
    cases = faces(ict, labels, a.identities, a.per_kind, a.seed)
    names = [w for w in a.weights.split(",") if w] or [None]
    kinds = ("none",) + tuple(KINDS)
    summary = {}
    for w in names:
        t0 = time.time()
        rows = score(w, cases, ict, labels)
        label = w or "committed weights"
        summary[label] = {k: {m: float(np.mean([r[m] for r in rows if r["kind"] == k]))
                              for m in ("decoder", "auto", "seg")} for k in kinds}
        print(f"{label}: {len(rows)} faces in {time.time() - t0:.0f} s", flush=True)
    print("\n| weights | " + " | ".join(f"{k}: decoder / auto / regions" for k in kinds) + " |")
    print("|---|" + "---|" * len(kinds))
    for label, s in summary.items():
        print(f"| {label} | " + " | ".join(f"{s[k]['decoder']:.1%} / {s[k]['auto']:.1%} / {s[k]['seg']:.1%}"
                                           for k in kinds) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
