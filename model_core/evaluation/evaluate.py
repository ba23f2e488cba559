"""Evaluate exported weights on held-out identities and topologies:
``python -m model_core.evaluation.evaluate [--weights model_core/weights/nfs_v5] [--identities 4] [--seed 1234]``.

Runs the numpy runtime (what users run) on held-out ICT identities (a seed stream never used by
training) on the ICT topology and on remeshed topologies of several densities and crops, for the 53
single FACS shapes and random sparse combinations. Per case:

- rel: mean_v |pred - true displacement| / mean_v |true displacement| (decoder given the true code)
- rel>0.5mm: the same over vertices that move more than 0.5 mm
- mean / p95 error in mm
- e2e rel: end to end - the expression encoder reads the same expression on the ICT generic head
  (the source) and the decoder applies it to the target
- rig MAE: mean |z_GE[:53] - true FACS weights| when inverse-rigging the target's own posed mesh with
  ``expression(method="fit")`` (sparse bounded least squares on the mesh's decoded FACS basis, the default);
  rig MAE enc: the expression encoder alone (the paper's inverse rig); rig act: the fit's mean error on the
  weights that are non-zero in the truth (the plain MAE of sparse truths rewards answering 0: the all-zero
  code scores mean(truth), printed under the table)
- seg acc: skinning argmax vs the transferred region labels
- (a) nearest: nearest-point delta transfer from the ICT generic head after the same normalisation the
  model's decoder uses (canonical frame and, for ``dec_frame='face'`` weights, the face-core frame from the
  model's skinning), displacement rescaled by the size ratio (what a Surface Deform user gets)
- (b) zero: zero displacement, rel = 100 % by definition
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from ..dataset.ict import CROPS, N_EXPRESSION, load_ict
from ..dataset.sampler import MASK_RADIUS_RANGE_CM, face_mask, sample_combination
from ..runtime.proxy import knn_weights

HELD_OUT_SEED = 987_654_321  # identities drawn from this stream are never used by training


def held_out_identities(n: int, seed: int = HELD_OUT_SEED) -> np.ndarray:
    """(n, 100) identity coefficients from the held-out seed stream."""
    return np.random.default_rng(seed).standard_normal((n, 100))


MASK_RADIUS_CM = MASK_RADIUS_RANGE_CM[0]  # the face-mask case: the tightest mask training draws (9 cm)


def face_mask_topology(ict, radius_cm: float = MASK_RADIUS_CM):
    """A face mask: ICT's face-crop triangulation cut to a sphere of ``radius_cm`` around the generic head's nose
    tip (``sampler.face_mask``, no jitter), like a scanned face (no ears, part of the forehead and chin). Not one of
    the bank's crops; models trained with ``--mask-prob`` (nfs_v4 on) have seen random masks of
    ``MASK_RADIUS_RANGE_CM`` (9-15 cm) radius, at least this tight; earlier ones never saw a mask."""
    from ..dataset.remesh import ict_topology
    return face_mask(ict, ict_topology(ict, "face"), radius_cm, kind_suffix=f" mask r{radius_cm:g}cm")


def eval_cases(ict, rng) -> list[tuple[str, str, object]]:
    """(name, crop, topology or None for ICT's own) evaluation topologies, 1k-30k vertices: ICT's own full
    and face crops, five random remeshes of the three training crops, and a face mask (ICT's triangulation)."""
    from ..dataset.remesh import random_topology
    cases = [("ict full", "full", None), ("ict face", "face", None)]
    for crop, n in (("full", 2000), ("full", 8000), ("face", 4000), ("narrow", 1500), ("full", 25000)):
        topo = random_topology(ict, crop, n, rng)
        cases.append((f"{topo.kind} {crop} {topo.n_verts}v", crop, topo))
    mask = face_mask_topology(ict)
    cases.append((f"{mask.kind} {mask.n_verts}v (face mask)", "face", mask))
    return cases


def expression_set(rng, n_random: int) -> np.ndarray:
    """(53 + n_random, 53) FACS weights: every single shape at 1, then sparse random combinations."""
    singles = np.eye(N_EXPRESSION)
    combos = np.zeros((n_random, N_EXPRESSION))
    for r in combos:
        sample_combination(rng, r, weights_first=True)
    return np.concatenate([singles, combos])


def nearest_transfer(model, pm, gen_pm, gen_disp) -> np.ndarray:
    """Baseline (a): each target vertex takes the displacement of its nearest generic-head vertex after the
    same normalisation the model's decoder uses (canonical frame, then ``model.decoder_frame``), rescaled by
    the ratio of the two frames' sizes.

    Args: model (runtime Model); pm, gen_pm: the prepared target and generic head (single-island meshes);
    gen_disp (B, n, 3) generic-head displacements. Returns: (B, N, 3) displacements of the target (its units)."""
    for p in (pm, gen_pm):
        if len(p.face_index) != p.n_verts:
            raise ValueError("nearest_transfer needs single-island meshes (every vertex in the face island)")
    (a_t, b_t), (a_g, b_g) = model.decoder_frame(pm), model.decoder_frame(gen_pm)
    idx, _ = knn_weights(pm.canon * a_t + b_t, gen_pm.canon * a_g + b_g, 1)
    return gen_disp[:, idx[:, 0]] * ((pm.normalization.size / a_t) / (gen_pm.normalization.size / a_g))


def relative_error(pred: np.ndarray, true: np.ndarray) -> float:
    """mean |pred - true| / mean |true| over every vector of two (..., 3) fields (pooled over the leading axes,
    e.g. (K, N, 3) keys): the relative error of the tables in docs/model.md and benchmarks/."""
    return float(np.linalg.norm(pred - true, axis=-1).mean() / max(float(np.linalg.norm(true, axis=-1).mean()), 1e-30))


def _metrics(pred: np.ndarray, true: np.ndarray) -> dict:
    """pred, true (B, N, 3) cm -> summary numbers."""
    err = np.linalg.norm(pred - true, axis=-1)
    mag = np.linalg.norm(true, axis=-1)
    moving = mag > 0.05
    return {"rel": err.mean() / max(mag.mean(), 1e-12),
            "rel_moving": err[moving].mean() / max(mag[moving].mean(), 1e-12) if moving.any() else float("nan"),
            "mean_mm": err.mean() * 10.0, "p95_mm": float(np.percentile(err, 95)) * 10.0}


def evaluate(weights=None, n_identities: int = 4, n_random: int = 20, seed: int = 1234, verbose=True) -> list[dict]:
    from ..runtime import Model
    from ..runtime.regions import load_ict_labels
    ict = load_ict()
    labels_all = load_ict_labels()
    model = Model.load(weights)
    rng = np.random.default_rng(seed)
    cases = eval_cases(ict, rng)
    ids = held_out_identities(n_identities)
    W = expression_set(rng, n_random)
    z_true = np.zeros((len(W), model.config.z_dim), np.float32)
    z_true[:, :53] = W
    rows = []
    for name, crop, topo in cases:
        n_crop = CROPS[crop][0]
        gen_v, gen_f = ict.head(None, None, crop)
        gen_pm = model.prepare(gen_v, gen_f)
        gen_disp = np.stack([ict.expression_deltas(w, crop) for w in W])                 # (B, n, 3)
        z_src = model.expression(gen_v[None] + gen_disp, gen_pm)
        acc = {k: [] for k in ("rel", "rel_moving", "mean_mm", "p95_mm", "e2e", "nearest", "rig", "rig_active",
                                "rig_enc", "seg", "n")}
        t0 = time.time()
        for c in ids:
            v_crop = ict.identity_verts(c, crop)
            true_crop = gen_disp  # ICT expressions do not depend on identity
            if topo is None:
                v, f, true, lab = v_crop, ict.crop_faces(crop), true_crop, labels_all[:n_crop]
            else:
                v, f = topo.positions(v_crop), topo.faces
                true = np.stack([topo.positions(d) for d in true_crop])
                lab = topo.labels(labels_all[:n_crop])
            pm = model.prepare(v, f)
            pred = np.asarray(model.decode(pm, z_true)) - v[None]
            m = _metrics(pred, true)
            for k in ("rel", "rel_moving", "mean_mm", "p95_mm"):
                acc[k].append(m[k])
            pred_e2e = np.asarray(model.decode(pm, z_src)) - v[None]
            acc["e2e"].append(_metrics(pred_e2e, true)["rel"])
            rig = model.expression(v[None] + true, pm)[:, :53]
            acc["rig"].append(np.abs(rig - W).mean())
            acc["rig_active"].append(np.abs(rig - W)[W > 0].mean())
            rig_enc = model.expression(v[None] + true, pm, method="encoder")[:, :53]
            acc["rig_enc"].append(np.abs(rig_enc - W).mean())
            probs, _ = model.skinning(pm)
            acc["seg"].append((probs.argmax(1) == lab).mean())
            # (a) nearest-point delta transfer from the generic head, same canonical normalisation
            acc["nearest"].append(_metrics(nearest_transfer(model, pm, gen_pm, gen_disp), true)["rel"])
            acc["n"].append(len(v))
        row = {"case": name, "verts": int(np.mean(acc["n"])), **{k: float(np.mean(v)) for k, v in acc.items() if k != "n"},
               "rig_zero": float(W.mean()), "seconds": time.time() - t0}
        rows.append(row)
        if verbose:
            print(f"  {name}: rel {row['rel']:.3f}, nearest {row['nearest']:.3f} ({row['seconds']:.0f}s)", flush=True)
    return rows


def pitch_matrix(degrees: float) -> np.ndarray:
    """(3, 3) rotation by ``degrees`` about +X (the ears' axis): positive turns +Y toward +Z (with +Z forward: the
    head nods, its face turned down)."""
    a = np.deg2rad(float(degrees))
    return np.array([[1.0, 0.0, 0.0], [0.0, np.cos(a), -np.sin(a)], [0.0, np.sin(a), np.cos(a)]])


def tilt_rows(weights=None, angles=(0.0, 1.0, 3.0, 5.0, 10.0)) -> list[dict]:
    """Sensitivity to a head that is not upright: one held-out identity, ICT full crop, the 53 single shapes,
    the head (and its true displacements) pitched by each angle (degrees, about the left-right axis through
    the centroid) before the model sees it. Returns [{"angle", "rel", "template", "nearest"}]: rel the decoder's
    keys (what ``auto`` picks on this ICT face), template the template path's (``keys='template'``), nearest (a)
    on the same tilted head, whose generic source stays upright."""
    from ..runtime import Model
    ict = load_ict()
    model = Model.load(weights)
    v0, f = ict.identity_verts(held_out_identities(1)[0], "full"), ict.crop_faces("full")
    ctr = v0.mean(0)
    W = np.eye(53)
    z = np.zeros((53, model.config.z_dim), np.float32)
    z[:, :53] = W
    d0 = np.stack([ict.expression_deltas(w, "full") for w in W])
    gen_pm = model.prepare(*ict.head(None, None, "full"))
    rows = []
    for ang in angles:
        rot = pitch_matrix(ang)
        v = (v0 - ctr) @ rot.T + ctr
        true = d0 @ rot.T
        pm = model.prepare(v, f)
        pred = np.asarray(model.decode(pm, z)) - v[None]
        tpl = model.facs_basis(pm, "ict", keys="template")[1].astype(np.float64)
        near = nearest_transfer(model, pm, gen_pm, d0) @ rot.T
        rows.append({"angle": float(ang), "rel": _metrics(pred, true)["rel"], "template": _metrics(tpl, true)["rel"],
                     "nearest": _metrics(near, true)["rel"]})
    return rows


def format_table(rows: list[dict]) -> str:
    head = ("| case | verts | rel | rel >0.5mm | mean mm | p95 mm | e2e rel | rig MAE | rig act | rig MAE enc | "
            "seg acc | (a) nearest rel | (b) zero rel | rel vs (a) |")
    lines = [head, "|" + "---|" * 14]
    for r in rows:
        lines.append(f"| {r['case']} | {r['verts']} | {r['rel']:.1%} | {r['rel_moving']:.1%} | {r['mean_mm']:.3f} | "
                     f"{r['p95_mm']:.3f} | {r['e2e']:.1%} | {r['rig']:.3f} | {r.get('rig_active', float('nan')):.3f} | "
                     f"{r['rig_enc']:.3f} | {r['seg']:.1%} | "
                     f"{r['nearest']:.1%} | 100.0% | {r['rel'] / max(r['nearest'], 1e-12) - 1:+.0%} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m model_core.evaluation.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", default=None, help="weights stem or .npz (default: the committed weights)")
    p.add_argument("--identities", type=int, default=4, help="held-out identities per case")
    p.add_argument("--random", type=int, default=20, help="random FACS combinations (besides the 53 singles)")
    p.add_argument("--seed", type=int, default=1234, help="seed of topologies and expressions")
    p.add_argument("--out", help="also write the markdown table to this file")
    p.add_argument("--json", help="also write the rows (numbers) to this JSON file")
    p.add_argument("--tilt", help="instead: relative error of a held-out head pitched by these angles (degrees, "
                                  "comma-separated), e.g. 0,1,3,5,10; with --real, the artist-made heads pitched")
    p.add_argument("--real", help="instead: score the keys on artist-made heads with their own ARKit keys, e.g. "
                                  "../shared/data/real_faces (model_core/evaluation/real_eval.py)")
    a = p.parse_args(argv)
    if a.tilt:
        angles = [float(x) for x in a.tilt.split(",")]
        if a.real:                      # the artist-made heads pitched instead
            from .real_eval import format_tilt_real, load_real_heads, tilt_real
            print(format_tilt_real(tilt_real(load_real_heads(a.real), angles, a.weights)))
            return 0
        rows = tilt_rows(a.weights, angles)
        print("| head pitched by | rel (model) | template keys rel | (a) nearest rel |\n|---|---|---|---|")
        for r in rows:
            print(f"| {r['angle']:g} deg | {r['rel']:.1%} | {r['template']:.1%} | {r['nearest']:.1%} |")
        return 0
    if a.real:
        from .real_eval import format_real, run_real
        t = time.time()
        results = run_real(a.real, a.weights)
        table = format_real(results)
        print(table)
        print(f"evaluated in {time.time() - t:.0f} s: python -m model_core.evaluation.evaluate --real {a.real}")
        if a.out:
            with open(a.out, "w") as fh:
                fh.write(table + "\n")
        if a.json:
            import json
            with open(a.json, "w") as fh:
                json.dump({"command": vars(a), "heads": results}, fh, indent=1, default=float)
        return 0
    t = time.time()
    rows = evaluate(a.weights, a.identities, a.random, a.seed)
    table = format_table(rows)
    print(table)
    print(f"all-zero FACS answer on this expression set: rig MAE {rows[0]['rig_zero']:.3f}")
    print(f"evaluated in {time.time() - t:.0f} s: python -m model_core.evaluation.evaluate --identities {a.identities} "
          f"--random {a.random} --seed {a.seed}" + (f" --weights {a.weights}" if a.weights else ""))
    if a.out:
        with open(a.out, "w") as fh:
            fh.write(table + "\n")
    if a.json:
        import json
        with open(a.json, "w") as fh:
            json.dump({"command": vars(a), "rows": rows}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
