"""FACS shape keys on a mesh: finding them, checking name clashes, writing coordinates in bulk.

Keys with other names are never touched. Coordinates are written with ``points.foreach_set('co', ...)`` from
contiguous float32 arrays (float64 takes Blender's slow per-item path).
"""
from __future__ import annotations

import numpy as np

from .model_core.runtime import facs_names

SCHEMES = ("ICT", "ARKIT")  # the add-on's scheme identifiers (preferences, operators)
# Enum items of the FACS slider groups: 'ALL', then facs_names.FACS_GROUP_ORDER.
GROUP_ITEMS = (("ALL", "All", "Every FACS shape key"),) + tuple(
    (g, g.capitalize(), f"The {g} FACS keys") for g in facs_names.FACS_GROUP_ORDER)


def scheme_names(scheme: str) -> tuple[str, ...]:
    """'ICT' -> the 53 ICT names, 'ARKIT' -> the 52 ARKit names (``facs_names.names_for_scheme``)."""
    return facs_names.names_for_scheme(scheme)


def facs_keys(obj) -> tuple[str | None, dict]:
    """The FACS shape keys of ``obj``: (scheme, {name: key_block}) for the scheme with more keys present
    ('ICT' or 'ARKIT'; ICT on a tie), or (None, {}) when the mesh has none."""
    key = getattr(obj.data, "shape_keys", None) if obj is not None and obj.type == "MESH" else None
    if key is None:
        return None, {}
    blocks = key.key_blocks
    found = {s: {n: blocks[n] for n in scheme_names(s) if n in blocks} for s in SCHEMES}
    scheme = max(SCHEMES, key=lambda s: (len(found[s]), s == "ICT"))
    if not found[scheme]:
        return None, {}
    return scheme, found[scheme]


def ict_to_scheme_values(ict_values: np.ndarray, scheme: str) -> np.ndarray:
    """(T, 53) ICT weights -> (T, 53) or (T, 52) in ``scheme`` order."""
    return np.asarray(ict_values) if scheme.upper() == "ICT" else facs_names.ict_to_arkit(np.asarray(ict_values))


def scheme_key_values(ict_values: np.ndarray, scheme: str, keys: dict) -> dict[str, np.ndarray]:
    """(T, 53) ICT weights -> {name: (T,) values} for the FACS keys ``keys`` ({name: key_block} in ``scheme``, as
    from ``facs_keys``), each clipped to its key's [slider_min, slider_max]; names without a key are left out."""
    return key_values(ict_to_scheme_values(ict_values, scheme), scheme, keys)


def key_values(values: np.ndarray, scheme: str, keys: dict) -> dict[str, np.ndarray]:
    """(T, K) weights already in ``scheme`` order (K = 53 ICT or 52 ARKit, e.g. a Live Link take with its
    tongueOut) -> {name: (T,) values} for the FACS keys ``keys``, clipped as ``scheme_key_values``."""
    values = np.asarray(values)
    by_name = {}
    for k, name in enumerate(scheme_names(scheme)):
        kb = keys.get(name)
        if kb is not None:
            by_name[name] = np.clip(values[:, k], kb.slider_min, kb.slider_max)
    return by_name


def clashes(obj, names) -> list[str]:
    """Names among ``names`` that already exist as shape keys of ``obj``."""
    key = obj.data.shape_keys
    if key is None:
        return []
    return [n for n in names if n in key.key_blocks]


def ensure_basis(obj):
    """The reference key of ``obj``; a mesh without shape keys gets one named 'Basis' from its coordinates."""
    key = obj.data.shape_keys
    if key is None or key.reference_key is None:
        obj.shape_key_add(name="Basis", from_mix=False)
        key = obj.data.shape_keys
    return key.reference_key


def write_keys(obj, names, local_deltas, replace: bool) -> tuple[list[str], list[str]]:
    """Write shape keys ``names[k] = Basis + local_deltas[k]`` relative to the reference key.

    Args:
        names: K shape-key names.
        local_deltas: (K, N, 3) object-local displacements (any float dtype).
        replace: when False, any existing key of these names raises ValueError before anything is written;
            when True, existing keys keep their slot, value, animation and drivers and get new coordinates.
    Returns:
        (created names, replaced names).
    """
    me = obj.data
    n = len(me.vertices)
    deltas = np.asarray(local_deltas)
    if deltas.shape != (len(names), n, 3):
        raise ValueError(f"displacements have shape {deltas.shape}, expected ({len(names)}, {n}, 3)")
    existing = clashes(obj, names)
    if existing and not replace:
        raise ValueError(f"shape keys already exist: {', '.join(existing[:5])}"
                         f"{' ...' if len(existing) > 5 else ''}; tick 'Replace existing' to overwrite them")
    key = me.shape_keys
    if key is not None and key.reference_key is not None and key.reference_key.name in names:
        raise ValueError(f"the reference key is named {key.reference_key.name!r}, a FACS name: rename it "
                         f"(e.g. to 'Basis') first")
    ref = ensure_basis(obj)
    base = np.empty(n * 3, dtype=np.float32)
    ref.points.foreach_get("co", base)
    base = base.reshape(n, 3)
    blocks = me.shape_keys.key_blocks
    created, replaced = [], []
    for k, name in enumerate(names):
        kb = blocks.get(name)
        if kb is None:
            kb = obj.shape_key_add(name=name, from_mix=False)
            kb.value = 0.0
            created.append(name)
        else:
            replaced.append(name)
        kb.relative_key = ref
        co = np.ascontiguousarray((base + deltas[k]).astype(np.float32).ravel())
        kb.points.foreach_set("co", co)
    me.update()
    return created, replaced


def set_ranges(obj, ranges: dict) -> None:
    """Set ``obj``'s shape keys' slider ranges: {name: (slider_min, slider_max)}, min < max, each in [-10, 10]
    (Blender keeps min below max, so the bound that would cross the other is set second)."""
    blocks = obj.data.shape_keys.key_blocks
    for name, (lo, hi) in ranges.items():
        kb = blocks[name]
        if lo < kb.slider_max:
            kb.slider_min, kb.slider_max = lo, hi
        else:
            kb.slider_max, kb.slider_min = hi, lo


MADE_PROP = "nfs_made_keys"     # mesh custom property: the keys the add-on wrote (generated, transferred, a piece's)


def made_keys(obj) -> list[str]:
    """Names of the shape keys the add-on wrote on ``obj``'s mesh (``MADE_PROP``) that it still has, in key order."""
    me = getattr(obj, "data", None) if obj is not None and obj.type == "MESH" else None
    key = me.shape_keys if me is not None else None
    if key is None:
        return []
    listed = set(str(me.get(MADE_PROP, "")).split(","))
    return [kb.name for kb in key.key_blocks if kb.name in listed and kb != key.reference_key]


def remember_made(obj, names) -> None:
    """Add ``names`` to the keys the add-on wrote on ``obj``'s mesh (``made_keys``)."""
    listed = made_keys(obj)
    obj.data[MADE_PROP] = ",".join(listed + [n for n in names if n not in listed])


def removable_made(obj, keep=()) -> tuple[list[str], list[str]]:
    """The keys the add-on wrote on ``obj`` (``made_keys``) split into (those to remove, those kept): kept are those
    named in ``keep`` and those another remaining key is relative to (a corrective the user made on top of jawOpen
    would change meaning)."""
    key = obj.data.shape_keys
    made = made_keys(obj)
    others = [kb for kb in key.key_blocks if kb.name not in made]
    needed = {kb.relative_key.name for kb in others if kb.relative_key is not None} | set(keep)
    return [n for n in made if n not in needed], [n for n in made if n in needed]


def remove_keys(obj, names) -> None:
    """Remove ``obj``'s shape keys ``names`` and forget them as the add-on's (``made_keys``). Remove the drivers of
    these keys first (``keyframes.remove_drivers``): Blender 5.3 crashes evaluating a driver whose key is gone."""
    key = obj.data.shape_keys
    for name in names:
        obj.shape_key_remove(key.key_blocks[name])
    obj.data[MADE_PROP] = ",".join(made_keys(obj))         # (the removed ones are gone from it)
