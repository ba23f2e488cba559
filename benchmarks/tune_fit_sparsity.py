"""Choose ``Model.fit_sparsity`` (the sparsity penalty of the fitted inverse rig) on held-out data:
``python benchmarks/tune_fit_sparsity.py [--weights W] [--mus 0,0.005,0.01,0.02,0.05,0.1]``; results in
benchmarks/README.md.

Data: ICT identities from the evaluation's held-out stream, indices 10.. (the evaluation table uses 0..3,
the add-on tests use the demo asset), on ICT's own topology and on one remeshed topology; the 53 single
shapes and sparse random combinations from a seed the evaluation does not use. Prints the inverse-rig
MAE (mean |w - truth| over the 53 weights) and the worst frame's MAE per mu.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from model_core.evaluation.evaluate import expression_set, held_out_identities  # noqa: E402
from model_core.dataset.ict import load_ict  # noqa: E402
from model_core.dataset.remesh import random_topology  # noqa: E402
from model_core.runtime import Model  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", default=None)
    p.add_argument("--mus", default="0,0.01,0.02,0.05,0.1,0.2")
    p.add_argument("--identities", type=int, default=2)
    p.add_argument("--random", type=int, default=30)
    p.add_argument("--seed", type=int, default=4242)
    a = p.parse_args(argv)
    mus = [float(m) for m in a.mus.split(",")]
    ict = load_ict()
    model = Model.load(a.weights)
    rng = np.random.default_rng(a.seed)
    W = expression_set(rng, a.random)
    ids = held_out_identities(10 + a.identities)[10:]
    topos = [("ict full", "full", None), ("remeshed face", "face", random_topology(ict, "face", 5000, rng))]
    res = {m: [] for m in mus}
    t0 = time.time()
    for name, crop, topo in topos:
        for c in ids:
            v = ict.identity_verts(c, crop)
            f = ict.crop_faces(crop)
            d = np.stack([ict.expression_deltas(w, crop) for w in W])
            if topo is not None:
                v, f = topo.positions(v), topo.faces
                d = np.stack([topo.positions(x) for x in d])
            pm = model.prepare(v, f)
            for m in mus:
                z = model.expression(v[None] + d, pm, sparsity=m)[:, :53]
                res[m].append(np.abs(z - W))
    print(f"{len(W)} expressions x {len(ids)} identities x {len(topos)} topologies ({time.time() - t0:.0f} s)")
    # 'active' = error on the weights that are non-zero in the truth (a fit that zeroes everything scores
    # well on the plain MAE of sparse truths, badly here); 'zero code' = the all-zero answer's MAE
    act = W > 0
    print(f"all-zero answer: rig MAE {W.mean():.4f}, active-key MAE {W[act].mean():.4f}")
    print("| mu | rig MAE | singles | combos | active-key MAE | worst frame |")
    print("|---|---|---|---|---|---|")
    for m in mus:
        e = np.stack(res[m])                                            # (cases, B, 53)
        fr = e.mean(2)
        print(f"| {m:g} | {fr.mean():.4f} | {fr[:, :53].mean():.4f} | {fr[:, 53:].mean():.4f} | "
              f"{e[:, act].mean():.4f} | {fr.max():.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
