"""Benchmark: 53 FACS shape keys made by the add-on (Generate FACS Shape Keys) against Blender's Surface Deform
pipeline, on the same target heads of 10k ... 300k vertices, in the same Blender process (issue 17: "faster than
that pipeline at every size from 10k to 300k").

Run with a Python that has ``bpy`` (headless Blender), from the repository root (about 6 min on 2 cores)::

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. .venv/py313/bin/python benchmarks/bench_sd_keys.py
        [--sizes 11248,44786,100000,178726,288463] [--runs 3] [--runs-large 2] [--no-readme]

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
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

from bench_common import publish, run_and_exit, time_calls  # noqa: E402

DEFAULT_SIZES = "11248,44786,100000,178726,288463"
METHODS = ("auto", "decoder", "sd")
# metres of Gaussian noise added to the target's vertices (both methods get the same jittered target): on the exact
# subdivision levels and the clustered heads some target vertices lie exactly on the source's edges or vertices,
# where Surface Deform's bind fails ("Target contains invalid polygons": measured at 178,726 and 288,463 vertices,
# not at 11,248 / 44,786 / 100,543); 10 micrometres (4e-5 of the head's size) is enough for it to bind everywhere.
JITTER = 1e-5


def child(mesh_path: str, runs: int) -> dict:
    """One size, in this (fresh) process: every method ``runs`` times, interleaved."""
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
            t = time.perf_counter()
            res = sorted(bpy.ops.nfs.generate_facs_keys("EXEC_DEFAULT"))
            wall = time.perf_counter() - t
            assert res == ["FINISHED"], res
            assert len(ob.data.shape_keys.key_blocks) == 54
            row = {"total": wall, **acc}
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

        out = {"n": len(tv), "src_n": n_src, "blender": bpy.app.version_string, "runs": {m: [] for m in METHODS}}
        for _ in range(runs):
            out["runs"]["auto"].append(ours("AUTO"))
            out["runs"]["decoder"].append(ours("DECODER"))
            out["runs"]["sd"].append(sd())
            print(json.dumps({m: r[-1] for m, r in out["runs"].items()}), file=sys.stderr, flush=True)
        return out
    finally:
        prefs._Defaults.key_source = "AUTO"
        nfs_blender.unregister()


def med(rows, key):
    return statistics.median(r.get(key, 0.0) for r in rows)


def table(results: list[dict]) -> str:
    lines = ["| target vertices | ours, Automatic (add-on default) | ours, decoder keys | Surface Deform pipeline | "
             "SD / ours Automatic | SD / ours decoder | ours Automatic: prepare / registration / keys / write | "
             "ours decoder: prepare / keys / write | SD: bind / 53 evaluations / write |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r.get('n', '?')} | error: {r['error']} | | | | | | | |")
            continue
        a, dcd, s = (r["runs"][m] for m in METHODS)
        ta, td, ts = med(a, "total"), med(dcd, "total"), med(s, "total")

        def cell(rows):
            xs = [x["total"] for x in rows]
            return f"{med(rows, 'total'):.2f} s" + (f" ({min(xs):.2f}-{max(xs):.2f})" if len(xs) > 1 else "")
        lines.append(
            f"| {r['n']:,} | {cell(a)} | {cell(dcd)} | {cell(s)} | {ts / ta:.2f} | {ts / td:.2f} | "
            f"{med(a, 'prepare'):.2f} / {med(a, 'registration'):.2f} / {med(a, 'keys'):.2f} / {med(a, 'write'):.2f} s | "
            f"{med(dcd, 'prepare'):.2f} / {med(dcd, 'keys'):.2f} / {med(dcd, 'write'):.2f} s | "
            f"{med(s, 'bind'):.2f} / {med(s, 'eval'):.2f} / {med(s, 'write'):.2f} s |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=DEFAULT_SIZES)
    ap.add_argument("--runs", type=int, default=3, help="runs per method up to 50k vertices")
    ap.add_argument("--runs-large", type=int, default=2, help="runs per method above 50k vertices")
    ap.add_argument("--no-readme", action="store_true")
    ap.add_argument("--child", nargs=2, metavar=("MESH", "RUNS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        out = child(args.child[0], int(args.child[1]))
        print("NFS_RESULT:" + json.dumps(out), flush=True)
        return 0

    import numpy as np
    from bench_scale import build_heads
    sizes = [int(s) for s in args.sizes.split(",")]
    load0, t0 = os.getloadavg()[0], time.perf_counter()
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE), os.environ.get("PYTHONPATH", "")])}
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_sd_keys_") as tmp:
        heads = build_heads(sizes, Path(tmp))
        for n in sizes:
            runs = args.runs if n <= 50_000 else args.runs_large
            env_n = {**env, "BLENDER_USER_RESOURCES": str(Path(tmp) / "bl_user"), "TMPDIR": tmp,
                     "XDG_CACHE_HOME": str(Path(tmp) / "cache")}
            r = subprocess.run([sys.executable, __file__, "--child", str(heads[n]), str(runs)], env=env_n,
                               capture_output=True, text=True, timeout=3600)
            line = [x for x in r.stdout.splitlines() if x.startswith("NFS_RESULT:")]
            if r.returncode != 0 or not line:
                err = (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]
                results.append({"n": n, "error": err})
            else:
                results.append(json.loads(line[-1][len("NFS_RESULT:"):]))
            print(n, json.dumps(results[-1]), flush=True)
    wall = time.perf_counter() - t0
    bl = next((r["blender"] for r in results if "blender" in r), "?")
    src_n = next((r["src_n"] for r in results if "src_n" in r), 0)
    head = (f"Measured {time.strftime('%Y-%m-%d')}: Blender {bl} (Python {platform.python_version()}, numpy "
            f"{np.__version__}), {os.cpu_count()} CPUs shared with other jobs (load average {load0:.1f} at start, "
            f"{os.getloadavg()[0]:.1f} at end), OPENBLAS_NUM_THREADS=1, weights nfs_v4; Surface Deform source: ICT's "
            f"full crop ({src_n:,} v, 53 keys); medians of {args.runs} runs up to 50k vertices, {args.runs_large} "
            f"above (min-max in parentheses); whole run {wall / 60:.1f} min. Ratio > 1: ours is faster.")
    publish(head + "\n\n" + table(results), "bench_sd_keys",
            "53 FACS keys: the add-on vs Blender's Surface Deform pipeline — `benchmarks/bench_sd_keys.py`",
            "`OPENBLAS_NUM_THREADS=1 PYTHONPATH=. .venv/py313/bin/python benchmarks/bench_sd_keys.py` (issue "
            "17). Same target heads as *Scale* (ICT's full crop subdivided / decimated), each size in its own "
            "Blender process, every method writing 53 keys onto its own copy of the target; see the script's "
            "docstring for what each column times.", readme=not args.no_readme)
    return 0


if __name__ == "__main__":
    run_and_exit(main)
