"""User landmarks for Transfer Shape Keys: vertex groups named ``landmark_<name>`` on both heads.

A group of that name on the source and one of the same name on the target make a pair: the weighted centre of
each group's vertices (rest positions, world space) must correspond. One vertex per group is enough; a few
neighbouring ones give a point between them. Groups on one head only are reported and left out. The landmarks
correct the automatic correspondence where it is wrong (``runtime.transfer.transfer_keys(landmarks=...)``);
the correspondence colours show where it lands. Re-run Transfer Shape Keys with *Replace existing* to
recompute the keys after adding or moving a landmark.
"""
from __future__ import annotations

import numpy as np

from . import mesh_io
from .common import UserError

PREFIX = "landmark_"   # case-insensitive; not NFS_, which names the region groups


def landmark_groups(obj) -> dict:
    """{lower-case landmark name: vertex group} of ``obj``'s groups named ``landmark_<name>`` (any case)."""
    return {vg.name[len(PREFIX):].lower(): vg for vg in obj.vertex_groups if vg.name.lower().startswith(PREFIX)}


def group_centres(obj, groups: dict, world_verts: np.ndarray) -> dict:
    """{name: (3,) weighted centre of the group's vertices} in the frame of ``world_verts`` (N, 3) (the object's
    rest positions, world space). Raises UserError for a group with no weighted vertex."""
    out = {}
    for name, vg in groups.items():
        w = np.clip(mesh_io.group_weights(obj, vg.name), 0.0, None)
        if not w.sum() > 0:
            raise UserError(f"the landmark group {vg.name!r} of '{obj.name}' has no vertices: assign the vertex that "
                            f"marks it (Edit Mode > Object Data > Vertex Groups > Assign) or delete the group")
        out[name] = w @ world_verts / w.sum()
    return out


def landmark_pairs(source, target, src_world: np.ndarray, tgt_world: np.ndarray):
    """(source points (L, 3), target points (L, 3), names (L,), unpaired group names) from the two objects'
    ``landmark_<name>`` groups; the points are world-space rest positions (the frames the transfer reads)."""
    sg, tg = landmark_groups(source), landmark_groups(target)
    names = sorted(set(sg) & set(tg))
    unpaired = sorted([sg[n].name for n in set(sg) - set(tg)] + [tg[n].name for n in set(tg) - set(sg)])
    if not names:
        return np.zeros((0, 3)), np.zeros((0, 3)), [], unpaired
    sc = group_centres(source, {n: sg[n] for n in names}, src_world)
    tc = group_centres(target, {n: tg[n] for n in names}, tgt_world)
    return np.array([sc[n] for n in names]), np.array([tc[n] for n in names]), names, unpaired
