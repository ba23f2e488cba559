"""A posed frame's rigid head motion, taken out before the inverse rig reads its expression (numpy only; runs inside
Blender).

An animated character turns and nods its head (a neck bone, a mocap head): read as it is, that motion is no
FACS key's, and the fit spreads it over many keys (a dev head turning +-15 degrees: MAE10 of the geometry-path bake
0.12 -> 0.39, docs/model.md, *Head motion*). Each frame is moved back onto the neutral by the rotation and
translation that put its *stable* vertices there: those no FACS key moves far (skull, temples, ears, the nasal
bridge), off the neck (which follows the head only partly). Weighted Kabsch fits, re-weighted a few times by the
residuals (Cauchy weights), so a vertex the expression does move after all counts for little; at most
``MAX_POINTS`` of the stable vertices are read. Where no vertex is quite still (a face crop: its brows move the
forehead the fit reads), an expression alone leaves a few tenths of a degree in that fit, so a motion that small is
left as it is (``TURN_DEG``, ``SHIFT``).

Units: the caller's (positions and displacements alike).
"""
from __future__ import annotations

import numpy as np

from .correspond import rotation_degrees, rotation_power

STABLE_SHARE = 0.01     # a vertex weighs exp(-(m / s) ** 2), m its largest motion in any key, s this share of the
STABLE_QUANTILE = 0.3   # largest m or, where larger, the m below which this share of the area lies (a face mask: no
                        # skull, every vertex moves a little; a small still patch would turn the fit about itself)
STILL_MAX = 0.2         # no vertex is still when that area share moves more than this share of the largest m (a
                        # model of random weights: 0.34; real heads and crops 0.00-0.09): then no head motion is read
ROUNDS = 3              # re-weighted Kabsch fits per frame
CAUCHY = 2.0            # residual scale of the Cauchy weights: CAUCHY x the median residual ...
FLOOR = 1e-4            # ... at least this share of the stable vertices' extent
TURN_DEG = (0.5, 1.5)   # a turn below 0.5 degrees is left, one above 1.5 taken out whole, eased between ...
SHIFT = (0.005, 0.015)  # ... and so a shift (of the still vertices' centroid) by 0.5 to 1.5 % of their extent
KEEP = 0.5              # the fit reads the vertices weighing at least this share of the largest weight ...
MAX_POINTS = 1500       # ... every k-th of them where there are more than this many


def stable_weights(motion: np.ndarray, area: np.ndarray, off: np.ndarray | None = None) -> np.ndarray:
    """(N,) float64 weights of the vertices that move with the skull.

    Args: motion (N,) each vertex's largest displacement over the FACS keys (any units); area (N,) its area
    (>= 0); off (N,) in 0..1 or None: its share of regions that do not follow the head rigidly (the neck).
    Returns area x (1 - off) x exp(-(motion / s) ** 2), s the larger of ``STABLE_SHARE`` x the largest motion and
    the motion below which ``STABLE_QUANTILE`` of the area lies; all 0 (no head motion is read: the frames are left
    as they are) when that motion is more than ``STILL_MAX`` of the largest (nothing on the mesh is still)."""
    motion = np.asarray(motion, np.float64)
    area = np.asarray(area, np.float64)
    if motion.shape != area.shape or motion.ndim != 1:
        raise ValueError(f"motion and area must be (N,) arrays of one length, got {motion.shape} and {area.shape}")
    top = float(motion.max(initial=0.0))
    low = _area_quantile(motion, area, STABLE_QUANTILE)
    if low > STILL_MAX * top:
        return np.zeros(len(motion))
    scale = max(STABLE_SHARE * top, low, 1e-30)
    w = area * np.exp(-(motion / scale) ** 2)
    if off is not None:
        w = w * np.clip(1.0 - np.asarray(off, np.float64), 0.0, 1.0)
    return w


def _kabsch(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per frame the rotation R (B, 3, 3) and translation t (B, 3) minimising sum_i w_i |R x_i + t - y_i|^2, and
    the weighted centroids cx (B, 3) of x and cy (B, 3) of y (t = cy - R cx); x (B, M, 3), y (M, 3), w (B, M) >= 0."""
    w = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-300)
    cx = np.einsum("bm,bmc->bc", w, x)
    cy = w @ y
    h = np.einsum("bm,bmi,bmj->bij", w, x - cx[:, None], y[None] - cy[:, None])
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.einsum("bji,bkj->bik", vt, u)))      # det(V U^T): a reflection is turned back
    d[d == 0] = 1.0
    corr = np.ones((len(x), 3))
    corr[:, 2] = d
    r = np.einsum("bji,bj,bkj->bik", vt, corr, u)                      # V diag(1, 1, d) U^T
    return r, cy - np.einsum("bij,bj->bi", r, cx), cx, cy


def remove_head_motion(frames: np.ndarray, neutral: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Frames moved back by their rigid head motion.

    Args: frames (B, N, 3) posed positions; neutral (N, 3) the rest positions of the same vertices; weights (N,)
    >= 0 (``stable_weights``). Returns (B, N, 3) float64: each frame rotated and moved so its stable vertices lie
    where the neutral's do, as nearly as the re-weighted fit puts them; a fitted turn under ``TURN_DEG[0]`` degrees
    with a shift under ``SHIFT[0]`` of the stable vertices' extent is left as it is (what an expression alone leaves
    in the fit), one over ``TURN_DEG[1]`` or ``SHIFT[1]`` taken out whole, a share of it between."""
    frames = np.asarray(frames, np.float64)
    neutral = np.asarray(neutral, np.float64)
    weights = np.asarray(weights, np.float64)
    if frames.ndim != 3 or frames.shape[1:] != neutral.shape or neutral.shape != (len(weights), 3):
        raise ValueError(f"frames (B, N, 3), neutral (N, 3) and weights (N,) must agree, got {frames.shape}, "
                         f"{neutral.shape} and {weights.shape}")
    keep = np.flatnonzero(weights >= KEEP * weights.max(initial=0.0))
    keep = keep[::max(1, -(-len(keep) // MAX_POINTS))]
    if len(keep) < 3 or not weights.max(initial=0.0) > 0.0:
        return frames.copy()
    x, y, w0 = frames[:, keep], neutral[keep], weights[keep]
    floor = FLOOR * float(np.ptp(y, axis=0).max())
    w = np.broadcast_to(w0, (len(frames), len(keep)))
    for _ in range(ROUNDS):
        r, t, _, _ = _kabsch(x, y, w)
        res = np.linalg.norm(x @ r.transpose(0, 2, 1) + t[:, None] - y[None], axis=2)            # (B, M)
        c = np.maximum(CAUCHY * np.median(res, axis=1), floor)
        w = w0 / (1.0 + (res / c[:, None]) ** 2)
    r, _, cx, cy = _kabsch(x, y, w)
    # the share g of the motion taken out: 0 for the few tenths of a degree (and of a percent of the head's size) an
    # expression alone leaves in the fit where no vertex is quite still (a face crop's brows move its forehead), 1
    # from a clear turn or shift on, eased between
    angle = rotation_degrees(r)
    shift = np.linalg.norm(cy - cx, axis=1) / max(float(np.ptp(y, axis=0).max()), 1e-300)
    g = np.clip(np.maximum((angle - TURN_DEG[0]) / (TURN_DEG[1] - TURN_DEG[0]),
                           (shift - SHIFT[0]) / (SHIFT[1] - SHIFT[0])), 0.0, 1.0)
    out = frames.copy()
    for b in np.flatnonzero(g > 0.0):
        rb = r[b] if g[b] >= 1.0 else rotation_power(r[b], float(g[b]))
        out[b] = (frames[b] - cx[b]) @ rb.T + cx[b] + g[b] * (cy[b] - cx[b])
    return out


def _area_quantile(values: np.ndarray, area: np.ndarray, q: float) -> float:
    """The value below which the share ``q`` of the total area lies (values (N,), area (N,) >= 0)."""
    order = np.argsort(values)
    cum = np.cumsum(area[order])
    if not len(cum) or cum[-1] <= 0:
        return 0.0
    return float(values[order][min(int(np.searchsorted(cum, q * cum[-1])), len(cum) - 1)])
