"""Endless augmented training stream: identity x FACS x crop x topology (x face mask) (x warp) x rigid pose.

One :class:`FaceGroup` = one identity on one topology of one crop under one augmentation, with ``K`` expressions.
Ground truth is exact: every position is the barycentric interpolation (``Topology.positions``) of the ICT crop
built from the stored coefficients (warped, for a warped group, by its stored map: ``warps.Warp``), then augmented:
``p_aug = scale * R @ p + t``.

Identities are split: ``identity_split="train"`` and ``"test"`` draw their N(0, 1) coefficients from two
independent seed streams (``SeedSequence(seed, spawn_key=(1, 0 | 1))``), so an evaluation sampler never
yields an identity a training sampler with the same seed yields. Everything else comes from a third stream,
so a sampler is deterministic given (seed, bank, arguments).

Units: centimetres, ICT axes (Y up, face toward +Z). Training-side module; numpy only (building a bank needs scipy).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..runtime.mesh import connected_components
from .ict import CROPS, N_EXPRESSION, N_IDENTITY, ICTModel, crop_sizes
from .remesh import Topology, TopologyBank, crop_topology, ict_topology
from .sockets import SOCKET_CHOICES, socket_labels, with_sockets
from .warps import feature_centres, sample_warp

__all__ = ["FaceGroup", "FaceSampler", "sample_facs", "sample_combination", "sample_identity", "random_rotation",
           "lr_partners", "face_mask"]

N_FULL = CROPS["full"][0]
SCALE_RANGE = (0.8, 1.2)
MAX_ANGLE_DEG = 15.0
MAX_SHIFT_CM = 5.0
P_NEUTRAL = 0.05  # share of all-zero (neutral) expressions
P_SINGLE = 0.15  # share of single FACS shapes at weight 1 (cycling through all 53 in the sampler)
P_PAIR = 0.3  # chance that a combination also activates the other side of its _L/_R shapes
MAX_ACTIVE = 5
MASK_RADIUS_RANGE_CM = (9.0, 15.0)  # face-mask augmentation: sphere radius around the (jittered) generic nose tip
MASK_CENTER_JITTER_CM = 0.7
WEIGHT_RANGE = (0.2, 1.0)


@dataclass
class FaceGroup:
    """K expressions of one identity on one topology under one augmentation.

    Attributes:
        crop: ICT crop name; topology_key: ``Topology.key``; kind: topology generator ("ict", "voronoi", ...).
        faces: (F, 3) int64 triangles.
        neutral: (N, 3) float64 augmented neutral of the identity, cm, ICT axes.
        posed: (K, N, 3) float64 augmented posed positions.
        facs: (K, 53) float32 FACS weights in ICT order (what ``posed`` was built from).
        id_coeffs: (100,) float32 identity coefficients.
        labels: (N,) int64 region labels (zeros when the sampler has none).
        src_face: (N,) int64 ICT crop triangle of each vertex; bary: (N, 3) float64 weights in it;
        corners: (N, 3) int64 the ICT crop vertices of that triangle.
        scale: float; rotation: (3, 3) float64; translation: (3,) float64 cm: ``p_aug = scale * R @ p + t``.
        identity_split: "train" or "test".
        warp: None, or a ``warps.Warp`` stored by ``Warp.to_array`` (float64): the map applied to the ICT crop's
            neutral and posed positions before the topology and the augmentation (``id_coeffs`` already carry
            its ``id_gain``).
    """
    crop: str
    topology_key: str
    kind: str
    faces: np.ndarray
    neutral: np.ndarray
    posed: np.ndarray
    facs: np.ndarray
    id_coeffs: np.ndarray
    labels: np.ndarray
    src_face: np.ndarray
    bary: np.ndarray
    corners: np.ndarray
    scale: float
    rotation: np.ndarray
    translation: np.ndarray
    identity_split: str
    warp: np.ndarray | None = None

    @property
    def n_verts(self) -> int:
        return int(self.neutral.shape[0])

    def unaugment(self, points: np.ndarray) -> np.ndarray:
        """Augmented points (..., 3) -> ICT frame: ``R^T (p - t) / scale``."""
        return ((np.asarray(points, np.float64) - self.translation) @ self.rotation) / self.scale


def sample_identity(rng: np.random.Generator) -> np.ndarray:
    """ICT identity coefficients, (100,) float64 ~ N(0, 1)."""
    return rng.standard_normal(N_IDENTITY)


def lr_partners(names) -> np.ndarray:
    """(53,) int64: index of the other side of each ``*_L``/``*_R`` expression, -1 for unpaired ones."""
    names = [str(n) for n in names]
    index = {n: i for i, n in enumerate(names)}
    out = -np.ones(len(names), np.int64)
    for i, n in enumerate(names):
        for a, b in (("_L", "_R"), ("_R", "_L")):
            if n.endswith(a) and n[: -len(a)] + b in index:
                out[i] = index[n[: -len(a)] + b]
    return out


def sample_facs(rng: np.random.Generator, *, partners=None, single: int | None = None) -> np.ndarray:
    """One FACS weight vector, (53,) float64 in [0, 1].

    Mix: ``P_NEUTRAL`` all zeros; ``P_SINGLE`` one shape at weight 1 (``single`` if given, else random);
    otherwise 1-5 random shapes with weights U(0.2, 1), and with probability ``P_PAIR`` the other side of each
    chosen ``_L``/``_R`` shape too (``partners`` from :func:`lr_partners`) at a similar weight.
    """
    w = np.zeros(N_EXPRESSION)
    u = rng.random()
    if u < P_NEUTRAL:
        return w
    if u < P_NEUTRAL + P_SINGLE:
        w[int(rng.integers(N_EXPRESSION)) if single is None else int(single) % N_EXPRESSION] = 1.0
        return w
    idx = sample_combination(rng, w)
    if partners is not None and rng.random() < P_PAIR:
        p = np.asarray(partners)[idx]
        m = p >= 0
        w[p[m]] = np.clip(w[idx[m]] * rng.uniform(0.8, 1.2, size=int(m.sum())), *WEIGHT_RANGE)
    return w


def sample_combination(rng: np.random.Generator, w: np.ndarray, *, weights_first: bool = False) -> np.ndarray:
    """Switch on 1..``MAX_ACTIVE`` random shapes of ``w`` ((53,) float, changed in place) at weights
    U(``WEIGHT_RANGE``); returns their indices. The combinations of training (``sample_facs``) and of the
    evaluation's expression set (``evaluate.expression_set``).

    ``weights_first``: draw the k weights before the k indices (the evaluation's order, kept so that its seeded
    expression set, and with it the model card's numbers, stay what they are); training draws indices first.
    """
    k = int(rng.integers(1, MAX_ACTIVE + 1))
    if weights_first:
        vals = rng.uniform(*WEIGHT_RANGE, size=k)
        idx = rng.choice(N_EXPRESSION, size=k, replace=False)
    else:
        idx = rng.choice(N_EXPRESSION, size=k, replace=False)
        vals = rng.uniform(*WEIGHT_RANGE, size=k)
    w[idx] = vals
    return idx


def face_mask(ict: ICTModel, topo: Topology, radius_cm: float, center_offset_cm=(0.0, 0.0, 0.0),
              kind_suffix: str = " mask") -> Topology:
    """``topo`` cut to a face mask, like a scanned face: the vertices whose generic-head position lies within
    ``radius_cm`` (cm) of the generic head's nose tip (landmark 30) moved by ``center_offset_cm`` (3,), largest
    connected piece only; ``kind`` gets ``kind_suffix``. Exact barycentric map and labels, like every topology.
    Training draws random masks (``FaceSampler.mask_topology``), evaluation uses fixed ones
    (``evaluate.face_mask_topology``)."""
    n = crop_sizes(topo.crop)[0]
    gen = topo.positions(ict.neutral[None, :n].astype(np.float64))[0]          # (N, 3) cm
    center = ict.neutral[ict.landmarks[30]] + np.asarray(center_offset_cm, dtype=np.float64)
    out = crop_topology(topo, np.linalg.norm(gen - center, axis=1) < radius_cm, kind_suffix)
    comp = connected_components(out.n_verts, out.faces)
    if comp.max() > 0:
        out = crop_topology(out, comp == np.bincount(comp).argmax(), "")
    return out


def random_rotation(rng: np.random.Generator, max_angle_deg: float = MAX_ANGLE_DEG) -> np.ndarray:
    """Rotation (3, 3) about a uniformly random axis by an angle uniform in [-max, max] degrees."""
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    ang = np.deg2rad(rng.uniform(-max_angle_deg, max_angle_deg))
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(ang) * k + (1 - np.cos(ang)) * (k @ k)


class FaceSampler:
    """Deterministic endless stream of :class:`FaceGroup` s.

    Args:
        ict: the ICT model (``load_ict()``).
        labels: (11248,) region label per full-crop vertex (longer arrays are cut), or None (all zeros).
        seed: integer seed of everything (identities, expressions, crops, topologies, augmentation).
        bank: pre-built topologies; None means every group uses ICT's own triangulation.
        n_expr: K expressions per group.
        crops, crop_probs: crops drawn with these probabilities (normalised).
        ict_topology_prob: chance of ICT's own triangulation even when a bank is given.
        identity_split: "train" or "test" (independent identity streams, see module doc).
        augment: apply the random scale/rotation/translation (False: identity transform).
        max_angle_deg: largest augmentation rotation, degrees (about a random axis).
        mask_prob: chance that a group's topology is cut to a face mask (``mask_topology``), like a scanned
            face: a sphere of radius U(``MASK_RADIUS_RANGE_CM``) around the generic head's nose tip (0: never, and
            the stream is the same as before the option existed).
        warp_prob: chance that a group is warped out of ICT's identity space (``warps.sample_warp``: smooth
            bumps, feature proportions, stylised proportions, caricatures; labels stay exact; 0: never, and
            the stream is the same as before the option existed).
        socket_prob: chance that a group of the "full" or "face" crop gets ICT's mouth bag, its eye sockets or
            both joined at its openings (``sockets.with_sockets``; crop "sockets"), as game heads carry them
            (0: never, and the stream is the same as before the option existed).
    Raises:
        ValueError: bad shapes, probabilities, crops missing from the bank, unknown split.
    """

    def __init__(self, ict: ICTModel, labels=None, seed: int = 0, bank: TopologyBank | None = None,
                 n_expr: int = 8, crops=("full", "face", "narrow"), crop_probs=(0.5, 0.3, 0.2),
                 ict_topology_prob: float = 0.15, identity_split: str = "train", augment: bool = True,
                 max_angle_deg: float = MAX_ANGLE_DEG, mask_prob: float = 0.0, warp_prob: float = 0.0,
                 socket_prob: float = 0.0):
        if not isinstance(ict, ICTModel):
            raise ValueError(f"FaceSampler needs an ICTModel (model_core.dataset.ict.load_ict()), "
                             f"got {type(ict).__name__}")
        self.ict = ict
        self.crops = tuple(crops)
        if not self.crops:
            raise ValueError("FaceSampler needs at least one crop")
        for c in self.crops:
            crop_sizes(c)
        p = np.asarray(crop_probs, np.float64)
        if p.shape != (len(self.crops),) or not np.isfinite(p).all() or (p < 0).any() or p.sum() <= 0:
            raise ValueError(f"crop_probs must be {len(self.crops)} non-negative numbers with a positive sum "
                             f"(one per crop {self.crops}), got {crop_probs!r}")
        self.crop_probs = p / p.sum()
        if int(n_expr) < 1:
            raise ValueError(f"n_expr must be >= 1, got {n_expr}")
        self.n_expr = int(n_expr)
        if not 0.0 <= float(ict_topology_prob) <= 1.0:
            raise ValueError(f"ict_topology_prob must lie in [0, 1], got {ict_topology_prob}")
        self.ict_topology_prob = float(ict_topology_prob)
        if identity_split not in ("train", "test"):
            raise ValueError(f"identity_split must be 'train' or 'test', got {identity_split!r}")
        self.identity_split = identity_split
        if bank is not None:
            if not isinstance(bank, TopologyBank):
                raise ValueError(f"bank must be a TopologyBank or None, got {type(bank).__name__}")
            missing = [c for c in self.crops if not bank.topologies.get(c)]
            if missing:
                raise ValueError(f"the topology bank has no topologies for crops {missing}; build it with "
                                 f"crops={self.crops}")
        self.bank = bank
        if labels is None:
            self.labels = np.zeros(N_FULL, np.int64)
        else:
            lab = np.asarray(labels)
            if lab.ndim != 1 or lab.shape[0] < N_FULL:
                raise ValueError(f"labels must have shape ({N_FULL},) (one per full-crop vertex), got {lab.shape}")
            if not np.issubdtype(lab.dtype, np.integer):
                if not (np.isfinite(lab).all() and np.all(np.mod(lab, 1) == 0)):
                    raise ValueError("labels must be integers")
            self.labels = lab[:N_FULL].astype(np.int64)
        self.seed = int(seed)
        self.augment = bool(augment)
        if not (np.isfinite(max_angle_deg) and 0.0 <= float(max_angle_deg) <= 180.0):
            raise ValueError(f"max_angle_deg must lie in [0, 180], got {max_angle_deg}")
        self.max_angle_deg = float(max_angle_deg)
        if not 0.0 <= float(mask_prob) <= 1.0:
            raise ValueError(f"mask_prob must lie in [0, 1], got {mask_prob}")
        self.mask_prob = float(mask_prob)
        if not 0.0 <= float(warp_prob) <= 1.0:
            raise ValueError(f"warp_prob must lie in [0, 1], got {warp_prob}")
        self.warp_prob = float(warp_prob)
        if not 0.0 <= float(socket_prob) <= 1.0:
            raise ValueError(f"socket_prob must lie in [0, 1], got {socket_prob}")
        self.socket_prob = float(socket_prob)
        n_arr = N_FULL
        if self.socket_prob:
            self.labels = socket_labels(self.labels)
            n_arr = len(self.labels)
            self._socket_topos: dict[tuple, Topology] = {}
        self._centres = None
        if self.warp_prob:
            from ..runtime.regions import load_ict_labels
            self._centres = feature_centres(ict.neutral[:N_FULL].astype(np.float64), load_ict_labels())
        self._rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(0,)))
        self._id_rng = np.random.default_rng(
            np.random.SeedSequence(self.seed, spawn_key=(1, 0 if identity_split == "train" else 1)))
        self._single = 0
        self._partners = lr_partners(ict.expression_names)
        n3 = 3 * n_arr
        self._neutral = ict.neutral[:n_arr].astype(np.float64).reshape(n3)
        self._id_modes = ict.identity_modes[:, :n_arr].astype(np.float64).reshape(N_IDENTITY, n3)
        self._ex_modes = ict.expression_modes[:, :n_arr].astype(np.float64).reshape(N_EXPRESSION, n3)
        self._ict_topos: dict[str, Topology] = {}

    # ------------------------------------------------------------------------------------------------------
    def sample_identity(self) -> np.ndarray:
        """Next identity of this sampler's split, (100,) float32."""
        return sample_identity(self._id_rng).astype(np.float32)

    def sample_facs(self) -> np.ndarray:
        """Next FACS vector, (53,) float32; singles cycle through all 53 shapes in order."""
        w = sample_facs(self._rng, partners=self._partners, single=self._single)
        if np.count_nonzero(w) == 1 and w.max() == 1.0:
            self._single += 1
        return w.astype(np.float32)

    def ict_topology(self, crop: str) -> Topology:
        if crop not in self._ict_topos:
            self._ict_topos[crop] = ict_topology(self.ict, crop)
        return self._ict_topos[crop]

    def mask_topology(self, topo: Topology, rng: np.random.Generator) -> Topology:
        """``topo`` cut to a random face mask (``face_mask``): radius U(``MASK_RADIUS_RANGE_CM``) around the
        generic nose tip jittered by N(0, ``MASK_CENTER_JITTER_CM``) per axis."""
        offset = rng.normal(0.0, MASK_CENTER_JITTER_CM, 3)
        return face_mask(self.ict, topo, rng.uniform(*MASK_RADIUS_RANGE_CM), offset)

    def crop_vertices(self, id_coeffs, facs) -> tuple[np.ndarray, np.ndarray]:
        """Full-crop neutral (11248, 3) and posed (K, 11248, 3) float64 cm from coefficients (float32 values
        are used as given, so the result is reproducible from the stored FaceGroup fields)."""
        c = np.asarray(id_coeffs, np.float64)
        w = np.asarray(facs, np.float64)
        if c.shape != (N_IDENTITY,) or not np.isfinite(c).all():
            raise ValueError(f"id_coeffs must be {N_IDENTITY} finite numbers, got shape {c.shape}")
        if w.ndim != 2 or w.shape[1] != N_EXPRESSION or not np.isfinite(w).all():
            raise ValueError(f"facs must be finite with shape (K, {N_EXPRESSION}), got {w.shape}")
        return self._crop_vertices(c, w, N_FULL)

    def _crop_vertices(self, c, w, n):
        m = 3 * n
        neutral = self._neutral[:m] + c @ self._id_modes[:, :m]
        posed = neutral[None] + w @ self._ex_modes[:, :m]
        return neutral.reshape(n, 3), posed.reshape(len(w), n, 3)

    def sample_group(self) -> FaceGroup:
        """Draw the next group (see class doc)."""
        rng = self._rng
        crop = self.crops[int(rng.choice(len(self.crops), p=self.crop_probs))]
        if self.bank is None or rng.random() < self.ict_topology_prob:
            topo = self.ict_topology(crop)
        else:
            topo = self.bank.sample(crop, rng)
        if self.socket_prob and crop in ("full", "face") and rng.random() < self.socket_prob:
            parts = SOCKET_CHOICES[int(rng.integers(len(SOCKET_CHOICES)))]
            if (topo.key, parts) not in self._socket_topos:
                self._socket_topos[(topo.key, parts)] = with_sockets(self.ict, topo, parts)
            topo = self._socket_topos[(topo.key, parts)]
            crop = topo.crop
        if self.mask_prob and rng.random() < self.mask_prob:
            topo = self.mask_topology(topo, rng)
        id_coeffs = self.sample_identity()
        facs = np.stack([self.sample_facs() for _ in range(self.n_expr)])
        if self.augment:
            scale = float(rng.uniform(*SCALE_RANGE))
            rot = random_rotation(rng, self.max_angle_deg)
            shift = rng.uniform(-MAX_SHIFT_CM, MAX_SHIFT_CM, size=3)
        else:
            scale, rot, shift = 1.0, np.eye(3), np.zeros(3)
        warp = None
        if self.warp_prob and rng.random() < self.warp_prob:
            warp = sample_warp(rng, self._centres)
            id_coeffs = (id_coeffs * np.float32(warp.id_gain)).astype(np.float32)
        n = crop_sizes(crop)[0]
        neutral, posed = self._crop_vertices(id_coeffs.astype(np.float64), facs.astype(np.float64), n)
        allv = np.concatenate([neutral[None], posed])  # (K+1, n, 3)
        if warp is not None:
            allv = warp(allv)                          # the same map on the neutral and every posed face
        pts = topo.positions(allv)  # (K+1, N, 3)
        pts = scale * (pts @ rot.T) + shift
        return FaceGroup(crop=crop, topology_key=topo.key, kind=topo.kind, faces=topo.faces, neutral=pts[0],
                         posed=pts[1:], facs=facs, id_coeffs=id_coeffs, labels=topo.labels(self.labels),
                         src_face=topo.src_face, bary=topo.bary, corners=topo.corners, scale=scale,
                         rotation=rot, translation=shift, identity_split=self.identity_split,
                         warp=None if warp is None else warp.to_array())

    def __iter__(self):
        while True:
            yield self.sample_group()

    def take(self, n: int) -> list[FaceGroup]:
        """The next ``n`` groups."""
        return [self.sample_group() for _ in range(int(n))]
