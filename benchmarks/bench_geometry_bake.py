"""Benchmark: the add-on's geometry-path Bake From Source on a 11k-vertex source, 1000 frames, wall time, against
the bare cost of stepping the frames and reading the evaluated source (what any bake must pay), in the same run.

Run with a Python that has ``bpy`` (headless Blender), from the repository root::

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. .venv/py313/bin/python benchmarks/bench_geometry_bake.py   # Blender 5.3
    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. .venv/py311/bin/python benchmarks/bench_geometry_bake.py   # Blender 4.2
    options: [--frames 1000] [--runs 3] [--warm]

Scene (issue 17, "geometry-path bake >= 60 frames/s for a 10k-vertex source, 1000 frames"):

- source: ICT-FaceKit's full-head crop (11,248 vertices, Blender frame: metres, Z up, face toward -Y) with
  ICT's 53 expression deltas as shape keys named ``pose_00`` ... ``pose_52`` (not FACS names, so the bake takes
  the geometry path: it reads the evaluated mesh per frame and fits FACS weights with ``Model.expression``),
  animated by random sparse weights on every frame (1000 keyframes per key);
- target: the demo asset's remeshed head (another identity, 10,030 vertices) with 53 ICT FACS keys
  (Generate FACS Shape Keys, decoder keys; not timed);
- the real operator ``nfs.bake_from_source`` with the committed weights and the add-on's defaults (key source
  Automatic, sparsity 0.005), registered from the working tree as the tests do.

Each run removes the target's animation (a re-bake also evaluates the previously baked target at every
frame_set) and clears the model's cache first, so every bake is cold (prepare of the source, its FACS basis and the
fit's normal equations included), as a user's first bake. The wall time is split by wrapping the operator's
helpers: prepare (``prepare_object``), fit (``engine.expression``, its first call includes the source's FACS
basis: ``first fit``), evaluated read (``mesh_io.evaluated_local_positions``), keyframe writing
(``keyframes.write_shape_key_animation``); "frame_set + rest" is the remainder (``scene.frame_set``, world
transform, checks). Baseline, in the same scene just before each bake: a loop of ``scene.frame_set`` + reading
the evaluated source's positions into one preallocated float32 array with ``foreach_get``. The baked
F-curves are compared with the true weights (mean absolute error).
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warm", action="store_true", help="keep the model's cache between runs (runs 2+ warm)")
    args = ap.parse_args()

    import bpy
    import numpy as np

    import nfs_blender
    from model_core.runtime.facs_names import ICT_NAMES
    from model_core.runtime.frames import ict_to_blender
    from model_core.dataset.ict import load_ict
    from nfs_blender import engine, keyframes, mesh_io, ops_bake, prefs

    nfs_blender.register()
    try:
        return _run(args, bpy, np, ICT_NAMES, ict_to_blender, load_ict, engine, keyframes, mesh_io, ops_bake, prefs)
    finally:
        nfs_blender.unregister()


def _run(args, bpy, np, ICT_NAMES, ict_to_blender, load_ict, engine, keyframes, mesh_io, ops_bake, prefs):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from blender_sd import mesh_object
    load0 = os.getloadavg()[0]
    scene = bpy.context.scene
    engine.set_model(None)   # the committed weights
    T = args.frames

    # ---- source: ICT full crop + 53 non-FACS keys animated on every frame
    ict = load_ict()
    v, f = ict.head(None, None, "full")
    n_src = len(v)
    sv = ict_to_blender(v)
    modes = np.stack([ict_to_blender(m) for m in ict.expression_modes[:, :n_src].astype(np.float64)])
    src = mesh_object("Source", sv, f)
    src.location = (-0.4, 0.0, 1.5)
    src.shape_key_add(name="Basis", from_mix=False)
    pose_names = [f"pose_{k:02d}" for k in range(len(modes))]
    for name, d in zip(pose_names, modes):
        kb = src.shape_key_add(name=name, from_mix=False)
        kb.points.foreach_set("co", (sv + d).astype(np.float32).ravel())
    rng = np.random.default_rng(17)
    truth = np.clip(rng.normal(0.3, 0.3, (T, 53)), 0, 1) * (rng.random((T, 53)) < 0.15)
    frames = np.arange(1, T + 1, dtype=np.float64)
    keyframes.write_shape_key_animation(src.data.shape_keys, {n: truth[:, k] for k, n in enumerate(pose_names)},
                                        frames)

    # ---- target: the demo's remeshed head with 53 ICT FACS keys
    a = np.load(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "demo", "assets",
                             "demo_heads.npz"))
    tgt = mesh_object("Target", ict_to_blender(a["target_verts"].astype(np.float64)), a["target_faces"])
    tgt.location = (0.4, 0.0, 1.5)
    for o in bpy.context.view_layer.objects:
        o.select_set(False)
    bpy.context.view_layer.objects.active = tgt
    tgt.select_set(True)
    prefs._Defaults.key_source = "DECODER"
    assert sorted(bpy.ops.nfs.generate_facs_keys("EXEC_DEFAULT")) == ["FINISHED"]
    prefs._Defaults.key_source = "AUTO"     # the add-on's default for the bake's source basis
    s = scene.nfs
    s.bake_source, s.use_scene_range, s.frame_start, s.frame_end = src, False, 1, T
    if hasattr(s, "source_mode"):
        s.source_mode = "AUTO"              # non-FACS names: the operator must choose the geometry path itself
    scene.frame_set(1)
    print(f"Blender {bpy.app.version_string}, Python {platform.python_version()}, numpy {np.__version__}; source "
          f"{n_src:,} v, 53 animated keys; target {len(tgt.data.vertices):,} v; {T} frames", flush=True)

    # ---- instrumentation: wrap the operator's helpers (module attributes it looks up at call time)
    from bench_common import time_calls
    acc = {}
    time_calls(acc, ops_bake, "prepare_object", "prepare")
    time_calls(acc, engine, "expression", "fit", first_key="first fit")
    time_calls(acc, mesh_io, "evaluated_local_positions", "evaluated read")
    time_calls(acc, keyframes, "write_shape_key_animation", "keyframe write")

    def baseline():
        dg = bpy.context.evaluated_depsgraph_get()
        buf = np.empty(n_src * 3, np.float32)
        t_set = t_read = 0.0
        t0 = time.perf_counter()
        for fr in range(1, T + 1):
            t = time.perf_counter()
            scene.frame_set(fr)
            t1 = time.perf_counter()
            src.evaluated_get(dg).data.attributes["position"].data.foreach_get("vector", buf)
            t_read += time.perf_counter() - t1
            t_set += t1 - t
        total = time.perf_counter() - t0
        scene.frame_set(1)
        return total, t_set, t_read

    rows = []
    for run in range(args.runs):
        if not args.warm or run == 0:
            engine.get_model().clear_cache()
        tgt.data.shape_keys.animation_data_clear()   # every run is a first bake on this target (an animated
        scene.frame_set(1)                           # target would make each frame_set evaluate it too)
        b_total, b_set, b_read = baseline()
        acc.clear()
        t0 = time.perf_counter()
        res = sorted(bpy.ops.nfs.bake_from_source("EXEC_DEFAULT"))
        wall = time.perf_counter() - t0
        assert res == ["FINISHED"], res
        curves = keyframes.shape_key_value_curves(tgt.data.shape_keys)
        got = np.zeros((T, 53))
        for k, name in enumerate(ICT_NAMES):
            co = np.empty(2 * T, np.float32)
            curves[name].keyframe_points.foreach_get("co", co)
            got[:, k] = co[1::2]
        row = {"wall": wall, "base": b_total, "base set": b_set, "base read": b_read,
               "mae": float(np.abs(got - truth).mean()), "max frame mae": float(np.abs(got - truth).mean(1).max()),
               **acc}
        row["frame_set + rest"] = wall - sum(acc.values())
        rows.append(row)
        print(f"run {run + 1}: " + ", ".join(f"{k} {val:.3f}" for k, val in row.items()), flush=True)

    def med(k):
        return statistics.median(r.get(k, 0.0) for r in rows)
    wall, base = med("wall"), med("base")
    fit_all = med("fit") + med("first fit")
    per_frame = wall - med("prepare") - med("first fit")
    lines = [
        f"Blender {bpy.app.version_string} (Python {platform.python_version()}, numpy {np.__version__}), "
        f"{os.cpu_count()} CPUs, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, load "
        f"average {load0:.1f} at start, {os.getloadavg()[0]:.1f} at end; {len(rows)} runs"
        f"{' (runs 2+ warm)' if args.warm else ', each cold'}, medians (min-max)", "",
        "| | wall | frames/s | / baseline |", "|---|---|---|---|",
    ]

    def rng_(k):
        xs = [r.get(k, 0.0) for r in rows]
        return f"{med(k):.2f} s ({min(xs):.2f}-{max(xs):.2f})"
    lines.append(f"| Bake From Source, geometry path, {T} frames | {rng_('wall')} | {T / wall:.0f} | "
                 f"{wall / base:.2f} |")
    lines.append(f"| the same without the one-time set-up (prepare + first fit) | {per_frame:.2f} s | "
                 f"{T / per_frame:.0f} | {per_frame / base:.2f} |")
    lines.append(f"| baseline: frame_set + evaluated read, {T} frames | {rng_('base')} | {T / base:.0f} | 1.00 |")
    lines += ["", "| bake split | seconds | share of wall |", "|---|---|---|"]
    for k in ("prepare", "first fit", "fit", "evaluated read", "frame_set + rest", "keyframe write"):
        lines.append(f"| {k} | {rng_(k)} | {100 * med(k) / wall:.0f} % |")
    lines.append(f"| baseline: frame_set / evaluated read | {med('base set'):.2f} s / {med('base read'):.2f} s | |")
    lines += ["", f"fit over all frames {fit_all:.2f} s ({1000 * med('fit') / max(T - 1, 1):.2f} ms/frame after the "
                  f"first call); baked weights vs truth: mean |error| {med('mae'):.4f}, worst frame "
                  f"{med('max frame mae'):.4f}"]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    from bench_common import run_and_exit
    run_and_exit(main)
