"""The *Which keys* table of docs/model.md: on the evaluation table's topologies (``evaluate.eval_cases``, two
held-out ICT identities), the relative error of the 53 single keys against ICT's truth for ``keys='auto'``,
``'template'`` and ``'decoder'``, and the decoder's share in auto (``Model.auto_face_keys``).

``OPENBLAS_NUM_THREADS=1 python scripts/auto_keys_table.py [--identities 2] [--seed 1234]`` (~2 min). The template
column is scored against ICT's keys with their tails trimmed as the template path trims its own
(``template_keys.trim_tails``, ``Model.template_tail``), the others against ICT's keys as they are. Last,
the range of the decoder/template disagreements ``auto`` judged (``Model.auto_disagreement``) over all the faces."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model_core.dataset.ict import load_ict                          # noqa: E402
from model_core.evaluation.evaluate import eval_cases, held_out_identities, relative_error as rel   # noqa: E402
from model_core.runtime import Model                                 # noqa: E402
from model_core.runtime.model_keys import TEMPLATE_TAIL              # noqa: E402
from model_core.runtime.template_keys import trim_tails              # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--identities", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1234, help="the topologies' seed (evaluate's default)")
    a = ap.parse_args(argv)
    ict = load_ict()
    model = Model.load()
    cases = eval_cases(ict, np.random.default_rng(a.seed))
    ids = held_out_identities(a.identities)
    print("| case | " + " | ".join(f"identity {i + 1}" for i in range(len(ids))) + " |")
    print("|---|" + "---|" * len(ids))
    seen = []
    for name, crop, topo in cases:
        modes = ict.expression_modes[:, :len(ict.identity_verts(ids[0], crop))].astype(np.float64)
        cells = []
        for c in ids:
            v = ict.identity_verts(c, crop).astype(np.float64)
            f = ict.crop_faces(crop)
            true = modes
            if topo is not None:
                v, f = topo.positions(v), topo.faces
                true = np.stack([topo.positions(d) for d in modes])
            model.clear_cache()
            pm = model.prepare(v, f, "Y", "Z")
            got = {k: model.facs_basis(pm, "ict", keys=k)[1].astype(np.float64) for k in ("auto", "template", "decoder")}
            share = model.auto_face_keys(pm)[1]
            seen.append(model.auto_disagreement(pm))
            tail = np.full(len(v), TEMPLATE_TAIL)
            tail[pm.face_index] = model.template_tail(pm)       # as the template path trims (the ears more)
            trimmed = trim_tails(true.copy(), tail)
            cells.append(f"{100 * rel(got['auto'], true):.1f} / {100 * rel(got['template'], trimmed):.1f} "
                         f"({100 * rel(got['template'], true):.1f}) / {100 * rel(got['decoder'], true):.1f} % "
                         f"({share:.2f})")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    print(f"\ndisagreement over {len(seen)} faces: " + "; ".join(
        f"{k} {100 * min(d[k] for d in seen):.1f}-{100 * max(d[k] for d in seen):.1f} %" for k in seen[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
