"""ICT-FaceKit access: load the linear face model, build heads, cut the documented crops.

Units and frame of everything here: centimetres, +Y up, face looking toward +Z (ICT's own).
Two sources give the same arrays:

- the packed ``ict_facekit.npz`` (keys documented in ``../shared/data/README.md``), or
- a user's original ICT-FaceKit download: the ``FaceXModel`` folder holding
  ``generic_neutral_mesh.obj``, ``identity000.obj`` .. ``identity099.obj``, one OBJ per expression
  (``browDown_L.obj`` ...) and ``vertex_indices.json``.

Crops (vertex ranges are ICT's documented sub-meshes; skin only):

| crop     | vertices  | polygons |
|----------|-----------|----------|
| full     | 0-11247   | 0-11143  |  face + head and neck
| face     | 0-9408    | 0-9229   |
| narrow   | 0-6705    | 0-6559   |
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..runtime.mesh import triangulate_polygons

CROPS = {"full": (11248, 11144), "face": (9409, 9230), "narrow": (6706, 6560)}
# not skin: the full crop with ICT's mouth and eye sockets joined (training only: ``dataset/sockets.py``)
SOCKETS_CROP = {"sockets": (14062, 14034)}
N_IDENTITY = 100
N_EXPRESSION = 53
ENV_VAR = "NFS_ICT_DIR"


def default_data_dir() -> Path:
    """Where ICT-FaceKit is looked for: $NFS_ICT_DIR, else ``<repo>/../shared/data/ict_facekit``."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "ict_facekit"


def default_npz_path() -> Path:
    """The packed ``ict_facekit.npz`` in ``default_data_dir()`` (honours $NFS_ICT_DIR), for code that reads its
    arrays directly."""
    return default_data_dir() / "ict_facekit.npz"


@dataclass
class ICTModel:
    """The ICT-FaceKit linear model.

    Attributes:
        neutral: (V, 3) float32 generic neutral, cm.
        corner_indices: (C,) int32 polygon corners concatenated; face_sizes: (P,) polygon sizes.
        identity_modes: (100, V, 3) float32 deltas; a head = neutral + sum c_i mode_i, c ~ N(0, 1).
        expression_modes: (53, V, 3) float32 FACS deltas; expression = head + sum w_k mode_k, w in [0, 1].
        expression_names: 53 names (ICT order, e.g. ``eyeBlink_L``).
        landmarks: (68,) vertex indices of the Multi-PIE landmarks.
    """
    neutral: np.ndarray
    corner_indices: np.ndarray
    face_sizes: np.ndarray
    identity_modes: np.ndarray
    expression_modes: np.ndarray
    expression_names: list
    landmarks: np.ndarray
    uv: np.ndarray | None = None
    _tris: dict = field(default_factory=dict, repr=False)

    @property
    def n_verts(self) -> int:
        return self.neutral.shape[0]

    def polygons(self) -> list[np.ndarray]:
        """Polygons as a list of corner-index arrays (slow; for export only)."""
        splits = np.cumsum(self.face_sizes)[:-1]
        return np.split(self.corner_indices, splits)

    def crop_faces(self, crop: str = "full") -> np.ndarray:
        """Triangles (T, 3) int64 of a crop, indices into the crop's vertices 0..n-1 (cached)."""
        n_v, n_p = crop_sizes(crop)
        if crop not in self._tris:
            sizes = self.face_sizes[:n_p].astype(np.int64)
            corners = self.corner_indices[: int(sizes.sum())]
            tris, _ = triangulate_polygons(corners, sizes)
            if tris.max() >= n_v:
                raise ValueError(f"crop {crop!r}: polygons reference vertices outside 0..{n_v - 1}")
            self._tris[crop] = tris
        return self._tris[crop]

    def part_faces(self, ranges) -> tuple[np.ndarray, np.ndarray]:
        """ICT's whole mesh cut to the vertex ``ranges`` [(start, stop), ...] (parts such as the teeth or the
        eyeballs: ../shared/data/README.md): (idx (n,) int64 the kept ICT vertices, ascending; faces (T, 3) int64
        the triangles of every polygon whose corners are all kept, indices into idx)."""
        if "all" not in self._tris:
            self._tris["all"] = triangulate_polygons(self.corner_indices.astype(np.int64),
                                                     self.face_sizes.astype(np.int64))[0]
        tris = self._tris["all"]
        keep = np.zeros(self.n_verts, bool)
        for a, b in ranges:
            keep[a:b] = True
        idx = np.flatnonzero(keep)
        remap = np.full(self.n_verts, -1)
        remap[idx] = np.arange(len(idx))
        return idx, remap[tris[keep[tris].all(axis=1)]]

    def identity_verts(self, id_coeffs=None, crop: str | None = None) -> np.ndarray:
        """Neutral head of an identity, (n, 3) float64 cm (n = crop size, or all V when crop is None)."""
        n = self.n_verts if crop is None else crop_sizes(crop)[0]
        v = self.neutral[:n].astype(np.float64)
        if id_coeffs is not None:
            c = _coeffs(id_coeffs, N_IDENTITY, "id_coeffs")
            v = v + np.tensordot(c, self.identity_modes[:, :n], axes=1)
        return v

    def expression_deltas(self, expr_weights, crop: str | None = None) -> np.ndarray:
        """Displacement of the 53 FACS weights, (n, 3) float64 cm; identity-independent in ICT."""
        n = self.n_verts if crop is None else crop_sizes(crop)[0]
        w = _coeffs(expr_weights, N_EXPRESSION, "expr_weights")
        return np.tensordot(w, self.expression_modes[:, :n], axes=1)

    def head(self, id_coeffs=None, expr_weights=None, crop: str | None = "full"):
        """Build a head. Returns (verts (n, 3) float64 cm, faces (T, 3) int64 or None when crop is None)."""
        v = self.identity_verts(id_coeffs, crop)
        if expr_weights is not None:
            v = v + self.expression_deltas(expr_weights, crop)
        return v, (self.crop_faces(crop) if crop is not None else None)


def crop_sizes(crop: str) -> tuple[int, int]:
    """(vertices, polygons) of the ICT crop ``crop`` (its leading vertices and polygons, ``CROPS``); ValueError
    naming the known crops for any other name."""
    if crop in SOCKETS_CROP:
        return SOCKETS_CROP[crop]
    if crop not in CROPS:
        raise ValueError(f"unknown crop {crop!r}; choose one of {sorted(CROPS)}")
    return CROPS[crop]


def _coeffs(c, n: int, what: str) -> np.ndarray:
    c = np.asarray(c, dtype=np.float64)
    if c.shape != (n,):
        raise ValueError(f"{what} must have shape ({n},), got {c.shape}")
    if not np.isfinite(c).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    return c


_CACHE: dict = {}


def load_ict(path: str | os.PathLike | None = None, *, cache: bool = True) -> ICTModel:
    """Load ICT-FaceKit from the packed npz, a folder holding it, or an original ``FaceXModel`` folder.

    Raises:
        FileNotFoundError: nothing usable at ``path``; the message lists what was looked for.
    """
    p = Path(path) if path is not None else default_data_dir()
    key = str(p.resolve()) if p.exists() else str(p)
    if cache and key in _CACHE:
        return _CACHE[key]
    if p.is_file() and p.suffix == ".npz":
        model = _load_npz(p)
    elif (p / "ict_facekit.npz").is_file():
        model = _load_npz(p / "ict_facekit.npz")
    elif (p / "generic_neutral_mesh.obj").is_file() or (p / "FaceXModel" / "generic_neutral_mesh.obj").is_file():
        model = _load_facex(p if (p / "generic_neutral_mesh.obj").is_file() else p / "FaceXModel")
    else:
        raise FileNotFoundError(
            f"ICT-FaceKit not found at {p}: expected ict_facekit.npz or an ICT-FaceKit 'FaceXModel' folder "
            f"(generic_neutral_mesh.obj, identityNNN.obj, <expression>.obj, vertex_indices.json). "
            f"Pass the path, or set {ENV_VAR}.")
    if cache:
        _CACHE[key] = model
    return model


def _load_npz(path: Path) -> ICTModel:
    d = np.load(path)
    missing = {"neutral", "face_vertex_indices", "face_sizes", "identity_modes", "expression_modes",
               "expression_names"} - set(d.files)
    if missing:
        raise ValueError(f"{path} is not an ICT-FaceKit pack: missing {sorted(missing)}")
    idx_json = path.parent / "vertex_indices.json"
    landmarks = _landmarks(idx_json)
    return ICTModel(neutral=d["neutral"].astype(np.float32), corner_indices=d["face_vertex_indices"].astype(np.int64),
                    face_sizes=d["face_sizes"].astype(np.int64), identity_modes=d["identity_modes"],
                    expression_modes=d["expression_modes"], expression_names=[str(s) for s in d["expression_names"]],
                    landmarks=landmarks, uv=d["uv"] if "uv" in d.files else None)


def _landmarks(idx_json: Path) -> np.ndarray:
    if not idx_json.is_file():
        return np.zeros(0, dtype=np.int64)
    with open(idx_json) as fh:
        return np.asarray(json.load(fh).get("idx_to_landmark_verts", []), dtype=np.int64)


def read_obj_polygons(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimal OBJ reader: (verts (V, 3) float32, corner vertex indices (C,), polygon sizes (P,))."""
    verts, corners, sizes = [], [], []
    with open(path) as fh:
        for line in fh:
            if line.startswith("v "):
                verts.append([float(x) for x in line.split()[1:4]])
            elif line.startswith("f "):
                idx = [int(tok.split("/")[0]) for tok in line.split()[1:]]
                corners.extend(i - 1 if i > 0 else len(verts) + i for i in idx)
                sizes.append(len(idx))
    return np.asarray(verts, np.float32), np.asarray(corners, np.int64), np.asarray(sizes, np.int64)


def _load_facex(folder: Path) -> ICTModel:
    idx_json = folder / "vertex_indices.json"
    if not idx_json.is_file():
        raise FileNotFoundError(f"{idx_json} is missing: it is part of the ICT-FaceKit FaceXModel download")
    with open(idx_json) as fh:
        names = json.load(fh)["expressions"]
    neutral, corners, sizes = read_obj_polygons(folder / "generic_neutral_mesh.obj")

    def deltas(stem: str) -> np.ndarray:
        f = folder / f"{stem}.obj"
        if not f.is_file():
            raise FileNotFoundError(f"{f} is missing from the FaceXModel folder")
        v, _, _ = read_obj_polygons(f)
        if v.shape != neutral.shape:
            raise ValueError(f"{f} has {len(v)} vertices, the neutral has {len(neutral)}")
        return v - neutral

    id_modes = np.stack([deltas(f"identity{i:03d}") for i in range(N_IDENTITY)]).astype(np.float32)
    ex_modes = np.stack([deltas(n) for n in names]).astype(np.float32)
    return ICTModel(neutral=neutral, corner_indices=corners, face_sizes=sizes, identity_modes=id_modes,
                    expression_modes=ex_modes, expression_names=list(names), landmarks=_landmarks(idx_json))
