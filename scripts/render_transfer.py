"""A character's own keys carried onto another artist's head (evaluation only): ``python scripts/render_transfer.py
[--source NAME] [--target NAME] [-o docs/transfer.png]``.

Rows: the source head's own ARKit keys, the same keys carried onto the target head by ``transfer_keys``, and the
target artist's own keys for comparison; columns: neutral and five keys. The dev heads are read from
../shared/data/real_faces and never written anywhere; the default pair is the two MIT-licensed heads.

``--onto-ict`` (``python scripts/render_transfer.py --onto-ict --source rokoko_newton_face -o
docs/transfer_stylised.png``): the target is a held-out ICT identity's face crop (seed ``HELD_OUT_SEED``, the first
identity), and a third row shows the keys carried with the registration's similarity fitted from scale 1 only, as
before session 31 (``template_keys.START_ALWAYS`` off); the last row is ICT's own keys.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from model_core.runtime.facs_names import ARKIT_NAMES
from model_core.evaluation.real_eval import load_real_heads
from model_core.evaluation.render_util import key_rows, write_key_sheet

KEYS = ("jawOpen", "eyeBlinkLeft", "mouthSmileLeft", "browInnerUp", "mouthPucker")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--real", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "real_faces"))
    p.add_argument("--source", default="iphonemocap_johnsmith_head")
    p.add_argument("--target", default="rocketbox_female_adult_02")
    p.add_argument("-o", "--out", default="docs/transfer.png")
    p.add_argument("--size", type=int, default=200)
    p.add_argument("--onto-ict", action="store_true",
                   help="carry the source's keys onto a held-out ICT face crop, now and as before session 31")
    a = p.parse_args(argv)
    if a.onto_ict:
        return onto_ict(a)
    from model_core.runtime import Model
    from model_core.runtime.transfer import transfer_keys
    heads = {h.name: h for h in load_real_heads(a.real)}
    src, tgt = heads[a.source], heads[a.target]
    names = [n for n in ARKIT_NAMES if src.key(n) is not None]
    model = Model.load()
    out = transfer_keys(model, model.prepare(src.verts, src.faces, "Y", "Z"), np.stack([src.key(n) for n in names]),
                        model.prepare(tgt.verts, tgt.faces, "Y", "Z"), names=names)
    rows = key_rows(src.verts, src.faces, {"source": {k: src.key(k) for k in KEYS}}, KEYS, a.size)
    rows += key_rows(tgt.verts, tgt.faces, {
        "carried": {k: out[names.index(k)].astype(np.float64) for k in KEYS},
        "its own": {k: tgt.key(k) for k in KEYS}}, KEYS, a.size)
    print(write_key_sheet(a.out, rows, KEYS, a.size))
    return 0


def onto_ict(a) -> int:
    """``--onto-ict``: the source's keys on a held-out ICT face crop, with and without the fit from the ICT poses."""
    from model_core.dataset.ict import load_ict
    from model_core.evaluation.evaluate import held_out_identities
    from model_core.runtime import Model
    from model_core.runtime import template_keys as tk
    from model_core.runtime.facs_names import ict_to_arkit_deltas
    from model_core.runtime.transfer import transfer_keys
    src = {h.name: h for h in load_real_heads(a.real)}[a.source]
    ict = load_ict()
    v = ict.identity_verts(held_out_identities(1)[0], "face").astype(np.float64) / 100.0     # cm -> m
    f = ict.crop_faces("face")
    own = dict(zip(ARKIT_NAMES, ict_to_arkit_deltas(ict.expression_modes[:, :len(v)].astype(np.float64) / 100.0)))
    model = Model.load()
    pa, pb = model.prepare(src.verts, src.faces, "Y", "Z"), model.prepare(v, f, "Y", "Z")
    carried = {}
    saved = tk.START_ALWAYS
    try:
        for label, on in (("carried", True), ("before", False)):
            tk.START_ALWAYS = on
            model.clear_cache()
            out = transfer_keys(model, pa, src.deltas, pb, names=src.names)
            carried[label] = {k: out[src.names.index(k)].astype(np.float64) for k in KEYS}
    finally:
        tk.START_ALWAYS = saved
    rows = key_rows(src.verts, src.faces, {"source": {k: src.key(k) for k in KEYS}}, KEYS, a.size)
    rows += key_rows(v, f, {**carried, "ICT own": {k: own[k] for k in KEYS}}, KEYS, a.size)
    print(write_key_sheet(a.out, rows, KEYS, a.size))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
