"""Benchmark: the numpy inference runtime vs the torch model on the same inputs, in the same run.

Run from the repository root (torch optional; without it only the numpy numbers are printed)::

    .venv/py311/bin/python benchmarks/bench_runtime.py [--repeat 3] [--no-readme]
    .venv/py313/bin/python benchmarks/bench_runtime.py --no-readme      # numpy 2.x, no torch

Weights: a seeded random FaceSkinningNet with the default ModelConfig (R = len(REGION_NAMES)), exported with
``export.export_model`` (or, without torch, ``runtime.random_weights``); the cost does not depend on the values.
Cases (ICT-FaceKit meshes, cm):

- skinning: the whole 26,719-vertex ICT mesh (head, eyes, teeth, ... : many islands) and the narrow crop
  subdivided once (26,534 vertices, one island): cold ``prepare`` (normalisation, islands, proxy, operator)
  + ``skinning``. Torch: the same numpy prepare + the torch skinning encoder / softmax / skinning MLP.
- facs_basis: the 53 ICT shapes of the 11,248-vertex full-head crop. Torch: decode of the 53 one-hot codes in
  chunks of 8 codes, under no_grad (same decoder, batched).
- expression: frames/s of ``expression`` (default ``method='fit'``: the sparse bounded fit, basis cached) on
  the 11,248-vertex crop, one frame per call (latency) and 32 per call (retarget). Torch: the same numpy
  features + the torch expression encoder (the paper's inverse rig), for scale.

Peak memory: tracemalloc peak of each numpy stage (numpy's allocations are traced) and the process's
ru_maxrss at the end. Targets (issue 5): skinning <= 2 s at 25k, facs_basis <= 10 s at 10k, expression >= 30
frames/s at 10k. Without ``--no-readme`` the results replace this Python version's "Runtime (numpy
inference)" section of benchmarks/README.md (appended when missing; other sections are left alone).
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from bench_common import publish

ROOT = Path(__file__).resolve().parents[1]

# one README section per Python version (py311: numpy 1.26 + torch; py313: numpy 2.x, no torch)
TAG = f"py{sys.version_info[0]}.{sys.version_info[1]}"
INTRO = "\n".join([  # the README section's paragraph
    "Same weights (seeded random init, default ModelConfig), same inputs, same run; best of N. The numpy",
    "columns are what the Blender add-on runs; torch is the training-side reference. Machine shared with",
    "other jobs (see the load average), so absolute times are noisy; ratios are from the same run. Small",
    "matrix products (the encoders) suffer most from a loaded machine: OpenBLAS's threads wait on each other",
    "(with OPENBLAS_NUM_THREADS=1 one expression frame took 3 ms on both numpys, vs 5-16 ms with 2 threads",
    "at load average 5).",
])


def best(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def traced(fn):
    tracemalloc.start()
    tracemalloc.reset_peak()
    t = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return dt, peak / 2**20, out


def subdivide(v, f):
    """Midpoint subdivision: (verts (N + E, 3), faces (4F, 3))."""
    from model_core.runtime.mesh import subdivide_midpoint
    return subdivide_midpoint(v, f)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-readme", action="store_true", help="print only; do not update benchmarks/README.md")
    args = ap.parse_args()
    load0 = os.getloadavg()[0]

    from model_core.runtime.config import ModelConfig
    from model_core.dataset.ict import load_ict
    from model_core.runtime.mesh import triangulate_polygons
    from model_core.runtime.regions import REGION_NAMES
    from model_core.runtime import Model, random_weights, save_weights

    try:
        import torch
    except ImportError:
        torch = None
    cfg = ModelConfig(n_regions=len(REGION_NAMES))
    tmp = Path(tempfile.mkdtemp(prefix="bench_runtime_"))
    net = None
    if torch is not None:
        from model_core.training.export import export_model
        from model_core.training.network import FaceSkinningNet
        torch.manual_seed(0)
        net = FaceSkinningNet(cfg).eval()
        export_model(net, tmp / "w")
    else:
        save_weights(tmp / "w", random_weights(cfg, 0), config=cfg)
    model = Model.load(tmp / "w.npz")
    t32 = (lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)) if torch else None

    ict = load_ict()
    whole_f = triangulate_polygons(ict.corner_indices, ict.face_sizes)[0]
    whole_v = ict.neutral.astype(np.float64)
    sub_v, sub_f = subdivide(*ict.head(None, None, "narrow"))
    full_v, full_f = ict.head(None, None, "full")
    rows = []   # (case, numpy s, torch s or None, note)

    # ---------------------------------------------------------------- skinning at ~25k
    for name, (v, f) in (("ICT whole mesh", (whole_v, whole_f)), ("narrow crop subdivided", (sub_v, sub_f))):
        preps = []

        def np_skin():
            model.clear_cache()
            pm = model.prepare(v, f)
            preps.append(pm.prepare_seconds)
            return pm, model.skinning(pm)
        t_np, (pm, _) = best(np_skin, args.repeat)
        t_prep = min(preps)
        _, peak, _ = traced(np_skin)   # tracemalloc slows numpy down: its time is not reported
        t_torch = None
        if torch is not None:
            def torch_skin():
                model.clear_cache()
                p = model.prepare(v, f)
                op = tuple(t32(a) for a in p.op)
                with torch.no_grad():
                    logits = net.skinning_logits(t32(p.feats_n), op, torch.as_tensor(p.knn_idx), t32(p.knn_w))
                    return net.skin_weights(torch.softmax(logits, -1))
            t_torch, _ = best(torch_skin, args.repeat)
        rows.append((f"skinning, {name} ({len(v):,} v, {pm.n_islands} island(s)): prepare + skinning", t_np,
                     t_torch, f"prepare {t_prep:.2f} s; numpy peak {peak:.0f} MiB; target <= 2 s"))

    # ---------------------------------------------------------------- facs basis at 10k
    pm = model.prepare(full_v, full_f)
    model.skinning(pm)
    model.identity(pm)

    def np_facs():
        pm._cache.clear()
        return model.facs_basis(pm)
    t_np, _ = best(np_facs, max(1, args.repeat - 1))
    _, peak, _ = traced(np_facs)
    t_torch = None
    if torch is not None:
        def torch_facs():
            op = tuple(t32(a) for a in pm.op)
            with torch.no_grad():
                z_id = net.identity(t32(pm.feats_n), op)
                logits = net.skinning_logits(t32(pm.feats_n), op, torch.as_tensor(pm.knn_idx), t32(pm.knn_w))
                w = net.skin_weights(torch.softmax(logits, -1))
                eye = torch.eye(cfg.z_dim)[:53]
                pos, nrm = t32(pm.canon), t32(pm.normals)
                return torch.cat([net.decode(pos, nrm, w, eye[s:s + 8], z_id) for s in range(0, 53, 8)])
        t_torch, _ = best(torch_facs, max(1, args.repeat - 1))
    rows.append((f"facs_basis, ICT full crop ({len(full_v):,} v): 53 shapes", t_np, t_torch,
                 f"numpy peak {peak:.0f} MiB; target <= 10 s"))

    # ---------------------------------------------------------------- expression frames/s at 10k
    rng = np.random.default_rng(0)
    n_frames = 64
    w = rng.uniform(0, 1, (n_frames, 53)) * (rng.uniform(size=(n_frames, 53)) < 0.25)
    frames = full_v[None] + np.einsum("tk,kvc->tvc", w, ict.expression_modes[:, :len(full_v)].astype(np.float64))
    model.expression(frames[0], pm)

    def one_by_one():
        for fr in frames:
            model.expression(fr, pm)
    t1, _ = best(one_by_one, args.repeat)
    tb, _ = best(lambda: model.expression(frames, pm, batch=32), args.repeat)
    _, peak, _ = traced(lambda: model.expression(frames, pm, batch=32))
    t1_torch = tb_torch = None
    if torch is not None:
        from model_core.runtime.proxy import expression_features
        op = tuple(t32(a) for a in pm.op)
        nv = pm.verts[pm.face_index]

        def torch_expr(batch):
            with torch.no_grad():
                for s in range(0, n_frames, batch):
                    disp = pm.normalization.apply_vectors(frames[s:s + batch] - nv[None])
                    net.expression(t32(expression_features(pm.proxy, disp, cfg.expr_feat_scale)), op)
        t1_torch, _ = best(lambda: torch_expr(1), args.repeat)
        tb_torch, _ = best(lambda: torch_expr(32), args.repeat)
    fps = lambda t: n_frames / t  # noqa: E731
    rows.append((f"expression, ICT full crop ({len(full_v):,} v), 1 frame per call: s/frame", t1 / n_frames,
                 t1_torch / n_frames if t1_torch else None, f"{fps(t1):.0f} frames/s; target >= 30 frames/s"))
    rows.append(("expression, 32 frames per call: s/frame", tb / n_frames,
                 tb_torch / n_frames if tb_torch else None, f"{fps(tb):.0f} frames/s; numpy peak {peak:.0f} MiB"))

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load = f"load average {load0:.1f} at start, {os.getloadavg()[0]:.1f} at end"
    env = (f"Python {platform.python_version()}, numpy {np.__version__}"
           + (f", torch {torch.__version__} ({torch.get_num_threads()} threads)" if torch else ", no torch")
           + f", {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), {load}; "
           f"process peak RSS {rss:.0f} MiB")
    lines = ["| case | numpy | torch | numpy/torch | notes |", "|---|---|---|---|---|"]
    for case, a, b, note in rows:
        ratio = f"{a / b:.2f}" if b else "-"
        tb_s = f"{b:.3f} s" if b else "-"
        lines.append(f"| {case} | {a:.3f} s | {tb_s} | {ratio} | {note} |")
    publish(f"Measured {time.strftime('%Y-%m-%d')}: {env}.\n\n" + "\n".join(lines), f"bench_runtime:{TAG}",
            f"Runtime (numpy inference) vs torch, Python {TAG[2:]} — `benchmarks/bench_runtime.py`", INTRO,
            readme=not args.no_readme)
    return 0


if __name__ == "__main__":
    sys.exit(main())
