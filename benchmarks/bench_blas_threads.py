"""Benchmark: the runtime with numpy's OpenBLAS threads as they are vs on 1 thread, side by side in one run.

Run from the repository root (any venv; numpy 2.x is the case Blender 5.x ships)::

    .venv/py313/bin/python benchmarks/bench_blas_threads.py [--frames 1000] [--repeat 2]

Each measurement runs in a fresh subprocess with ``OPENBLAS_NUM_THREADS`` unset (OpenBLAS starts one thread per
core, what Blender gets), in one of three modes:

- **default threads**: ``Model.blas_single_thread = False`` (the runtime before issue 17);
- **runtime guard**: the default ``Model.blas_single_thread = True`` (``model_core/runtime/blas.py`` sets 1
  OpenBLAS thread through ctypes inside each call and restores the count afterwards; no environment variable);
- **env 1 thread**: ``OPENBLAS_NUM_THREADS=1`` set before numpy loads (the reference; not possible in Blender).

Cases: a bare ``np.linalg.eigh`` of a 1000 x 1000 symmetric matrix (inside / outside the guard); ``prepare``
(normalisation, proxy, its dense eigh) + ``skinning`` of the 11,248-vertex ICT full-head crop; its 53 FACS keys;
the fitted inverse rig (``expression``, box QP: thousands of small solves) of ``--frames`` frames, 32 per call,
after the fit system is cached. Weights: the shipped nfs_v5. Prints a markdown table (``--rounds`` interleaved subprocesses per mode).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
from model_core.dataset.ict import load_ict
from model_core.runtime import Model, blas
mode, frames, repeat = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
guard = mode != "default threads"
out = {"threads_before": blas.get_threads(), "blas": blas.info()}
def best(fn):
    ts = []
    for _ in range(repeat):
        t = time.perf_counter(); r = fn(); ts.append(time.perf_counter() - t)
    return min(ts), r
x = np.random.default_rng(0).normal(size=(1000, 1000)); x = x + x.T
def eig():
    with blas.single_threaded(guard):
        return np.linalg.eigh(x)
out["eigh(1000)"] = best(eig)[0]
ict = load_ict()
v, f = ict.head(None, None, "full")
m = Model.load()
m.blas_single_thread = guard
def prep():
    m.clear_cache(); pm = m.prepare(v, f); m.skinning(pm); return pm
out["prepare + skinning, 11,248 v"], pm = best(prep)
out["53 FACS keys, 11,248 v"], (_, basis) = best(lambda: m.facs_basis(pm))
rng = np.random.default_rng(1)
w = np.clip(rng.normal(0.2, 0.3, (frames, 53)), 0, 1) * (rng.random((frames, 53)) < 0.25)
posed = pm.verts[None] + np.einsum("tk,knd->tnd", w.astype(np.float32), basis)
m.expression(posed[:1], pm)                                      # fit system cached
def fit():
    return np.concatenate([m.expression(posed[s:s + 32], pm) for s in range(0, frames, 32)])
out[f"inverse rig (fit), {frames} frames"], z = best(fit)
out["fit mean abs error"] = float(np.abs(z[:, :53] - w).mean())
out["threads_after"] = blas.get_threads()
print(json.dumps(out))
"""


def run(mode: str, frames: int, repeat: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    if mode == "env 1 thread":
        env["OPENBLAS_NUM_THREADS"] = "1"
    r = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), mode, str(frames), str(repeat)], env=env,
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=1, help="timings per subprocess (best of)")
    ap.add_argument("--rounds", type=int, default=3, help="subprocesses per mode, interleaved (min-max shown)")
    args = ap.parse_args()
    import numpy as np
    load0 = os.getloadavg()[0]
    modes = ("default threads", "runtime guard", "env 1 thread")
    runs = {m: [] for m in modes}
    for _ in range(args.rounds):                  # interleaved, so the machine's load hits every mode alike
        for m in modes:
            runs[m].append(run(m, args.frames, args.repeat))
    load1 = os.getloadavg()[0]
    first = runs["runtime guard"][0]
    print(f"Python {platform.python_version()}, numpy {np.__version__}, {os.cpu_count()} CPUs, "
          f"load average {load0:.1f} at start, {load1:.1f} at end; {first['blas']}")
    print(f"OpenBLAS threads at start: {runs['default threads'][0]['threads_before']} (default), after the "
          f"guarded calls: {sorted({r['threads_after'] for r in runs['runtime guard']})} (restored); "
          f"{args.rounds} subprocesses per mode, min-max (median)\n")
    skip = ("threads_before", "threads_after", "blas", "fit mean abs error")
    keys = [k for k in first if k not in skip]
    print("| case | default threads | runtime guard (1 thread) | env OPENBLAS_NUM_THREADS=1 | default / guard (median) |")
    print("|---|---|---|---|---|")
    for k in keys:
        cells, med = [], {}
        for m in modes:
            ts = sorted(r[k] for r in runs[m])
            med[m] = ts[len(ts) // 2]
            cells.append(f"{ts[0]:.2f}-{ts[-1]:.2f} s ({med[m]:.2f})")
        print(f"| {k} | {' | '.join(cells)} | {med['default threads'] / med['runtime guard']:.1f}x |")
    errs = {m: runs[m][0]["fit mean abs error"] for m in modes}
    print("\nfit mean |w - true| per mode (same fit, threads change round-off only): "
          + ", ".join(f"{m} {e:.2e}" for m, e in errs.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
