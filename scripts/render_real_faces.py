"""Side-by-side pictures of an artist's ARKit keys and ours on the dev heads (evaluation only):
``python scripts/render_real_faces.py [--heads NAME,...] [-o docs/real_faces.png]``.

Rows: per head, the artist's keys, our default keys (``keys='auto'``: feature transfer on these heads) and the
decoder's; columns: neutral, jawOpen, eyeBlinkLeft, mouthSmileLeft, browInnerUp, mouthPucker. Grey shading,
front view; the real-faces files are read from ../shared/data/real_faces and never written anywhere.

``--blinks`` (``-o docs/blink_columns.png``): close-ups of each head's left eye in its blink instead, rows artist /
ours / before (ours with the blink scaled by one factor for the whole eye: ``template_keys.CLOSURE_COLUMNS`` off,
as before session 29).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from model_core.evaluation.render_util import key_rows, write_key_sheet
from model_core.evaluation.real_eval import load_real_heads

KEYS = ("jawOpen", "eyeBlinkLeft", "mouthSmileLeft", "browInnerUp", "mouthPucker")
DEFAULT_HEADS = ("iphonemocap_johnsmith_head", "rocketbox_female_adult_02")  # the MIT-licensed heads


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--real", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "real_faces"))
    p.add_argument("--heads", default=",".join(DEFAULT_HEADS))
    p.add_argument("-o", "--out", default="docs/real_faces.png")
    p.add_argument("--size", type=int, default=200)
    p.add_argument("--blinks", action="store_true", help="close-ups of the blinks, scaled column by column or not")
    a = p.parse_args(argv)
    from model_core.runtime import Model
    model = Model.load()
    heads = [h for h in load_real_heads(a.real) if h.name in a.heads.split(",")]
    if a.blinks:
        return blink_sheet(model, heads, a.out, a.size)
    rows = []
    for h in heads:
        pm = model.prepare(h.verts, h.faces, "Y", "Z")
        sets = {"artist": {k: h.key(k) for k in KEYS}}
        for keys in ("auto", "decoder"):
            names, d = model.facs_basis(pm, names="arkit", keys=keys)
            sets["ours" if keys == "auto" else "decoder"] = {k: d[names.index(k)].astype(np.float64) for k in KEYS}
        rows += key_rows(h.verts, h.faces, sets, KEYS, a.size)
    print(write_key_sheet(a.out, rows, KEYS, a.size))
    return 0


BLINKS = ("eyeBlinkLeft",)


def blink_sheet(model, heads, out, size: int) -> int:
    """Each head's left blink framed on the artist's moving lid: artist / ours / before (one factor per eye)."""
    from model_core.runtime import template_keys as tk
    rows = []
    for h in heads:
        sets = {"artist": {k: h.key(k) for k in BLINKS}}
        for label, columns in (("ours", True), ("before", False)):
            saved, tk.CLOSURE_COLUMNS = tk.CLOSURE_COLUMNS, columns
            try:
                model.clear_cache()
                names, d = model.facs_basis(model.prepare(h.verts, h.faces, "Y", "Z"), names="arkit", keys="auto")
            finally:
                tk.CLOSURE_COLUMNS = saved
            sets[label] = {k: d[names.index(k)].astype(np.float64) for k in BLINKS}
        m = np.linalg.norm(h.key(BLINKS[0]), axis=1)
        moving = h.verts[m > 0.1 * m.max()]
        lo, hi = moving.min(axis=0), moving.max(axis=0)
        c, r = 0.5 * (lo + hi), 0.6 * max(hi[0] - lo[0], hi[1] - lo[1])
        rows += key_rows(h.verts, h.faces, sets, BLINKS, size, bounds=(c[0] - r, c[0] + r, c[1] - r, c[1] + r))
    print(write_key_sheet(out, rows, BLINKS, size))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
