"""Skinning regions as vertex groups ``NFS_<region>`` and the ``NFS_regions`` colour attribute.

Only groups whose name starts with ``NFS_`` are created, cleared or read; other groups are never touched.
Blender has no bulk setter for vertex-group weights, so weights are quantised to ``1/STEPS`` per vertex with
the largest-remainder rule (each vertex's weights still sum to exactly 1) and written with one
``vg.add(indices, weight, 'REPLACE')`` call per distinct value.
"""
from __future__ import annotations

import numpy as np

from .model_core.runtime.mesh import normalize_rows

PREFIX = "NFS_"
COLOR_ATTRIBUTE = "NFS_regions"
STEPS = 1024  # weights are multiples of 1/1024 (exact in float32), sums exactly 1


def group_name(region: str) -> str:
    return PREFIX + region


def quantise_rows(probs: np.ndarray, steps: int = STEPS) -> np.ndarray:
    """(N, R) non-negative rows summing to 1 -> (N, R) int32 counts summing to ``steps`` per row
    (largest-remainder rounding: every row's error is below 1/steps per entry)."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 0.0, None)
    p = normalize_rows(p, 1.0 / p.shape[1]) * steps
    base = np.floor(p).astype(np.int64)
    short = steps - base.sum(axis=1)  # 0 .. R-1 units still to hand out per row
    frac = p - base
    order = np.argsort(-frac, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(p.shape[1])[None, :].repeat(p.shape[0], 0), axis=1)
    base += (rank < short[:, None]).astype(np.int64)
    return base.astype(np.int32)


def write_region_groups(obj, region_names, probs: np.ndarray) -> list[str]:
    """Create or replace the groups ``NFS_<region>`` with the weights ``probs`` (N, R).

    Existing NFS_ groups of these regions are cleared and refilled (their order and index stay); vertices
    with zero weight are not added. Returns the group names.
    """
    me = obj.data
    n = len(me.vertices)
    probs = np.asarray(probs, dtype=np.float64)
    if probs.shape != (n, len(region_names)):
        raise ValueError(f"weights have shape {probs.shape}, expected ({n}, {len(region_names)})")
    counts = quantise_rows(probs)
    all_idx = list(range(n))
    names = []
    for r, region in enumerate(region_names):
        name = group_name(region)
        vg = obj.vertex_groups.get(name)
        if vg is None:
            vg = obj.vertex_groups.new(name=name)
        else:
            vg.remove(all_idx)
        col = counts[:, r]
        nz = np.flatnonzero(col)
        if nz.size:
            vals = col[nz]
            order = np.argsort(vals, kind="stable")
            nz, vals = nz[order], vals[order]
            cuts = np.flatnonzero(np.diff(vals)) + 1
            for idx, v in zip(np.split(nz, cuts), vals[np.r_[0, cuts]]):
                vg.add(idx.tolist(), float(v) / STEPS, "REPLACE")
        names.append(name)
    return names


def has_region_groups(obj, region_names) -> bool:
    return any(obj.vertex_groups.get(group_name(r)) is not None for r in region_names)


def read_region_groups(obj, region_names) -> tuple[np.ndarray, np.ndarray] | None:
    """Weights of the ``NFS_<region>`` groups as (N, R) float64, plus a (N,) bool mask of vertices with a
    positive total; None when the object has none of these groups. Groups that are missing read as zero."""
    col_of = {}
    for r, region in enumerate(region_names):
        vg = obj.vertex_groups.get(group_name(region))
        if vg is not None:
            col_of[vg.index] = r
    if not col_of:
        return None
    me = obj.data
    out = np.zeros((len(me.vertices), len(region_names)), dtype=np.float64)
    for v in me.vertices:
        for g in v.groups:
            c = col_of.get(g.group)
            if c is not None:
                out[v.index, c] = g.weight
    return out, out.sum(axis=1) > 1e-8


def region_rgba(probs: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """(N, R) weights x (R, 3) colours -> (N, 4) float32 RGBA (alpha 1)."""
    rgb = np.clip(np.asarray(probs, dtype=np.float64) @ np.asarray(colors, dtype=np.float64), 0.0, 1.0)
    return np.concatenate([rgb, np.ones((rgb.shape[0], 1))], axis=1).astype(np.float32)


def write_point_colors(mesh, name: str, rgba: np.ndarray) -> None:
    """Create or replace the FLOAT_COLOR / POINT colour attribute ``name`` of ``mesh`` with ``rgba`` (N, 4) (an
    attribute of that name of another type or domain is replaced); the caller decides whether it may."""
    rgba = np.ascontiguousarray(np.asarray(rgba, dtype=np.float32).ravel())
    attr = mesh.attributes.get(name)
    if attr is not None and (attr.data_type != "FLOAT_COLOR" or attr.domain != "POINT"):
        mesh.attributes.remove(attr)
        attr = None
    if attr is None:
        attr = mesh.color_attributes.new(name, "FLOAT_COLOR", "POINT")
    attr.data.foreach_set("color", rgba)
    mesh.update()


def write_region_colors(mesh, probs: np.ndarray, colors: np.ndarray) -> str:
    """Create or replace the FLOAT_COLOR / POINT attribute ``NFS_regions`` blending region colours by weight."""
    write_point_colors(mesh, COLOR_ATTRIBUTE, region_rgba(probs, colors))
    return COLOR_ATTRIBUTE
