"""The facial regions ("muscle groups") of the skinning encoder and the committed ICT label map.

The paper supervises the skinning encoder with a segmentation of the face into about 20 regions that
follow the facial muscles. Here the segmentation is defined once on ICT-FaceKit's full-head crop
(vertices 0-11247, see ``ict.CROPS``) by ``scripts/make_region_labels.py`` (geometry, the 68 landmarks
and where each FACS expression moves the skin), left/right symmetric, and committed as
``model_core/data/ict_regions.npz`` (keys ``labels`` uint8 (11248,), ``names`` (R,) str).

Side convention: ``_L`` is the character's left = ICT +X (the side ``eyeBlink_L`` moves).
Region names are ASCII identifiers, usable in Blender vertex-group names (``NFS_<region>``).

Numpy only (runs inside Blender); no torch, no scipy, no bpy.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .mesh import normalize_rows

__all__ = ["REGION_NAMES", "REGION_COLORS", "MIRROR", "N_REGIONS", "DEFAULT_LABELS_PATH", "CROP_SIZES",
           "mirror_index", "load_ict_labels", "crop_labels", "region_colors_for"]

REGION_NAMES = [
    "back_of_head",      # scalp behind the ears and over the crown
    "forehead",          # frontalis, above the brows
    "procerus",          # glabella and nasal root between the brows
    "eye_L",             # orbicularis oculi: lids and the ring around the eye, up to the brow
    "eye_R",
    "temporalis_L",      # temple, above the zygomatic arch, in front of the ear
    "temporalis_R",
    "nose",              # nasal bridge, tip, alae
    "levator_labii_L",   # beside the nose, above the upper lip (nasolabial area; noseSneer, mouthUpperUp)
    "levator_labii_R",
    "zygomaticus_L",     # the cheek (cheekSquint, mouthSmile)
    "zygomaticus_R",
    "masseter_L",        # the side of the lower face in front of the ear, over the jaw muscle
    "masseter_R",
    "orbicularis_oris",  # the skin ring around the lips, philtrum and above the chin
    "lips",              # the red lips, inner surfaces included
    "jaw",               # chin and the front of the lower jaw (mentalis, depressors)
    "platysma",          # the front and sides of the neck, under the chin
    "back_of_neck",      # the nape down to the shoulders
    "ear_L",
    "ear_R",
    "clavicle",          # the base of the neck in front, where the crop reaches the shoulders
]
N_REGIONS = len(REGION_NAMES)


def mirror_index(names) -> np.ndarray:
    """(R,) int64: index of each region's mirror image (``x_L`` <-> ``x_R``; central regions map to themselves)."""
    names = list(names)
    out = np.arange(len(names), dtype=np.int64)
    for i, n in enumerate(names):
        for a, b in (("_L", "_R"), ("_R", "_L")):
            if n.endswith(a):
                twin = n[: -len(a)] + b
                if twin not in names:
                    raise ValueError(f"region {n!r} has no mirror region {twin!r}")
                out[i] = names.index(twin)
    return out


MIRROR = mirror_index(REGION_NAMES)

# Distinct colours; left/right twins share a hue family (right a little darker) so the picture reads as pairs.
REGION_COLORS = np.asarray([
    (0.70, 0.70, 0.74),  # back_of_head
    (0.98, 0.85, 0.35),  # forehead
    (0.55, 0.25, 0.60),  # procerus
    (0.20, 0.55, 0.95),  # eye_L
    (0.10, 0.35, 0.70),  # eye_R
    (0.55, 0.85, 0.45),  # temporalis_L
    (0.30, 0.62, 0.25),  # temporalis_R
    (0.95, 0.45, 0.20),  # nose
    (0.98, 0.65, 0.75),  # levator_labii_L
    (0.80, 0.40, 0.55),  # levator_labii_R
    (0.45, 0.90, 0.90),  # zygomaticus_L
    (0.15, 0.65, 0.65),  # zygomaticus_R
    (0.80, 0.65, 0.95),  # masseter_L
    (0.55, 0.40, 0.80),  # masseter_R
    (0.95, 0.95, 0.60),  # orbicularis_oris
    (0.85, 0.10, 0.15),  # lips
    (0.60, 0.45, 0.25),  # jaw
    (0.50, 0.75, 0.95),  # platysma
    (0.40, 0.45, 0.55),  # back_of_neck
    (1.00, 0.75, 0.45),  # ear_L
    (0.80, 0.50, 0.20),  # ear_R
    (0.90, 0.90, 0.90),  # clavicle
], dtype=np.float32)

DEFAULT_LABELS_PATH = Path(__file__).resolve().parent.parent / "data" / "ict_regions.npz"
# vertex counts of ICT's crops (kept equal to ict.CROPS without importing ict, which runtime code need not ship)
CROP_SIZES = {"full": 11248, "face": 9409, "narrow": 6706}
_CACHE: dict = {}


def load_ict_labels(path: str | os.PathLike | None = None) -> np.ndarray:
    """Region label of every vertex of ICT's full-head crop.

    Args:
        path: the labels npz (default: the committed ``model_core/data/ict_regions.npz``).
    Returns:
        (11248,) int64 labels, indices into ``REGION_NAMES``.
    Raises:
        FileNotFoundError: the file is missing (regenerate it with ``python scripts/make_region_labels.py``).
        ValueError: the file does not hold labels of this module's regions.
    """
    p = Path(path) if path is not None else DEFAULT_LABELS_PATH
    key = str(p.resolve()) if p.exists() else str(p)
    if key in _CACHE:
        return _CACHE[key].copy()
    if not p.is_file():
        raise FileNotFoundError(
            f"region labels not found at {p}: regenerate them with `python scripts/make_region_labels.py` "
            f"(needs ICT-FaceKit in ../shared/data/ict_facekit or $NFS_ICT_DIR), or pass the path of an "
            f"ict_regions.npz")
    with np.load(p, allow_pickle=False) as d:
        if "labels" not in d.files or "names" not in d.files:
            raise ValueError(f"{p} is not a region-label file: it needs keys 'labels' and 'names', has {d.files}")
        labels = d["labels"].astype(np.int64)
        names = [str(s) for s in d["names"]]
    if names != REGION_NAMES:
        raise ValueError(f"{p} was made for regions {names}, this code uses {REGION_NAMES}; "
                         f"regenerate it with `python scripts/make_region_labels.py`")
    if labels.shape != (CROP_SIZES["full"],):
        raise ValueError(f"{p}: labels must have shape ({CROP_SIZES['full']},), got {labels.shape}")
    if labels.min() < 0 or labels.max() >= N_REGIONS:
        raise ValueError(f"{p}: labels must lie in 0..{N_REGIONS - 1}, got {labels.min()}..{labels.max()}")
    _CACHE[key] = labels
    return labels.copy()


def crop_labels(crop: str = "full", path: str | os.PathLike | None = None) -> np.ndarray:
    """Labels (n,) int64 of an ICT crop's vertices: 'full' (11248), 'face' (9409) or 'narrow' (6706).

    The crops are prefixes of ICT's vertex order, so a crop's labels are the first n full-head labels.
    """
    if crop not in CROP_SIZES:
        raise ValueError(f"unknown crop {crop!r}; choose one of {sorted(CROP_SIZES)}")
    return load_ict_labels(path)[: CROP_SIZES[crop]]


def region_colors_for(probs) -> np.ndarray:
    """Blend region colours by per-vertex region probabilities.

    Args:
        probs: (N, R) non-negative weights over the R regions (rows need not sum to 1; they are
            normalised; an all-zero row gives grey), or (N,) integer labels.
    Returns:
        (N, 3) float32 colours in 0..1.
    """
    p = np.asarray(probs)
    if p.ndim == 1:
        if not np.issubdtype(p.dtype, np.integer):
            raise ValueError(f"1-D input must be integer labels, got dtype {p.dtype}")
        if p.size and (p.min() < 0 or p.max() >= N_REGIONS):
            raise ValueError(f"labels must lie in 0..{N_REGIONS - 1}")
        return REGION_COLORS[p].copy()
    if p.ndim != 2 or p.shape[1] != N_REGIONS:
        raise ValueError(f"probs must have shape (N, {N_REGIONS}), got {p.shape}")
    p = p.astype(np.float64)
    if not np.isfinite(p).all():
        raise ValueError("probs contains NaN or infinite values")
    if (p < 0).any():
        raise ValueError("probs must be non-negative (pass softmax probabilities, not logits)")
    s = p.sum(axis=1, keepdims=True)
    out = np.where(s > 0, normalize_rows(p, 0.0) @ REGION_COLORS.astype(np.float64), 0.5)
    return out.astype(np.float32)
