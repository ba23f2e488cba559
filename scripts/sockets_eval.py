"""Held-out ICT heads with ICT's own mouth bag and eye sockets joined to the skin, as game heads carry them.

``python scripts/sockets_eval.py --weights model_core/weights/nfs_v6.npz,runs/s1/nfs_s1.npz --identities 3``

For each weights file and held-out identity, the head is prepared three ways: the skin alone (the full crop),
with the mouth bag joined at the inner lip loop, and with the mouth bag and both eye sockets (ICT's vertices
0-11247, 0-13293 and 0-14061; ``dataset/sockets.py``). Printed per case (means over the identities):

- frame: the decoder's face-core scale ``a`` (``Model.decoder_frame``); on the skin alone it is ~0.98;
- seg: share of skin vertices whose most likely region is ICT's label;
- share: the decoder's share in the default ('auto') keys (``Model.auto_face_keys``);
- auto / template / decoder: relative error of the 53 keys against ICT's true deltas, on the skin's vertices
  (``evaluate.relative_error``); sockets: the same on the sockets' vertices (the default keys);
- keys moved: how far the default keys on the skin moved from the skin-alone head's (relative).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from model_core.dataset.ict import load_ict  # noqa: E402
from model_core.evaluation.evaluate import held_out_identities, relative_error  # noqa: E402
from model_core.runtime import Model  # noqa: E402
from model_core.runtime.regions import load_ict_labels  # noqa: E402

CASES = (("skin alone", 11248), ("+ mouth bag", 13294), ("+ mouth bag + eye sockets", 14062))
N_SKIN = 11248


def run(weights: str, n_identities: int) -> list[dict]:
    ict = load_ict()
    labels = load_ict_labels()
    model = Model.load(weights)
    rows = {name: [] for name, _ in CASES}
    true_all = ict.expression_modes.astype(np.float64)
    for c in held_out_identities(n_identities):
        v = ict.identity_verts(c)
        ref = None
        for name, n in CASES:
            idx, f = ict.part_faces([(0, n)])
            pm = model.prepare(v[idx], f, "Y", "Z")
            a, _ = model.decoder_frame(pm)
            probs, _ = model.skinning(pm)
            r = {"frame": a, "seg": float((probs[:N_SKIN].argmax(1) == labels).mean()),
                 "share": model.auto_face_keys(pm)[1]}
            for keys in ("auto", "template", "decoder"):
                k = model.facs_basis(pm, keys=keys)[1].astype(np.float64)
                r[keys] = relative_error(k[:, :N_SKIN], true_all[:, :N_SKIN])
                if keys == "auto":
                    r["sockets"] = relative_error(k[:, N_SKIN:n], true_all[:, N_SKIN:n]) if n > N_SKIN else np.nan
                    if ref is None:
                        ref = k[:, :N_SKIN]
                    r["moved"] = relative_error(k[:, :N_SKIN], ref)
            rows[name].append(r)
    return [{"case": name, **{k: float(np.mean([r[k] for r in rs])) for k in rs[0]}} for name, rs in rows.items()]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default="model_core/weights/nfs_v6.npz", help="comma-separated weights files")
    ap.add_argument("--identities", type=int, default=3)
    args = ap.parse_args(argv)
    print("| weights | case | frame a | seg | share | auto | template | decoder | sockets (auto) | keys moved |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for w in args.weights.split(","):
        t0 = time.time()
        for r in run(w, args.identities):
            print(f"| {os.path.basename(w)} | {r['case']} | {r['frame']:.3f} | {r['seg']:.1%} | {r['share']:.2f} | {r['auto']:.1%} | "
                  f"{r['template']:.1%} | {r['decoder']:.1%} | {r['sockets']:.1%} | {r['moved']:.1%} |", flush=True)
        print(f"<!-- {w}: {time.time() - t0:.0f} s -->")
    return 0


if __name__ == "__main__":
    sys.exit(main())
