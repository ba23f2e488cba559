"""Units, axis conventions and the canonical normalisation of any face mesh (the one place that owns them).

| space      | units           | up | face looks toward |
|------------|-----------------|----|-------------------|
| ICT        | centimetres     | +Y | +Z                |
| Blender    | metres          | +Z | -Y                |
| OBJ / PLY  | any             | +Y | +Z (CLI default)  |
| canonical  | dimensionless   | +Y | +Z                |

Canonical = rotate the caller's axes onto ICT's, subtract the area-weighted surface centroid, divide by
``sqrt(total surface area)``. The network reads and writes canonical coordinates only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .mesh import face_areas, validate_mesh

_AXES = {"X": (1, 0, 0), "-X": (-1, 0, 0), "Y": (0, 1, 0), "-Y": (0, -1, 0), "Z": (0, 0, 1), "-Z": (0, 0, -1)}
ICT_UP, ICT_FORWARD = "Y", "Z"
BLENDER_UP, BLENDER_FORWARD = "Z", "-Y"
CM_PER_M = 100.0


def axis_key(name: str) -> str:
    """The canonical spelling of an axis name: 'x', '+X' -> 'X'; '-y' -> '-Y' (not validated)."""
    return str(name).upper().replace("+", "")


def axis_vector(name: str) -> np.ndarray:
    """Unit vector of an axis name ('X', '-X', 'Y', '-Y', 'Z', '-Z'; case-insensitive, '+' allowed)."""
    key = axis_key(name)
    if key not in _AXES:
        raise ValueError(f"axis must be one of X, -X, Y, -Y, Z, -Z; got {name!r}")
    return np.asarray(_AXES[key], dtype=np.float64)


def axes_to_ict(up: str = ICT_UP, forward: str = ICT_FORWARD) -> np.ndarray:
    """Rotation R (3, 3) with ``R @ p_caller = p_ict`` for a frame where the face looks along ``forward``
    and ``up`` is up. Raises ValueError when the two axes are not perpendicular."""
    u, f = axis_vector(up), axis_vector(forward)
    if abs(u @ f) > 0.5:
        raise ValueError(f"up ({up}) and forward ({forward}) must be different, perpendicular axes")
    x = np.cross(u, f)  # caller-frame direction that becomes ICT +X (the face's left)
    return np.stack([x, u, f])  # rows: where ICT X, Y, Z point in the caller's frame


def blender_to_ict(points_m: np.ndarray) -> np.ndarray:
    """Blender (m, Z up, -Y forward) points (N, 3) -> ICT (cm, Y up, +Z forward)."""
    return (np.asarray(points_m, dtype=np.float64) @ axes_to_ict(BLENDER_UP, BLENDER_FORWARD).T) * CM_PER_M


def ict_to_blender(points_cm: np.ndarray) -> np.ndarray:
    """ICT (cm, Y up, +Z forward) points (N, 3) -> Blender (m, Z up, -Y forward)."""
    return (np.asarray(points_cm, dtype=np.float64) @ axes_to_ict(BLENDER_UP, BLENDER_FORWARD)) / CM_PER_M


@dataclass(frozen=True)
class Normalization:
    """Maps caller coordinates to canonical ones: ``canon = (R @ (p - center)) / size``.

    Attributes:
        rotation: (3, 3) caller axes -> ICT axes.
        center: (3,) area-weighted centroid in caller units and frame.
        size: sqrt(surface area) in caller units.
    """
    rotation: np.ndarray
    center: np.ndarray
    size: float

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Caller points (..., 3) -> canonical points."""
        return ((np.asarray(points, dtype=np.float64) - self.center) @ self.rotation.T) / self.size

    def apply_vectors(self, vectors: np.ndarray) -> np.ndarray:
        """Caller displacements (..., 3) -> canonical displacements (no translation)."""
        return (np.asarray(vectors, dtype=np.float64) @ self.rotation.T) / self.size

    def invert(self, canon: np.ndarray) -> np.ndarray:
        """Canonical points (..., 3) -> caller points."""
        return (np.asarray(canon, dtype=np.float64) * self.size) @ self.rotation + self.center

    def invert_vectors(self, canon_vectors: np.ndarray) -> np.ndarray:
        """Canonical displacements (..., 3) -> caller displacements."""
        return (np.asarray(canon_vectors, dtype=np.float64) * self.size) @ self.rotation

    def describe(self) -> str:
        """One line saying what the normalisation did (for reports and the CLI)."""
        return (f"centre {np.round(self.center, 4).tolist()}, face size sqrt(area)={self.size:.4g} units, "
                f"axes rotated to canonical (Y up, +Z forward)")


def canonical_normalization(verts, faces, *, up: str = ICT_UP, forward: str = ICT_FORWARD) -> Normalization:
    """Normalisation of a mesh given in a frame with ``up``/``forward`` axes (any units).

    Args:
        verts: (N, 3) positions; faces: (F, 3) triangles.
    Raises:
        ValueError: invalid mesh, or zero surface area.
    """
    v, f = validate_mesh(verts, faces)
    a = face_areas(v, f)
    total = float(a.sum())
    if not np.isfinite(total) or total <= 0:
        raise ValueError("mesh has zero surface area (all faces degenerate); cannot normalise it")
    centroids = v[f].mean(axis=1)
    center = (centroids * a[:, None]).sum(axis=0) / total
    return Normalization(rotation=axes_to_ict(up, forward), center=center, size=float(np.sqrt(total)))


def decoder_frame(pos: np.ndarray, weight: np.ndarray, face_ref) -> tuple[float, np.ndarray]:
    """The decoder frame's similarity (numpy twin of ``FaceSkinningNet.decoder_frame``; ``Model.decoder_frame`` and
    ``batch.label_decoder_frame`` call it): (a, b (3,)) with
    a * pos + b taking the ``weight``-weighted centroid and sqrt(total weight) onto ``face_ref``.

    Args: pos (N, 3) canonical positions; weight (N,) >= 0 per vertex (face-core share x vertex area);
    face_ref: 4 numbers, reference centroid (3) and size (1). Returns (1.0, zeros) when the weights sum to
    ~0 (no face core found: the mesh frame)."""
    tot = weight.sum()
    if not tot > 1e-6:
        return 1.0, np.zeros(3)
    a = face_ref[3] / np.sqrt(tot)
    return float(a), np.asarray(face_ref[:3], np.float64) - a * ((weight[:, None] * pos).sum(axis=0) / tot)


def least_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The rotation (3, 3) that takes the unit vector a (3,) onto the unit vector b (3,) by turning about their
    common normal (Rodrigues); the identity when they are parallel. (Opposite vectors have no least rotation:
    the identity too; callers turn by small angles.)"""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    v = np.cross(a, b)
    sn = float(np.linalg.norm(v))
    if sn <= 1e-12:
        return np.eye(3)
    k = v / sn
    K = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + sn * K + (1.0 - float(a @ b)) * K @ K


def upright_rotation(rot: np.ndarray) -> np.ndarray:
    """``rot`` (3, 3) without its turn about the left-right axis (+X, the ears' axis): the least rotation taking
    +X where ``rot`` takes it. It keeps a turn or a lean of the face's mirror plane (yaw, roll: what the
    mirror symmetry tells) and drops the pitch, which on an upright head only says that two faces' profiles
    differ (a receding chin, a flatter brow), not that one of them is nodding. Expression keys are carried
    with it: an artist's "down" is the head's -Y, and ICT's keys hold the same centimetres on every identity,
    however the fitted similarity pitches the template onto it (docs/model.md, *Keys in the head's upright
    frame*)."""
    return least_rotation(np.array([1.0, 0.0, 0.0]), np.asarray(rot, np.float64)[:, 0])


def partial_upright(rot: np.ndarray, keep: float) -> np.ndarray:
    """``rot`` (3, 3) with the share ``keep`` (0..1) of its pitch: ``upright_rotation(rot)`` at 0, ``rot`` at 1, and
    in between the upright rotation followed by that share of the turn about +X it drops."""
    rot = np.asarray(rot, np.float64)
    up = upright_rotation(rot)
    keep = float(np.clip(keep, 0.0, 1.0))
    if keep <= 0.0:
        return up
    if keep >= 1.0:
        return rot
    q = up.T @ rot                                  # a turn about +X (both take +X to the same place)
    a = keep * np.arctan2(q[2, 1], q[1, 1])
    c, s = np.cos(a), np.sin(a)
    return up @ np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
