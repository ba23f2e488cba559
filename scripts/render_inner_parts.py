"""Teeth and eyeballs as pieces of the head (docs/inner_parts.png): ICT's own truth ("truth"), our default keys (the
template path: the pieces take ICT's inner parts' motion, ``model_core/runtime/inner_parts.py``) and the decoder's
keys (the pieces follow the proxy's average of the nearest skin, as every key source did before), on the first
held-out ICT identity's full head with its teeth and eyeballs:

    python scripts/render_inner_parts.py [-o docs/inner_parts.png] [--size 260]

Columns: the neutral, then jawOpen 0.5, jawOpen 0.4 + smile, jawOpen 0.3 + funnel, jawOpen 0.4 + stretch, each a
mix of ICT's 53 keys. Teeth yellow, eyeballs pink; front view of the mouth.
"""
from __future__ import annotations

import argparse

import numpy as np

from model_core.dataset.ict import crop_sizes, load_ict
from model_core.evaluation.evaluate import held_out_identities
from model_core.evaluation.render_util import key_rows, write_key_sheet
from model_core.runtime import Model
from model_core.runtime.facs_names import ICT_NAMES

TEETH, EYEBALLS = (17039, 21451), (21451, 24591)      # ICT vertex ranges (../shared/data/README.md)
MIXES = {"jawOpen .5": {"jawOpen": 0.5},
         "jaw .4 + smile": {"jawOpen": 0.4, "mouthSmile_L": 1.0, "mouthSmile_R": 1.0},
         "jaw .3 + funnel": {"jawOpen": 0.3, "mouthFunnel": 1.0},
         "jaw .4 + stretch": {"jawOpen": 0.4, "mouthStretch_L": 1.0, "mouthStretch_R": 1.0}}


def head_with_pieces(ict):
    """(verts (N, 3) cm, faces (F, 3), idx (N,) ICT vertex of each, true deltas (53, N, 3) cm)."""
    idx, faces = ict.part_faces([(0, crop_sizes("full")[0]), (TEETH[0], EYEBALLS[1])])
    return ict.identity_verts(held_out_identities(1)[0])[idx], faces, idx, ict.expression_modes[:, idx]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-o", "--out", default="docs/inner_parts.png")
    p.add_argument("--size", type=int, default=260)
    a = p.parse_args(argv)
    verts, faces, idx, true = head_with_pieces(load_ict())
    model = Model.load()
    pm = model.prepare(verts, faces, "Y", "Z")
    sources = {"truth": true.astype(np.float64)}
    for keys, label in (("auto", "ours"), ("decoder", "decoder")):
        sources[label] = model.facs_basis(pm, names="ict", keys=keys)[1].astype(np.float64)
    sets = {label: {mix: sum(w * d[ICT_NAMES.index(k)] for k, w in ws.items()) for mix, ws in MIXES.items()}
            for label, d in sources.items()}
    colors = np.full((len(verts), 3), 0.8)
    colors[(idx >= TEETH[0]) & (idx < TEETH[1])] = (1.0, 0.95, 0.6)
    colors[(idx >= EYEBALLS[0]) & (idx < EYEBALLS[1])] = (0.95, 0.65, 0.65)
    rows = key_rows(verts, faces, sets, list(MIXES), a.size, colors=colors, bounds=(-3.5, 3.5, -6.0, 1.0))
    print(write_key_sheet(a.out, rows, list(MIXES), a.size))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
