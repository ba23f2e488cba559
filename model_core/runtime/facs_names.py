"""FACS blendshape names: ICT-FaceKit's 53 expressions, Apple ARKit's 52, conversions and name matching.

Pure Python (no numpy import at module level; array inputs are handled with numpy lazily). Used by the
runtime, the CLI and the Blender add-on.

- ``ICT_NAMES`` (53): ICT-FaceKit's expression order (= the first 53 entries of the expression code z_GE).
- ``ARKIT_NAMES`` (52): ARKit's ``ARFaceAnchor.BlendShapeLocation`` order (the column order of Live Link
  Face CSV files), camelCase with ``Left``/``Right`` suffixes.
- ICT = ARKit without ``tongueOut`` and with ``browInnerUp`` and ``cheekPuff`` split into ``_L``/``_R``.
  ``ict_to_arkit``: merged shapes take the mean of L and R, ``tongueOut`` = 0.
  ``arkit_to_ict``: split shapes copy the merged value to both sides.
- Sides are the character's own left/right (ICT ``_L`` == ARKit ``Left``).
"""
from __future__ import annotations

import re

ICT_NAMES: tuple[str, ...] = (
    "browDown_L", "browDown_R", "browInnerUp_L", "browInnerUp_R", "browOuterUp_L", "browOuterUp_R",
    "cheekPuff_L", "cheekPuff_R", "cheekSquint_L", "cheekSquint_R", "eyeBlink_L", "eyeBlink_R",
    "eyeLookDown_L", "eyeLookDown_R", "eyeLookIn_L", "eyeLookIn_R", "eyeLookOut_L", "eyeLookOut_R",
    "eyeLookUp_L", "eyeLookUp_R", "eyeSquint_L", "eyeSquint_R", "eyeWide_L", "eyeWide_R",
    "jawForward", "jawLeft", "jawOpen", "jawRight", "mouthClose", "mouthDimple_L", "mouthDimple_R",
    "mouthFrown_L", "mouthFrown_R", "mouthFunnel", "mouthLeft", "mouthLowerDown_L", "mouthLowerDown_R",
    "mouthPress_L", "mouthPress_R", "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper",
    "mouthShrugLower", "mouthShrugUpper", "mouthSmile_L", "mouthSmile_R", "mouthStretch_L",
    "mouthStretch_R", "mouthUpperUp_L", "mouthUpperUp_R", "noseSneer_L", "noseSneer_R",
)

ARKIT_NAMES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight",
    "eyeLookOutRight", "eyeLookUpRight", "eyeSquintRight", "eyeWideRight", "jawForward", "jawRight",
    "jawLeft", "jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthRight", "mouthLeft",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight", "mouthDimpleLeft",
    "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight", "mouthRollLower", "mouthRollUpper",
    "mouthShrugLower", "mouthShrugUpper", "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft",
    "mouthLowerDownRight", "mouthUpperUpLeft", "mouthUpperUpRight", "browDownLeft", "browDownRight",
    "browInnerUp", "browOuterUpLeft", "browOuterUpRight", "cheekPuff", "cheekSquintLeft",
    "cheekSquintRight", "noseSneerLeft", "noseSneerRight", "tongueOut",
)

N_ICT = len(ICT_NAMES)      # 53
N_ARKIT = len(ARKIT_NAMES)  # 52
ICT_INDEX: dict[str, int] = {n: i for i, n in enumerate(ICT_NAMES)}
ARKIT_INDEX: dict[str, int] = {n: i for i, n in enumerate(ARKIT_NAMES)}

_SIDE_RE = re.compile(r"^(?P<base>.*?)(?:_(?P<s1>[LR])|(?P<s2>Left|Right))$")


def _split_side(name: str) -> tuple[str, str]:
    """('eyeBlink_L' | 'eyeBlinkLeft') -> ('eyeBlink', 'L'); a sideless name -> (name, '')."""
    m = _SIDE_RE.match(name)
    if not m:
        return name, ""
    side = m.group("s1") or ("L" if m.group("s2") == "Left" else "R")
    return m.group("base"), side


# Names whose Left/Right is a direction of motion, not a side: the same in ICT and ARKit, not split, no L/R twins
# of one muscle (mirroring a pose swaps them, copying one side's values to the other leaves them alone).
DIRECTION_NAMES: tuple[str, ...] = ("jawLeft", "jawRight", "mouthLeft", "mouthRight")


def ict_to_arkit_name(ict_name: str) -> str:
    """ICT name -> ARKit name ('eyeBlink_L' -> 'eyeBlinkLeft'; 'browInnerUp_L' -> 'browInnerUp')."""
    if ict_name not in ICT_INDEX:
        raise ValueError(f"{ict_name!r} is not an ICT FACS name (see facs_names.ICT_NAMES)")
    base, side = _split_side(ict_name)
    if base in ("browInnerUp", "cheekPuff"):
        return base
    if ict_name in DIRECTION_NAMES:
        return ict_name
    return base + {"L": "Left", "R": "Right", "": ""}[side]


def arkit_to_ict_names(arkit_name: str) -> tuple[str, ...]:
    """ARKit name -> the ICT names it feeds (0 for tongueOut, 2 for browInnerUp/cheekPuff, else 1)."""
    if arkit_name not in ARKIT_INDEX:
        raise ValueError(f"{arkit_name!r} is not an ARKit blendshape name (see facs_names.ARKIT_NAMES)")
    return tuple(n for n in ICT_NAMES if ict_to_arkit_name(n) == arkit_name)


# For each ARKit name, the ICT indices it averages (empty for tongueOut).
ARKIT_SOURCES: tuple[tuple[int, ...], ...] = tuple(
    tuple(ICT_INDEX[n] for n in arkit_to_ict_names(a)) for a in ARKIT_NAMES)
# For each ICT name, the ARKit index it copies.
ICT_SOURCE: tuple[int, ...] = tuple(ARKIT_INDEX[ict_to_arkit_name(n)] for n in ICT_NAMES)


def _is_array(x) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype")


def _checked_weights(weights, n: int, what: str):
    """``weights`` as a float array (..., n) (array input; at least float32) or a list of n floats (sequence
    input). Raises ValueError naming ``what`` when the last dimension is not n."""
    if _is_array(weights):
        import numpy as np
        w = np.asarray(weights)
        if w.ndim < 1 or w.shape[-1] != n:
            raise ValueError(f"expected {what} weights with last dimension {n}, got shape {w.shape}")
        return w.astype(np.result_type(w.dtype, np.float32), copy=False)
    w = [float(v) for v in weights]
    if len(w) != n:
        raise ValueError(f"expected {n} {what} weights, got {len(w)}")
    return w


def ict_to_arkit(weights):
    """ICT FACS weights -> ARKit weights.

    Args:
        weights: a sequence of 53 numbers, or an array (..., 53).
    Returns:
        list of 52 floats (sequence input) or a float array (..., 52) (array input), ARKit order.
        ``browInnerUp``/``cheekPuff`` = mean of the L and R ICT values; ``tongueOut`` = 0.
    Raises:
        ValueError: the last dimension is not 53.
    """
    w = _checked_weights(weights, N_ICT, "ICT")
    if isinstance(w, list):
        return [sum(w[i] for i in src) / len(src) if src else 0.0 for src in ARKIT_SOURCES]
    import numpy as np
    out = np.zeros(w.shape[:-1] + (N_ARKIT,), dtype=w.dtype)
    for j, src in enumerate(ARKIT_SOURCES):
        if len(src) == 1:
            out[..., j] = w[..., src[0]]
        elif len(src) == 2:
            out[..., j] = 0.5 * (w[..., src[0]] + w[..., src[1]])
    return out


def ict_to_arkit_deltas(deltas):
    """ICT shape deltas -> ARKit shape deltas, as ``Model.facs_basis(..., names='arkit')`` decodes them: each ARKit
    shape the sum of the ICT shapes it feeds (``browInnerUp`` / ``cheekPuff`` both halves), ``tongueOut`` zero.

    Args:
        deltas: array (53, ...) in ICT order (e.g. (53, N, 3) displacements, any units).
    Returns:
        float array (52, ...) in ARKit order, the same units.
    Raises:
        ValueError: the first dimension is not 53.
    """
    import numpy as np
    d = np.asarray(deltas)
    if d.ndim < 1 or d.shape[0] != N_ICT:
        raise ValueError(f"expected {N_ICT} ICT shapes along the first axis, got shape {d.shape}")
    out = np.zeros((N_ARKIT,) + d.shape[1:], dtype=np.result_type(d.dtype, np.float32))
    for j, src in enumerate(ARKIT_SOURCES):
        for i in src:
            out[j] += d[i]
    return out


def arkit_to_ict(weights):
    """ARKit weights -> ICT FACS weights (split shapes copy the merged value; tongueOut is dropped).

    Args:
        weights: a sequence of 52 numbers, or an array (..., 52), ARKit order.
    Returns:
        list of 53 floats, or a float array (..., 53), ICT order.
    Raises:
        ValueError: the last dimension is not 52.
    """
    a = _checked_weights(weights, N_ARKIT, "ARKit")
    if isinstance(a, list):
        return [a[j] for j in ICT_SOURCE]
    return a[..., list(ICT_SOURCE)]


# --------------------------------------------------------------------------------------------- matching
def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


# canonical key (lower-case alnum base, side 'L'/'R'/'') -> ICT indices
_KEY_TO_ICT: dict[tuple[str, str], tuple[int, ...]] = {}
for _i, _n in enumerate(ICT_NAMES):
    _b, _s = _split_side(_n)
    _KEY_TO_ICT.setdefault((_norm(_b), _s), ())
    _KEY_TO_ICT[(_norm(_b), _s)] += (_i,)
# ARKit's merged names without a side feed both ICT sides.
for _merged in ("browInnerUp", "cheekPuff"):
    _KEY_TO_ICT[(_norm(_merged), "")] = (ICT_INDEX[_merged + "_L"], ICT_INDEX[_merged + "_R"])

# Side suffixes, tried after the sideless reading; order matters (longest first).
_SUFFIXES = (("left", "L"), ("right", "R"), ("l", "L"), ("r", "R"))


def _candidates(name: str):
    """Strings to try for one source name: the whole name, then without a namespace prefix."""
    s = name.strip()
    yield s
    for sep in (":", "|"):
        if sep in s:
            yield s.rsplit(sep, 1)[1]
    if "." in s:  # e.g. 'blendShape1.eyeBlinkLeft' (a '.L' suffix is handled by _parse itself)
        yield s.split(".", 1)[1]


def _parse(name: str) -> tuple[int, ...] | None:
    """ICT indices for one source name, or None when it is not a FACS name."""
    for cand in _candidates(name):
        key = _norm(cand)
        if not key:
            continue
        if (key, "") in _KEY_TO_ICT:
            return _KEY_TO_ICT[(key, "")]
        for suffix, side in _SUFFIXES:
            if key.endswith(suffix) and (key[: -len(suffix)], side) in _KEY_TO_ICT:
                return _KEY_TO_ICT[(key[: -len(suffix)], side)]
    return None


def match_source_names(names) -> dict[str, tuple[int, ...]]:
    """Match a source character's blendshape names to ICT FACS expressions.

    Accepts any case and separator style: ``eyeBlink_L``, ``eyeBlinkLeft``, ``EyeBlinkLeft`` (Live Link
    Face CSV), ``eye_blink_left``, ``eyeBlink.L``, ``eyeBlink_l``, ``EYEBLINK_L``, ``eyeBlinkL``, with an
    optional namespace prefix (``head:eyeBlink_L``, ``blendShape1.eyeBlinkLeft``).

    Args:
        names: iterable of source names (e.g. shape-key names; non-FACS names such as 'Basis' are ignored).
    Returns:
        dict source name -> tuple of ICT indices it drives: one index for most names, two for ARKit's
        merged ``browInnerUp``/``cheekPuff`` (both ICT sides), none of ``tongueOut`` (left out). When two
        source names claim the same ICT index the first one keeps it (the later one is left out).
    """
    out: dict[str, tuple[int, ...]] = {}
    taken: set[int] = set()
    for name in names:
        name = str(name)
        if name in out:
            continue
        idx = _parse(name)
        if not idx:
            continue
        free = tuple(i for i in idx if i not in taken)
        if not free:
            continue
        out[name] = free
        taken.update(free)
    return out


def arkit_spelling(name: str) -> str | None:
    """The ARKit name a source shape name spells, in any style ``match_source_names`` reads ('eyeBlink_L',
    'EyeBlinkLeft', 'eye_blink_left', 'head:eyeBlinkLeft' -> 'eyeBlinkLeft'; 'browInnerUp_L' -> 'browInnerUp';
    'TongueOut' -> 'tongueOut'), or None for a name that is no FACS shape ('Basis')."""
    name = str(name)
    if any(_norm(c) == "tongueout" for c in _candidates(name)):
        return "tongueOut"
    idx = _parse(name)
    return ict_to_arkit_name(ICT_NAMES[idx[0]]) if idx else None


def source_values_to_ict(mapping: dict[str, tuple[int, ...]], values: dict) -> list:
    """Build ICT weights from source values.

    Args:
        mapping: the result of ``match_source_names``.
        values: dict source name -> a number (one frame) or a sequence/array (T,) (frames).
    Returns:
        list of 53 entries in ICT order: the source value (number or (T,) sequence) or 0.0 where no
        source drives the expression.
    """
    out: list = [0.0] * N_ICT
    for name, idx in mapping.items():
        if name in values:
            for i in idx:
                out[i] = values[name]
    return out


# --------------------------------------------------------------------------------------------- groups, mirror
FACS_GROUP_ORDER: tuple[str, ...] = ("brows", "eyes", "cheeks", "nose", "mouth", "jaw")


def facs_group(name: str) -> str:
    """UI group ('brows', 'eyes', 'cheeks', 'nose', 'mouth', 'jaw') of an ICT or ARKit name (any style);
    'other' for an unknown name."""
    key = _norm(name)
    for prefix, group in (("brow", "brows"), ("eye", "eyes"), ("cheek", "cheeks"), ("nose", "nose"),
                          ("mouth", "mouth"), ("jaw", "jaw"), ("tongue", "mouth")):
        if key.startswith(prefix):
            return group
    return "other"


FACS_GROUPS: dict[str, str] = {n: facs_group(n) for n in ICT_NAMES}
ARKIT_GROUPS: dict[str, str] = {n: facs_group(n) for n in ARKIT_NAMES}

_WORD_SIDE = re.compile(r"(?:(?<=[a-z0-9])|(?<=[_.\- ]))(Left|LEFT|left|Right|RIGHT|right)$")
_LETTER_SIDE = re.compile(r"(?<=[_.\-])([LRlr])$")
_SWAP = {"Left": "Right", "LEFT": "RIGHT", "left": "right", "Right": "Left", "RIGHT": "LEFT", "right": "left",
         "L": "R", "R": "L", "l": "r", "r": "l"}


def _side_match(name: str):
    return _WORD_SIDE.search(name) or _LETTER_SIDE.search(name)


def mirror_name(name: str) -> str:
    """The name of the opposite side, same style: 'eyeBlink_L' <-> 'eyeBlink_R', 'eyeBlinkLeft' <->
    'eyeBlinkRight', 'EyeBlinkLeft' <-> 'EyeBlinkRight', 'brow.L' <-> 'brow.R', 'x_l' <-> 'x_r',
    'EYE_LEFT' <-> 'EYE_RIGHT', 'jawLeft' <-> 'jawRight', 'mouthLeft' <-> 'mouthRight'.
    A sideless name comes back unchanged."""
    m = _side_match(name)
    if not m:
        return name
    return name[: m.start(1)] + _SWAP[m.group(1)]


def side_of(name: str) -> str:
    """'L', 'R' or '' for a name's side suffix (the styles of ``mirror_name``)."""
    m = _side_match(name)
    if not m:
        return ""
    return "L" if m.group(1)[0] in "Ll" else "R"


def names_for_scheme(scheme: str) -> tuple[str, ...]:
    """'ict' -> ICT_NAMES, 'arkit' -> ARKIT_NAMES (case-insensitive)."""
    s = str(scheme).lower()
    if s == "ict":
        return ICT_NAMES
    if s == "arkit":
        return ARKIT_NAMES
    raise ValueError(f"name scheme must be 'ict' or 'arkit', got {scheme!r}")
