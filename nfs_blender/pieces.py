"""Teeth, tongue, eyeballs and lashes kept as objects of their own: other selected meshes taken as pieces of the
active head.

The model moves a head's pieces when they are in its mesh (``prepare``'s other islands: with Automatic or Template
keys the lower teeth with the jaw, the upper teeth still, the eyeballs turned in the eyeLook keys; lashes and brows
with the skin they sit on). Game and scanned characters often keep them as separate objects, and joining them
(Ctrl+J) would break their materials, rigs and exports. Generate FACS Shape Keys and Transfer Shape Keys (its target)
therefore join them to the head's arrays in world space (the head first, as Ctrl+J would), give each piece the keys
that move it, and drive those keys by the head's keys of the same names (``keyframes.drive_by``), so whatever
animates the head (Bake From Source, the sliders, a Live Link import) moves its pieces too.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import mesh_io

# a piece gets a key when the key moves one of its vertices further than this share of the head's bounding-box
# diagonal (0.03 mm on a 30 cm head; ICT's upper teeth and eyeballs move exactly 0 in every template key)
MOVE_SHARE = 1e-4
# a selected mesh is a piece when its bounding box meets the head's (grown by this share of the head's size on
# each side) and its diagonal is below the head's: eyes, teeth and lashes are; a second head or a body is not
TOUCH_SHARE = 0.05


@dataclass(frozen=True)
class Piece:
    """A selected mesh taken as a piece of the head: ``obj``, its rows ``start:stop`` in the joined arrays
    (after the head's and the pieces' before it), ``mat`` (4, 4) float64 its world matrix."""
    obj: object
    start: int
    stop: int
    mat: np.ndarray


def world_bounds(obj) -> tuple[np.ndarray, np.ndarray]:
    """((3,), (3,)) float64 world-space minimum and maximum of ``obj``'s bounding box."""
    corners = mesh_io.to_world(np.array([tuple(c) for c in obj.bound_box], dtype=np.float64),
                               mesh_io.matrix_world(obj))
    return corners.min(axis=0), corners.max(axis=0)


def selected_pieces(context, head, max_vertices: int | None = None, skip=()) -> tuple[list, list[str]]:
    """The other selected meshes that are pieces of ``head`` (teeth, tongue, eyeballs, lashes), sorted by name, and a
    sentence for each selected mesh left out: one that does not touch the head's bounding box or is as large as the
    head (another character, a body), or that the model cannot use or the add-on cannot change
    (``mesh_io.mesh_problem``: linked, a Mirror modifier, no faces). Objects in ``skip`` (a transfer's source) are
    passed over without a sentence."""
    lo, hi = world_bounds(head)
    size = float(np.linalg.norm(hi - lo))
    grow = TOUCH_SHARE * size
    pieces, left_out = [], []
    for ob in sorted(context.selected_objects, key=lambda o: o.name):
        if ob == head or ob.type != "MESH" or any(ob == o for o in skip):
            continue
        problem = mesh_io.mesh_problem(ob, max_vertices)
        if problem:
            left_out.append(f"'{ob.name}' was left out of the head's pieces: {problem}")
            continue
        plo, phi = world_bounds(ob)
        if (phi < lo - grow).any() or (plo > hi + grow).any():
            left_out.append(f"'{ob.name}' does not touch '{head.name}': left out of the head's pieces (select the "
                            f"head's own teeth, eyes or lashes)")
        elif float(np.linalg.norm(phi - plo)) >= size:
            left_out.append(f"'{ob.name}' is as large as '{head.name}': left out of the head's pieces (select the "
                            f"head's own teeth, eyes or lashes, not another head or a body)")
        else:
            pieces.append(ob)
    return pieces, left_out


def join(head_verts: np.ndarray, head_tris: np.ndarray, parts) -> tuple[np.ndarray, np.ndarray, list]:
    """The head and its pieces as one mesh, the head first (as Ctrl+J joins them).

    Args: head_verts (N, 3) float64 world positions; head_tris (F, 3) int32; parts: a list of (obj, mat (4, 4),
    verts (Ni, 3) world, tris (Fi, 3)).
    Returns: (verts (N + sum Ni, 3) float64, tris (F + sum Fi, 3) int32, [Piece, ...])."""
    verts, tris, pieces = [np.asarray(head_verts, np.float64)], [np.asarray(head_tris, np.int32)], []
    start = len(verts[0])
    for obj, mat, v, t in parts:
        verts.append(np.asarray(v, np.float64))
        tris.append(np.asarray(t, np.int32) + start)
        pieces.append(Piece(obj, start, start + len(v), np.asarray(mat, np.float64)))
        start += len(v)
    return np.concatenate(verts), np.concatenate(tris), pieces


def piece_keys(pieces, deltas_world: np.ndarray, names, head_verts: np.ndarray, first: int = 0) -> list:
    """What each piece gets: [(names of the keys that move it, (k, Ni, 3) float64 its object-local displacements)].

    pieces: ``Piece`` list; deltas_world (K, M, 3) world displacements of the joined mesh's rows ``first`` on (the
    pieces' rows ``start - first : stop - first``); names: the K key names; head_verts (N, 3) the head's own world
    rest positions (its size sets ``moving_keys``' threshold)."""
    head_size = float(np.linalg.norm(np.ptp(np.asarray(head_verts, np.float64), axis=0)))
    out = []
    for p in pieces:
        rows = np.asarray(deltas_world)[:, p.start - first:p.stop - first]
        moving = np.flatnonzero(moving_keys(rows, head_size))
        out.append(([names[k] for k in moving], mesh_io.world_to_local_deltas(rows[moving], p.mat)))
    return out


def write_piece_keys(head, pieces, keys, replace: bool) -> list[str]:
    """Write each piece's keys (``piece_keys``' list ``keys``), remember them as the add-on's
    (``shape_keys.remember_made``) and drive them by ``head``'s keys of the same names (``keyframes.drive_by``; the
    head must have them). ``replace`` as ``shape_keys.write_keys``. Returns a phrase per piece for the report."""
    from . import keyframes, shape_keys
    said = []
    for p, (moved, deltas) in zip(pieces, keys):
        if not moved:
            said.append(f"'{p.obj.name}' none (no key moves it)")
            continue
        shape_keys.write_keys(p.obj, moved, deltas, replace)
        shape_keys.remember_made(p.obj, moved)
        keyframes.drive_by(p.obj, moved, head)
        said.append(f"'{p.obj.name}' {len(moved)} ({', '.join(moved[:3])}{' ...' if len(moved) > 3 else ''})")
    return said


def moving_keys(piece_deltas: np.ndarray, head_size: float) -> np.ndarray:
    """(K,) bool: which keys move a piece: piece_deltas (K, Ni, 3) its vertices' world displacements, a vertex moved
    further than ``MOVE_SHARE`` of ``head_size`` (the head's bounding-box diagonal, world units)."""
    d = np.asarray(piece_deltas)
    if d.shape[1] == 0:
        return np.zeros(len(d), bool)
    return np.abs(d).max(axis=(1, 2)) > MOVE_SHARE * head_size


def driven_pieces(head, objects) -> list:
    """The meshes among ``objects`` whose shape keys are driven by ``head``'s (its pieces, ``keyframes.drive_by``)."""
    src = getattr(head.data, "shape_keys", None)
    out = []
    for ob in objects:
        key = getattr(ob.data, "shape_keys", None) if ob.type == "MESH" and ob != head else None
        ad = key.animation_data if key is not None else None
        if src is not None and ad is not None and any(
                t.id == src for d in ad.drivers for v in d.driver.variables for t in v.targets):
            out.append(ob)
    return out
