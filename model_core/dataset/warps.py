"""Smooth shape warps that take training faces outside ICT's identity space, with exact labels.

ICT's identities vary only inside its 100-mode PCA, so the encoders never see a large stylised eye, a small nose,
a wide mouth or a long chin (issue 18, "Training data beyond ICT's identity space"). A :class:`Warp` is a smooth
map W of space (ICT centimetres, +Y up, face toward +Z); the sampler applies the same W to the neutral and to
every posed face of a group, so each label stays exact: the warped key is W(n + d) - W(n), not d moved.

A warp composes two kinds of terms, one after the other, each one-to-one and fading smoothly to nothing:

- *bumps*: Gaussian displacements ``a * exp(-|x - c|^2 / (2 s^2))`` (a (3,) cm, s cm) with |a| at most
  ``BUMP_AMPLITUDE`` s, so each bump alone keeps the map one-to-one (a bump folds from |a| > s sqrt(e));
- *features*: a scale about a feature's centre, ``x + phi(|x - c|) * (k - 1) * (x - c)`` (k (3,) per axis),
  phi = 1 within r1, a smoothstep to 0 at r2 = ``FEATURE_REACH`` r1 (one-to-one for k < 1.9 at that reach:
  the radial stretch 1 + (k - 1) (phi + r phi') stays positive).

Feature centres and reaches (``FEATURES``) are measured once on ICT's generic head from the committed region
labels (``feature_centres``). Kinds of warp drawn by ``sample_warp``: smooth random bumps, per-feature
proportions (eye size and spacing, nose, mouth width, lip thickness, jaw, chin, cranium), stylised
proportions (large eyes, small nose and mouth, big cranium) and caricatures (the identity's coefficients times
``CARICATURE_GAIN``: beyond 3 sigma, still ICT's space, so that gain is stored as ``id_gain``, not as a map).
Training-side module (numpy only).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Warp", "FEATURES", "feature_centres", "sample_warp", "KINDS"]

BUMP_AMPLITUDE = 0.35          # a bump's displacement at most this share of its width
BUMP_SIGMA_CM = (2.5, 6.0)     # a bump's width (Gaussian sigma), cm
BUMPS = (2, 4)                 # bumps per smooth warp
FEATURE_REACH = 4.0            # a feature's scale fades out from r1 to this many r1 (one-to-one for scales below 1.9)
EYE_DEPTH = 0.25               # an eye's scale in depth, as a share of its scale across and up
CARICATURE_GAIN = (1.5, 2.5)   # a caricature's identity coefficients times this
KINDS = {"smooth": 0.35, "features": 0.35, "stylised": 0.2, "caricature": 0.1}   # kind of a warped group

# feature: (the regions whose vertices' mean is its centre on ICT's generic head, r1 cm)
FEATURES = {
    "eyes": (("eye_L",), 1.3),           # both eyes alike (mirrored centre): size, and spacing by moving them
    "nose": (("nose",), 1.6),
    "mouth": (("lips",), 2.0),           # width (x) and lip thickness (y) apart
    "chin": (("jaw",), 2.2),
    "jaw": (("masseter_L", "masseter_R", "jaw"), 3.5),
    "cranium": (("forehead", "back_of_head"), 6.0),
}


@dataclass
class Warp:
    """A smooth map of space (see the module doc). bumps (B, 7): centre (3) cm, amplitude (3) cm, sigma cm;
    features (M, 8): centre (3) cm, scale (3), r1 cm, r2 cm; id_gain: the identity coefficients' gain (1: none;
    applied by the sampler, not by ``__call__``)."""
    bumps: np.ndarray = field(default_factory=lambda: np.zeros((0, 7)))
    features: np.ndarray = field(default_factory=lambda: np.zeros((0, 8)))
    id_gain: float = 1.0
    kind: str = "none"

    def __post_init__(self):
        self.bumps = np.asarray(self.bumps, np.float64).reshape(-1, 7)
        self.features = np.asarray(self.features, np.float64).reshape(-1, 8)
        if not (np.isfinite(self.bumps).all() and np.isfinite(self.features).all()):
            raise ValueError("Warp parameters must be finite")
        if (self.bumps[:, 6] <= 0).any() or (self.features[:, 6] <= 0).any() or \
                (self.features[:, 7] <= self.features[:, 6]).any():
            raise ValueError("Warp: bump widths and feature radii must be positive, r2 > r1")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """W(x) for points (..., 3) cm -> (..., 3) float64 cm: the bumps, then the features, one after the other
        (each term one-to-one, so their composition is too; summed, overlapping features could fold)."""
        out = np.array(x, np.float64, copy=True)
        for b in self.bumps:
            d2 = ((out - b[:3]) ** 2).sum(-1)
            out += np.exp(-0.5 * d2 / b[6] ** 2)[..., None] * b[3:6]
        for f in self.features:
            rel = out - f[:3]
            t = np.clip((f[7] - np.linalg.norm(rel, axis=-1)) / (f[7] - f[6]), 0.0, 1.0)
            phi = t * t * (3.0 - 2.0 * t)
            out += phi[..., None] * (f[3:6] - 1.0) * rel
        return out

    def to_array(self) -> np.ndarray:
        """A flat float64 array holding every parameter (``from_array`` reads it back)."""
        return np.concatenate([[len(self.bumps), len(self.features), self.id_gain], self.bumps.ravel(),
                               self.features.ravel()])

    @classmethod
    def from_array(cls, a, kind: str = "stored") -> "Warp":
        a = np.asarray(a, np.float64).ravel()
        if a.size < 3:
            raise ValueError(f"a stored Warp has at least 3 numbers, got {a.size}")
        nb, nf = int(a[0]), int(a[1])
        if a.size != 3 + 7 * nb + 8 * nf:
            raise ValueError(f"a stored Warp with {nb} bumps and {nf} features has {3 + 7 * nb + 8 * nf} numbers, "
                             f"got {a.size}")
        return cls(a[3:3 + 7 * nb].reshape(nb, 7), a[3 + 7 * nb:].reshape(nf, 8), float(a[2]), kind)

    @property
    def is_identity(self) -> bool:
        return not len(self.bumps) and not len(self.features)


def feature_centres(generic: np.ndarray, labels: np.ndarray) -> dict:
    """{feature: (centre (3,) cm, r1 cm)} from ICT's generic full crop (11248, 3) cm and its region labels
    (11248,) (``runtime.regions.load_ict_labels``); the eyes' centre is the left eye's (+X)."""
    from ..runtime.regions import REGION_NAMES
    out = {}
    for name, (regions, r1) in FEATURES.items():
        m = np.isin(labels, [REGION_NAMES.index(r) for r in regions])
        if not m.any():
            raise ValueError(f"no vertex labelled {regions}: the labels do not match ICT's full crop")
        out[name] = (generic[m].mean(axis=0), float(r1))
    return out


def _feature(centre, scale, r1) -> list:
    return [*centre, *scale, r1, FEATURE_REACH * r1]


def _scaled(rng, name, lo, hi, centres, *, axes=(1.0, 1.0, 1.0)) -> list:
    """A feature's uniform scale U(lo, hi) (per axis: 1 + (k - 1) * axes) as feature rows; the eyes twice."""
    # an eye grows across and up: scaled in depth about its centre (behind the lids) it bulges like goggles
    if name == "eyes":
        axes = (axes[0], axes[1], EYE_DEPTH * axes[2])
    c, r1 = centres[name]
    k = 1.0 + (rng.uniform(lo, hi) - 1.0) * np.asarray(axes)
    rows = [_feature(c, k, r1)]
    if name == "eyes":
        rows.append(_feature(c * (-1.0, 1.0, 1.0), k, r1))
    return rows


def sample_warp(rng: np.random.Generator, centres: dict, kind: str | None = None) -> Warp:
    """A random warp of one of ``KINDS`` (drawn by their weights unless given). centres: ``feature_centres``."""
    if kind is None:
        names = list(KINDS)
        p = np.array([KINDS[n] for n in names])
        kind = names[int(rng.choice(len(names), p=p / p.sum()))]
    if kind == "caricature":
        return Warp(id_gain=float(rng.uniform(*CARICATURE_GAIN)), kind=kind)
    if kind == "smooth":
        anchors = np.stack([c for c, _ in centres.values()])
        rows = []
        for _ in range(int(rng.integers(BUMPS[0], BUMPS[1] + 1))):
            c = anchors[rng.integers(len(anchors))] + rng.normal(0.0, 2.0, 3)
            s = rng.uniform(*BUMP_SIGMA_CM)
            a = rng.normal(size=3)
            a *= rng.uniform(0.1, 1.0) * BUMP_AMPLITUDE * s / np.linalg.norm(a)
            rows.append([*c, *a, s])
        return Warp(bumps=np.array(rows), kind=kind)
    rows, bumps = [], []
    if kind == "features":
        pick = rng.choice(["eyes", "eye_spacing", "nose", "mouth_width", "lips", "chin", "jaw", "cranium"],
                          size=int(rng.integers(1, 4)), replace=False)
        for name in pick:
            if name == "eye_spacing":          # both eyes moved apart / together: a mirrored pair of bumps
                c, r1 = centres["eyes"]
                dx = rng.uniform(-1.0, 1.0) * BUMP_AMPLITUDE * 1.5 * r1
                bumps += [[*c, dx, 0.0, 0.0, 1.5 * r1], [*(c * (-1.0, 1.0, 1.0)), -dx, 0.0, 0.0, 1.5 * r1]]
            elif name == "mouth_width":
                rows += _scaled(rng, "mouth", 0.75, 1.3, centres, axes=(1.0, 0.0, 0.3))
            elif name == "lips":
                rows += _scaled(rng, "mouth", 0.7, 1.5, centres, axes=(0.0, 1.0, 0.5))
            elif name == "chin":
                rows += _scaled(rng, "chin", 0.8, 1.3, centres, axes=(0.6, 1.0, 1.0))
            else:
                rows += _scaled(rng, name, 0.75, 1.35, centres)
    elif kind == "stylised":
        rows += _scaled(rng, "eyes", 1.2, 1.45, centres)
        rows += _scaled(rng, "nose", 0.6, 0.85, centres)
        rows += _scaled(rng, "mouth", 0.7, 0.9, centres, axes=(1.0, 1.0, 0.5))
        if rng.random() < 0.5:
            rows += _scaled(rng, "cranium", 1.1, 1.25, centres)
    else:
        raise ValueError(f"unknown warp kind {kind!r}; choose from {list(KINDS)}")
    return Warp(bumps=np.array(bumps).reshape(-1, 7), features=np.array(rows).reshape(-1, 8), kind=kind)
