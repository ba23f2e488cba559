"""The ``NFS_correspondence`` colour attribute: where each target vertex landed on the source, as colours.

Both heads get a FLOAT_COLOR point attribute of that name. On the source, each vertex is coloured by its own rest
position, on the target by its matched point on the source, both through the same map: world position
normalised by the source's bounding box -> RGB (x -> red, y -> green, z -> blue, each 0..1). A target vertex
with the same colour as a source vertex landed there. Unmatched target vertices (NaN) are neutral grey.

The add-on only creates or overwrites an attribute of that name it made itself (marked by the mesh custom
property ``OWNER_PROP``); a user's own attribute of that name is left alone.
"""
from __future__ import annotations

import numpy as np

from .vertex_groups import write_point_colors

ATTRIBUTE = "NFS_correspondence"
OWNER_PROP = "nfs_correspondence"  # mesh custom property: the attribute of that name was written by the add-on
GREY = 0.5                         # RGB of unmatched vertices


def box(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lo (3,), hi (3,)) float64 bounding box of the finite rows of ``points`` (N, 3)."""
    p = np.asarray(points, dtype=np.float64)
    p = p[np.isfinite(p).all(axis=1)]
    if len(p) == 0:
        raise ValueError("no finite points to take a bounding box of")
    return p.min(axis=0), p.max(axis=0)


def position_rgba(points: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(N, 3) positions (NaN rows allowed) -> (N, 4) float32 RGBA: (p - lo) / (hi - lo) clipped to 0..1, alpha 1;
    rows with NaN get RGB ``GREY``. An axis of zero extent maps to 0.5."""
    p = np.asarray(points, dtype=np.float64)
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    ext = hi - lo
    with np.errstate(invalid="ignore"):
        rgb = np.where(ext > 0, (p - lo) / np.where(ext > 0, ext, 1.0), 0.5)
        rgb = np.clip(rgb, 0.0, 1.0)
    rgb[~np.isfinite(p).all(axis=1)] = GREY
    return np.concatenate([rgb, np.ones((len(p), 1))], axis=1).astype(np.float32)


def writable(mesh) -> bool:
    """True when the add-on may write ``ATTRIBUTE`` on ``mesh``: it has no attribute of that name, or the add-on
    made it (``OWNER_PROP`` set)."""
    return mesh.attributes.get(ATTRIBUTE) is None or bool(mesh.get(OWNER_PROP, False))


def write(mesh, rgba: np.ndarray) -> None:
    """Create or replace ``ATTRIBUTE`` on ``mesh`` with (N, 4) RGBA and mark it as the add-on's. Call only when
    ``writable(mesh)``; raises ValueError otherwise or on a wrong shape."""
    rgba = np.ascontiguousarray(np.asarray(rgba, dtype=np.float32))
    if rgba.shape != (len(mesh.vertices), 4):
        raise ValueError(f"colours have shape {rgba.shape}, expected ({len(mesh.vertices)}, 4)")
    if not writable(mesh):
        raise ValueError(f"the mesh '{mesh.name}' has its own {ATTRIBUTE} attribute")
    write_point_colors(mesh, ATTRIBUTE, rgba)
    mesh[OWNER_PROP] = True


def show(mesh) -> bool:
    """Make ``ATTRIBUTE`` the active and render colour attribute of ``mesh``; False when it has none."""
    ca = mesh.color_attributes
    if ca.get(ATTRIBUTE) is None:
        return False
    ca.active_color_name = ATTRIBUTE
    ca.default_color_name = ATTRIBUTE
    return True
