#!/usr/bin/env python3
"""Derive the demo asset ``demo/assets/demo_heads.npz`` from ICT-FaceKit (``../shared/data``).

Usage::

    .venv/py311/bin/python scripts/make_demo_asset.py [--ict PATH] [--out demo/assets/demo_heads.npz]

The demo (``bash demo/run_demo.sh``) needs no ICT-FaceKit download: everything it uses is in this one
file (<= 5 MB, deterministic: same bytes for the same ICT data).

What it holds (ICT frame: centimetres, +Y up, the face looks toward +Z):

| key | shape, dtype | meaning |
|---|---|---|
| source_verts | (Ns, 3) float32 | SOURCE neutral head: identity A, ICT 'face' crop, adaptively remeshed (<= 5000 vertices) |
| source_faces | (Fs, 3) int32 | its triangles (counter-clockwise seen from outside) |
| source_deltas | (53, Ns, 3) float16 | the 53 ICT FACS expression displacements at the source's vertices, cm |
| expression_names | (53,) str | ICT names, ICT order (``browDown_L`` ... ) |
| target_verts | (Nt, 3) float32 | TARGET neutral head: identity B scaled 1.1x, 'full' crop, isotropically remeshed |
| target_faces | (Ft, 3) int32 | its triangles |
| target_chin | (K,) int32 | target vertices around the chin/lower lip (see below) |
| performance | (T, 53) float16 | FACS weights per frame (frame ``frame_start + t``), values in 0..1 |
| fps, frame_start, jaw_open_frame | () int32 | 24, 1, 24: jawOpen = 1.0 exactly at ``jaw_open_frame`` |
| info | () str | JSON: seeds, crops, vertex counts, how each mesh was made |

Meshes come from ``model_core.dataset.remesh.make_topology`` (fixed kinds and seeds): the source is the 'face' crop
remeshed with a curvature-adaptive density ("decimate": dense at eyes, nose, lips, like ICT or an artist's
mesh); the target is the 'full' crop (head and neck) remeshed isotropically ("voronoi"), a tessellation that
shares nothing with ICT's or the source's. Every vertex lies on the ICT surface (exact barycentric map), so
the source's FACS deltas are ICT's own, resampled. Regenerating after ``remesh`` changes (its ``VERSION``)
gives a different but equivalent asset; the committed file is the reference.

``target_chin`` (K,) int32 lists the target vertices that ICT's jawOpen moves most (>= 60 % of the largest
displacement, through the same barycentric map): the demo's test checks that they move down at the jawOpen
frame after retargeting.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np

from model_core.dataset.ict import CROPS, load_ict
from model_core.dataset.remesh import VERSION as REMESH_VERSION
from model_core.dataset.remesh import make_topology

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "demo" / "assets" / "demo_heads.npz"
MAX_BYTES = 5 * 1024 * 1024
SEED_SOURCE, SEED_TARGET = 7, 11                # identity coefficient seeds
SEED_SOURCE_MESH, SEED_TARGET_MESH = 101, 202   # remeshing seeds
ID_SCALE = 1.0          # identity coefficients ~ N(0, ID_SCALE^2)
TARGET_SCALE = 1.1      # the target head is 10 % bigger
SOURCE_CROP, TARGET_CROP = "face", "full"
SOURCE_KIND, TARGET_KIND = "decimate", "voronoi"
SOURCE_N, TARGET_N = 4500, 10000
CHIN_FRACTION = 0.6
N_FRAMES, FPS, FRAME_START, JAW_OPEN_FRAME = 96, 24, 1, 24


# ---------------------------------------------------------------------------------------------------------
# Performance

def _bump(t: np.ndarray, start: float, peak: float, end: float, height: float = 1.0) -> np.ndarray:
    """Smooth 0 -> height -> 0 curve: raised cosine up on [start, peak], down on [peak, end], exact at peak."""
    out = np.zeros_like(t, dtype=np.float64)
    up = (t >= start) & (t <= peak)
    dn = (t > peak) & (t <= end)
    out[up] = 0.5 - 0.5 * np.cos(np.pi * (t[up] - start) / max(peak - start, 1e-9))
    out[dn] = 0.5 + 0.5 * np.cos(np.pi * (t[dn] - peak) / max(end - peak, 1e-9))
    return height * out


def demo_performance(names, n_frames: int = N_FRAMES, frame_start: int = FRAME_START,
                     jaw_frame: int = JAW_OPEN_FRAME) -> np.ndarray:
    """(n_frames, 53) float64 FACS weights in 0..1 for frames ``frame_start ..``: jaw open (1.0 at
    ``jaw_frame``), blinks, a smile, a brow raise, a pucker, a left wink, a sneer."""
    idx = {n: i for i, n in enumerate(names)}
    t = np.arange(n_frames, dtype=np.float64) + frame_start
    w = np.zeros((n_frames, len(names)))

    def add(name, *bump):
        w[:, idx[name]] = np.maximum(w[:, idx[name]], _bump(t, *bump))

    add("jawOpen", jaw_frame - 16, jaw_frame, jaw_frame + 16, 1.0)
    add("mouthFunnel", jaw_frame - 10, jaw_frame, jaw_frame + 10, 0.3)
    for side in "LR":
        add(f"eyeWide_{side}", jaw_frame - 12, jaw_frame, jaw_frame + 12, 0.5)
        add(f"mouthSmile_{side}", 40, 52, 64, 0.9)
        add(f"cheekSquint_{side}", 42, 52, 62, 0.5)
        add(f"browInnerUp_{side}", 62, 72, 82, 0.9)
        add(f"browOuterUp_{side}", 62, 72, 82, 0.9)
        for b in (12, 58):
            add(f"eyeBlink_{side}", b - 3, b, b + 3, 1.0)
    add("eyeBlink_L", 84, 88, 92, 1.0)  # wink
    add("mouthPucker", 78, 86, 94, 0.9)
    add("noseSneer_L", 80, 88, 96, 0.6)
    return np.clip(w, 0.0, 1.0)


# ---------------------------------------------------------------------------------------------------------

def make_asset(ict_path=None) -> dict:
    """Build every array of the demo asset (see the module docstring). Deterministic."""
    ict = load_ict(ict_path)
    names = list(ict.expression_names)
    # SOURCE: identity A, 'face' crop, curvature-adaptive decimation (ICT-like density)
    rng = np.random.default_rng(SEED_SOURCE)
    id_a = rng.standard_normal(100) * ID_SCALE
    s_topo = make_topology(ict, SOURCE_CROP, SOURCE_N, SOURCE_KIND, SEED_SOURCE_MESH)
    n_s = CROPS[SOURCE_CROP][0]
    if s_topo.n_verts > 5000:
        raise ValueError(f"the source mesh has {s_topo.n_verts} vertices; the demo wants <= 5000: lower SOURCE_N")
    s_verts = s_topo.positions(ict.identity_verts(id_a, SOURCE_CROP))
    s_deltas = s_topo.positions(ict.expression_modes[:, :n_s])
    # TARGET: identity B x 1.1, 'full' crop, isotropic remesh
    rng = np.random.default_rng(SEED_TARGET)
    id_b = rng.standard_normal(100) * ID_SCALE
    t_topo = make_topology(ict, TARGET_CROP, TARGET_N, TARGET_KIND, SEED_TARGET_MESH)
    n_t = CROPS[TARGET_CROP][0]
    t_verts = t_topo.positions(ict.identity_verts(id_b, TARGET_CROP)) * TARGET_SCALE
    jaw = ict.expression_modes[names.index("jawOpen"), :n_t]
    jaw_len = np.linalg.norm(t_topo.positions(jaw), axis=1)
    t_chin = np.flatnonzero(jaw_len >= CHIN_FRACTION * jaw_len.max())
    perf = demo_performance(names)
    info = {
        "derived_from": "ICT-FaceKit Face Model Light (MIT, USC ICT); see demo/assets/NOTICE.md",
        "made_by": "scripts/make_demo_asset.py",
        "frame": "ICT: centimetres, +Y up, face looks toward +Z",
        "source": {"identity_seed": SEED_SOURCE, "identity_scale": ID_SCALE, "crop": SOURCE_CROP,
                   "mesh": f"model_core.dataset.remesh.make_topology(kind={SOURCE_KIND!r}, seed={SEED_SOURCE_MESH}, "
                           f"n_target={SOURCE_N}), remesh version {REMESH_VERSION}",
                   "n_verts": s_topo.n_verts, "n_faces": s_topo.n_faces},
        "target": {"identity_seed": SEED_TARGET, "identity_scale": ID_SCALE, "scale": TARGET_SCALE,
                   "crop": TARGET_CROP,
                   "mesh": f"model_core.dataset.remesh.make_topology(kind={TARGET_KIND!r}, seed={SEED_TARGET_MESH}, "
                           f"n_target={TARGET_N}), remesh version {REMESH_VERSION}",
                   "n_verts": t_topo.n_verts, "n_faces": t_topo.n_faces,
                   "chin": f"target_chin: vertices whose ICT jawOpen displacement is >= {CHIN_FRACTION} x the max"},
        "performance": {"n_frames": N_FRAMES, "fps": FPS, "frame_start": FRAME_START,
                        "jaw_open_frame": JAW_OPEN_FRAME,
                        "events": "blinks @12,58; jawOpen 1.0 @24; smile @52; brows up @72; pucker @86; "
                                  "left wink @88"},
    }
    return {
        "source_verts": s_verts.astype(np.float32),
        "source_faces": s_topo.faces.astype(np.int32),
        "source_deltas": s_deltas.astype(np.float16),
        "expression_names": np.asarray(names),
        "target_verts": t_verts.astype(np.float32),
        "target_faces": t_topo.faces.astype(np.int32),
        "target_chin": t_chin.astype(np.int32),
        "performance": perf.astype(np.float16),
        "fps": np.int32(FPS),
        "frame_start": np.int32(FRAME_START),
        "jaw_open_frame": np.int32(JAW_OPEN_FRAME),
        "info": np.asarray(json.dumps(info, sort_keys=True)),
    }


def write_npz(path: Path, arrays: dict) -> int:
    """Write a compressed npz with fixed zip timestamps (byte-stable). Returns its size in bytes."""
    import zipfile
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for key in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asanyarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())
    tmp.replace(path)
    return path.stat().st_size


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Derive demo/assets/demo_heads.npz from ICT-FaceKit.")
    ap.add_argument("--ict", default=None, help="ICT-FaceKit npz or folder (default: ../shared/data/ict_facekit)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    arrays = make_asset(args.ict)
    size = write_npz(args.out, arrays)
    info = json.loads(str(arrays["info"]))
    print(f"[make_demo_asset] {args.out}: {size / 1e6:.2f} MB")
    print(f"[make_demo_asset]   source {info['source']['n_verts']} verts / {info['source']['n_faces']} tris, "
          f"target {info['target']['n_verts']} verts / {info['target']['n_faces']} tris, "
          f"{N_FRAMES} frames @ {FPS} fps")
    if size > MAX_BYTES:
        print(f"[make_demo_asset] ERROR: {size} bytes > {MAX_BYTES}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
