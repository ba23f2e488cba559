"""Teeth and eyeballs as pieces of the head (docs/inner_parts.png): ICT's own truth ("truth"), our default keys (the
template path: the pieces take ICT's inner parts' motion, ``model_core/runtime/inner_parts.py``) and the decoder's
keys (the pieces follow the proxy's average of the nearest skin, as every key source did before), on the first
held-out ICT identity's full head with its teeth and eyeballs:

    python scripts/render_inner_parts.py [-o docs/inner_parts.png] [--size 260]

Columns: the neutral, then jawOpen 0.5, jawOpen 0.4 + smile, jawOpen 0.3 + funnel, jawOpen 0.4 + stretch, each a
mix of ICT's 53 keys. Teeth yellow, eyeballs pink; front view of the mouth.

With ``--transfer`` (docs/transfer_pieces.png): Transfer Shape Keys from a source without pieces (the first held-out
identity's skin alone) onto the second's skin Voronoi-remeshed (8k) with ICT's teeth and eyeballs: the truth, before
(``set_session27_pieces``: the pieces follow the nearest skin, the eyeballs the lids) and now
(``runtime/jaw_pieces.py``); the last column a blink with jawOpen 0.3.

With ``--makehuman`` (docs/makehuman_pieces.png): the generated keys on MakeHuman's head with its own teeth rows,
tongue and eyeballs (tests/data/makehuman_head.npz), before (``set_session27_pieces``) and now, front view of the
mouth; upper teeth yellow, lower teeth green, tongue red.

With ``--makehuman-lids`` (docs/makehuman_lids.png): the same head's left eye, eyeball pink, in its blink (1 and
0.6) and squint, before the pocket took the lids' backs in (``template_keys.POCKET_BACK`` None: the eyeball shows
through the closed lid) and now.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from model_core.dataset.ict import crop_sizes, load_ict
from model_core.dataset.remesh import make_topology
from model_core.evaluation.evaluate import held_out_identities
from model_core.evaluation.render_util import key_rows, write_key_sheet
from model_core.runtime import Model
from model_core.runtime import inner_parts, template_keys, transfer
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


def set_session27_pieces(on: bool, model=None) -> None:
    """The pieces' rules of session 28 on (True) or off (False: as in session 27); ``model``'s cache cleared."""
    transfer.JAW_PIECES = inner_parts.CLOSED_RIGID = inner_parts.RIGID_VOTES = on
    inner_parts.SOCKET_ALONE = 0.95 if on else inner_parts.SOCKET_SHARE
    if model is not None:
        model.clear_cache()


def makehuman_sheet(model, out: str, size: int) -> str:
    """The ``--makehuman`` sheet; returns write_key_sheet's line."""
    d = np.load(Path(__file__).resolve().parents[1] / "tests" / "data" / "makehuman_head.npz")
    verts = d["verts"].astype(np.float64)
    mixes = {"jawOpen .6": {"jawOpen": 0.6}, "jawOpen 1": {"jawOpen": 1.0},
             "jaw .4 + smile": {"jawOpen": 0.4, "mouthSmile_L": 1.0, "mouthSmile_R": 1.0},
             "jaw .3 + funnel": {"jawOpen": 0.3, "mouthFunnel": 1.0}}
    sets = {}
    for on, label in ((False, "before"), (True, "now")):
        set_session27_pieces(on, model)
        keys = model.facs_basis(model.prepare(verts, d["faces"], "Y", "Z"), "ict", keys="auto")[1].astype(np.float64)
        sets[label] = {mix: sum(w * keys[ICT_NAMES.index(k)] for k, w in ws.items()) for mix, ws in mixes.items()}
    colors = np.full((len(verts), 3), 0.8)
    for group, rgb in (("upper_teeth", (1.0, 0.9, 0.2)), ("lower_teeth", (0.2, 0.8, 0.2)), ("tongue", (0.9, 0.2, 0.2))):
        colors[d[group]] = rgb
    cx, cy = float(verts[d["eyes"], 0].mean()), float(verts[d["upper_teeth"], 1].min())
    rows = key_rows(verts, d["faces"], sets, list(mixes), size, colors=colors,
                    bounds=(cx - 3.5, cx + 3.5, cy - 4.5, cy + 3.5))
    return write_key_sheet(out, rows, list(mixes), size)


def makehuman_lids_sheet(model, out: str, size: int) -> str:
    """The ``--makehuman-lids`` sheet; returns write_key_sheet's line."""
    d = np.load(Path(__file__).resolve().parents[1] / "tests" / "data" / "makehuman_head.npz")
    verts = d["verts"].astype(np.float64)
    mixes = {"blink 1": {"eyeBlink_L": 1.0}, "blink .6": {"eyeBlink_L": 0.6}, "squint": {"eyeSquint_L": 1.0}}
    sets, default = {}, template_keys.POCKET_BACK
    try:
        for back, label in ((None, "before"), (default, "now")):
            template_keys.POCKET_BACK = back
            model.clear_cache()
            keys = model.facs_basis(model.prepare(verts, d["faces"], "Y", "Z"), "ict",
                                    keys="auto")[1].astype(np.float64)
            sets[label] = {mix: sum(w * keys[ICT_NAMES.index(k)] for k, w in ws.items()) for mix, ws in mixes.items()}
    finally:
        template_keys.POCKET_BACK = default
        model.clear_cache()
    colors = np.full((len(verts), 3), 0.8)
    colors[d["eyes"]] = (1.0, 0.7, 0.75)
    eye = verts[d["eyes"]][verts[d["eyes"], 0] > 0]
    c, r = eye.mean(axis=0), float(np.ptp(eye[:, 0]))
    rows = key_rows(verts, d["faces"], sets, list(mixes), size, colors=colors,
                    bounds=(c[0] - r, c[0] + r, c[1] - 0.6 * r, c[1] + 0.6 * r))
    return write_key_sheet(out, rows, list(mixes), size)


def transfer_sources(ict, model):
    """The ``--transfer`` case: (verts, faces, idx (N,) ICT vertex of each piece vertex, -1 on the remeshed skin,
    {label: (53, N, 3) cm})."""
    skin = crop_sizes("full")[0]
    a, b = (ict.identity_verts(i) for i in held_out_identities(2))
    modes = ict.expression_modes.astype(np.float64)
    sk, sf = ict.part_faces([(0, skin)])
    idx, faces = ict.part_faces([(0, skin), (TEETH[0], EYEBALLS[1])])
    inner = idx >= skin
    topo = make_topology(ict, "full", 8000, "voronoi", 5)
    verts = np.concatenate([topo.positions(b[:skin]), b[idx[inner]]])
    faces = np.concatenate([topo.faces, faces[inner[faces].all(axis=1)] - int((~inner).sum()) + topo.n_verts])
    skin_true = np.stack([topo.positions(b[:skin] + d[:skin]) - topo.positions(b[:skin]) for d in modes])
    sources = {"truth": np.concatenate([skin_true, modes[:, idx[inner]]], axis=1)}
    source = model.prepare(a[sk], sf, "Y", "Z")
    for on, label in ((False, "before"), (True, "now")):
        set_session27_pieces(on, model)
        target = model.prepare(verts, faces, "Y", "Z")
        sources[label] = transfer.transfer_keys(model, source, modes[:, sk], target,
                                                names=list(ICT_NAMES)).astype(np.float64)
    return verts, faces, np.r_[np.full(topo.n_verts, -1), idx[inner]], sources


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-o", "--out", default=None, help="default docs/inner_parts.png, with --transfer "
                                                     "docs/transfer_pieces.png, with --makehuman "
                                                     "docs/makehuman_pieces.png, with --makehuman-lids "
                                                     "docs/makehuman_lids.png")
    p.add_argument("--size", type=int, default=260)
    p.add_argument("--transfer", action="store_true", help="Transfer Shape Keys from a source without pieces")
    p.add_argument("--makehuman", action="store_true", help="MakeHuman's head with its own pieces")
    p.add_argument("--makehuman-lids", action="store_true", help="MakeHuman's blink with its own eyeballs")
    a = p.parse_args(argv)
    model = Model.load()
    if a.makehuman_lids:
        print(makehuman_lids_sheet(model, a.out or "docs/makehuman_lids.png", a.size))
        return 0
    if a.makehuman:
        print(makehuman_sheet(model, a.out or "docs/makehuman_pieces.png", a.size))
        return 0
    if a.transfer:
        mixes = dict(MIXES)
        mixes.pop("jaw .4 + stretch")
        mixes["blink + jaw .3"] = {"eyeBlink_L": 1.0, "eyeBlink_R": 1.0, "jawOpen": 0.3}
        verts, faces, idx, sources = transfer_sources(load_ict(), model)
        sets = {label: {mix: sum(w * d[ICT_NAMES.index(k)] for k, w in ws.items()) for mix, ws in mixes.items()}
                for label, d in sources.items()}
        rows = key_rows(verts, faces, sets, list(mixes), a.size, colors=_colors(idx), bounds=(-4.5, 4.5, -6.0, 4.5))
        print(write_key_sheet(a.out or "docs/transfer_pieces.png", rows, list(mixes), a.size))
        return 0
    verts, faces, idx, true = head_with_pieces(load_ict())
    pm = model.prepare(verts, faces, "Y", "Z")
    sources = {"truth": true.astype(np.float64)}
    for keys, label in (("auto", "ours"), ("decoder", "decoder")):
        sources[label] = model.facs_basis(pm, names="ict", keys=keys)[1].astype(np.float64)
    sets = {label: {mix: sum(w * d[ICT_NAMES.index(k)] for k, w in ws.items()) for mix, ws in MIXES.items()}
            for label, d in sources.items()}
    rows = key_rows(verts, faces, sets, list(MIXES), a.size, colors=_colors(idx), bounds=(-3.5, 3.5, -6.0, 1.0))
    print(write_key_sheet(a.out or "docs/inner_parts.png", rows, list(MIXES), a.size))
    return 0


def _colors(idx):
    """(N, 3) vertex colours: teeth yellow, eyeballs pink, the rest grey (idx (N,) ICT vertex of each)."""
    colors = np.full((len(idx), 3), 0.8)
    colors[(idx >= TEETH[0]) & (idx < TEETH[1])] = (1.0, 0.95, 0.6)
    colors[(idx >= EYEBALLS[0]) & (idx < EYEBALLS[1])] = (0.95, 0.65, 0.65)
    return colors


if __name__ == "__main__":
    raise SystemExit(main())
