"""Tiny numpy software rasteriser, bitmap text and PNG writer for documentation pictures.

No matplotlib, no PIL: a z-buffered orthographic triangle rasteriser with Lambert shading, a 5x7
bitmap font for legends, and a PNG encoder built on ``zlib`` + ``struct``. Images are (H, W, 3)
float arrays with values in 0..1 (row 0 at the top).
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from ..runtime.mesh import vertex_normals

__all__ = ["view_rotation", "render_mesh", "draw_text", "fill_rect", "write_png", "text_width"]


def view_rotation(view: str) -> np.ndarray:
    """Rotation R (3, 3) with rows (screen right, screen up, toward viewer) in ICT axes (+Y up, face +Z).

    ``front``: looking at the face (character's left, +X, on the image's right).
    ``left``: looking at the character's left side (+X side), face pointing to the image's right.
    ``right``: the character's right side, face pointing to the image's left.
    ``back``: the back of the head. ``top``: from above, face toward the image's bottom.
    ``below``: from below (under the chin), face toward the image's top.
    """
    views = {
        "front": [(1, 0, 0), (0, 1, 0), (0, 0, 1)],
        "left": [(0, 0, 1), (0, 1, 0), (1, 0, 0)],
        "right": [(0, 0, -1), (0, 1, 0), (-1, 0, 0)],
        "back": [(-1, 0, 0), (0, 1, 0), (0, 0, -1)],
        "top": [(1, 0, 0), (0, 0, -1), (0, 1, 0)],
        "below": [(1, 0, 0), (0, 0, 1), (0, -1, 0)],
    }
    if view not in views:
        raise ValueError(f"view must be one of {sorted(views)}, got {view!r}")
    return np.asarray(views[view], dtype=np.float64)


def render_mesh(verts, faces, colors, *, view: str = "front", size: int = 450, margin: float = 0.06,
                interp: str = "nearest", background=(1.0, 1.0, 1.0), supersample: int = 2,
                bounds=None) -> np.ndarray:
    """Render a triangle mesh orthographically with per-vertex colours and headlight Lambert shading.

    Args:
        verts: (N, 3) positions (any units, ICT axes). faces: (F, 3) int triangles.
        colors: (N, 3) per-vertex colours in 0..1.
        view: see :func:`view_rotation`. size: output image is (size, size, 3).
        interp: ``nearest`` (each pixel takes the colour of the triangle corner with the largest
            barycentric weight: crisp label borders) or ``linear``.
        bounds: optional (xmin, xmax, ymin, ymax) in screen units, to frame several views alike.
    Returns:
        (size, size, 3) float64 image in 0..1.
    """
    v = np.asarray(verts, np.float64)
    f = np.asarray(faces, np.int64)
    c = np.asarray(colors, np.float64)
    if v.ndim != 2 or v.shape[1] != 3 or c.shape != v.shape:
        raise ValueError(f"verts and colors must both be (N, 3); got {v.shape} and {c.shape}")
    if interp not in ("nearest", "linear"):
        raise ValueError("interp must be 'nearest' or 'linear'")
    rot = view_rotation(view)
    p = v @ rot.T  # (N, 3): screen x, screen y, depth toward viewer
    vn = vertex_normals(v, f)  # area weighted, for shading
    shade = 0.35 + 0.65 * np.abs(vn @ rot[2])  # headlight; abs so back faces of open shells still show

    s = size * supersample
    if bounds is None:
        xmin, xmax = p[:, 0].min(), p[:, 0].max()
        ymin, ymax = p[:, 1].min(), p[:, 1].max()
    else:
        xmin, xmax, ymin, ymax = bounds
    span = max(xmax - xmin, ymax - ymin) * (1 + 2 * margin)
    cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
    scale = s / span
    px = (p[:, 0] - cx) * scale + s / 2
    py = (cy - p[:, 1]) * scale + s / 2
    depth = p[:, 2]

    img = np.empty((s, s, 3))
    img[:] = background
    zbuf = np.full((s, s), -np.inf)
    tri_x, tri_y, tri_z = px[f], py[f], depth[f]
    x0 = np.clip(np.floor(tri_x.min(1)).astype(int), 0, s - 1)
    x1 = np.clip(np.ceil(tri_x.max(1)).astype(int), 0, s - 1)
    y0 = np.clip(np.floor(tri_y.min(1)).astype(int), 0, s - 1)
    y1 = np.clip(np.ceil(tri_y.max(1)).astype(int), 0, s - 1)
    for t in range(len(f)):
        if x1[t] < x0[t] or y1[t] < y0[t]:
            continue
        ax, bx, cx_ = tri_x[t]
        ay, by, cy_ = tri_y[t]
        den = (by - cy_) * (ax - cx_) + (cx_ - bx) * (ay - cy_)
        if abs(den) < 1e-12:
            continue
        gx, gy = np.meshgrid(np.arange(x0[t], x1[t] + 1) + 0.5, np.arange(y0[t], y1[t] + 1) + 0.5)
        l0 = ((by - cy_) * (gx - cx_) + (cx_ - bx) * (gy - cy_)) / den
        l1 = ((cy_ - ay) * (gx - cx_) + (ax - cx_) * (gy - cy_)) / den
        l2 = 1 - l0 - l1
        inside = (l0 >= -1e-9) & (l1 >= -1e-9) & (l2 >= -1e-9)
        if not inside.any():
            continue
        lam = np.stack([l0[inside], l1[inside], l2[inside]], axis=1)
        z = lam @ tri_z[t]
        yy = gy[inside].astype(int)
        xx = gx[inside].astype(int)
        closer = z > zbuf[yy, xx]
        if not closer.any():
            continue
        yy, xx, lam, z = yy[closer], xx[closer], lam[closer], z[closer]
        zbuf[yy, xx] = z
        idx = f[t]
        if interp == "nearest":
            col = c[idx[np.argmax(lam, axis=1)]]
        else:
            col = lam @ c[idx]
        img[yy, xx] = col * (lam @ shade[idx])[:, None]
    if supersample > 1:
        img = img.reshape(size, supersample, size, supersample, 3).mean(axis=(1, 3))
    return np.clip(img, 0, 1)


# 5x7 bitmap font: each glyph is 7 rows of 5 bits (MSB = leftmost column).
_FONT = {row[0]: row[2:] for row in """
a 00000 00000 01110 00001 01111 10001 01111
b 10000 10000 10110 11001 10001 10001 11110
c 00000 00000 01110 10000 10000 10001 01110
d 00001 00001 01101 10011 10001 10001 01111
e 00000 00000 01110 10001 11111 10000 01110
f 00110 01001 01000 11100 01000 01000 01000
g 00000 01111 10001 10001 01111 00001 01110
h 10000 10000 10110 11001 10001 10001 10001
i 00100 00000 01100 00100 00100 00100 01110
j 00010 00000 00110 00010 00010 10010 01100
k 10000 10000 10010 10100 11000 10100 10010
l 01100 00100 00100 00100 00100 00100 01110
m 00000 00000 11010 10101 10101 10001 10001
n 00000 00000 10110 11001 10001 10001 10001
o 00000 00000 01110 10001 10001 10001 01110
p 00000 00000 11110 10001 11110 10000 10000
q 00000 00000 01101 10011 01111 00001 00001
r 00000 00000 10110 11001 10000 10000 10000
s 00000 00000 01110 10000 01110 00001 11110
t 01000 01000 11100 01000 01000 01001 00110
u 00000 00000 10001 10001 10001 10011 01101
v 00000 00000 10001 10001 10001 01010 00100
w 00000 00000 10001 10001 10101 10101 01010
x 00000 00000 10001 01010 00100 01010 10001
y 00000 00000 10001 10001 01111 00001 01110
z 00000 00000 11111 00010 00100 01000 11111
L 10000 10000 10000 10000 10000 10000 11111
I 01110 00100 00100 00100 00100 00100 01110
C 01110 10001 10000 10000 10000 10001 01110
T 11111 00100 00100 00100 00100 00100 00100
R 11110 10001 10001 11110 10100 10010 10001
F 11111 10000 10000 11110 10000 10000 10000
N 10001 11001 10101 10011 10001 10001 10001
S 01111 10000 10000 01110 00001 00001 11110
X 10001 10001 01010 00100 01010 10001 10001
Y 10001 10001 01010 00100 00100 00100 00100
Z 11111 00001 00010 00100 01000 10000 11111
0 01110 10001 10011 10101 11001 10001 01110
1 00100 01100 00100 00100 00100 00100 01110
2 01110 10001 00001 00010 00100 01000 11111
3 11110 00001 00001 01110 00001 00001 11110
4 00010 00110 01010 10010 11111 00010 00010
5 11111 10000 11110 00001 00001 10001 01110
6 00110 01000 10000 11110 10001 10001 01110
7 11111 00001 00010 00100 01000 01000 01000
8 01110 10001 10001 01110 10001 10001 01110
9 01110 10001 10001 01111 00001 00010 01100
_ 00000 00000 00000 00000 00000 00000 11111
- 00000 00000 00000 11111 00000 00000 00000
( 00010 00100 01000 01000 01000 00100 00010
) 01000 00100 00010 00010 00010 00100 01000
, 00000 00000 00000 00000 00110 00100 01000
. 00000 00000 00000 00000 00000 01100 01100
+ 00000 00100 00100 11111 00100 00100 00000
= 00000 00000 11111 00000 11111 00000 00000
: 00000 01100 01100 00000 01100 01100 00000
/ 00001 00010 00010 00100 01000 01000 10000
  00000 00000 00000 00000 00000 00000 00000
""".strip("\n").splitlines()}  # glyph, then its 7 rows
_GLYPHS = {k: np.array([[b == "1" for b in row] for row in v.split()], dtype=bool) for k, v in _FONT.items()}


def text_width(text: str, scale: int = 2) -> int:
    """Width in pixels of ``text`` drawn with :func:`draw_text` at ``scale``."""
    return len(text) * 6 * scale


def draw_text(img: np.ndarray, text: str, x: int, y: int, *, scale: int = 2, color=(0.0, 0.0, 0.0)) -> None:
    """Draw ``text`` into ``img`` (H, W, 3) in place, top-left corner at pixel (x, y).

    Unknown characters are drawn as their lower-case glyph when there is one, else as a blank.
    """
    h, w = img.shape[:2]
    for k, ch in enumerate(text):
        g = _GLYPHS.get(ch, _GLYPHS.get(ch.lower(), _GLYPHS[" "]))
        g = np.kron(g, np.ones((scale, scale), dtype=bool))
        gx, gy = x + k * 6 * scale, y
        ys, xs = np.nonzero(g)
        ys, xs = ys + gy, xs + gx
        ok = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
        img[ys[ok], xs[ok]] = color


def fill_rect(img: np.ndarray, x: int, y: int, w: int, h: int, color) -> None:
    """Fill a w x h rectangle with top-left (x, y) in ``img`` in place (clipped to the image)."""
    img[max(y, 0):max(y + h, 0), max(x, 0):max(x + w, 0)] = color


def write_png(path, img: np.ndarray) -> Path:
    """Write an (H, W, 3) float image in 0..1 (or uint8) as an 8-bit RGB PNG. Returns the path."""
    a = np.asarray(img)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3), got {a.shape}")
    if a.dtype != np.uint8:
        a = (np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8)
    h, w = a.shape[:2]
    raw = b"".join(b"\x00" + a[r].tobytes() for r in range(h))  # filter type 0 per scanline

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(png)
    return p


def key_rows(verts, faces, sets: dict, keys, size: int = 200, label_w: int = 90, colors=None, bounds=None) -> list:
    """Picture rows of a head's shape keys: for each ``label: {key name: (N, 3) displacement}`` of ``sets`` a row
    (size, label_w + size * (1 + len(keys)), 3) in 0..1: the label, the neutral, then each key at weight 1 (a key
    given as None, one the head lacks: a blank tile saying so).
    Front view (+Y up, looking down -Z); grey shading or ``colors`` (N, 3) in 0..1; framed on the neutral head or
    on ``bounds`` (xmin, xmax, ymin, ymax)."""
    verts = np.asarray(verts, np.float64)
    if bounds is None:
        ymin, ymax = verts[:, 1].min(), verts[:, 1].max()
        xr = np.abs(verts[:, 0]).max() * 1.05
        bounds = (-xr, xr, ymin - 0.02 * (ymax - ymin), ymax)
    grey = np.full((len(verts), 3), 0.8) if colors is None else np.asarray(colors, np.float64)
    rows = []
    for label, keyset in sets.items():
        tiles = [render_mesh(verts, faces, grey, size=size, bounds=bounds, interp="linear")]
        for k in keys:
            if keyset.get(k) is None:       # a head without this key (VRoid's jaw is a bone): a blank tile
                tile = np.ones((size, size, 3))
                draw_text(tile, "no key", 6, size // 2 - 4, scale=2)
                tiles.append(tile)
                continue
            tiles.append(render_mesh(verts + keyset[k], faces, grey, size=size, bounds=bounds, interp="linear"))
        row = np.ones((size, label_w + size * len(tiles), 3))
        draw_text(row, label, 6, size // 2 - 4, scale=2)
        for i, t in enumerate(tiles):
            row[:, label_w + i * size:label_w + (i + 1) * size] = t
        rows.append(row)
    return rows


def key_sheet(rows: list, keys, size: int = 200, label_w: int = 90, head_h: int = 16) -> np.ndarray:
    """``key_rows`` rows stacked under a header naming the columns (neutral, then ``keys``)."""
    header = np.ones((head_h, rows[0].shape[1], 3))
    for i, title in enumerate(("neutral",) + tuple(keys)):
        draw_text(header, title, label_w + i * size + 6, 4, scale=1)
    img = np.concatenate([header] + rows, axis=0)
    fill_rect(img, 0, head_h - 1, img.shape[1], 1, (0.6, 0.6, 0.6))
    return img


def write_key_sheet(path, rows: list, keys, size: int = 200) -> str:
    """``key_sheet(rows, keys, size)`` written as a PNG at ``path``; returns a line saying where and how big."""
    img = key_sheet(rows, keys, size)
    write_png(path, img)
    return f"wrote {path} ({img.shape[1]}x{img.shape[0]})"
