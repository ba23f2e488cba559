"""A face's mirror plane, and a template pose turned onto it (numpy only; runs inside Blender).

Most heads are modelled mirror-symmetric. The similarity ICPs that place ICT's template on a face
(``template_keys``) stop with up to 1.3 degrees of yaw and 2 mm across on a symmetric head (Rocketbox); every
left key then differs from its mirrored right key (23 % there), and the jaw opens lopsided. The face's own mirror
plane says where its midline is: ``symmetry_plane`` fits it, ``symmetric_pose`` turns and moves the template's
similarity the least so that the template's mirror plane lands on it.

Units follow the points (ICT cm in ``template_keys``).
"""
from __future__ import annotations

import numpy as np

from .correspond import Surface, interpolate
from .frames import least_rotation
from .mesh import face_normals

SAMPLE = 600              # points of the surface mirrored (every k-th vertex)
STEPS = 20                # at most this many Gauss-Newton steps of the point-to-plane mirror fit
TRIM = 0.85               # share of the pairs kept in each step (the nearest)
RMS_MAX = 0.25            # a face mirrored that misses itself by more (trimmed RMS, cm) is not symmetric enough
MAX_DEG = 8.0             # ... nor planes further apart than this (a face cut or modelled lopsided)


def reflect(points: np.ndarray, n: np.ndarray, d: float = 0.0) -> np.ndarray:
    """points (..., 3) mirrored about the plane n . p = d (n (3,) unit); d = 0: directions (displacements)."""
    return points - 2.0 * (points @ n - d)[..., None] * n


def symmetry_plane(pts: np.ndarray, faces: np.ndarray, surface: Surface | None = None, sample: int = SAMPLE,
                   steps: int = STEPS, init: tuple[np.ndarray, float] | None = None) -> tuple[np.ndarray, float, float]:
    """The plane a surface is most nearly mirror-symmetric about.

    pts (N, 3); faces (F, 3); surface: its ``Surface`` when built already; init: the plane to start from (n (3,)
    unit, d), default x = 0 (a face in the template's frame; a start within ~1 cm and ~5 degrees converges, from
    2 cm or 8 degrees off it may not: the rms then says so). Every k-th vertex (``sample``
    of them) is mirrored about the plane and paired with its closest point on the surface; the plane moves to
    put the mirrored points on the tangent planes there (Gauss-Newton on the normal's two tilts and the offset,
    the nearest ``TRIM`` of the pairs), until it stops moving or ``steps`` times. A start 1 / 3 / 6 degrees off
    converges in 8 / 12 / 20 steps (point-to-point ICP needed 60-100).

    Returns (n (3,) unit normal pointing to +X, d: n . p = d on the plane (pts' units), rms: the trimmed residual
    of the mirrored points to the surface at the end (pts' units; 0 for a mirror-symmetric surface; inf when more
    than 1 - ``TRIM`` of them find no surface near: a face cut lopsided))."""
    pts = np.asarray(pts, np.float64)
    if len(pts) < 4:
        raise ValueError(f"a mirror plane needs at least 4 points, got {len(pts)}")
    surf = Surface(pts, faces) if surface is None else surface
    fn = face_normals(surf.verts, surf.faces)
    p = pts[::max(1, len(pts) // sample)]
    n, d = (np.array([1.0, 0.0, 0.0]), 0.0) if init is None else (np.asarray(init[0], np.float64), float(init[1]))
    rms = np.inf
    size = float(np.ptp(pts, axis=0).max())
    done = False
    for it in range(steps + 1):
        m = reflect(p, n, d)
        f, b, d2 = surf.closest(m, exact=False)
        order = np.argsort(d2)                              # a miss (nothing near the mirrored point) is inf
        keep = order[:max(4, int(TRIM * len(order)))]
        rms = float(np.sqrt(d2[keep].mean()))               # inf where more than 1 - TRIM of the points miss
        keep = keep[np.isfinite(d2[keep])]
        if done or it == steps or len(keep) < 4:
            break
        q = interpolate(surf.verts, surf.faces, f[keep], b[keep])
        nq = fn[f[keep]]
        pk = p[keep]
        r = ((m[keep] - q) * nq).sum(axis=1)                # signed distances to the tangent planes
        # two tilts across n and the offset: d m / d(tilt e) = -2 ((e . p) n + (n . p - d) e), d m / dd = 2 n
        e1 = np.cross(n, [0.0, 1.0, 0.0] if abs(n[1]) < 0.9 else [0.0, 0.0, 1.0])
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(n, e1)
        sd = (pk @ n - d)[:, None]
        J = np.stack([(-2.0 * ((pk @ e)[:, None] * n + sd * e) * nq).sum(axis=1) for e in (e1, e2)]
                     + [2.0 * (nq @ n)], axis=1)
        step = np.linalg.lstsq(J, -r, rcond=None)[0]
        n = n + step[0] * e1 + step[1] * e2
        n /= np.linalg.norm(n)
        d += float(step[2])
        done = abs(step[:2]).max() < 1e-6 and abs(step[2]) < 1e-6 * size     # then one more pass for the rms
    if n[0] < 0:
        n, d = -n, -d
    return n, d, rms


def symmetric_pose(tpl, s: float, R: np.ndarray, t: np.ndarray, pts: np.ndarray, faces: np.ndarray,
                   surface: Surface | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The similarity x -> s R x + t (template -> face) turned and moved the least so the template's own mirror
    plane lands on the face's: (R (3, 3), t (3,)).

    tpl: a ``template_keys.FaceTemplate`` (its narrow face's plane is found once and kept on it); pts (N, 3),
    faces (F, 3): the face, in the template's frame and units; surface: the face's ``Surface`` when built.
    Unchanged when the face or the template is not mirror-symmetric enough to say (trimmed RMS above ``RMS_MAX``)
    or the two planes, placed, lie more than ``MAX_DEG`` apart."""
    if not hasattr(tpl, "_mirror_plane"):
        tpl._mirror_plane = symmetry_plane(tpl.verts[:tpl.narrow], tpl.faces[(tpl.faces < tpl.narrow).all(axis=1)])
    n0, d0, rms0 = tpl._mirror_plane
    if rms0 > RMS_MAX:                                  # a template (a transfer's source) without a mirror plane
        return R, t
    a = R @ n0                                          # the template's plane normal, placed
    c = s * R @ (d0 * n0) + t                           # a point on the template's plane, placed
    n1, d1, rms = symmetry_plane(pts, faces, surface, init=(a, float(a @ c)))     # the face's, from there
    if rms > RMS_MAX or np.degrees(np.arccos(np.clip(float(a @ n1), -1.0, 1.0))) > MAX_DEG:
        return R, t
    Q = least_rotation(a, n1)
    # turned about c, then moved along n1 onto the face's plane
    return Q @ R, Q @ (t - c) + c + (d1 - float(n1 @ c)) * n1


def mirror_map(pts: np.ndarray, faces: np.ndarray, plane, surface: Surface | None = None):
    """Where each vertex's mirror image lands on the surface: (face (N,) int64, bary (N, 3), dist (N,)) of the
    closest point to each of pts (N, 3) mirrored about ``plane`` (n, d), and how far the mirrored vertex lies from
    it (pts' units; ~0 where the mesh has the vertex's mirror partner): where ``mirrored_field`` reads a field."""
    surf = Surface(pts, faces) if surface is None else surface
    f, b, d2 = surf.closest(reflect(np.asarray(pts, np.float64), plane[0], plane[1]))
    return f, b, np.sqrt(d2)


def mirrored_field(field: np.ndarray, faces: np.ndarray, mapping, n: np.ndarray) -> np.ndarray:
    """A displacement field (N, 3) on a surface mirrored onto itself: at each vertex, the field at its mirror
    point (``mirror_map``), reflected."""
    return reflect(interpolate(field, faces, mapping[0], mapping[1]), n)
