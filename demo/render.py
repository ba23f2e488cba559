"""Render helpers of the demo: pictures of a saved demo .blend, composed with numpy, written as PNG and GIF.

Two halves:

* numpy-only helpers (importable anywhere, no ``bpy``): :func:`write_gif` (own LZW encoder), :func:`grid`,
  :func:`label_bar`, :func:`legend`; PNGs are written with ``model_core.evaluation.render_util.write_png``.
* ``python demo/render.py --blend F --out DIR --engine WORKBENCH|CYCLES ...``: runs inside headless Blender
  (the ``bpy`` module), opens the .blend written by ``demo/demo_blender.py`` and renders

  - ``regions.png``: the target with its ``NFS_regions`` colour attribute (front and side) and a legend,
  - ``strip.png``: a few frames (source | target per frame), two rows, labelled,
  - ``strip.gif`` (optional): every ``--gif-step``-th frame of the range at a smaller size.

  Workbench and EEVEE need an OpenGL (EGL) driver and can kill the process without an exception on hosts that
  have none, so :func:`render_with_fallback` runs this script in a subprocess, first with Workbench, and again
  with Cycles (CPU, always works) when the first try dies or writes nothing. Test hook:
  ``NFS_DEMO_FAIL_ENGINE=WORKBENCH`` makes the Workbench try abort the way it does without EGL.

Images are (H, W, 3) float arrays in 0..1, row 0 at the top.
"""
from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from model_core.evaluation.render_util import draw_text, fill_rect, text_width, write_png

__all__ = ["write_gif", "grid", "label_bar", "legend", "render_with_fallback", "write_png"]

WHITE = (1.0, 1.0, 1.0)


# ----------------------------------------------------------------------------------------------- numpy helpers
def fit_scale(texts, width: int, scale: int = 2) -> int:
    """The largest font scale <= ``scale`` (at least 1) at which every text fits in ``width`` pixels."""
    while scale > 1 and not all(text_width(t, scale) <= width - 8 for t in texts):
        scale -= 1
    return scale


def label_bar(width: int, text: str, *, scale: int = 2) -> np.ndarray:
    """(h, width, 3) white bar with ``text`` drawn in black, left-aligned; the font shrinks (down to scale 1) and
    the text is cut with '..' when it does not fit. The bar height depends on ``scale`` only."""
    h = 7 * scale + 6
    scale = fit_scale([text], width, scale)
    max_chars = max(1, (width - 8) // (6 * scale))
    if len(text) > max_chars:
        text = text[:max(1, max_chars - 2)] + ".."
    bar = np.ones((h, width, 3))
    draw_text(bar, text, 4, (h - 7 * scale) // 2, scale=scale)
    return bar


def grid(images, cols: int, *, pad: int = 4, background=WHITE) -> np.ndarray:
    """Tile same-sized images (list of (h, w, 3)) into ``cols`` columns with ``pad`` pixels between them."""
    if not images:
        raise ValueError("grid() needs at least one image")
    h, w = images[0].shape[:2]
    rows = (len(images) + cols - 1) // cols
    out = np.empty((rows * h + (rows + 1) * pad, cols * w + (cols + 1) * pad, 3))
    out[:] = background
    for i, img in enumerate(images):
        if img.shape[:2] != (h, w):
            raise ValueError(f"grid(): image {i} is {img.shape[:2]}, expected {(h, w)}")
        r, c = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        out[y:y + h, x:x + w] = img[..., :3]
    return out


def legend(names, colors, width: int, *, scale: int = 2) -> np.ndarray:
    """(h, width, 3) legend: a colour swatch and the name of every region, in as many columns as fit."""
    names = [str(n) for n in names]
    colors = np.clip(np.asarray(colors, dtype=np.float64).reshape(-1, 3), 0, 1)
    sw = 7 * scale
    cell_w = max((text_width(n, scale) for n in names), default=0) + sw + 16
    cols = max(1, width // max(cell_w, 1))
    rows = (len(names) + cols - 1) // cols
    row_h = sw + 6
    img = np.ones((rows * row_h + 6, width, 3))
    for i, (n, c) in enumerate(zip(names, colors)):
        r, k = divmod(i, cols)
        x, y = 4 + k * cell_w, 4 + r * row_h
        fill_rect(img, x, y, sw, sw, c)
        draw_text(img, n, x + sw + 4, y, scale=scale)
    return img


def _palette(frames_u8: np.ndarray, n: int = 256) -> np.ndarray:
    """Up to ``n`` colours (K, 3) uint8: the most frequent colours of all frames after 5-bit quantisation."""
    q = (frames_u8.reshape(-1, 3) >> 3).astype(np.int32)
    keys = (q[:, 0] << 10) | (q[:, 1] << 5) | q[:, 2]
    uniq, counts = np.unique(keys, return_counts=True)
    top = uniq[np.argsort(-counts, kind="stable")[:n]]
    pal = np.stack([(top >> 10) & 31, (top >> 5) & 31, top & 31], axis=1)
    return (pal * 8 + 4).astype(np.uint8)


def _nearest(pixels: np.ndarray, pal: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """Index (M,) uint8 of the nearest palette colour of every pixel (M, 3)."""
    p = pal.astype(np.float32)
    pp = (p ** 2).sum(axis=1)
    out = np.empty(len(pixels), dtype=np.uint8)
    for s in range(0, len(pixels), chunk):
        x = pixels[s:s + chunk].astype(np.float32)
        out[s:s + chunk] = np.argmin(pp[None, :] - 2.0 * x @ p.T, axis=1)
    return out


def _lzw(indices: np.ndarray, min_code_size: int = 8) -> bytes:
    """GIF LZW compression of palette indices (flat uint8) -> the code stream bytes (before sub-blocking)."""
    clear, eoi = 1 << min_code_size, (1 << min_code_size) + 1
    out = bytearray()
    acc = nbits = 0
    size = min_code_size + 1
    table: dict = {}
    nxt = eoi + 1

    def put(code, width):
        nonlocal acc, nbits
        acc |= code << nbits
        nbits += width
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8

    data = indices.tobytes()
    put(clear, size)
    prefix = data[0]
    for b in data[1:]:
        key = (prefix << 8) | b
        code = table.get(key)
        if code is not None:
            prefix = code
            continue
        put(prefix, size)
        if nxt < 4096:
            table[key] = nxt
            nxt += 1
            if nxt > (1 << size) and size < 12:
                size += 1
        else:  # table full: start over
            put(clear, size)
            table.clear()
            nxt = eoi + 1
            size = min_code_size + 1
        prefix = b
    put(prefix, size)
    put(eoi, size)
    if nbits:
        out.append(acc & 0xFF)
    return bytes(out)


def write_gif(path, frames, *, fps: float = 12.0, loop: bool = True) -> Path:
    """Write an animated GIF (one global 256-colour palette) of same-sized frames.

    Args:
        frames: sequence of (H, W, 3) float images in 0..1 (or uint8).
        fps: frames per second (stored as a delay in 1/100 s, at least 2).
    Returns the path.
    """
    arr = [np.asarray(f) for f in frames]
    if not arr:
        raise ValueError("write_gif() needs at least one frame")
    u8 = np.stack([(np.clip(a[..., :3], 0, 1) * 255 + 0.5).astype(np.uint8) if a.dtype != np.uint8 else a[..., :3]
                   for a in arr])
    t, h, w = u8.shape[:3]
    pal = _palette(u8)
    pal_full = np.zeros((256, 3), dtype=np.uint8)
    pal_full[:len(pal)] = pal
    delay = max(2, int(round(100.0 / fps)))
    buf = bytearray(b"GIF89a")
    buf += struct.pack("<HHBBB", w, h, 0xF7, 0, 0)  # global table of 2^(7+1) = 256 colours
    buf += pal_full.tobytes()
    if loop:
        buf += b"\x21\xFF\x0BNETSCAPE2.0\x03\x01\x00\x00\x00"
    for k in range(t):
        idx = _nearest(u8[k].reshape(-1, 3), pal)
        buf += b"\x21\xF9\x04\x00" + struct.pack("<H", delay) + b"\x00\x00"  # graphic control
        buf += b"\x2C" + struct.pack("<HHHHB", 0, 0, w, h, 0)
        data = _lzw(idx, 8)
        buf.append(8)
        for s in range(0, len(data), 255):
            block = data[s:s + 255]
            buf.append(len(block))
            buf += block
        buf.append(0)
    buf.append(0x3B)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(bytes(buf))
    return p


# ----------------------------------------------------------------------------------------------- subprocess
def render_with_fallback(blend: Path, out: Path, *, engine: str = "AUTO", frames=(), res: int = 512,
                         gif: bool = True, gif_step: int = 2, gif_res: int = 256, timeout: float = 900,
                         python: str | None = None, log=print) -> dict:
    """Render the demo pictures of ``blend`` into ``out`` in a subprocess, Workbench first, Cycles on failure.

    Args:
        engine: 'AUTO' (Workbench, then Cycles), 'WORKBENCH' or 'CYCLES' (no fallback).
        frames: frame numbers of the strip. res: largest side of a strip frame in pixels.
        gif/gif_step/gif_res: animated GIF of every gif_step-th frame, largest side gif_res.
    Returns:
        the JSON the render script printed (engine used, files, seconds), plus ``tries`` (list of
        (engine, exit code)).
    Raises:
        RuntimeError: every engine failed (the message holds the tail of the output).
    """
    engines = ["WORKBENCH", "CYCLES"] if engine.upper() == "AUTO" else [engine.upper()]
    tries, last = [], ""
    for eng in engines:
        cmd = [python or sys.executable, str(Path(__file__).resolve()), "--blend", str(blend), "--out", str(out),
               "--engine", eng, "--frames", ",".join(str(int(f)) for f in frames), "--res", str(int(res)),
               "--gif-step", str(int(gif_step)), "--gif-res", str(int(gif_res))] + ([] if gif else ["--no-gif"])
        log(f"rendering with {eng} (subprocess)")
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
            rc, text = proc.returncode, proc.stdout + proc.stderr
        except subprocess.TimeoutExpired as ex:
            rc = "timeout"
            text = (ex.stdout or b"").decode(errors="replace") if isinstance(ex.stdout, bytes) else (ex.stdout or "")
        tries.append((eng, rc))
        result = [ln[len("NFS_RENDER:"):] for ln in text.splitlines() if ln.startswith("NFS_RENDER:")]
        if rc == 0 and result:
            info = json.loads(result[-1])
            info["tries"] = tries
            log(f"{eng} finished in {time.perf_counter() - t0:.1f} s")
            return info
        last = "\n".join(ln for ln in text.splitlines() if "Not freed memory" not in ln)[-3000:]
        log(f"{eng} failed (exit {rc}); {'trying Cycles' if eng != engines[-1] else 'giving up'}")
    raise RuntimeError(f"rendering failed with {', '.join(e for e, _ in tries)}:\n{last}")


# ----------------------------------------------------------------------------------------------- inside Blender
def _setup_engine(scene, engine: str) -> None:
    import bpy
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGBA"
    scene.render.film_transparent = True  # composited over white by _render
    scene.view_settings.view_transform = "Standard"
    if engine == "WORKBENCH":
        scene.render.engine = "BLENDER_WORKBENCH"
        sh = scene.display.shading
        sh.light = "STUDIO"
        sh.show_specular_highlight = False
        sh.show_shadows = False
        sh.show_cavity = False
        scene.display.render_aa = "8"
    else:
        scene.render.engine = "CYCLES"
        scene.cycles.device = "CPU"
        scene.cycles.samples = 16
        scene.cycles.use_denoising = False
        scene.cycles.max_bounces = 2
        scene.render.threads_mode = "AUTO"
    world_ambient(scene, 0.35)


def world_ambient(scene, level: float) -> None:
    """Uniform grey world of ``level`` (ambient light for Cycles; the film is transparent anyway)."""
    import bpy
    if scene.world is None:
        scene.world = bpy.data.worlds.new("NFS_demo_world")
    w = scene.world
    w.color = (level, level, level)
    if w.node_tree is not None:
        for node in w.node_tree.nodes:
            if node.type == "BACKGROUND":
                node.inputs["Color"].default_value = (level, level, level, 1.0)
                node.inputs["Strength"].default_value = 1.0


def _set_mode(scene, engine: str, regions: bool) -> None:
    """Plain skin colours (strip) or the NFS_regions colour attribute on the target (regions)."""
    import bpy
    target = bpy.data.objects["NFS_demo_target"]
    if engine == "WORKBENCH":
        scene.display.shading.color_type = "VERTEX" if regions else "MATERIAL"
    else:
        mat = bpy.data.materials["NFS_demo_regions" if regions else "NFS_demo_target_skin"]
        target.material_slots[0].material = mat


def _render(scene, path: Path) -> np.ndarray:
    """Render the current frame to ``path`` (PNG, transparent film) and return it composited over white as
    (H, W, 3) float, row 0 at the top."""
    import bpy
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)
    img = bpy.data.images.load(str(path), check_existing=False)
    w, h = img.size
    px = np.empty(w * h * img.channels, dtype=np.float32)
    img.pixels.foreach_get(px)
    bpy.data.images.remove(img)
    rgba = px.reshape(h, w, -1)[::-1].astype(np.float64)
    if rgba.shape[2] < 4:
        return rgba[..., :3]
    a = np.clip(rgba[..., 3:4], 0.0, 1.0)
    return rgba[..., :3] * a + (1.0 - a)


def _frame_size(cam, res: int) -> tuple[int, int]:
    aspect = float(cam.data.get("nfs_aspect", 1.0))  # width / height of the framed area
    return (res, max(16, int(round(res / aspect)))) if aspect >= 1 else (max(16, int(round(res * aspect))), res)


def _main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Render the demo pictures of a demo .blend (inside headless Blender)")
    ap.add_argument("--blend", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--engine", choices=("WORKBENCH", "CYCLES"), default="WORKBENCH")
    ap.add_argument("--frames", default="")
    ap.add_argument("--res", type=int, default=512)
    ap.add_argument("--gif-step", type=int, default=2)
    ap.add_argument("--gif-res", type=int, default=256)
    ap.add_argument("--no-gif", action="store_true")
    args = ap.parse_args(argv)
    if os.environ.get("NFS_DEMO_FAIL_ENGINE", "").upper() == args.engine:
        # test hook: die like Workbench does on a host without EGL (SIGABRT, no Python exception)
        sys.stdout.flush()
        os.abort()
    import bpy

    t0 = time.perf_counter()
    out = Path(args.out)
    work = out / "tmp" / "render" / args.engine.lower()
    work.mkdir(parents=True, exist_ok=True)
    bpy.ops.wm.open_mainfile(filepath=str(Path(args.blend).resolve()))
    scene = bpy.context.scene
    _setup_engine(scene, args.engine)
    source, target = bpy.data.objects["NFS_demo_source"], bpy.data.objects["NFS_demo_target"]
    cam_pair, cam_regions = bpy.data.objects["NFS_demo_cam_pair"], bpy.data.objects["NFS_demo_cam_regions"]
    big = 3 if args.res >= 384 else 2  # font scale
    meta = json.loads(target.get("nfs_demo", "{}"))
    files = {}

    # ---- regions: target only, neutral, front and side
    scene.frame_set(scene.frame_start)
    _set_mode(scene, args.engine, regions=True)
    source.hide_render = True
    scene.camera = cam_regions
    scene.render.resolution_x, scene.render.resolution_y = _frame_size(cam_regions, args.res)
    scene.render.resolution_percentage = 100
    front = _render(scene, work / "regions_front.png")
    scene.camera = bpy.data.objects["NFS_demo_cam_side"]
    side = _render(scene, work / "regions_side.png")
    pair = grid([front, side], 2)
    names, colors = meta.get("region_names", []), meta.get("region_colors", [])
    parts = [label_bar(pair.shape[1], "skinning regions of the target", scale=big), pair]
    if names and len(colors) == len(names):
        parts.append(legend(names, colors, pair.shape[1], scale=big - 1 if big > 2 else 2))
    files["regions"] = str(write_png(out / "regions.png", np.concatenate(parts, axis=0)))

    # ---- strip: source | target per frame
    source.hide_render = False
    _set_mode(scene, args.engine, regions=False)
    scene.camera = cam_pair
    scene.render.resolution_x, scene.render.resolution_y = _frame_size(cam_pair, args.res)
    jaw = int(meta.get("jaw_open_frame", -1))
    frames = [int(f) for f in args.frames.split(",") if f.strip()] or [scene.frame_start]
    texts = [f"frame {f}" + (" jawopen=1" if f == jaw else "") for f in frames]
    scale = fit_scale(texts, scene.render.resolution_x, big)
    tiles = []
    for f, text in zip(frames, texts):
        scene.frame_set(f)
        img = _render(scene, work / f"strip_{f:04d}.png")
        tiles.append(np.concatenate([label_bar(img.shape[1], text, scale=scale), img], axis=0))
    body = grid(tiles, cols=(len(tiles) + 1) // 2 if len(tiles) > 3 else len(tiles))
    head = label_bar(body.shape[1], "left: source (facs shape keys)  right: target (baked by nfs)", scale=big)
    files["strip"] = str(write_png(out / "strip.png", np.concatenate([head, body], axis=0)))

    # ---- GIF: every gif_step-th frame, smaller
    if not args.no_gif:
        scene.render.resolution_x, scene.render.resolution_y = _frame_size(cam_pair, args.gif_res)
        gif_frames = []
        for f in range(scene.frame_start, scene.frame_end + 1, max(1, args.gif_step)):
            scene.frame_set(f)
            gif_frames.append(_render(scene, work / "gif_frame.png"))
        fps = scene.render.fps / (scene.render.fps_base or 1.0) / max(1, args.gif_step)
        files["gif"] = str(write_gif(out / "strip.gif", gif_frames, fps=fps))
    info = {"engine": args.engine, "files": files, "strip_frames": frames, "seconds": time.perf_counter() - t0,
            "blender": bpy.app.version_string}
    sys.stdout.write("\nNFS_RENDER:" + json.dumps(info) + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    try:
        _main()
    except BaseException:  # report, then leave without Python's slow/unsafe interpreter shutdown
        import traceback
        traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
