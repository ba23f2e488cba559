"""The dev heads given stylised proportions, their artists' keys carried exactly through the same warp: how the
default keys hold up on an artist's head that is also far from ICT's proportions (an anime-like face).

``OPENBLAS_NUM_THREADS=1 python scripts/stylised_real_eval.py [--weights W] [--png out.png]``

Each head of ../shared/data/real_faces (evaluation only; nothing is written but the optional picture) is brought
into the template's frame (``Model.template_frame``) and warped there by ``dataset.warps.Warp`` features placed
on the registered template's regions: eyes 1.35x across and up (1.1x deep), nose 0.7x, mouth 0.8x (0.9x deep),
cranium 1.15x, each fading out from r1 to ``warps.FEATURE_REACH`` r1 as the training warps do. The warped head and its keys, W(v + d) - W(v), are mapped back to the head's frame and scored
with ``real_eval.evaluate_head`` against ICT nearest, beside the unwarped head. The optional picture shows the
artist's warped keys and ours (jawOpen, eyeBlinkLeft, mouthSmileLeft, browInnerUp, mouthPucker).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from model_core.dataset.ict import load_ict
from model_core.dataset.warps import FEATURE_REACH, Warp
from model_core.evaluation.real_eval import RealHead, evaluate_head, ict_nearest_arkit, load_real_heads
from model_core.evaluation.render_util import key_rows, write_key_sheet
from model_core.runtime import Model
from model_core.runtime.correspond import umeyama
from model_core.runtime.facs_names import ARKIT_NAMES
from model_core.runtime.regions import REGION_NAMES, crop_labels

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real_faces"
KEYS = ("jawOpen", "eyeBlinkLeft", "mouthSmileLeft", "browInnerUp", "mouthPucker")
# feature: (regions whose registered template vertices' mean is the centre, scale (x, y, z), r1 cm)
STYLE = (("eye_L", (1.35, 1.35, 1.1), 1.3), ("eye_R", (1.35, 1.35, 1.1), 1.3), ("nose", (0.7, 0.7, 0.7), 1.6),
         ("lips", (0.8, 0.8, 0.9), 2.0), (("forehead", "back_of_head"), (1.15, 1.15, 1.15), 6.0))


def stylised(model: Model, head: RealHead) -> RealHead:
    """``head`` warped to stylised proportions (see the module doc), its keys carried exactly through the warp."""
    pm = model.prepare(head.verts, head.faces, "Y", "Z")
    x = model._template_match(pm)[1].registered                  # the template on the head (template frame, cm)
    labels = crop_labels("face")[:len(x)]
    p = model.template_frame(pm, head.verts)[0]                  # the whole head in the template frame
    s, r, t = umeyama(head.verts, p)                             # head -> template frame (a similarity)
    rows = []
    for regions, scale, r1 in STYLE:
        regions = (regions,) if isinstance(regions, str) else regions
        c = x[np.isin(labels, [REGION_NAMES.index(n) for n in regions])].mean(axis=0)
        rows.append([*c, *scale, r1, FEATURE_REACH * r1])
    warp = Warp(features=np.array(rows), kind="stylised")
    wv = warp(p)
    wk = np.stack([warp(p + s * d @ r.T) - wv for d in head.deltas])
    return RealHead(head.name + " (stylised)", ((wv - t) @ r) / s, head.faces, head.names, (wk @ r) / s)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", default=str(REAL))
    ap.add_argument("--weights", default=None)
    ap.add_argument("--png", default=None, help="also write the artist's warped keys and ours side by side")
    a = ap.parse_args(argv)
    model = Model.load(a.weights)
    ict = load_ict()
    print("| head | ours: error / cosine / jawOpen cos / lip gap / blinks L, R / jawOpen turned, stretched "
          "| ICT nearest: error / cosine |")
    print("|---|---|---|")
    rows = []
    for head in load_real_heads(a.real):
        warped = stylised(model, head)
        for h in (head, warped):
            model.clear_cache()
            pm = model.prepare(h.verts, h.faces, "Y", "Z")
            ours = model.facs_basis(pm, names="arkit", keys="auto")[1].astype(np.float64)
            res = evaluate_head(h, {"ours": ours, "nearest": ict_nearest_arkit(ict, h)})
            o, n = res["ours"], res["nearest"]
            print(f"| {h.name} | {o['err']:.1%} / {o['cos']:.2f} / {o['jaw_cos']:.2f} / {o['jaw_gap']:.0%} / "
                  f"{o['blink'][0]:.0%}, {o['blink'][1]:.0%} / {o['jaw_damage'][0]}, {o['jaw_damage'][1]} | "
                  f"{n['err']:.1%} / {n['cos']:.2f} |", flush=True)
            if h is warped and a.png:
                sets = {"artist": {k: h.key(k) for k in KEYS},
                        "ours": {k: ours[ARKIT_NAMES.index(k)] for k in KEYS}}
                rows += key_rows(h.verts, h.faces, sets, KEYS, 200)
    if a.png:
        print(write_key_sheet(a.png, rows, KEYS, 200))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
