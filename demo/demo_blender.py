"""The demo, inside headless Blender (the ``bpy`` module): retarget a FACS performance between two heads.

Run by ``bash demo/run_demo.sh`` (which builds the add-on zip and isolates Blender's user folders)::

    .venv/py311/bin/python demo/demo_blender.py --zip dist/nfs_blender-<version>.zip [--out demo/out]

Steps (each printed with its time):

1. install the add-on zip into the ``user_default`` extension repository and enable it;
2. build the SOURCE head from ``demo/assets/demo_heads.npz`` (ICT centimetres/Y up/+Z forward converted to
   Blender metres/Z up/-Y forward), give it the 53 ICT FACS shape keys and key the demo performance on them
   (bulk F-curve writes through the add-on's ``keyframes`` module);
3. build the TARGET head (another identity, 1.1x bigger, another crop and tessellation);
4. run the add-on's operators on the target: ``nfs.compute_skinning`` (NFS_<region> vertex groups and the
   NFS_regions colours), ``nfs.generate_facs_keys`` (53 ICT shape keys), ``nfs.bake_from_source`` (the
   source's *deforming mesh* encoded by the model every frame -> keyframes on the target's FACS keys);
5. measure the result (target chin motion at the jawOpen frame), set up cameras/lights/materials and save
   ``retarget.blend``;
6. render ``regions.png``, ``strip.png`` and ``strip.gif`` in a subprocess (``demo/render.py``: Workbench,
   falling back to Cycles CPU) and write ``summary.json``.

Options (command line, or environment variables for the one-command run):

| option | env | default | meaning |
|---|---|---|---|
| --frames N | NFS_DEMO_FRAMES | 96 | frames baked (at least the jawOpen frame, 24) |
| --res PX | NFS_DEMO_RES | 512 | largest side of a strip/regions picture |
| --gif / --no-gif | NFS_DEMO_GIF (1/0) | on | animated GIF (every 2nd frame, half size) |
| --engine | NFS_DEMO_ENGINE | AUTO | AUTO (Workbench, then Cycles), WORKBENCH, CYCLES, NONE (no pictures) |
| --weights PATH | NFS_DEMO_WEIGHTS | bundled | weights file; ``random`` = untrained weights (plumbing only) |
| --source-mode | NFS_DEMO_SOURCE_MODE | GEOMETRY | how the bake reads the source: GEOMETRY (the model encodes the mesh) or NAMES (copies FACS key values) |

When the add-on has no bundled weights (the runtime's ``DEFAULT_WEIGHTS`` not built into the zip yet) the
demo falls back to random weights and says so loudly: the pipeline runs, the faces do not mean anything.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import traceback
from pathlib import Path

import bpy  # first: it puts Blender's own script folders on sys.path
import addon_utils
import numpy as np

import render as demo_render  # demo/render.py (this script's folder is sys.path[0])

REPO = Path(__file__).resolve().parents[1]

MODULE = "bl_ext.user_default.nfs_blender"
SOURCE_NAME, TARGET_NAME = "NFS_demo_source", "NFS_demo_target"
STRIP_PREFERRED = (1, 12, 24, 52, 72, 88)  # neutral, blink, jawOpen, smile, brows up, pucker + wink
GAP_M = 0.03  # metres between the two heads
_T0 = time.perf_counter()


def log(msg: str) -> None:
    print(f"[demo {time.perf_counter() - _T0:6.1f}s] {msg}", flush=True)


def _env_bool(name: str, default: bool) -> bool:
    v = os.environ.get(name)
    return default if v is None or v == "" else v.strip().lower() not in ("0", "false", "no", "off")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description="nfs_blender demo inside headless Blender")
    ap.add_argument("--zip", required=True, help="the built add-on zip (python build_addon.py)")
    ap.add_argument("--asset", default=str(REPO / "demo" / "assets" / "demo_heads.npz"))
    ap.add_argument("--out", default=str(REPO / "demo" / "out"))
    ap.add_argument("--frames", type=int, default=int(os.environ.get("NFS_DEMO_FRAMES") or 0) or None)
    ap.add_argument("--res", type=int, default=int(os.environ.get("NFS_DEMO_RES") or 512))
    ap.add_argument("--gif", dest="gif", action="store_true", default=_env_bool("NFS_DEMO_GIF", True))
    ap.add_argument("--no-gif", dest="gif", action="store_false")
    ap.add_argument("--engine", default=os.environ.get("NFS_DEMO_ENGINE") or "AUTO",
                    choices=("AUTO", "WORKBENCH", "CYCLES", "NONE"))
    ap.add_argument("--weights", default=os.environ.get("NFS_DEMO_WEIGHTS") or "")
    ap.add_argument("--source-mode", default=os.environ.get("NFS_DEMO_SOURCE_MODE") or "GEOMETRY",
                    choices=("GEOMETRY", "NAMES"))
    args = ap.parse_args(argv)
    if not 16 <= args.res <= 2048:
        ap.error(f"--res must lie in 16..2048, got {args.res}")
    return args


# ------------------------------------------------------------------------------------------------ asset
ASSET_KEYS = ("source_verts", "source_faces", "source_deltas", "expression_names", "target_verts", "target_faces",
              "target_chin", "performance", "fps", "frame_start", "jaw_open_frame")


def load_asset(path) -> dict:
    """The demo asset as a dict of arrays (see scripts/make_demo_asset.py); checks keys and shapes."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"demo asset {p} is missing: it is committed in the repository "
                                f"(regenerate with: .venv/py311/bin/python scripts/make_demo_asset.py)")
    with np.load(p) as d:
        missing = [k for k in ASSET_KEYS if k not in d.files]
        if missing:
            raise ValueError(f"{p} lacks {missing}: regenerate it with scripts/make_demo_asset.py")
        a = {k: d[k] for k in d.files}
    ns, nt, k = len(a["source_verts"]), len(a["target_verts"]), len(a["expression_names"])
    if a["source_deltas"].shape != (k, ns, 3) or a["performance"].shape[1] != k:
        raise ValueError(f"{p}: inconsistent shapes {a['source_deltas'].shape}, {a['performance'].shape}")
    if a["source_faces"].max() >= ns or a["target_faces"].max() >= nt:
        raise ValueError(f"{p}: face indices out of range")
    return a


# ------------------------------------------------------------------------------------------------ Blender
def install_addon(zip_path: Path):
    """Install + enable the zip in the isolated user_default repository; returns the add-on module."""
    if not zip_path.is_file():
        raise FileNotFoundError(f"add-on zip {zip_path} not found: run `python build_addon.py` first")
    res = bpy.ops.extensions.package_install_files(filepath=str(zip_path), repo="user_default",
                                                   enable_on_install=True)
    if "FINISHED" not in res:
        raise RuntimeError(f"installing {zip_path} returned {res}")
    if not addon_utils.check(MODULE)[1]:
        addon_utils.enable(MODULE, default_set=True)
    return importlib.import_module(MODULE)


def disable_addon() -> None:
    try:
        addon_utils.disable(MODULE, default_set=True)
    except Exception:  # noqa: BLE001 - best effort at exit
        traceback.print_exc()


def clear_scene() -> None:
    for ob in list(bpy.data.objects):
        bpy.data.objects.remove(ob, do_unlink=True)
    for coll in (bpy.data.meshes, bpy.data.cameras, bpy.data.lights, bpy.data.materials, bpy.data.actions):
        for item in list(coll):
            coll.remove(item)


def ict_to_blender(points_cm, frames_mod) -> np.ndarray:
    """ICT (cm, +Y up, +Z forward) (..., 3) -> Blender (m, +Z up, -Y forward), float32; a linear map, so it
    serves positions and displacements alike."""
    p = np.asarray(points_cm, dtype=np.float64)
    return frames_mod.ict_to_blender(p.reshape(-1, 3)).reshape(p.shape).astype(np.float32)


def make_mesh_object(name: str, verts: np.ndarray, faces: np.ndarray, location) -> bpy.types.Object:
    """A triangle-mesh object from (N, 3) float32 metres and (F, 3) int faces, linked to the scene."""
    me = bpy.data.meshes.new(name)
    n, f = len(verts), len(faces)
    me.vertices.add(n)
    me.vertices.foreach_set("co", np.ascontiguousarray(verts, dtype=np.float32).ravel())
    me.loops.add(3 * f)
    me.loops.foreach_set("vertex_index", np.ascontiguousarray(faces, dtype=np.int32).ravel())
    me.polygons.add(f)
    me.polygons.foreach_set("loop_start", np.arange(0, 3 * f, 3, dtype=np.int32))
    me.polygons.foreach_set("loop_total", np.full(f, 3, dtype=np.int32))
    me.polygons.foreach_set("use_smooth", np.ones(f, dtype=bool))
    me.update(calc_edges=True)
    if me.validate(verbose=False):
        log(f"  note: Blender corrected invalid geometry in {name}")
    ob = bpy.data.objects.new(name, me)
    ob.location = location
    bpy.context.scene.collection.objects.link(ob)
    return ob


def add_shape_keys(ob, names, deltas: np.ndarray) -> None:
    """Basis + one key per name: Basis + deltas[k] (K, N, 3) metres (contiguous float32 writes)."""
    basis = ob.shape_key_add(name="Basis", from_mix=False)
    n = len(ob.data.vertices)
    base = np.empty(n * 3, dtype=np.float32)
    basis.points.foreach_get("co", base)
    for k, name in enumerate(names):
        kb = ob.shape_key_add(name=str(name), from_mix=False)
        kb.value = 0.0
        kb.points.foreach_set("co", np.ascontiguousarray(base + deltas[k].ravel(), dtype=np.float32))


def key_performance(addon, ob, names, perf: np.ndarray, frames: np.ndarray) -> int:
    """Keyframe the (T, K) weights on ``ob``'s shape keys with the add-on's bulk writer (own fallback)."""
    key = ob.data.shape_keys
    values = {str(n): perf[:, k].astype(np.float64) for k, n in enumerate(names)}
    try:
        kf = importlib.import_module(MODULE + ".keyframes")
    except ImportError:
        kf = None
    if kf is not None and hasattr(kf, "write_shape_key_animation"):
        return kf.write_shape_key_animation(key, values, frames, interpolation="LINEAR")
    log("  note: the add-on has no keyframes module; using keyframe_insert (slow)")
    for name, v in values.items():
        kb = key.key_blocks[name]
        for f, x in zip(frames, v):
            kb.value = float(x)
            kb.keyframe_insert("value", frame=float(f))
    return len(values)


def select_only(ob) -> None:
    for o in bpy.context.view_layer.objects:
        o.select_set(False)
    ob.select_set(True)
    bpy.context.view_layer.objects.active = ob


def run_operator(idname: str, **props) -> float:
    """Run ``bpy.ops.<idname>(**props)``; raise RuntimeError unless it FINISHED. Returns seconds."""
    cat, name = idname.split(".")
    op = getattr(getattr(bpy.ops, cat), name)
    try:
        op.get_rna_type()
    except KeyError:
        raise RuntimeError(f"operator bpy.ops.{idname} does not exist in the installed add-on") from None
    t0 = time.perf_counter()
    if not op.poll():
        raise RuntimeError(f"bpy.ops.{idname}: poll() failed (active object: "
                           f"{getattr(bpy.context.active_object, 'name', None)})")
    res = op("EXEC_DEFAULT", **props)
    if "FINISHED" not in res:
        raise RuntimeError(f"bpy.ops.{idname} returned {sorted(res)}; its error report is printed above")
    return time.perf_counter() - t0


def setup_weights(addon, spec: str, out: Path) -> str:
    """Point the add-on at the weights to use. Returns 'bundled', a path, or 'random' (plumbing only)."""
    prefs = bpy.context.preferences.addons[MODULE].preferences
    # the runtime's own default (its file name follows the shipped version), as installed with the add-on
    bundled = Path(importlib.import_module(MODULE + ".model_core.runtime.weights").DEFAULT_WEIGHTS)
    if spec and spec != "random":
        path = Path(spec).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"weights file {path} not found (NFS_DEMO_WEIGHTS / --weights)")
        prefs.weights_path = str(path)
        return str(path)
    if not spec and bundled.is_file():
        prefs.weights_path = ""
        return "bundled"
    if not spec:
        log("!" * 100)
        log(f"!! the add-on has no trained weights yet (model_core/weights/{bundled.name} is not in the zip):")
        log("!! running with RANDOM weights. The pipeline runs end to end; the retargeted faces mean nothing.")
        log("!" * 100)
    w = importlib.import_module(MODULE + ".model_core.runtime.weights")
    cfg = importlib.import_module(MODULE + ".model_core.runtime.config").ModelConfig()
    stem = out / "tmp" / "random_weights" / "nfs_random"
    # dec_gain: untrained decoders otherwise move vertices by ~1e-7 m; 4x gives millimetre-sized random motion
    w.save_weights(stem, w.random_weights(cfg, seed=0, dec_gain=4.0), config=cfg)
    prefs.weights_path = str(stem.with_suffix(".npz"))
    return "random"


def evaluated_world(ob) -> np.ndarray:
    """(N, 3) float64 world positions of the evaluated mesh at the current frame."""
    dg = bpy.context.evaluated_depsgraph_get()
    ob_eval = ob.evaluated_get(dg)
    me = ob_eval.data
    buf = np.empty(len(me.vertices) * 3, dtype=np.float32)
    me.attributes["position"].data.foreach_get("vector", buf)
    mat = np.array(ob_eval.matrix_world, dtype=np.float64)
    return buf.reshape(-1, 3).astype(np.float64) @ mat[:3, :3].T + mat[:3, 3]


def strip_frames(start: int, end: int, n: int = 6) -> list[int]:
    """Up to ``n`` frames for the strip: the preferred event frames inside the range, then the frames farthest
    from those already chosen."""
    frames = [f for f in STRIP_PREFERRED if start <= f <= end][:n]
    candidates = np.arange(start, end + 1)
    while len(frames) < min(n, len(candidates)):
        gap = np.min(np.abs(candidates[:, None] - np.asarray(frames)[None, :]), axis=1)
        frames.append(int(candidates[int(np.argmax(gap))]))
    return sorted(frames)


def _material(name: str, rgb, attribute: str | None = None):
    mat = bpy.data.materials.new(name)
    mat.diffuse_color = (*rgb, 1.0)  # Workbench 'MATERIAL' colour
    if bpy.app.version < (5, 0, 0):
        mat.use_nodes = True
    nt = mat.node_tree
    bsdf = next(n for n in nt.nodes if n.type == "BSDF_PRINCIPLED")
    bsdf.inputs["Base Color"].default_value = (*rgb, 1.0)
    bsdf.inputs["Roughness"].default_value = 0.6
    if attribute:
        node = nt.nodes.new("ShaderNodeAttribute")
        node.attribute_name = attribute
        nt.links.new(node.outputs["Color"], bsdf.inputs["Base Color"])
    return mat


def _camera(name: str, center, width: float, height: float, view: str = "front"):
    """Orthographic camera framing width x height metres around ``center``: ``front`` looks along +Y at the
    face (the faces look toward -Y), ``side`` looks along -X at the character's left side. Its data carries
    'nfs_aspect' = width / height for the renderer."""
    cam = bpy.data.cameras.new(name)
    cam.type = "ORTHO"
    cam.ortho_scale = max(width, height)
    cam.clip_start, cam.clip_end = 0.01, 10.0
    cam["nfs_aspect"] = width / height
    ob = bpy.data.objects.new(name, cam)
    if view == "front":
        ob.location = (center[0], center[1] - 2.0, center[2])
        ob.rotation_euler = (np.pi / 2, 0.0, 0.0)
    else:
        ob.location = (center[0] + 2.0, center[1], center[2])
        ob.rotation_euler = (np.pi / 2, 0.0, np.pi / 2)
    bpy.context.scene.collection.objects.link(ob)
    return ob


def setup_render_scene(source, target, regions_meta: dict) -> None:
    """Cameras (pair and target-only), a sun and a fill light (Cycles), white world, materials."""
    scene = bpy.context.scene
    src_v = evaluated_world(source)
    tgt_v = evaluated_world(target)
    zmin = src_v[:, 2].min() - 0.01
    zmax = max(src_v[:, 2].max(), tgt_v[:, 2].max()) + 0.01
    band = tgt_v[tgt_v[:, 2] >= zmin]
    xmin, xmax = src_v[:, 0].min() - 0.01, band[:, 0].max() + 0.01
    _camera("NFS_demo_cam_pair", ((xmin + xmax) / 2, 0.0, (zmin + zmax) / 2), xmax - xmin, zmax - zmin)
    head = tgt_v[tgt_v[:, 2] >= tgt_v[:, 2].max() - 0.28]
    lo, hi = head.min(axis=0) - 0.015, head.max(axis=0) + 0.015
    width = max(hi[0] - lo[0], hi[1] - lo[1])  # same framing for both views
    _camera("NFS_demo_cam_regions", (lo + hi) / 2, width, hi[2] - lo[2])
    _camera("NFS_demo_cam_side", (lo + hi) / 2, width, hi[2] - lo[2], view="side")
    scene.camera = bpy.data.objects["NFS_demo_cam_pair"]
    for name, energy, rot in (("NFS_demo_key", 2.5, (0.9, 0.0, -0.5)), ("NFS_demo_fill", 0.8, (1.2, 0.0, 0.8))):
        light = bpy.data.lights.new(name, "SUN")
        light.energy = energy
        lob = bpy.data.objects.new(name, light)
        lob.rotation_euler = rot
        scene.collection.objects.link(lob)
    demo_render.world_ambient(scene, 0.35)
    source.data.materials.append(_material("NFS_demo_source_skin", (0.62, 0.70, 0.80)))
    target.data.materials.append(_material("NFS_demo_target_skin", (0.82, 0.70, 0.62)))
    _material("NFS_demo_regions", (0.8, 0.8, 0.8), attribute="NFS_regions").use_fake_user = True
    ca = target.data.color_attributes
    if ca.get("NFS_regions") is not None:
        ca.active_color_name = "NFS_regions"
        ca.default_color_name = "NFS_regions"
    target["nfs_demo"] = json.dumps(regions_meta)


# ------------------------------------------------------------------------------------------------ main
def run(args) -> dict:
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    summary: dict = {"blender": bpy.app.version_string, "timings_s": {}}
    tm = summary["timings_s"]

    def step(name, t0):
        tm[name] = round(time.perf_counter() - t0, 3)

    t = time.perf_counter()
    asset = load_asset(args.asset)
    names = [str(n) for n in asset["expression_names"]]
    fps, f0, jaw = int(asset["fps"]), int(asset["frame_start"]), int(asset["jaw_open_frame"])
    n_all = asset["performance"].shape[0]
    n_frames = min(n_all, max(args.frames or n_all, jaw - f0 + 1))
    if args.frames and n_frames != args.frames:
        log(f"frames: {args.frames} asked, using {n_frames} (the range must include the jawOpen frame {jaw} "
            f"and at most the {n_all} frames of the performance)")
    frames = np.arange(f0, f0 + n_frames, dtype=np.float64)
    perf = asset["performance"][:n_frames].astype(np.float64)
    step("load_asset", t)

    log(f"1/6 installing {Path(args.zip).name} into the isolated user_default repository")
    t = time.perf_counter()
    clear_scene()
    addon = install_addon(Path(args.zip))
    frames_mod = importlib.import_module(MODULE + ".model_core.runtime.frames")
    summary["weights"] = setup_weights(addon, args.weights, out)
    step("install", t)
    log(f"  add-on {MODULE} enabled; weights: {summary['weights']}")

    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = fps, 1.0
    scene.frame_start, scene.frame_end = int(frames[0]), int(frames[-1])
    scene.frame_set(int(frames[0]))

    log(f"2/6 source: {len(asset['source_verts'])} vertices, 53 ICT shape keys, {n_frames} frames keyed")
    t = time.perf_counter()
    sv = ict_to_blender(asset["source_verts"], frames_mod)
    tv = ict_to_blender(asset["target_verts"], frames_mod)
    sx = -(sv[:, 0].max() + GAP_M / 2)           # source to the left (-X), target to the right
    tx = -(tv[:, 0].min()) + GAP_M / 2
    source = make_mesh_object(SOURCE_NAME, sv, asset["source_faces"], (sx, 0.0, 0.0))
    add_shape_keys(source, names, ict_to_blender(asset["source_deltas"].astype(np.float32), frames_mod))
    n_curves = key_performance(addon, source, names, perf, frames)
    step("source", t)
    log(f"  {n_curves} F-curves written")

    log(f"3/6 target: {len(asset['target_verts'])} vertices (another identity, 1.1x, other crop and mesh)")
    t = time.perf_counter()
    target = make_mesh_object(TARGET_NAME, tv, asset["target_faces"], (tx, 0.0, 0.0))
    step("target", t)

    log("4/6 add-on operators on the target")
    select_only(target)
    tm["op_compute_skinning"] = round(run_operator("nfs.compute_skinning"), 3)
    n_groups = sum(1 for g in target.vertex_groups if g.name.startswith("NFS_"))
    log(f"  nfs.compute_skinning: {n_groups} NFS_ vertex groups + NFS_regions colours "
        f"({tm['op_compute_skinning']:.1f} s)")
    tm["op_generate_facs_keys"] = round(run_operator("nfs.generate_facs_keys", replace=True, scheme="ICT"), 3)
    log(f"  nfs.generate_facs_keys: {len(target.data.shape_keys.key_blocks) - 1} shape keys "
        f"({tm['op_generate_facs_keys']:.1f} s)")
    settings = scene.nfs
    settings.bake_source = source
    settings.source_mode = args.source_mode
    settings.use_scene_range = True
    tm["op_bake_from_source"] = round(run_operator("nfs.bake_from_source"), 3)
    log(f"  nfs.bake_from_source ({args.source_mode}): frames {scene.frame_start}-{scene.frame_end} "
        f"({tm['op_bake_from_source']:.1f} s)")

    log("5/6 checking the result and saving retarget.blend")
    t = time.perf_counter()
    scene.frame_set(int(frames[0]))
    rest = evaluated_world(target)
    scene.frame_set(jaw)
    posed = evaluated_world(target)
    disp = posed - rest
    chin = asset["target_chin"].astype(np.int64)
    tkey = target.data.shape_keys
    jaw_value = float(tkey.key_blocks["jawOpen"].value) if "jawOpen" in tkey.key_blocks else None
    summary["check"] = {
        "jaw_open_frame": jaw,
        "target_jawOpen_value": jaw_value,
        "target_max_displacement_m": float(np.linalg.norm(disp, axis=1).max()),
        "target_chin_mean_dz_m": float(disp[chin, 2].mean()),
        "target_chin_mean_displacement_m": disp[chin].mean(axis=0).tolist(),
    }
    scene.frame_set(int(frames[0]))
    engine = importlib.import_module(MODULE + ".engine")
    model = engine.get_model(bpy.context.preferences.addons[MODULE].preferences.weights_path)
    meta = {"region_names": engine.region_names(model),
            "region_colors": engine.region_colors(model).tolist(), "jaw_open_frame": jaw,
            "weights": summary["weights"]}
    setup_render_scene(source, target, meta)
    blend = out / "retarget.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), check_existing=False)
    step("check_and_save", t)
    summary.update(blend=str(blend), frames=[int(frames[0]), int(frames[-1])], n_source_verts=len(sv),
                   n_target_verts=len(tv), source_mode=args.source_mode)
    c = summary["check"]
    log(f"  jawOpen frame {jaw}: target jawOpen key = {jaw_value if jaw_value is None else round(jaw_value, 3)}, "
        f"chin moved {1000 * c['target_chin_mean_dz_m']:+.2f} mm in Z, max displacement "
        f"{1000 * c['target_max_displacement_m']:.2f} mm")
    log(f"  saved {blend}")
    return summary


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out).resolve()
    rc = 0
    summary: dict = {}
    try:
        summary = run(args)
        disable_addon()  # before rendering: nothing of the add-on stays registered
        if args.engine != "NONE":
            log("6/6 rendering (subprocess: Workbench, Cycles CPU if Workbench cannot run here)")
            t = time.perf_counter()
            frames = strip_frames(*summary["frames"])
            info = demo_render.render_with_fallback(
                Path(summary["blend"]), out, engine=args.engine, frames=frames, res=args.res, gif=args.gif,
                gif_step=2, gif_res=max(64, args.res // 2), log=log)
            summary["timings_s"]["render"] = round(time.perf_counter() - t, 3)
            summary["render"] = info
        summary["timings_s"]["total"] = round(time.perf_counter() - _T0, 3)
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
        log("done. Outputs:")
        for name in ("retarget.blend", "regions.png", "strip.png", "strip.gif", "summary.json"):
            if (out / name).is_file():
                log(f"  {out / name}")
        if summary.get("weights") == "random":
            log("  (RANDOM weights: the pictures show the plumbing, not a trained retarget)")
    except BaseException:  # noqa: BLE001 - report and leave with a non-zero code
        traceback.print_exc()
        rc = 1
        disable_addon()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)  # a normal interpreter exit can hang/segfault in bpy


if __name__ == "__main__":
    main()
