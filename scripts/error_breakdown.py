"""Where the decoder's error is: by region, by expression, on barely moving vertices; how much of it is a wrong
amplitude per identity (and whether that follows head size); whether it is noise that surface smoothing removes.

    python scripts/error_breakdown.py [--weights model_core/weights/nfs_v5] [--identities 12] [--crop full]
                                      [--verts 8000]

Held-out identities (``evaluate.held_out_identities``), the evaluation's expression set (53 singles and
``--random`` sparse combinations, seed ``--seed``), the numpy runtime, the decoder given the true FACS codes.
``--verts N``: a random remesh of the crop with about N vertices instead of ICT's own topology.
docs/model.md (*What limits the decoder*) reports its output. Needs ICT-FaceKit (NFS_ICT_DIR).
"""
from __future__ import annotations

import argparse
import sys

import numpy as np


MOVING_CM = 0.05            # "barely moving": mean |true displacement| over the expression set below 0.5 mm
SMOOTH_STEPS = (1, 2, 4, 8)


def neighbour_average(n_verts: int, faces: np.ndarray):
    """A step of surface smoothing d <- (d + mean of the edge neighbours' d) / 2 for (B, n_verts, 3) fields."""
    from model_core.runtime.mesh import unique_edges
    e = unique_edges(faces)
    deg = np.maximum(np.bincount(e.ravel(), minlength=n_verts), 1).astype(np.float64)

    def step(d: np.ndarray) -> np.ndarray:
        s = np.zeros_like(d)
        np.add.at(s, (slice(None), e[:, 0]), d[:, e[:, 1]])
        np.add.at(s, (slice(None), e[:, 1]), d[:, e[:, 0]])
        return 0.5 * d + 0.5 * s / deg[None, :, None]
    return step


def breakdown(weights=None, identities: int = 12, n_random: int = 15, seed: int = 1234, crop: str = "full",
              verts: int = 0) -> dict:
    """The measurements (see the module docstring). Returns a dict: kind (topology), per_id (I, 4) rows of
    (size vs the generic head, relative error, relative error at the head's least-squares amplitude, that
    amplitude), smooth {steps: mean relative error}, err_v / mag_v (N,) summed over expressions and heads,
    err_b / mag_b (B,) summed over vertices and heads, labels (N,), region_names, expression_names."""
    from model_core.evaluation.evaluate import expression_set, held_out_identities
    from model_core.dataset.ict import CROPS, load_ict
    from model_core.runtime.mesh import face_areas
    from model_core.runtime.regions import load_ict_labels
    from model_core.dataset.remesh import random_topology
    from model_core.runtime import Model

    ict, labels = load_ict(), load_ict_labels()
    model = Model.load(weights)
    rng = np.random.default_rng(seed)
    W = expression_set(rng, n_random)
    codes = np.zeros((len(W), model.config.z_dim), np.float32)
    codes[:, :53] = W
    gen_disp = np.stack([ict.expression_deltas(w, crop) for w in W])             # (B, n, 3) cm
    f_ict = ict.crop_faces(crop)
    lab = labels[:CROPS[crop][0]]
    topo = random_topology(ict, crop, verts, rng) if verts else None
    if topo is not None:
        f_ict, lab = topo.faces, topo.labels(lab)
        gen_disp = np.stack([topo.positions(d) for d in gen_disp])
    size_gen = np.sqrt(face_areas(ict.identity_verts(None, crop), ict.crop_faces(crop)).sum())

    err_sum, mag_sum, per_id = 0.0, 0.0, []
    smooth_rel = {k: [] for k in SMOOTH_STEPS}
    for c in held_out_identities(identities):
        v = ict.identity_verts(c, crop)
        size = np.sqrt(face_areas(v, ict.crop_faces(crop)).sum()) / size_gen
        if topo is not None:
            v = topo.positions(v)
        pred = np.asarray(model.decode(model.prepare(v, f_ict), codes)) - v[None]
        err, mag = np.linalg.norm(pred - gen_disp, axis=-1), np.linalg.norm(gen_disp, axis=-1)   # (B, N)
        err_sum, mag_sum = err_sum + err, mag_sum + mag
        amp = float((pred * gen_disp).sum() / (pred * pred).sum())      # least-squares amplitude of this head
        per_id.append((size, err.mean() / mag.mean(),
                       np.linalg.norm(amp * pred - gen_disp, axis=-1).mean() / mag.mean(), amp))
        step, d = neighbour_average(len(v), f_ict), pred
        for k in range(1, max(SMOOTH_STEPS) + 1):
            d = step(d)
            if k in smooth_rel:
                smooth_rel[k].append(np.linalg.norm(d - gen_disp, axis=-1).mean() / mag.mean())
    return {"kind": f"{topo.kind} {topo.n_verts}v" if topo is not None else "ICT topology",
            "per_id": np.array(per_id), "smooth": {k: float(np.mean(v)) for k, v in smooth_rel.items()},
            "err_v": err_sum.sum(0), "mag_v": mag_sum.sum(0), "err_b": err_sum.sum(1), "mag_b": mag_sum.sum(1),
            "labels": lab, "region_names": model.region_names, "expression_names": model.expression_names,
            "n_expressions": len(W)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", default=None, help="weights stem or .npz (default: the bundled weights)")
    p.add_argument("--identities", type=int, default=12)
    p.add_argument("--random", type=int, default=15, help="random FACS combinations besides the 53 singles")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--crop", default="full", choices=("full", "face", "narrow"))
    p.add_argument("--verts", type=int, default=0, help="remesh to about this many vertices (0: ICT topology)")
    a = p.parse_args(argv)
    r = breakdown(a.weights, a.identities, a.random, a.seed, a.crop, a.verts)
    ids, lab = r["per_id"], r["labels"]
    print(f"{a.crop} crop, {r['kind']}, {a.identities} held-out identities, {r['n_expressions']} expressions")
    print(f"relative error {ids[:, 1].mean():.1%}; with each head's least-squares amplitude {ids[:, 2].mean():.1%} "
          f"(amplitudes {ids[:, 3].min():.3f}-{ids[:, 3].max():.3f}; correlation with head size "
          f"{np.corrcoef(ids[:, 0], ids[:, 3])[0, 1]:+.2f}, sizes {ids[:, 0].min():.3f}-{ids[:, 0].max():.3f} x generic)")
    print("surface smoothing of the decoded field: " + ", ".join(
        f"{k} step{'s' * (k > 1)} {v:.1%}" for k, v in r["smooth"].items()))
    e_v, m_v = r["err_v"], r["mag_v"]                                              # (N,)
    still = m_v / (a.identities * r["n_expressions"]) < MOVING_CM
    print(f"vertices moving < {MOVING_CM * 10:g} mm on average: {still.mean():.0%} of vertices, "
          f"{e_v[still].sum() / e_v.sum():.0%} of the error, {m_v[still].sum() / m_v.sum():.1%} of the motion")
    print("\n| region | vertices | share of error | share of motion | rel |\n|---|---|---|---|---|")
    for k, name in enumerate(r["region_names"]):
        m = lab == k
        if m.any():
            print(f"| {name} | {m.sum()} | {e_v[m].sum() / e_v.sum():.1%} | {m_v[m].sum() / m_v.sum():.1%} | "
                  f"{e_v[m].sum() / max(m_v[m].sum(), 1e-12):.1%} |")
    e_b, m_b = r["err_b"] / len(e_v), r["mag_b"] / len(e_v)                        # (B,) per vertex
    print("\nlargest errors among the 53 singles (mean mm of error / of motion, rel):")
    for k in np.argsort(-e_b[:53])[:8]:
        print(f"  {r['expression_names'][k]}: {e_b[k] / a.identities * 10:.3f} / "
              f"{m_b[k] / a.identities * 10:.3f} mm, {e_b[k] / m_b[k]:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
