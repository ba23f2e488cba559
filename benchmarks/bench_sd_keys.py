"""Benchmark: 53 FACS shape keys made by the add-on (Generate FACS Shape Keys) against Blender's Surface Deform
pipeline, on the same target heads of 10k ... 300k vertices, in the same Blender process (issue 17: "faster than
that pipeline at every size from 10k to 300k").

Run with a Python that has ``bpy`` (headless Blender), from the repository root (about 6 min on 2 cores)::

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. .venv/py313/bin/python benchmarks/bench_sd_keys.py
        [--sizes 11248,44786,100000,178726,288463] [--runs 3] [--runs-large 2] [--baseline-rev REV] [--no-readme]

Targets: ICT-FaceKit's full-head crop subdivided and decimated as ``bench_scale.py`` makes them, in Blender's frame
(metres, Z up, face toward -Y). Each size runs in its own subprocess; in it, per run, each method writes 53 keys
(+ Basis) onto its own fresh copy of the target:

- **ours, Automatic**: ``bpy.ops.nfs.generate_facs_keys`` with the add-on's default key source (Automatic: the
  template keys' dense registration, the decoder's keys, and the choice between them), the committed weights, the
  model's cache cleared first (cold: prepare, skinning, registration, keys, writing);
- **ours, decoder**: the same operator with *FACS key source: Neural decoder* (the runtime's default keys);
- **Surface Deform**: a source head that already has the 53 keys, aligned with the target (ICT's own 11,248-vertex
  full crop with ICT's 53 expression deltas, lying on the target's surface): a Surface Deform modifier on the target
  bound to it (``object.surfacedeform_bind``), then per key: that key at 1 alone, the target evaluated, the
  evaluated positions read with ``foreach_get`` and saved as a new shape key with ``foreach_set``; the modifier is
  removed at the end (``blender_sd.surface_deform_run``). The targets get 10 micrometres of noise (``JITTER``) so
  that Surface Deform binds at every size. Building the source is not timed (the pipeline starts
  from a source that has its keys).

With ``--baseline-rev``, the add-on and runtime of that git revision (``git archive`` of ``nfs_blender`` and
``model_core``) make the Automatic keys too (same run, same jittered targets): the before / after of a change. Then
every run is a fresh process, the baseline's and this checkout's alternating (without it, one process per size runs
them all). The growth exponent of each column is the slope of a
least-squares line through log(time) against log(vertices), 10k-300k.

Medians over ``--runs`` runs up to 50k vertices, ``--runs-large`` above. The split of ours wraps the operator's
helpers: prepare (``prepare_object``: rest mesh, ``Model.prepare``), registration (``engine.face_keys``: the
template keys, Automatic only), write (``shape_keys.write_keys``); "keys" is the rest (the decoder's basis,
skinning included, and the local conversion). Without ``--no-readme`` the table replaces the section between
``<!-- bench_sd_keys:start -->`` and ``<!-- bench_sd_keys:end -->`` of benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
CODE = os.environ.get("NFS_BENCH_CODE", str(ROOT))     # where nfs_blender and model_core come from (a baseline's tree)
for p in (CODE, str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

from bench_common import baseline_tree, growth_exponent, publish, run_and_exit, time_calls  # noqa: E402

DEFAULT_SIZES = "11248,44786,100000,178726,288463"
METHODS = ("auto", "decoder", "sd")
# metres of Gaussian noise added to the target's vertices (both methods get the same jittered target): on the exact
# subdivision levels and the clustered heads some target vertices lie exactly on the source's edges or vertices,
# where Surface Deform's bind fails ("Target contains invalid polygons": measured at 178,726 and 288,463 vertices,
# not at 11,248 / 44,786 / 100,543); 10 micrometres (4e-5 of the head's size) is enough for it to bind everywhere.
JITTER = 1e-5


def child(mesh_path: str, runs: int, methods=METHODS) -> dict:
    """One size, in this (fresh) process: every method of ``methods`` ``runs`` times, interleaved."""
    import bpy
    import numpy as np

    import nfs_blender
    from blender_sd import mesh_object, remove_objects, separate_overlaps, source_with_keys, surface_deform_run
    from model_core.runtime.facs_names import ICT_NAMES
    from model_core.runtime.frames import ict_to_blender
    from model_core.dataset.ict import load_ict
    from nfs_blender import engine, ops_facs, prefs, shape_keys

    nfs_blender.register()
    try:
        engine.set_model(None)
        d = np.load(mesh_path)
        tv, tf = ict_to_blender(d["verts"]), d["faces"]
        tv = tv + np.random.default_rng(0).normal(0.0, JITTER, tv.shape)   # see JITTER
        ict = load_ict()
        sv, sf = ict.head(None, None, "full")
        n_src = len(sv)
        modes = [ict_to_blender(m) for m in ict.expression_modes[:, :n_src].astype(np.float64)]
        base = separate_overlaps(ict_to_blender(sv), sf)[0]
        src, blocks = source_with_keys("SD_source", base, sf, modes)
        proto = mesh_object("Target", tv, tf)
        proto.hide_viewport = proto.hide_render = True

        acc = {}
        time_calls(acc, ops_facs, "prepare_object", "prepare")
        time_calls(acc, engine, "face_keys", "registration")
        time_calls(acc, shape_keys, "write_keys", "write")

        def fresh(name):
            ob = proto.copy()
            ob.data = proto.data.copy()
            ob.name = name
            ob.hide_viewport = ob.hide_render = False
            bpy.context.scene.collection.objects.link(ob)
            for o in bpy.context.view_layer.objects:
                o.select_set(False)
            bpy.context.view_layer.objects.active = ob
            ob.select_set(True)
            return ob

        def ours(source):
            ob = fresh(f"ours_{source}")
            engine.get_model().clear_cache()
            prefs._Defaults.key_source = source
            acc.clear()
            t, c = time.perf_counter(), time.process_time()
            res = sorted(bpy.ops.nfs.generate_facs_keys("EXEC_DEFAULT"))
            wall, cpu = time.perf_counter() - t, time.process_time() - c
            assert res == ["FINISHED"], res
            assert len(ob.data.shape_keys.key_blocks) == 54
            row = {"total": wall, **acc}
            row["cpu"] = cpu              # all of the process's threads: steadier than wall on a shared machine
            row["keys"] = wall - sum(acc.values())
            remove_objects(ob)
            return row

        def sd():
            ob = fresh("sd")
            _, tm, bound = surface_deform_run(src, blocks, ob, write_names=list(ICT_NAMES))
            assert bound, "Surface Deform did not bind"
            assert len(ob.data.shape_keys.key_blocks) == 54 and not ob.modifiers
            remove_objects(ob)
            return tm

        out = {"n": len(tv), "src_n": n_src, "blender": bpy.app.version_string, "runs": {m: [] for m in methods},
               "code": str(Path(nfs_blender.__file__).resolve().parent.parent)}
        run = {"auto": lambda: ours("AUTO"), "decoder": lambda: ours("DECODER"), "sd": sd}
        for _ in range(runs):
            for m in methods:
                out["runs"][m].append(run[m]())
            print(json.dumps({m: r[-1] for m, r in out["runs"].items()}), file=sys.stderr, flush=True)
        return out
    finally:
        prefs._Defaults.key_source = "AUTO"
        nfs_blender.unregister()


def med(rows, key):
    return statistics.median(r.get(key, 0.0) for r in rows)


def cell(rows) -> str:
    """The median total of ``rows`` (min-max over more than one)."""
    xs = [x["total"] for x in rows]
    return f"{med(rows, 'total'):.2f} s" + (f" ({min(xs):.2f}-{max(xs):.2f})" if len(xs) > 1 else "")


def exponent(results: list[dict], runs_of, key: str = "total") -> float | None:
    """Growth exponent, 10k-300k: slope of log(median ``key``) against log(vertices); runs_of(row) -> runs or None."""
    return growth_exponent([(r["n"], med(runs_of(r), key)) for r in results if "error" not in r and runs_of(r)])


def table(results: list[dict], baseline: str = "") -> str:
    base = ([f"ours, Automatic, baseline `{baseline}`", "baseline / this, Automatic: wall; CPU time"]
            if baseline else [])
    head = (["target vertices", "ours, Automatic (add-on default)"] + base +
            ["ours, decoder keys", "Surface Deform pipeline", "SD / ours Automatic", "SD / ours decoder",
             "ours Automatic: prepare / registration / keys / write", "ours decoder: prepare / keys / write",
             "SD: bind / 53 evaluations / write"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        if "error" in r:
            lines.append(f"| {r.get('n', '?')} | error: {r['error']} |" + " |" * (len(head) - 2))
            continue
        a, dcd, s = (r["runs"][m] for m in METHODS)
        ta, td, ts = med(a, "total"), med(dcd, "total"), med(s, "total")
        b = ""
        if baseline:
            ba = r.get("base")
            b = (f"{cell(ba)} | {med(ba, 'total') / ta:.2f}; {med(ba, 'cpu') / max(med(a, 'cpu'), 1e-9):.2f} | "
                 if isinstance(ba, list) and ba else f"error: {r.get('base_error', '?')} | | ")
        lines.append(
            f"| {r['n']:,} | {cell(a)} | {b}{cell(dcd)} | {cell(s)} | {ts / ta:.2f} | {ts / td:.2f} | "
            f"{med(a, 'prepare'):.2f} / {med(a, 'registration'):.2f} / {med(a, 'keys'):.2f} / {med(a, 'write'):.2f} s | "
            f"{med(dcd, 'prepare'):.2f} / {med(dcd, 'keys'):.2f} / {med(dcd, 'write'):.2f} s | "
            f"{med(s, 'bind'):.2f} / {med(s, 'eval'):.2f} / {med(s, 'write'):.2f} s |")
    exps = [("Automatic", lambda r: r["runs"]["auto"]), ("decoder keys", lambda r: r["runs"]["decoder"]),
            ("Surface Deform", lambda r: r["runs"]["sd"])]
    if baseline:
        exps.insert(1, (f"Automatic at `{baseline}`", lambda r: r.get("base") if isinstance(r.get("base"), list)
                        else None))
    exps += [(f"{name}, CPU time", f, "cpu") for name, f in exps if "Automatic" in name]
    parts = [f"{e[0]} {x:.2f}" for e in exps if (x := exponent(results, *e[1:])) is not None]
    lines += ["", "Growth exponent of the medians, 10k-300k vertices (log-log slope; wall unless CPU time): "
              + ", ".join(parts) + "."]
    return "\n".join(lines)


def run_child(mesh: Path, runs: int, env: dict, methods: str) -> dict:
    """One size's ``child`` in a fresh process: its result, or {"n": ..., "error": its last stderr line}."""
    r = subprocess.run([sys.executable, __file__, "--child", str(mesh), str(runs), "--child-methods", methods],
                       env=env, capture_output=True, text=True, timeout=3600)
    line = [x for x in r.stdout.splitlines() if x.startswith("NFS_RESULT:")]
    if r.returncode != 0 or not line:
        return {"error": (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]}
    return json.loads(line[-1][len("NFS_RESULT:"):])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=DEFAULT_SIZES)
    ap.add_argument("--runs", type=int, default=3, help="runs per method up to 50k vertices")
    ap.add_argument("--runs-large", type=int, default=2, help="runs per method above 50k vertices")
    ap.add_argument("--baseline-rev", default="", help="git revision whose add-on makes the Automatic keys too")
    ap.add_argument("--no-readme", action="store_true")
    ap.add_argument("--child", nargs=2, metavar=("MESH", "RUNS"), help=argparse.SUPPRESS)
    ap.add_argument("--child-methods", default=",".join(METHODS), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        out = child(args.child[0], int(args.child[1]), tuple(args.child_methods.split(",")))
        print("NFS_RESULT:" + json.dumps(out), flush=True)
        return 0

    import numpy as np
    from bench_scale import build_heads
    from model_core.dataset.ict import default_data_dir
    sizes = [int(s) for s in args.sizes.split(",")]
    load0, t0 = os.getloadavg()[0], time.perf_counter()
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE), os.environ.get("PYTHONPATH", "")])}
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_sd_keys_") as tmp:
        heads = build_heads(sizes, Path(tmp))
        base = (baseline_tree(args.baseline_rev, Path(tmp) / "baseline", ("nfs_blender", "model_core"))
                if args.baseline_rev else None)
        for n in sizes:
            runs = args.runs if n <= 50_000 else args.runs_large
            env_n = {**env, "BLENDER_USER_RESOURCES": str(Path(tmp) / "bl_user"), "TMPDIR": tmp,
                     "XDG_CACHE_HOME": str(Path(tmp) / "cache")}
            if base is None:
                results.append({"n": n, **run_child(heads[n], runs, env_n, ",".join(METHODS))})
            else:                         # alternating, one run per process: the baseline's Automatic, then ours
                env_b = {**env_n, "NFS_BENCH_CODE": str(base), "NFS_ICT_DIR": str(default_data_dir()),
                         "PYTHONPATH": os.pathsep.join([str(base), str(HERE)])}
                row = {"n": n, "base": []}
                for _ in range(runs):
                    got = run_child(heads[n], 1, env_b, "auto")
                    if "error" in got:
                        row["base_error"] = got["error"]
                    else:
                        row["base"] += got["runs"]["auto"]
                    got = run_child(heads[n], 1, env_n, ",".join(METHODS))
                    if "error" in got:
                        row["error"] = got["error"]
                        break
                    runs_so_far = row.get("runs", {m: [] for m in METHODS})
                    row.update({k: v for k, v in got.items() if k != "runs"})
                    row["runs"] = {m: runs_so_far[m] + got["runs"][m] for m in METHODS}
                results.append(row)
            print(n, json.dumps(results[-1]), flush=True)
    wall = time.perf_counter() - t0
    bl = next((r["blender"] for r in results if "blender" in r), "?")
    src_n = next((r["src_n"] for r in results if "src_n" in r), 0)
    head = (f"Measured {time.strftime('%Y-%m-%d')}: Blender {bl} (Python {platform.python_version()}, numpy "
            f"{np.__version__}), {os.cpu_count()} CPUs shared with other jobs (load average {load0:.1f} at start, "
            f"{os.getloadavg()[0]:.1f} at end), OPENBLAS_NUM_THREADS=1, weights nfs_v5; Surface Deform source: ICT's "
            f"full crop ({src_n:,} v, 53 keys); medians of {args.runs} runs up to 50k vertices, {args.runs_large} "
            f"above (min-max in parentheses); whole run {wall / 60:.1f} min. Ratio > 1: ours is faster.")
    publish(head + "\n\n" + table(results, args.baseline_rev), "bench_sd_keys",
            "53 FACS keys: the add-on vs Blender's Surface Deform pipeline — `benchmarks/bench_sd_keys.py`",
            "`OPENBLAS_NUM_THREADS=1 PYTHONPATH=. .venv/py313/bin/python benchmarks/bench_sd_keys.py` (issue "
            "17). Same target heads as *Scale* (ICT's full crop subdivided / decimated), each size in its own "
            "Blender process, every method writing 53 keys onto its own copy of the target; see the script's "
            "docstring for what each column times.", readme=not args.no_readme)
    return 0


if __name__ == "__main__":
    run_and_exit(main)
