"""Held-out ICT heads with shoulders joined below the neck, as busts and game heads cut at the chest carry them.

``python scripts/shoulders_eval.py --weights model_core/weights/nfs_v6.npz,runs/s2/nfs_s2.npz --identities 3``

ICT's full crop ends at the base of the neck. Here 42 cm shoulders are joined to that neck ring
(``dataset/shoulders.with_shoulders``); ICT's keys are exact on the skin and zero on the skirt.

Printed per case (means over the identities): the decoder's face-core scale ``a`` (~0.98 on the head alone), the
share of skin vertices whose most likely region is ICT's label, ``auto``'s decoder share, and the 53 keys'
relative error on the skin (auto / template / decoder) against ICT's truth (``evaluate.relative_error``), the
largest motion on the skirt (cm, any key at weight 1) and how far the skin's default keys moved from the head
alone's (relative).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from model_core.dataset.ict import load_ict  # noqa: E402
from model_core.dataset.shoulders import with_shoulders  # noqa: E402
from model_core.evaluation.evaluate import held_out_identities, relative_error  # noqa: E402
from model_core.runtime import Model  # noqa: E402
from model_core.runtime.regions import load_ict_labels  # noqa: E402


CASES = ("head alone", "+ shoulders")


def run(weights: str, n_identities: int) -> list[dict]:
    ict = load_ict()
    labels = load_ict_labels()
    model = Model.load(weights)
    faces = ict.crop_faces("full")
    n = len(labels)
    true = ict.expression_modes[:, :n].astype(np.float64)
    rows = {name: [] for name in CASES}
    for c in held_out_identities(n_identities):
        v = ict.identity_verts(c, "full")
        ref = None
        for name in CASES:
            vv, ff = (v, faces) if name == "head alone" else with_shoulders(v, faces)
            pm = model.prepare(vv, ff, "Y", "Z")
            probs, _ = model.skinning(pm)
            r = {"frame": model.decoder_frame(pm)[0], "seg": float((probs[:n].argmax(1) == labels).mean()),
                 "share": model.auto_face_keys(pm)[1]}
            for keys in ("auto", "template", "decoder"):
                k = model.facs_basis(pm, keys=keys)[1].astype(np.float64)
                r[keys] = relative_error(k[:, :n], true)
                if keys == "auto":
                    r["skirt"] = float(np.linalg.norm(k[:, n:], axis=-1).max()) if len(vv) > n else 0.0
                    ref = k[:, :n] if ref is None else ref
                    r["moved"] = relative_error(k[:, :n], ref)
            rows[name].append(r)
    return [{"case": name, **{k: float(np.mean([r[k] for r in rs])) for k in rs[0]}} for name, rs in rows.items()]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="model_core/weights/nfs_v6.npz", help="comma-separated weights files")
    ap.add_argument("--identities", type=int, default=3)
    args = ap.parse_args(argv)
    print("| weights | case | frame a | seg | share | auto | template | decoder | skirt max (cm) | keys moved |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for w in args.weights.split(","):
        t0 = time.time()
        for r in run(w, args.identities):
            print(f"| {os.path.basename(w)} | {r['case']} | {r['frame']:.3f} | {r['seg']:.1%} | {r['share']:.2f} | "
                  f"{r['auto']:.1%} | {r['template']:.1%} | {r['decoder']:.1%} | {r['skirt']:.2f} | "
                  f"{r['moved']:.1%} |", flush=True)
        print(f"<!-- {w}: {time.time() - t0:.0f} s -->")
    return 0


if __name__ == "__main__":
    sys.exit(main())
