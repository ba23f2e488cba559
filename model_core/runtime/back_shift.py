"""The template's sides and back moved onto the face's, before the registration (numpy only; runs inside Blender).

The similarity that puts the template on a face is fitted on the template's narrow face (``template_keys.
similarity_pose``). Behind the face, each head's own proportions decide where its ears and the back of its head
lie: ICT's held-out identity B's sides sit 1.0-1.3 cm lower, relative to its face, than identity A's. The
registration pulls mostly along the face's normal (``transfer.PLANE``), and the side of a head is smooth and nearly
upright, so nothing there but the ears moves the template up or down: it slid 1.0-1.3 cm and took the jaw's and
the ears' motion with it (docs/model.md, *The sides of the head*).

``back_shift`` fits the template's vertices behind the face at the ears' level onto the face by one translation
(trimmed ICP, the ears holding it), and ``shift_back`` moves the template behind the face by it, fading to nothing
at the cheeks' front, before the registration. A face with little surface there (a mask) is left as it is.

The fit is damped: in 30 steps it creeps part of the way to the ears' own offset (run to convergence it reaches the
ears' 2-2.5 cm, too far for the rest of the side: ICT A -> B 16.1 % against 13.8 %), and a source whose ears are
meshed finely creeps further than one meshed evenly (docs/model.md, *The sides of the head*, for the variants
measured).
"""
from __future__ import annotations

import numpy as np

from .correspond import Surface, interpolate

BACK_Z_CM = (3.0, 6.0)          # the shift: whole behind z = 3 cm (the template's own ICT frame, +Z forward), nothing
                                # in front of 6 cm (the cheeks' front)
BAND_Y_CM = (-6.0, 6.0)         # the ICP's points: behind 6 cm and between these heights (the ears' level)
ITERS = 30                      # translation ICP steps
TRIM = 0.85                     # ... each keeping this share of the closest pairs
NEAR_CM = 2.0                   # a point pairs with its closest point on the face this near (the template's cm), and
NEAR_SHARE = 0.5                # the face covers the band when this share of its points do (a mask does not: no shift)
MAX_POINTS = 4000               # the ICP reads at most about this many of the band's points (ICT's full head: 2,977)
MAX_CM = 2.5                    # a fit moving further is not trusted (no shift)


def in_band(rest: np.ndarray) -> np.ndarray:
    """(N,) bool: the template's vertices behind the face at the ears' level, read on its own coordinates rest
    (N, 3) (ICT cm, +Y up, +Z forward)."""
    return (rest[:, 2] < BACK_Z_CM[1]) & (rest[:, 1] > BAND_Y_CM[0]) & (rest[:, 1] < BAND_Y_CM[1])


def back_shift(x: np.ndarray, rest: np.ndarray, pts: np.ndarray, faces: np.ndarray, scale: float = 1.0,
               surf: Surface | None = None, skip: np.ndarray | None = None, movable: np.ndarray | None = None
               ) -> np.ndarray:
    """The translation (3,) (the face's cm) that fits the template's band (behind the face at the ears' level) onto
    the face.

    x (N, 3): the template posed on the face; rest (N, 3): the template's own coordinates, which choose the band
    (``in_band``); pts (M, 3), faces (G, 3): the face (ICT cm, +Y up, +Z forward), ``surf`` its ``Surface`` when
    built already; scale: the pose's scale (the template's cm -> the face's); skip (G,) bool: the face's triangles
    that make no pair (its cut: ``template_keys.border_faces``); movable (N,) bool: the template's vertices that may
    pair (None: all; a socket's interior may not). Zero when the face has little surface near the band (fewer
    than ``NEAR_SHARE`` of its points within ``NEAR_CM``: a mask), when fewer than 16 points pair, or when the fit
    moves further than ``MAX_CM``."""
    x = np.asarray(x, np.float64)
    pts = np.asarray(pts, np.float64)
    zero = np.zeros(3)
    sel = in_band(np.asarray(rest, np.float64))
    if movable is not None:
        sel &= movable
    src = x[sel]
    if len(src) > MAX_POINTS:           # a dense source: every k-th of its band (the fit's cost stays bounded)
        src = src[::-(-len(src) // MAX_POINTS)]
    if len(src) < 16:
        return zero
    surf = Surface(pts, faces) if surf is None else surf
    reach = (NEAR_CM * scale) ** 2
    t = zero.copy()
    for it in range(ITERS):
        f, b, d2 = surf.closest(src + t, exact=False)
        ok = np.isfinite(d2) & (d2 < reach)        # a point with no face near it (beyond a mask's edge) sits out
        if it == 0 and ok.mean() < NEAR_SHARE:
            return zero
        if skip is not None:
            ok &= ~skip[np.maximum(f, 0)]
        if ok.sum() < 16:
            return zero
        keep = ok & (d2 <= np.quantile(d2[ok], TRIM))
        q = interpolate(pts, surf.faces, f[keep], b[keep])
        step = (q - src[keep]).mean(axis=0) - t
        t = t + step
        if np.abs(step).max() < 1e-4 * scale:
            break
    return zero if np.linalg.norm(t) > MAX_CM * scale else t


def shift_back(x: np.ndarray, rest: np.ndarray, t: np.ndarray, movable: np.ndarray | None = None) -> np.ndarray:
    """x (N, 3) moved by t (3,) behind the face: whole where the template's own coordinates rest (N, 3) lie behind
    ``BACK_Z_CM[0]``, fading linearly to nothing at ``BACK_Z_CM[1]``; vertices not ``movable`` (N,) bool stay.
    Returns a new (N, 3) array."""
    lo, hi = BACK_Z_CM
    w = np.clip((hi - np.asarray(rest, np.float64)[:, 2]) / (hi - lo), 0.0, 1.0)
    if movable is not None:
        w = w * movable
    return np.asarray(x, np.float64) + w[:, None] * np.asarray(t, np.float64)[None]
