"""Where a face piece that goes on below the neck (a bust's shoulders, a body) should be cut for the model.

The encoders and the decoder's face-core frame were trained on ICT's crops, which end at the base of the neck
(its widest ring 1.4x the head's width). A face piece with shoulders joined below that is read wrongly: on
held-out ICT heads with 42 cm shoulders (``scripts/shoulders_eval.py``) the regions are right on 38 % of the skin
(92 % without), the decoder's keys 132 % off (12 %). The model therefore reads only the part above the neck's
base; the rest moves like other pieces (``PreparedMesh.other_follow``).

The cut is found from the piece's width profile alone, in the canonical frame (Y up, X across, +Z forward), in
slices level with ICT's neck ring (``neck_height``): going down from the top, the widest slice so far is the
head's width W until a slice narrower than ``NECK_NARROW`` W at least ``HEAD_TALL`` W below the top (the neck);
when a slice below it is wider than ``SHOULDER_WIDE`` W, the piece is cut where the width first exceeds
``CUT_WIDE`` W. Not cut (measured): ICT's own crops (1.42 W at most below the neck) of six held-out identities,
warped to every kind of ``dataset/warps.py`` and with their mouth and eye sockets; face masks (no neck); the three
dev heads (at most 1.14 W).
"""
from __future__ import annotations

import numpy as np

NECK_NARROW = 0.85     # a slice narrower than this share of the head's width is the neck ...
HEAD_TALL = 0.8        # ... and only once the piece above it is this share of the head's width tall (a hair bun's
                       # or a rounded crown's narrow top slices are not a neck)
SHOULDER_WIDE = 1.8    # a slice below the neck wider than this share of the head's width: shoulders or a body
CUT_WIDE = 1.4         # the cut: where the width below the neck first exceeds this share (ICT's neck base: up to
                       # 1.42; the decoder's keys on 3 held-out heads with shoulders: 1.3 / 1.4 / 1.5 -> 14.4 /
                       # 13.2 / 15.1 %, the heads alone 12.3 %: it reads a neck cut shorter or longer than ICT's worse)
SLICES = 60            # the width profile's slices over the piece's height
NECK_SLOPE = 0.39      # the slices are level in ``neck_height``: Y + 0.39 Z, as ICT's neck ring lies (its plane
                       # Y = -16.6 - 0.39 Z cm, 1.8 cm off at most): a bust's shoulders then start in one slice


def neck_height(canon: np.ndarray) -> np.ndarray:
    """(N,) the height the neck cut is measured in: Y + ``NECK_SLOPE`` Z of canonical positions canon (N, 3)."""
    return canon[:, 1] + NECK_SLOPE * canon[:, 2]


def neck_cut(canon: np.ndarray) -> float | None:
    """The height (``neck_height``) below which a face piece is shoulders or a body, or None to keep it whole.

    Args:
        canon: (N, 3) the piece's canonical positions (Y up, +Z forward, X across; any scale).
    Returns:
        h: vertices with neck_height(canon) < h are below the neck's base; None when the profile shows no neck with
        shoulders below it.
    """
    canon = np.asarray(canon, np.float64)
    if canon.ndim != 2 or canon.shape[1] != 3:
        raise ValueError(f"canon must be (N, 3) positions, got shape {canon.shape}")
    y = neck_height(canon)
    top, height = float(y.max()), float(np.ptp(y))
    if len(canon) < 3 * SLICES or not height > 0.0:
        return None
    slab = np.minimum(((top - y) / height * SLICES).astype(np.int64), SLICES - 1)
    lo = np.full(SLICES, np.inf)
    hi = np.full(SLICES, -np.inf)
    np.minimum.at(lo, slab, canon[:, 0])
    np.maximum.at(hi, slab, canon[:, 0])
    counts = np.bincount(slab, minlength=SLICES)
    width = np.where(counts >= 3, hi - lo, np.nan)
    head = 0.0
    neck = None
    for i, w in enumerate(width):
        if np.isnan(w):
            continue
        if w < NECK_NARROW * head and height * i / SLICES >= HEAD_TALL * head:
            neck = i
            break
        head = max(head, w)
    if neck is None or head <= 0.0:
        return None
    below = width[neck:]
    if not np.nanmax(below) > SHOULDER_WIDE * head:
        return None
    first = neck + int(np.argmax(np.nan_to_num(below, nan=0.0) > CUT_WIDE * head))
    return top - height * first / SLICES
