"""Held-out ICT heads with extra geometry joined to the skin (mouth and eye sockets, shoulders), scored on the skin
against ICT's exact keys: the shared core of ``scripts/sockets_eval.py`` and ``scripts/shoulders_eval.py``.

A case builder gives, for one identity's full neutral head, the mesh of each case; the skin is always the mesh's
first ``N_SKIN`` vertices (ICT's full crop), so its truth is ICT's own 53 keys. Per case (means over identities):
the decoder's face-core scale, the share of skin vertices whose most likely region is ICT's label, ``auto``'s
decoder share, the relative error (``evaluate.relative_error``) of the default / template / decoder keys on the
skin, how far the skin's default keys moved from the first case's, and a number on the extra vertices
(``extra(keys, ict)``: the default keys (53, M, 3) of a mesh with M > ``N_SKIN`` vertices and the ICT model; e.g.
their error against ICT's truth, or their largest motion).
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from ..dataset.ict import load_ict
from ..runtime import Model
from ..runtime.regions import load_ict_labels
from .evaluate import held_out_identities, relative_error

N_SKIN = 11248


def run(weights: str, n_identities: int, cases, extra) -> list[dict]:
    """cases: [(name, build(ict, identity coefficients) -> (verts (M, 3) cm, faces))]; extra: see the module.
    Returns one dict a case: case, frame, seg, share, auto, template, decoder, extra, moved."""
    ict = load_ict()
    labels = load_ict_labels()
    model = Model.load(weights)
    true = ict.expression_modes[:, :N_SKIN].astype(np.float64)
    rows = {name: [] for name, _ in cases}
    for c in held_out_identities(n_identities):
        ref = None
        for name, build in cases:
            v, f = build(ict, c)
            pm = model.prepare(v, f, "Y", "Z")
            probs, _ = model.skinning(pm)
            r = {"frame": model.decoder_frame(pm)[0], "seg": float((probs[:N_SKIN].argmax(1) == labels).mean()),
                 "share": model.auto_face_keys(pm)[1]}
            for keys in ("auto", "template", "decoder"):
                k = model.facs_basis(pm, keys=keys)[1].astype(np.float64)
                r[keys] = relative_error(k[:, :N_SKIN], true)
                if keys == "auto":
                    r["extra"] = extra(k, ict) if len(v) > N_SKIN else np.nan
                    ref = k[:, :N_SKIN] if ref is None else ref
                    r["moved"] = relative_error(k[:, :N_SKIN], ref)
            rows[name].append(r)
    return [{"case": name, **{k: float(np.mean([r[k] for r in rs])) for k in rs[0]}} for name, rs in rows.items()]


def main(doc: str, cases, extra, extra_title: str, extra_fmt: str, argv=None) -> int:
    """The command line of a script: ``--weights A.npz,B.npz --identities 3``; prints a markdown table."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--weights", default="model_core/weights/nfs_v5.npz", help="comma-separated weights files")
    ap.add_argument("--identities", type=int, default=3)
    args = ap.parse_args(argv)
    print(f"| weights | case | frame a | seg | share | auto | template | decoder | {extra_title} | keys moved |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for w in args.weights.split(","):
        t0 = time.time()
        for r in run(w, args.identities, cases, extra):
            print(f"| {os.path.basename(w)} | {r['case']} | {r['frame']:.3f} | {r['seg']:.1%} | {r['share']:.2f} | "
                  f"{r['auto']:.1%} | {r['template']:.1%} | {r['decoder']:.1%} | {format(r['extra'], extra_fmt)} | "
                  f"{r['moved']:.1%} |", flush=True)
        print(f"<!-- {w}: {time.time() - t0:.0f} s -->")
    return 0
