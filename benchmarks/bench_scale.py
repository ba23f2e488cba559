"""Benchmark: runtime cost against vertex count, 2k ... 300k vertices, with the pre-issue-17 runtime side by side.

Run from the repository root (about 5 min on 2 cores)::

    .venv/py311/bin/python benchmarks/bench_scale.py [--sizes 2000,5000,...] [--baseline-rev 6d850bf]
                                                     [--baseline-max 50000] [--baseline-note TEXT]
                                                     [--repeat 3] [--repeat-max 50000] [--no-readme]

Heads: ICT-FaceKit's full-head crop (11,248 vertices, ``../shared/data/ict_facekit/`` or ``$NFS_ICT_DIR``),
midpoint-subdivided 1-3 times (44,786 / 178,726 / 715,606 vertices); sizes that are not one of these are the
next denser level decimated by grid vertex clustering (the proxy's area-weighted clustering,
``proxy.cluster_decimate``) to the wanted count. Each mesh is built once, saved, and measured in a fresh subprocess (so its peak RSS,
``VmHWM``, is its own) with ``OPENBLAS_NUM_THREADS=1`` (``benchmarks/bench_blas_threads.py`` measures the
threads separately). Weights: the shipped nfs_v5. Stages, in order, on one prepared mesh:

- **prepare + skinning**: ``Model.prepare`` (cold) + ``skinning``;
- **53 keys**: ``facs_basis(pm)``;
- **first expression**: ``expression(frame, pm)`` of one frame on a fresh cache entry for the fit system
  (it decodes the mesh's own basis again and builds the fit's normal equations);
- **retarget 100 f**: ``retarget`` of 100 posed frames of the same head onto itself (FACS weights, the fitted
  inverse rig; fit system cached), given in 4 calls of 25 frames (the frames are made from the basis between
  calls, not timed).

Sizes up to ``--repeat-max`` (50k): best of ``--repeat`` passes in the subprocess (the machine is shared); above:
one pass.

The baseline is the runtime of ``--baseline-rev`` (``git archive`` of its ``model_core`` into a temporary folder),
run the same way for sizes up to ``--baseline-max`` (above that each of its 53 keys recomputes the decoder's
per-mesh part: minutes per size). Growth exponent: least-squares slope of log(time) on log(vertices) over the
sizes from 10k to 300k. Without ``--no-readme`` the table replaces the "Scale" section of benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench_common import baseline_tree, growth_exponent, publish  # noqa: E402

STAGES = ("prepare + skinning", "53 keys", "first expression", "retarget 100 f")
DEFAULT_SIZES = "2000,5000,11248,25000,44786,100000,178726,300000"

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
from model_core.runtime import Model
d = np.load(sys.argv[2])
v, f = d["verts"], d["faces"]
m = Model.load(sys.argv[3])
out = {"n": len(v)}
def keep(k, t):
    out[k] = min(out.get(k, t), t)
for rep in range(int(sys.argv[4])):               # best of: small sizes are noisy on a shared machine
    m.clear_cache()
    t = time.perf_counter(); pm = m.prepare(v, f); m.skinning(pm); keep("prepare + skinning", time.perf_counter() - t)
    t = time.perf_counter(); _, basis = m.facs_basis(pm); keep("53 keys", time.perf_counter() - t)
    rng = np.random.default_rng(0)
    def frames(k):
        w = (np.clip(rng.normal(0.2, 0.3, (k, 53)), 0, 1) * (rng.random((k, 53)) < 0.2)).astype(np.float32)
        return pm.verts[None].astype(np.float32) + np.einsum("tk,knd->tnd", w, basis)
    one = frames(1)
    pm._cache.clear()                           # fresh fit system (the decoder frame etc. are recomputed too)
    t = time.perf_counter(); m.expression(one[0], pm); keep("first expression", time.perf_counter() - t)
    total = 0.0
    for _ in range(4):
        fr = frames(25)
        t = time.perf_counter(); r = m.retarget(fr, pm, pm); total += time.perf_counter() - t
        assert np.isfinite(r["facs"]).all()
        del fr
    keep("retarget 100 f", total)
    del basis, one
def peak_mib():
    # VmHWM: this process's own peak (ru_maxrss would carry the parent's peak over the fork + exec on Linux)
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
out["rss_mib"] = peak_mib()
print(json.dumps(out))
"""


def _decimate(v: np.ndarray, f: np.ndarray, target: int) -> tuple[np.ndarray, np.ndarray]:
    """Grid vertex clustering to about ``target`` vertices (area-weighted cluster centres): the proxy's."""
    from model_core.runtime.mesh import face_areas
    from model_core.runtime.proxy import cluster_decimate
    centre, size = v.mean(0), np.sqrt(face_areas(v, f).sum())
    pv, pf, _, _ = cluster_decimate((v - centre) / size, f, target)
    return pv * size + centre, pf


def build_heads(sizes: list[int], folder: Path) -> dict[int, Path]:
    from model_core.dataset.ict import load_ict
    from model_core.runtime.mesh import subdivide_midpoint
    v, f = load_ict().head(None, None, "full")
    levels = [(np.asarray(v, np.float64), np.asarray(f, np.int64))]
    out = {}
    for n in sizes:
        while len(levels[-1][0]) < n:
            levels.append(subdivide_midpoint(*levels[-1]))
        lv = next(x for x in levels if len(x[0]) >= n)
        mesh = lv if len(lv[0]) == n else _decimate(*lv, int(0.97 * n))   # clustering lands within +-5 %
        out[n] = folder / f"head_{n}.npz"
        np.savez(out[n], verts=mesh[0], faces=mesh[1])
    return out


def measure(code_root: Path, mesh: Path, weights: Path, repeat: int) -> dict:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-c", CHILD, str(code_root), str(mesh), str(weights), str(repeat)], env=env,
                       capture_output=True, text=True)
    if r.returncode != 0:
        return {"error": r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"}
    return json.loads(r.stdout.strip().splitlines()[-1])


def exponent(rows: list[dict], key: str) -> float | None:
    """``growth_exponent`` of column ``key`` over the rows that have it."""
    return growth_exponent([(r["n"], r[key]) for r in rows if key in r])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=DEFAULT_SIZES, help="comma-separated vertex counts")
    ap.add_argument("--baseline-rev", default="6d850bf", help="git revision of the baseline runtime ('' = none)")
    ap.add_argument("--baseline-max", type=int, default=50_000, help="largest size the baseline is run on")
    ap.add_argument("--baseline-note", default="before issue 17", help="what the baseline is, for the table")
    ap.add_argument("--repeat", type=int, default=3, help="best of this many passes for sizes <= --repeat-max")
    ap.add_argument("--repeat-max", type=int, default=50_000, help="largest size measured --repeat times")
    ap.add_argument("--no-readme", action="store_true")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    weights = ROOT / "model_core" / "weights" / "nfs_v5.npz"
    load0, t0 = os.getloadavg()[0], time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
        tmp = Path(tmp)
        heads = build_heads(sizes, tmp)
        base_root = baseline_tree(args.baseline_rev, tmp / "baseline") if args.baseline_rev else None
        new, old = [], {}
        for n in sizes:
            rep = args.repeat if n <= args.repeat_max else 1
            new.append(measure(ROOT, heads[n], weights, rep))
            print(n, "new", new[-1], flush=True)
            if base_root is not None and n <= args.baseline_max:
                old[new[-1].get("n", n)] = measure(base_root, heads[n], weights, rep)
                print(n, "baseline", old[new[-1].get("n", n)], flush=True)
    wall = time.perf_counter() - t0
    load1 = os.getloadavg()[0]

    lines = [f"Measured {time.strftime('%Y-%m-%d')}: Python {platform.python_version()}, numpy {np.__version__}, "
             f"{os.cpu_count()} CPUs shared with other jobs (load average {load0:.1f} at start, {load1:.1f} at "
             f"end), OPENBLAS_NUM_THREADS=1, weights nfs_v5; whole run {wall / 60:.1f} min. Baseline "
             f"(`{args.baseline_rev}`, {args.baseline_note}) in the same run, in parentheses, up to "
             f"{args.baseline_max:,} vertices; best of {args.repeat} passes up to {args.repeat_max:,} vertices, one "
             f"pass above.", "",
             "| vertices | prepare + skinning | 53 keys | first expression | retarget 100 frames | peak RSS |",
             "|---|---|---|---|---|---|"]
    for r in new:
        if "error" in r:
            lines.append(f"| ? | error: {r['error']} | | | | |")
            continue
        b = old.get(r["n"], {})
        cells = []
        for k in STAGES:
            c = f"{r[k]:.2f} s"
            if k in b:
                c += f" ({b[k]:.2f} s)"
            cells.append(c)
        rss = f"{r['rss_mib']:.0f} MiB" + (f" ({b['rss_mib']:.0f} MiB)" if "rss_mib" in b else "")
        lines.append(f"| {r['n']:,} | {' | '.join(cells)} | {rss} |")
    ok = [r for r in new if "error" not in r]
    exps = {k: exponent(ok, k) for k in STAGES + ("rss_mib",)}
    ratios = [f"{r['n']:,} {old[r['n']][STAGES[0]] / r[STAGES[0]]:.2f}x" for r in ok
              if STAGES[0] in old.get(r["n"], {})]
    if ratios:
        lines += ["", "Prepare + skinning, baseline / this (same run): " + ", ".join(ratios) + "."]
    lines += ["", "Growth exponent (slope of log time on log vertices, 10k-300k): " + ", ".join(
        f"{k} {e:.2f}" for k, e in exps.items() if e is not None).replace("rss_mib", "peak RSS") + "."]
    publish("\n".join(lines), "bench_scale", "Scale: cost against vertex count — `benchmarks/bench_scale.py`",
            "`.venv/py311/bin/python benchmarks/bench_scale.py` (issue 17). Heads: ICT's full-head crop, "
            "subdivided and, between the subdivision levels, decimated by grid clustering; each size in "
            "its own subprocess (peak RSS = that process's VmHWM: interpreter, numpy, weights and the loaded mesh "
            "included). Targets: 53 keys <= 5 s at 100k and <= 15 s at 300k, peak RSS <= 1 GB at 100k, growth "
            "exponent <= 1.15.", readme=not args.no_readme)
    return 0


if __name__ == "__main__":
    sys.exit(main())
