"""Which way a face mesh looks, found from its shape (issue 17), numpy only.

``Model.prepare`` turns the caller's axes (up, forward) into ICT's frame; a head that faces another way (+Y
instead of Blender's -Y, rolled 90 degrees, upside down) would be read in the wrong frame and give wrong keys
silently. ``find_rotation`` checks the caller's axes against the face's own shape:

1. *mirror plane*: a face is left-right symmetric; of the three canonical axes, the one whose mirror image of the
   surface lies closest to the surface is the face's left-right axis (``mirror_misfits``); axes within
   ``MIRROR_CLOSE`` x of it stay candidates too (an off-centre face mask, a shape that is no clear face).
2. *template fit*: the 8 axis-aligned rotations per candidate left-right axis (plus the caller's own) place a
   small point cloud of ICT's generic narrow face (``template_cloud``: ``TEMPLATE_POINTS`` points of
   ``template_keys.TEMPLATE_PATH``) on the surface, nose tip first, and refine it by a trimmed similarity ICP
   pairing points by position and normal (``ICP_ITERS`` steps, all candidates at once); a candidate far
   behind the best after ``PRUNE_AT`` steps is dropped. The score is the trimmed RMS distance (template-size
   units) times (``NORMAL_WEIGHT`` + mean 1 - |cos| between template and surface normals): an upside-down
   template fits a face's outline nearly as well, but not its nose, brows and eye sockets.
3. The caller's axes are replaced only when the best rotation scores ``SWITCH_RATIO`` x better than the caller's.

Measured (ICT full / face / narrow crops, 9-11 cm face masks, 0.8-3k vertex decimations, 8 random identities, the
three dev heads, the demo heads; each in 6 or 24 orientations): no correctly oriented head was turned; 1 of 320
wrong orientations was missed (an off-centre 8 cm mask upside down: kept as given, no warning). Session 13, with
heads whose mouth bag and eye sockets are joined (ICT's own; game heads carry them): the ICP pairs by position and
normal (``NORMAL_PAIR``); over 51 heads (12 held-out or random identities, each alone, with its mouth bag and with
every socket; 4 face crops, 1.5k decimations and 10 cm masks; the dev heads), each upright and in the 23 other
orientations, none turned and none missed (by position alone: 11 upright heads turned upside down, one of them
without sockets, and 105 of 408 wrong orientations missed). Not a face detector: a shape with no face (a sphere)
may be turned at random, with the warning.

Handedness is not decided: a mirrored head (an exporter that flips one axis) is the mirror image of a face and
is itself a face; it is used as given (its ``_L`` keys move the side that is +X in the canonical frame).

Cost: ~10-25 ms on a ~1000-vertex proxy (brute-force nearest neighbours, float32).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .mesh import vertex_normals
from .proxy import cluster_decimate
from .template_keys import TEMPLATE_PATH, open_asset

TEMPLATE_POINTS = 200   # points of the template cloud (cluster decimation of ICT's narrow face)
MIRROR_SAMPLES = 256    # surface points whose mirror images are tested
MIRROR_STEPS = 3        # shifts of the mirrored points onto the surface
MIRROR_CLOSE = 2.0      # axes whose mirror misfit is within this x the lowest are tried as left-right axes
ICP_ITERS = 8           # similarity ICP steps per candidate
ICP_TRIM = 0.8          # share of closest pairs each ICP step fits
SCORE_QUANTILE = 0.9    # share of template points the score counts (the rest may lie off a face mask)
NORMAL_WEIGHT = 0.1     # score = rms distance x (NORMAL_WEIGHT + mean normal misfit)
NORMAL_PAIR = 0.006     # the ICP pairs by position and normal: |p - q|^2 + NORMAL_PAIR |n_p - n_q|^2 (canonical
                        # units^2; 0.002-0.03 measured alike, 0: by position only, as before session 13)
PRUNE_AT, PRUNE = 3, 1.6  # after PRUNE_AT steps, candidates scoring over PRUNE x the best stop (not the caller's)
SWITCH_RATIO = 1.1      # the caller's axes are replaced when they score this x worse than the best rotation


def _rotations() -> np.ndarray:
    """The 24 proper axis-aligned rotations (24, 3, 3), the identity first."""
    out = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            r = np.zeros((3, 3))
            r[range(3), perm] = signs
            if np.linalg.det(r) > 0:
                out.append(r)
    out.sort(key=lambda r: -np.trace(r))
    return np.stack(out)


ROTATIONS = _rotations()
_CLOUD: list = []


def template_cloud() -> tuple[np.ndarray, np.ndarray]:
    """ICT's generic narrow face as (points (M, 3), unit normals (M, 3)), M ~ ``TEMPLATE_POINTS``, in the
    canonical frame of ICT's generic full head (Y up, +Z forward, (cm - gen_center) / gen_size). Read once from
    the template asset (only its vertices and faces)."""
    if not _CLOUD:
        with open_asset(TEMPLATE_PATH, "face template") as d:
            n = int(d["narrow"])
            verts = d["verts"][:n].astype(np.float64)
            faces = d["faces"].astype(np.int64)
            center, size = d["gen_center"].astype(np.float64), float(d["gen_size"])
        faces = faces[(faces < n).all(axis=1)]
        pts, tris, _, _ = cluster_decimate((verts - center) / size, faces, TEMPLATE_POINTS)
        _CLOUD.append((pts, vertex_normals(pts, tris)))
    return _CLOUD[0]


class _Nearest:
    """Brute-force nearest neighbours among points (P, D) in float32 (D = 3, or 6 for points with their normals
    scaled: ``_with_normals``): one (M, D + 1) x (D + 1, P) product per query."""

    def __init__(self, points: np.ndarray):
        p = np.asarray(points, np.float32)
        self.aug = np.ascontiguousarray(np.concatenate([-2.0 * p, (p * p).sum(axis=1, keepdims=True)], axis=1).T)

    def __call__(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """q (M, D) -> (index (M,) int64, squared distance (M,) float32)."""
        qa = np.concatenate([np.asarray(q, np.float32), np.ones((len(q), 1), np.float32)], axis=1)
        d2 = qa @ self.aug
        i = d2.argmin(axis=1)
        return i, np.maximum(d2[np.arange(len(q)), i] + (qa[:, :-1] ** 2).sum(axis=1), 0.0)


def _with_normals(points: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """(M, 6) points and their unit normals scaled by sqrt(``NORMAL_PAIR``): the ICP's pairing space."""
    return np.concatenate([points, np.sqrt(NORMAL_PAIR) * normals], axis=-1)


def mirror_misfits(points: np.ndarray, nearest: _Nearest | None = None) -> np.ndarray:
    """How far each canonical axis is from being a face's left-right axis: (3,) misfits, lowest = that axis.

    points (P, 3) canonical. The misfit of an axis: ``MIRROR_SAMPLES`` points mirrored across the plane
    normal to it (coordinate negated), then shifted (``MIRROR_STEPS`` trimmed steps: a face mask cut off-centre
    has its mirror plane off its centroid) onto the surface; the RMS of the closest ``ICP_TRIM`` distances."""
    nearest = nearest or _Nearest(points)
    sub = points[:: max(1, len(points) // MIRROR_SAMPLES)]
    out = np.zeros(3)
    for a in range(3):
        q = sub.copy()
        q[:, a] *= -1.0
        for step in range(MIRROR_STEPS + 1):
            idx, d2 = nearest(q)
            keep = d2 <= np.quantile(d2, ICP_TRIM)
            if step < MIRROR_STEPS:
                q += (points[idx[keep]] - q[keep]).mean(axis=0)
        out[a] = float(np.sqrt(d2[keep].mean()))
    return out


def _similarity(src: np.ndarray, dst: np.ndarray, w: np.ndarray):
    """Weighted least-squares similarities for C candidates at once (Umeyama): src, dst (C, M, 3), w (C, M)
    -> (s (C,), R (C, 3, 3), t (C, 3)) with s R src + t ~ dst."""
    w = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-300)
    ms, md = np.einsum("cm,cmk->ck", w, src), np.einsum("cm,cmk->ck", w, dst)
    a, b = src - ms[:, None], dst - md[:, None]
    var = np.einsum("cm,cm->c", w, (a * a).sum(axis=2))
    u, sig, vt = np.linalg.svd(np.einsum("cmi,cmj->cij", b * w[..., None], a))
    d = np.ones((len(src), 3))
    d[:, 2] = np.where(np.linalg.det(u @ vt) < 0, -1.0, 1.0)
    rot = u @ (d[:, :, None] * vt)
    s = (sig * d).sum(axis=1) / np.maximum(var, 1e-300)
    return s, rot, md - s[:, None] * np.einsum("cij,cj->ci", rot, ms)


def _score(dist: np.ndarray, cos: np.ndarray) -> np.ndarray:
    """dist, cos (C, M) -> (C,): trimmed RMS distance x (NORMAL_WEIGHT + mean 1 - |cos|) over the closest
    ``SCORE_QUANTILE`` of the template points."""
    k = dist <= np.quantile(dist, SCORE_QUANTILE, axis=1)[:, None]
    n = k.sum(axis=1)
    rms = np.sqrt((dist ** 2 * k).sum(axis=1) / n)
    return rms * (NORMAL_WEIGHT + ((1.0 - cos) * k).sum(axis=1) / n)


def fit_scores(points: np.ndarray, normals: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """How well ICT's face fits the surface in each candidate frame: (C,) scores, lower is better; inf for a
    candidate dropped early (more than ``PRUNE`` x the best), except candidate 0 which is always scored.

    Args:
        points, normals: (P, 3) canonical surface points and outward unit normals (e.g. the proxy's), caller's
            frame.
        rotations: (C, 3, 3) candidates Q: Q @ p is the point in ICT's frame if Q is right.

    The ICP pairs each template point with the surface point nearest in position *and* normal (``NORMAL_PAIR``):
    paired by position alone, a face whose mouth bag and eye sockets are joined to it (game heads; ICT's own
    sockets) pulled the upright template onto their inner walls, and the template upside down on the back of
    the head fitted better: of 51 heads (12 held-out or random ICT identities with and without their sockets,
    face crops, 1.5k decimations, masks, the dev heads) 11 upright ones were turned and 105 of 408 wrong
    orientations missed; paired by position and normal, none and none of 1173 (docs/model.md).
    """
    tp, tn = template_cloud()
    nearest = _Nearest(_with_normals(points, normals))
    q = np.asarray(rotations, np.float64)
    c, m = len(q), len(tp)
    tpl = np.einsum("mi,cij->cmj", tp, q)              # template in the caller's frame, per candidate
    tnr = np.einsum("mi,cij->cmj", tn, q)
    # start: template as wide as the surface along the candidate's left-right axis, nose tip on the surface's
    # furthest point along the candidate's forward axis
    s0 = np.ptp(np.einsum("pk,ck->cp", points, q[:, 0]), axis=1) / max(float(np.ptp(tp[:, 0])), 1e-12)
    s, rot = s0.copy(), np.repeat(np.eye(3)[None], c, axis=0)
    tip = points[np.argmax(np.einsum("pk,ck->cp", points, q[:, 2]), axis=1)]
    t = tip - s[:, None] * tpl[:, int(np.argmax(tp[:, 2]))]
    alive = np.arange(c)
    out = np.full(c, np.inf)
    for step in range(ICP_ITERS + 1):
        moved = s[alive, None, None] * np.einsum("cmj,cij->cmi", tpl[alive], rot[alive]) + t[alive, None]
        turned = np.einsum("cmj,cij->cmi", tnr[alive], rot[alive])
        idx = nearest(_with_normals(moved, turned).reshape(-1, 6))[0].reshape(len(alive), m)
        d2 = ((points[idx] - moved) ** 2).sum(axis=2)
        if step in (PRUNE_AT, ICP_ITERS):
            cos = np.abs((turned * normals[idx]).sum(axis=2))
            out[alive] = _score(np.sqrt(d2) / s[alive, None], cos)
            if step == ICP_ITERS:
                break
            keep = (out[alive] <= PRUNE * out[alive].min()) | (alive == 0)
            alive, idx, d2 = alive[keep], idx[keep], d2[keep]
        w = (d2 <= np.quantile(d2, ICP_TRIM, axis=1)[:, None]).astype(np.float64)
        s2, rot[alive], t[alive] = _similarity(tpl[alive], points[idx], w)
        s[alive] = np.clip(s2, 0.5 * s0[alive], 2.0 * s0[alive])     # no collapse onto a small patch
    return out


@dataclass(frozen=True)
class Found:
    """The outcome of ``find_rotation``.

    rotation: (3, 3) Q, the rotation to apply to the canonical points (identity: the caller's axes stand);
    given, best: scores of the caller's axes and of the best candidate (lower is better);
    mirror: (3,) the mirror misfits of the canonical axes (``mirror_misfits``)."""
    rotation: np.ndarray
    given: float
    best: float
    mirror: np.ndarray

    @property
    def changed(self) -> bool:
        return not np.array_equal(self.rotation, np.eye(3))


def find_rotation(points: np.ndarray, normals: np.ndarray) -> Found:
    """Check a face's canonical frame against its shape.

    Args:
        points: (P, 3) canonical surface points (caller's axes turned into ICT's: Y up, +Z forward; centred,
            unit size), e.g. the proxy's vertices; normals: (P, 3) their outward unit normals (``fit_scores``).
    Returns:
        ``Found``: rotation Q (3, 3) with Q @ points in ICT's frame; the identity when the caller's axes fit
        best or no rotation fits ``SWITCH_RATIO`` x better.
    """
    pts = np.asarray(points, np.float64)
    nrm = np.asarray(normals, np.float64)
    mirror = mirror_misfits(pts, _Nearest(pts))
    lateral = mirror <= MIRROR_CLOSE * mirror.min()
    cand = [0] + [i for i in range(1, len(ROTATIONS)) if lateral[np.flatnonzero(ROTATIONS[i][0])[0]]]
    scores = fit_scores(pts, nrm, ROTATIONS[cand])
    b = int(np.argmin(scores))
    if b == 0 or not scores[0] >= SWITCH_RATIO * scores[b]:
        return Found(np.eye(3), float(scores[0]), float(scores[b]), mirror)
    return Found(ROTATIONS[cand[b]].copy(), float(scores[0]), float(scores[b]), mirror)


def axis_name(vector: np.ndarray) -> str:
    """'+X', '-Y', ... of an axis-aligned unit vector (3,)."""
    i = int(np.argmax(np.abs(vector)))
    return ("-" if vector[i] < 0 else "+") + "XYZ"[i]
