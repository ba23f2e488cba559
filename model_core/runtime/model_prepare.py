"""The Model's mesh preparation: ``prepare`` validates a neutral mesh (shapes, polygons, axes, size, float
precision), builds its ``PreparedMesh`` (``prepared_mesh.build_prepared_mesh``) and keeps it in an LRU cache by
content hash; ``crop='face'`` rebuilds it on the skin the skinning encoder puts in face regions.

Part of ``Model`` (``model_common.py``); uses ``Skinning._probs`` (``model_skinning.py``) for the face crop.
"""
from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from .frames import axes_to_ict, axis_key
from .mesh import mesh_hash, triangulate_polygons, validate_mesh, vertex_areas
from .model_common import ModelPart, one_blas_thread
from .prepared_mesh import PreparedMesh, build_prepared_mesh

_MAX_QUANT_REL = 1e-3         # float32 input: refused when its storage step exceeds this share of the mesh size
NON_FACE_REGIONS = ("back_of_head", "back_of_neck", "ear_L", "ear_R", "clavicle")  # left out by crop='face'


def _as_triangles(faces) -> np.ndarray:
    """(F, 3) triangles from (F, 3) / (F, k) arrays or a list of polygons of any sizes (fan-triangulated)."""
    if isinstance(faces, np.ndarray):
        f = faces
    else:
        try:
            seq = list(faces)
        except TypeError:
            raise ValueError("faces must be an (F, 3) array or a list of polygons (vertex index lists)") from None
        if not seq:
            return np.zeros((0, 3), np.int64)
        try:
            sizes = [len(p) for p in seq]
        except TypeError:
            raise ValueError("faces must be an (F, 3) array or a list of polygons (vertex index lists); "
                             "got a flat sequence") from None
        if min(sizes) == max(sizes):
            f = np.asarray(seq)
        else:
            if min(sizes) < 3:
                raise ValueError(f"every polygon needs at least 3 corners; one has {min(sizes)}")
            corners = np.concatenate([np.asarray(p).ravel() for p in seq])
            if not np.issubdtype(corners.dtype, np.integer):
                raise ValueError(f"face indices must be integers, got dtype {corners.dtype}")
            return triangulate_polygons(corners, sizes)[0]
    if f.ndim == 2 and f.shape[1] > 3 and f.shape[0] > 0:
        if not np.issubdtype(f.dtype, np.integer):
            raise ValueError(f"face indices must be integers, got dtype {f.dtype}")
        return triangulate_polygons(f.ravel(), np.full(len(f), f.shape[1]))[0]
    if f.ndim == 2 and 0 < f.shape[1] < 3:
        raise ValueError(f"faces must have at least 3 corners each, got shape {f.shape}")
    return f


def _check_precision(raw, v: np.ndarray) -> None:
    """Refuse float16/float32 positions whose storage step (at the largest coordinate) is more than
    ``_MAX_QUANT_REL`` of the mesh's size: the caller's array has already lost the face's shape (a head 1e6 m
    from the origin in float32 is stored in 6 cm steps). raw: the caller's array; v: (N, 3) float64 of it."""
    dt = getattr(raw, "dtype", None)
    if dt is None or not np.issubdtype(dt, np.floating) or np.finfo(dt).bits >= 64:
        return
    size = float(np.sqrt(((v.max(axis=0) - v.min(axis=0)) ** 2).sum()))
    far = float(np.abs(v).max())
    step = float(np.spacing(dt.type(far)))
    if size > 0 and step > _MAX_QUANT_REL * size:
        raise ValueError(f"mesh: {dt} coordinates about {far:.3g} units from the origin are stored in steps of "
                         f"{step:.3g}, {100 * step / size:.2g} % of the mesh's size, too coarse for a face's detail: pass "
                         f"float64 positions or move the mesh data near the origin")


class Preparation(ModelPart):
    """``prepare`` and its cache (``cache_info``, ``clear_cache``); the face island's vertex areas."""

    def cache_info(self) -> dict:
        """{'hits', 'misses', 'size', 'max_size'} of the prepared-mesh cache."""
        return {"hits": self._hits, "misses": self._misses, "size": len(self._prepared), "max_size": self.cache_size}

    def clear_cache(self) -> None:
        """Forget every prepared mesh."""
        self._prepared.clear()

    @one_blas_thread
    def prepare(self, verts, faces, up: str = "Y", forward: str = "Z", *, other_islands: str = "follow",
                crop: str = "full", find_axes: bool = True) -> PreparedMesh:
        """Validate a neutral mesh and build everything the model needs for it (cached by content).

        Args:
            verts: (N, 3) positions in the caller's frame and units (any float dtype).
            faces: (F, 3) int triangles, (F, k) polygons, or a list of polygons of any sizes (fan-triangulated).
            up, forward: the caller's axes where the face's up / looking direction point ('X', '-X', 'Y', '-Y',
                'Z', '-Z'); OBJ/ICT: 'Y', 'Z'; Blender: 'Z', '-Y'.
            other_islands: 'follow' (pieces other than the face move with the nearest face surface) or 'static'.
            crop: what the encoders see: 'full' (the whole largest island, e.g. a full head) or 'face' (only
                the skin the skinning encoder assigns to face regions - not back of head, neck back, ears,
                clavicle - found by a first pass on the full island; the rest is handled like other islands).
            find_axes: check ``up``/``forward`` against the face's shape (``runtime/orientation.py``); when
                another axis-aligned orientation fits clearly better, it is used instead (results stay in the
                caller's frame) and a warning names it. False: the given axes are used as they are.
        Returns:
            a ``PreparedMesh`` (the same object for the same content while it stays in the LRU cache).
        Raises:
            ValueError: bad shapes, NaN/inf, no vertices, no faces, only zero-area faces, fewer than
                MIN_FACE_VERTICES face vertices, more than ``max_vertices`` vertices, bad axes or other_islands;
                float16/float32 positions whose storage step exceeds 0.1 % of the mesh size (far from the origin);
                a span over 1e100 or under 1e-100 units. The mesh is recentred in float64 (exactly, by a
                power-of-two multiple of its span) before anything else.
        """
        t0 = time.perf_counter()
        if other_islands not in ("follow", "static"):
            raise ValueError(f"other_islands must be 'follow' or 'static', got {other_islands!r}")
        crop = {"full": "full", "full_head": "full", "face": "face"}.get(str(crop).lower())
        if crop is None:
            raise ValueError("crop must be 'full' (whole head) or 'face'")
        axes_to_ict(up, forward)  # validates the axis names
        up, forward = axis_key(up), axis_key(forward)
        n_in = np.shape(verts)[0] if np.ndim(verts) >= 1 else 0
        if n_in > self.max_vertices:
            raise ValueError(f"mesh has {n_in} vertices, more than the limit of {self.max_vertices}; decimate it "
                             f"first (or {self.max_vertices_hint} if you have the memory and time)")
        v, f = validate_mesh(verts, _as_triangles(faces), name="mesh")
        _check_precision(verts, v)
        find_axes = bool(find_axes)
        opts = f"{up}|{forward}|{other_islands}|{crop}" + ("" if find_axes else "|axes as given")
        key = mesh_hash(v, f, np.frombuffer(opts.encode(), dtype=np.uint8))
        pm = self._prepared.get(key)
        if pm is not None:
            self._prepared.move_to_end(key)
            self._hits += 1
        else:
            self._misses += 1
            pm = build_prepared_mesh(v, f, up, forward, other_islands, key, self.config, find_axes)
            if crop == "face":
                pm = self._crop_to_face(pm, v, f, other_islands, key)
            pm.prepare_seconds = time.perf_counter() - t0
            self._prepared[key] = pm
        while len(self._prepared) > max(self.cache_size, 0):
            self._prepared.popitem(last=False)
        return pm

    def _crop_to_face(self, pm: PreparedMesh, v, f, other_islands, key) -> PreparedMesh:
        """Rebuild ``pm`` on the triangles whose three corners the skinning encoder puts in face regions."""
        probs = self._probs(pm)                                       # (N, R)
        names = list(self.region_names)
        off_face = [names.index(r) for r in NON_FACE_REGIONS if r in names]
        keep_v = np.zeros(len(v), dtype=bool)
        keep_v[pm.face_index] = ~np.isin(probs[pm.face_index].argmax(axis=1), off_face)
        sub = f[keep_v[f].all(axis=1)]
        if len(sub) == 0:
            raise ValueError("crop 'face': the skinning found no face-region skin on this mesh; use crop 'full'")
        out = build_prepared_mesh(v, sub, pm.up, pm.forward, other_islands, key, self.config)   # the axes used
        return replace(out, faces=f, warnings=pm.warnings + tuple(w for w in out.warnings if w not in pm.warnings))

    def _face_areas(self, pm: PreparedMesh) -> np.ndarray:
        """Canonical vertex areas (Nf,) of the face island (cached; the fit and the decoder frame weight by them)."""
        return self._cached(pm, "face_areas", lambda: vertex_areas(pm.canon, pm.face_faces))
