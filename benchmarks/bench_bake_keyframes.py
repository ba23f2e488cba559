"""Benchmark: baking 1000 frames onto 53 FACS shape keys, bulk F-curve writes vs a naive keyframe_insert loop.

Run with a Python that has ``bpy`` (headless Blender), from the repository root::

    .venv/py311/bin/python benchmarks/bench_bake_keyframes.py [--frames 1000] [--repeat 3]
    .venv/py313/bin/python benchmarks/bench_bake_keyframes.py

Both methods key the same random values on two identical meshes (ICT names, 53 keys); the script checks that
both play back the same values (after ``scene.frame_set``) and prints the best-of-N times and their ratio.
The bulk path is ``nfs_blender.keyframes.write_shape_key_animation`` (keyframe_points.add + foreach_set +
update), used by the add-on's bake and CSV import.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    import bpy
    import numpy as np

    from model_core.runtime.facs_names import ICT_NAMES
    from nfs_blender import keyframes

    scene = bpy.context.scene
    frames = np.arange(1, args.frames + 1, dtype=np.float64)
    values = np.random.default_rng(0).random((args.frames, len(ICT_NAMES)))

    def new_target(name):
        me = bpy.data.meshes.new(name)
        me.vertices.add(4)
        me.vertices.foreach_set("co", np.array([0, 0, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0], dtype=np.float32))
        me.update()
        ob = bpy.data.objects.new(name, me)
        scene.collection.objects.link(ob)
        ob.shape_key_add(name="Basis", from_mix=False)
        for n in ICT_NAMES:
            ob.shape_key_add(name=n, from_mix=False)
        return ob

    def bulk():
        ob = new_target("bulk")
        t = time.perf_counter()
        keyframes.write_shape_key_animation(ob.data.shape_keys, {n: values[:, k] for k, n in enumerate(ICT_NAMES)},
                                            frames)
        return time.perf_counter() - t, ob

    def naive():
        ob = new_target("naive")
        kbs = ob.data.shape_keys.key_blocks
        t = time.perf_counter()
        for i, f in enumerate(frames):
            for k, n in enumerate(ICT_NAMES):
                kb = kbs[n]
                kb.value = values[i, k]
                kb.keyframe_insert("value", frame=f)
        return time.perf_counter() - t, ob

    t_bulk, t_naive = [], []
    for _ in range(args.repeat):
        dt, ob_bulk = bulk()
        t_bulk.append(dt)
    for _ in range(max(1, min(args.repeat, 2))):
        dt, ob_naive = naive()
        t_naive.append(dt)

    check = frames[:: max(1, args.frames // 25)]
    err_bulk = err_naive = 0.0
    for f in check:
        scene.frame_set(int(f))
        i = int(f) - 1
        for k, n in enumerate(ICT_NAMES):
            err_bulk = max(err_bulk, abs(ob_bulk.data.shape_keys.key_blocks[n].value - values[i, k]))
            err_naive = max(err_naive, abs(ob_naive.data.shape_keys.key_blocks[n].value - values[i, k]))
    b, nv = min(t_bulk), min(t_naive)
    print(f"Blender {bpy.app.version_string}: {args.frames} frames x {len(ICT_NAMES)} shape keys "
          f"({args.frames * len(ICT_NAMES)} keyframes)")
    print(f"  naive keyframe_insert loop : {nv * 1000:9.1f} ms (best of {len(t_naive)})")
    print(f"  bulk foreach_set + update  : {b * 1000:9.1f} ms (best of {len(t_bulk)})")
    print(f"  speed-up                   : {nv / b:9.0f}x")
    print(f"  max |played - keyed| on {len(check)} frames: bulk {err_bulk:.2e}, naive {err_naive:.2e}")
    ok = err_bulk <= 1e-6 and err_naive <= 1e-6
    if not ok:
        print("  ERROR: played values differ from the keyed ones")
    return 0 if ok else 1


if __name__ == "__main__":
    from bench_common import run_and_exit
    run_and_exit(main)
