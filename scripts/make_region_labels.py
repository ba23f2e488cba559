"""Write the region labels of ICT-FaceKit's full-head crop and their picture.

Writes ``model_core/data/ict_regions.npz`` (labels uint8 (11248,), names (R,)) and the picture
``docs/regions.png`` (front and side views in region colours, with a legend). The labelling rules are
``model_core.dataset.region_labels`` (its docstring says how the labels are made).

Usage (from the project root)::

    python scripts/make_region_labels.py [--ict PATH] [--out NPZ] [--png PNG]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from model_core.dataset.ict import load_ict
from model_core.dataset.region_labels import N_FULL, make_labels
from model_core.runtime.regions import MIRROR, REGION_COLORS, REGION_NAMES

ROOT = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------------------- picture

def render_picture(model, labels: np.ndarray, path: Path) -> None:
    from model_core.evaluation.render_util import draw_text, fill_rect, render_mesh, write_png

    v = model.neutral[:N_FULL].astype(np.float64)
    f = model.crop_faces("full")
    col = REGION_COLORS[labels].astype(np.float64)
    size = 450
    ymin, ymax = v[:, 1].min(), v[:, 1].max()
    front = render_mesh(v, f, col, view="front", size=size,
                        bounds=(v[:, 0].min(), v[:, 0].max(), ymin, ymax))
    side = render_mesh(v, f, col, view="left", size=size, bounds=(v[:, 2].min(), v[:, 2].max(), ymin, ymax))
    legend = np.ones((size, 190, 3))
    row_h = size // (len(REGION_NAMES) + 1)
    for i, name in enumerate(REGION_NAMES):
        yy = 6 + i * row_h
        fill_rect(legend, 6, yy, 12, row_h - 4, REGION_COLORS[i])
        draw_text(legend, name, 24, yy + max(0, (row_h - 4 - 7) // 2), scale=1)
    draw_text(legend, "ICT full-head crop", 6, size - 14, scale=1, color=(0.4, 0.4, 0.4))
    img = np.concatenate([front, side, legend], axis=1)
    draw_text(img, "front", 8, 8, scale=2)
    draw_text(img, "left side", size + 8, 8, scale=2)
    write_png(path, img)


# ----------------------------------------------------------------------------- main

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ict", default=None, help="ICT-FaceKit npz or folder (default: ../shared/data/ict_facekit)")
    ap.add_argument("--out", default=str(ROOT / "model_core" / "data" / "ict_regions.npz"))
    ap.add_argument("--png", default=str(ROOT / "docs" / "regions.png"))
    ap.add_argument("--no-png", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.time()
    model = load_ict(args.ict)
    labels, info = make_labels(model)
    mirror = info.pop("mirror")
    sym = float(np.mean(labels[mirror] == MIRROR[labels]))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, labels=labels.astype(np.uint8), names=np.asarray(REGION_NAMES))
    print(f"wrote {out} ({out.stat().st_size} bytes) in {time.time() - t0:.1f}s")
    print(f"symmetry (label of mirror vertex == mirrored label): {100 * sym:.2f}%")
    for k, val in info.items():
        print(f"  {k}: {val}")
    counts = np.bincount(labels, minlength=len(REGION_NAMES))
    for i, name in enumerate(REGION_NAMES):
        print(f"  {i:2d} {name:18s} {counts[i]:6d}")
    if (counts == 0).any():
        print("WARNING: unused regions:", [REGION_NAMES[i] for i in np.nonzero(counts == 0)[0]])
    if not args.no_png:
        render_picture(model, labels, Path(args.png))
        print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
