"""The numpy inference API of the neural face skinning model (no torch, no scipy; runs inside stock Blender).

Typical use::

    model = Model.load()                                   # model_core/weights/nfs_v4.npz (+ .json)
    tgt = model.prepare(verts, faces, up="Z", forward="-Y")  # a Blender mesh (metres, Z up, -Y forward)
    names, deltas = model.facs_basis(tgt, names="arkit")   # (52,), (52, N, 3) shape-key deltas, metres
    src = model.prepare(src_neutral, src_faces)
    z = model.expression(src_posed, src)                   # (128,), z[:53] = ICT FACS weights
    posed = model.decode(tgt, z)                           # (N, 3) target posed positions, metres

Frames and units: every input is in the caller's frame (``up``/``forward`` axis names as in ``frames.py``) and
units; every output position / displacement is in that same frame and units. The network itself works in
the canonical frame of the mesh's face island (see ``frames.canonical_normalization``).

Islands: the largest connected piece of the mesh by surface area (vertices welded by exact position, so split
UV seams or a triangle soup stay one piece, with normals smoothed across the splits) is the face; the encoders and the normalisation see only it. Other pieces (eyeballs, teeth, loose vertices, and
vertices used only by zero-area faces) either follow the face (``other_islands="follow"``: their displacement
is the face's displacement averaged onto the proxy and interpolated with their k nearest proxy vertices'
inverse-square-distance weights; their region probabilities likewise from the proxy's logits) or stay static
(``"static"``: zero displacement).

Every output is checked: a non-finite value raises RuntimeError instead of being returned.
"""
from __future__ import annotations

import colorsys
import functools
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace

import numpy as np

from ..frames import Normalization, axes_to_ict, canonical_normalization, core_frame
from ..facs_names import ARKIT_NAMES, ARKIT_SOURCES, ICT_NAMES
from ..mesh import (connected_components, face_areas, face_normals, mesh_hash, normalize_rows, triangulate_polygons,
                    validate_mesh, vertex_areas, vertex_normals)
from ..proxy import Proxy, build_proxy, expression_features, knn_weights, neutral_features
from . import blas, mesh_checks
from .boxqp import box_qp
from .layers import Network, interpolate, softmax
from .weights import Weights, load_weights

__all__ = ["Model", "PreparedMesh", "Cancelled", "MIN_FACE_VERTICES"]

F32 = np.float32
MIN_FACE_VERTICES = 20        # fewer vertices in the face island cannot be a face mesh
_DEGENERATE_REL = 1e-12       # a face with area <= this * bbox_diagonal^2 is dropped for the operator
FIT_SPARSITY = 0.005         # default mu of the fitted inverse rig (benchmarks/tune_fit_sparsity.py)
_MAX_SPAN = 1e100             # a mesh wider than this (or narrower than its inverse) cannot be computed with
_MAX_QUANT_REL = 1e-3         # float32 input: refused when its storage step exceeds this share of the mesh size
KEY_SOURCES = ("auto", "template", "decoder")
AUTO_DISAGREEMENT = (0.20, 0.30)  # 'auto' keys: the decoder's below 20 % disagreement with the template's, the
                                # template's above 30 %, blended between (held-out ICT faces: 11-19 %; artists'
                                # heads: 41-126 %; docs/model.md, *Which keys*)
_CACHE_BYTES = 64 << 20       # per-mesh arrays (decoder base, skinning weights) are cached up to this size
NON_FACE_REGIONS = ("back_of_head", "back_of_neck", "ear_L", "ear_R", "clavicle")  # left out by crop='face'


def _one_blas_thread(fn):
    """Run a Model method with numpy's OpenBLAS on 1 thread (``Model.blas_single_thread``; see ``blas.py``)."""
    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        with blas.single_threaded(self.blas_single_thread):
            return fn(self, *args, **kwargs)
    return wrapper


class Cancelled(Exception):
    """Raised by ``Model.retarget`` when its ``progress`` callback returns False."""


@dataclass(eq=False)
class PreparedMesh:
    """A mesh made ready for the model (``Model.prepare``); treat as read-only.

    Attributes (N vertices, Nf of them in the face island, No = N - Nf others, P proxy vertices):
        verts: (N, 3) float64 positions, caller frame and units (a copy).
        faces: (F, 3) int64 triangles as given (after triangulating polygons).
        up, forward: the caller's axis names; other_islands: 'follow' or 'static'.
        key: content hash of (verts, faces, axes, other_islands): the cache key.
        normalization: caller <-> canonical map of the face island (``normalization.describe()`` reports it).
        face_index: (Nf,) int64 vertices of the face island (ascending); other_index: (No,) the rest.
        face_faces: (Ff, 3) int64 triangles of the face island, indices into face_index, winding as used
            (reversed when the input was flipped), zero-area faces dropped.
        canon: (Nf, 3) float64 canonical positions of the face island; normals: (Nf, 3) canonical unit normals.
        proxy: the face island's ``proxy.Proxy``.
        feats_n: (P, 6) float32 neutral proxy features; op: (evals (K,), evecs (P, K), mass (P,)) float32.
        knn_idx, knn_w: (Nf, k) int64 / float32 proxy neighbours of the face vertices.
        other_knn_idx, other_knn_w: (No, k) int64 / float32 proxy neighbours of the other vertices.
        flipped: True when most normals pointed inward (faces were reversed for the computation).
        n_islands: connected pieces with faces; dropped_faces: zero-area faces left out of the operator.
        prepare_seconds: wall time of ``prepare``.
    """
    verts: np.ndarray
    faces: np.ndarray
    up: str
    forward: str
    other_islands: str
    key: str
    normalization: Normalization
    face_index: np.ndarray
    other_index: np.ndarray
    face_faces: np.ndarray
    canon: np.ndarray
    normals: np.ndarray
    proxy: Proxy
    feats_n: np.ndarray
    op: tuple
    knn_idx: np.ndarray
    knn_w: np.ndarray
    other_knn_idx: np.ndarray
    other_knn_w: np.ndarray
    flipped: bool
    n_islands: int
    dropped_faces: int
    prepare_seconds: float = 0.0
    other_follow: np.ndarray | None = None   # (No,) float32 share of the face's motion the others follow (near: 1)
    warnings: tuple = ()                     # sentences about the input the caller should show the user
    reversed_faces: int = 0                  # faces re-wound to agree with their neighbours
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def n_verts(self) -> int:
        """N, the vertex count of the whole mesh."""
        return int(self.verts.shape[0])

    @property
    def face_mask(self) -> np.ndarray:
        """(N,) bool: True for face-island vertices."""
        m = np.zeros(self.n_verts, dtype=bool)
        m[self.face_index] = True
        return m

    def describe(self) -> str:
        """A few lines for reports: sizes, islands, orientation, normalisation."""
        lines = [f"{self.n_verts} vertices, {len(self.faces)} triangles; face island {len(self.face_index)} vertices"
                 f" / {len(self.face_faces)} triangles; proxy {self.proxy.n} vertices, "
                 f"{len(self.proxy.evals)} eigenpairs"]
        if len(self.other_index):
            lines.append(f"{self.n_islands - 1} other island(s) + loose vertices: {len(self.other_index)} vertices, "
                         f"{'follow the face' if self.other_islands == 'follow' else 'static'}")
        if self.dropped_faces:
            lines.append(f"{self.dropped_faces} zero-area faces left out of the operator")
        lines.extend(f"warning: {w}" for w in self.warnings)
        if self.flipped:
            lines.append("normals pointed inward: face winding reversed for the computation")
        lines.append("normalisation: " + self.normalization.describe())
        return "\n".join(lines)


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


def _check_finite(a: np.ndarray, what: str) -> np.ndarray:
    if not np.isfinite(a).all():
        raise RuntimeError(f"{what} produced non-finite values (NaN/inf); the weights may be corrupt or the mesh "
                           f"extreme (check its scale and degenerate faces)")
    return a


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


def _palette(n: int) -> np.ndarray:
    """n distinct colours (golden-ratio hues), (n, 3) float32 in 0..1."""
    return np.array([colorsys.hsv_to_rgb((0.13 + i * 0.618034) % 1.0, 0.55 + 0.3 * (i % 2), 0.95 - 0.2 * (i % 3 == 2))
                     for i in range(n)], dtype=F32).reshape(n, 3)


def _axis_key(name: str) -> str:
    return str(name).upper().replace("+", "")


class Model:
    """The trained model (numpy). Build with ``Model.load(path)``.

    Attributes:
        config: ``ModelConfig``; region_names: R names; region_colors: (R, 3) float32 in 0..1;
        expression_names: the 53 ICT FACS names (meaning of z_GE[:53]); weights: the loaded ``Weights``.
        max_vertices: prepare() refuses bigger meshes (default 300_000).
        cache_size: prepared meshes kept (LRU by content hash).
        decode_rows: vertex rows per decoder chunk (x batch size), bounding memory (~rows * 256 * 4 bytes
            per activation).
        fit_sparsity: mu of the sparsity penalty of ``expression(method='fit')`` (0 = plain bounded least
            squares); chosen on held-out identities by ``benchmarks/tune_fit_sparsity.py``, see docs/model.md.
        keys: how ``facs_basis`` (and so the inverse rig's basis) makes a mesh's FACS keys: 'decoder' (the
            learned decoder's one-hot decodes; the API default) or 'template' (ICT's keys carried by dense
            correspondence, ``runtime/template_keys.py``; what the CLI's ``facs`` and the add-on's Generate
            FACS Shape Keys use by default; docs/model.md, *Keys on real characters*). Painted region weights
            (``probs``) always use the decoder.
        blas_single_thread: run numpy's OpenBLAS on 1 thread inside each call (default True; the runtime's
            small eigh / solves / products are 2-40x slower with threads on a loaded machine,
            ``benchmarks/bench_blas_threads.py``); False leaves BLAS threads as they are.
    """

    max_vertices: int = 300_000
    max_vertices_hint: str = "raise Model.max_vertices"     # how the refusal says to lift the limit (CLI: the flag)
    cache_size: int = 4
    decode_rows: int = 16384
    fit_sparsity: float = FIT_SPARSITY
    keys: str = "decoder"
    blas_single_thread: bool = True

    def __init__(self, weights: Weights):
        self.weights = weights
        self.config = weights.config
        self.net = Network(weights.arrays, weights.config)
        self.region_names = list(weights.region_names)
        self.expression_names = list(weights.expression_names)
        self.region_colors = self._region_colors(self.region_names)
        self._prepared: OrderedDict = OrderedDict()
        self._hits = 0
        self._misses = 0
        self._token = object()   # keys this model's entries in a PreparedMesh's cache

    @classmethod
    def load(cls, path=None) -> "Model":
        """Load weights: ``path`` = the .npz, the .json or their stem; None = ``model_core/weights/nfs_v4.npz``.

        Raises:
            FileNotFoundError: missing file (the message names the path and what to do).
            ValueError: corrupt/truncated files, wrong format version, mismatched arrays (see ``weights.load_weights``).
        """
        return cls(load_weights(path))

    def __repr__(self) -> str:
        c = self.config
        return (f"Model({self.weights.npz_path}, R={c.n_regions}, Z={c.z_dim}, enc {c.enc_width}x{c.enc_blocks}, "
                f"dec {c.dec_width}x{c.dec_layers})")

    @staticmethod
    def _region_colors(names) -> np.ndarray:
        out = _palette(len(names))
        try:
            from .. import regions as _regions
            known = {str(n): np.asarray(c, dtype=np.float64)
                     for n, c in zip(getattr(_regions, "REGION_NAMES", []), getattr(_regions, "REGION_COLORS", []))}
        except ImportError:
            known = {}
        for i, n in enumerate(names):
            if n in known and known[n].shape == (3,):
                c = known[n]
                out[i] = c / 255.0 if c.max() > 1.0 else c
        return np.clip(out, 0.0, 1.0).astype(F32)

    # ------------------------------------------------------------------------------------- prepare
    def cache_info(self) -> dict:
        """{'hits', 'misses', 'size', 'max_size'} of the prepared-mesh cache."""
        return {"hits": self._hits, "misses": self._misses, "size": len(self._prepared), "max_size": self.cache_size}

    def clear_cache(self) -> None:
        """Forget every prepared mesh."""
        self._prepared.clear()

    @_one_blas_thread
    def prepare(self, verts, faces, up: str = "Y", forward: str = "Z", *, other_islands: str = "follow",
                crop: str = "full") -> PreparedMesh:
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
        up, forward = _axis_key(up), _axis_key(forward)
        n_in = np.shape(verts)[0] if np.ndim(verts) >= 1 else 0
        if n_in > self.max_vertices:
            raise ValueError(f"mesh has {n_in} vertices, more than the limit of {self.max_vertices}; decimate it "
                             f"first (or {self.max_vertices_hint} if you have the memory and time)")
        v, f = validate_mesh(verts, _as_triangles(faces), name="mesh")
        _check_precision(verts, v)
        key = mesh_hash(v, f, np.frombuffer(f"{up}|{forward}|{other_islands}|{crop}".encode(), dtype=np.uint8))
        pm = self._prepared.get(key)
        if pm is not None:
            self._prepared.move_to_end(key)
            self._hits += 1
        else:
            self._misses += 1
            pm = self._build(v, f, up, forward, other_islands, key)
            if crop == "face":
                pm = self._crop_to_face(pm, v, f, up, forward, other_islands, key)
            pm.prepare_seconds = time.perf_counter() - t0
            self._prepared[key] = pm
        while len(self._prepared) > max(self.cache_size, 0):
            self._prepared.popitem(last=False)
        return pm

    def _build(self, v_in, f, up, forward, other_islands, key) -> PreparedMesh:
        cfg = self.config
        n = len(v_in)
        lo, hi = v_in.min(axis=0), v_in.max(axis=0)
        span = float((hi - lo).max())
        if span > _MAX_SPAN:
            raise ValueError(f"mesh: spans {span:.3g} units, too large to compute with (face areas overflow); scale "
                             f"it down (e.g. to metres or centimetres) first")
        if 0.0 < span < 1.0 / _MAX_SPAN:
            raise ValueError(f"mesh: spans only {span:.3g} units, too small to compute with (face areas underflow); "
                             f"scale it up (e.g. to metres or centimetres) first")
        # recentred in float64 before anything else: every geometric step below sees coordinates near 0, so a
        # mesh far from the origin gives the same canonical mesh as the same mesh at the origin. The shift is a
        # multiple of a power of two q >= the mesh's span, so a far mesh is shifted exactly (Sterbenz) and a mesh
        # already around the origin (|centre| < q / 2) is not touched at all (bit-identical results).
        q = 2.0 ** np.ceil(np.log2(span)) if span > 0 else 1.0
        shift = np.round((lo + hi) / 2.0 / q) * q
        v = v_in - shift if shift.any() else v_in
        areas = face_areas(v, f)
        diag2 = float(((hi - lo) ** 2).sum())
        good = areas > _DEGENERATE_REL * diag2
        if not good.any():
            raise ValueError(f"mesh: all {len(f)} faces have zero area (degenerate); the model needs a surface")
        fg, ag = f[good], areas[good]
        # islands on the mesh welded by exact position (split UV seams stay one piece)
        _, weld = np.unique(v, axis=0, return_inverse=True)
        weld = np.asarray(weld).ravel()
        fg, n_rev = mesh_checks.orient_consistently(fg, weld)      # half the faces reversed: made consistent
        warnings = []
        if n_rev:
            warnings.append(f"{n_rev} of {len(fg)} faces were wound opposite to their neighbours; made consistent "
                            f"for the model (the mesh is unchanged; in Blender: Mesh > Normals > Recalculate Outside)")
        wf = weld[fg]
        labels = connected_components(int(weld.max()) + 1, wf)
        face_label = labels[wf[:, 0]]
        bad = mesh_checks.stray_vertices(v, labels[weld], MIN_FACE_VERTICES)   # vertices dragged far off a piece
        if bad is not None:
            keep = ~bad[fg].any(axis=1)
            fg, ag, face_label = fg[keep], ag[keep], face_label[keep]
            far = np.nonzero(bad)[0]
            warnings.append(f"{len(far)} vertex(es) lie far outside the rest of their piece (e.g. vertex {far[0]}): "
                            f"left out of the face and not moved; delete them or snap them back")
        island_area = np.bincount(face_label, weights=ag, minlength=int(labels.max()) + 1)
        n_islands = int((island_area > 0).sum())
        main, flatness, w_isl, still = mesh_checks.pick_face_island(     # by shape: a floor does not win by area
            v, fg, ag, face_label, np.bincount(labels, minlength=len(island_area)), MIN_FACE_VERTICES)
        warnings += w_isl
        ff_global = fg[face_label == main]
        face_index, local = np.unique(ff_global, return_inverse=True)
        faces_f = np.asarray(local).reshape(-1, 3).astype(np.int64)
        if len(face_index) < MIN_FACE_VERTICES:
            raise ValueError(f"mesh: its largest connected piece has {len(face_index)} vertices; a face mesh needs "
                             f"at least {MIN_FACE_VERTICES}")
        problem = mesh_checks.flat_problem(flatness)
        if problem:
            raise ValueError(f"mesh: {problem}")
        vf = v[face_index]
        nz = canonical_normalization(vf, faces_f, up=up, forward=forward)
        cn = nz.apply(vf)
        nz_shift = nz                                         # on the recentred coordinates
        nz = replace(nz, center=nz.center + shift)            # the caller's frame (reported; vectors alike)
        flipped = self._is_inward(cn, faces_f)
        if flipped:
            faces_f = faces_f[:, [0, 2, 1]]
        proxy = build_proxy(cn, faces_f, target=cfg.proxy_target, k_eig=cfg.k_eig, knn=cfg.knn)
        if proxy.n < 4 or len(proxy.evals) < 1:
            raise ValueError(f"mesh: its face surface reduces to {proxy.n} proxy vertices; it is too small or "
                             f"degenerate to be a face")
        if not (np.isfinite(proxy.evecs).all() and np.isfinite(proxy.evals).all()):
            raise RuntimeError("the spectral operator of this mesh is not finite; check for degenerate faces")
        nrm = vertex_normals(cn, faces_f)
        wid, winv = np.unique(weld[face_index], return_inverse=True)
        if len(wid) < len(face_index):   # split vertices (UV seams, triangle soup): smooth normals across them
            winv = np.asarray(winv).ravel()
            cw = np.zeros((len(wid), 3))
            cw[winv] = cn
            nrm = vertex_normals(cw, winv[faces_f])[winv]
        other_index = np.setdiff1d(np.arange(n), face_index)
        if len(other_index):
            po = nz_shift.apply(v[other_index])
            oi, ow = knn_weights(po, proxy.verts, cfg.knn)
            near = np.linalg.norm(po[:, None, :] - proxy.verts[oi], axis=2).min(axis=1)
            follow = mesh_checks.follow_falloff(near, float(np.linalg.norm(np.ptp(cn, axis=0))))
            follow[np.isin(labels[weld[other_index]], still)] = 0.0    # a floor, a second head: no motion
        else:
            oi, ow = np.zeros((0, min(cfg.knn, proxy.n)), np.int64), np.zeros((0, min(cfg.knn, proxy.n)))
            follow = np.zeros(0, F32)
        vr = v_in.copy()
        vr.setflags(write=False)
        return PreparedMesh(
            verts=vr, faces=f, up=up, forward=forward, other_islands=other_islands, key=key, normalization=nz,
            face_index=face_index, other_index=other_index, face_faces=faces_f, canon=cn, normals=nrm, proxy=proxy,
            feats_n=np.ascontiguousarray(neutral_features(proxy), dtype=F32),
            op=(np.ascontiguousarray(proxy.evals, F32), np.ascontiguousarray(proxy.evecs, F32),
                np.ascontiguousarray(proxy.mass, F32)),
            knn_idx=proxy.knn_idx, knn_w=np.ascontiguousarray(proxy.knn_w, F32),
            other_knn_idx=oi, other_knn_w=np.ascontiguousarray(ow, F32), flipped=bool(flipped),
            n_islands=n_islands, dropped_faces=int((~good).sum()), other_follow=follow,
            warnings=tuple(warnings), reversed_faces=int(n_rev))

    def _crop_to_face(self, pm: PreparedMesh, v, f, up, forward, other_islands, key) -> PreparedMesh:
        """Rebuild ``pm`` on the triangles whose three corners the skinning encoder puts in face regions."""
        probs = self._probs(pm)                                       # (N, R)
        names = list(self.region_names)
        off_face = [names.index(r) for r in NON_FACE_REGIONS if r in names]
        keep_v = np.zeros(len(v), dtype=bool)
        keep_v[pm.face_index] = ~np.isin(probs[pm.face_index].argmax(axis=1), off_face)
        sub = f[keep_v[f].all(axis=1)]
        if len(sub) == 0:
            raise ValueError("crop 'face': the skinning found no face-region skin on this mesh; use crop 'full'")
        out = self._build(v, sub, up, forward, other_islands, key)
        return replace(out, faces=f, warnings=pm.warnings + tuple(w for w in out.warnings if w not in pm.warnings))

    @staticmethod
    def _is_inward(cn: np.ndarray, faces: np.ndarray) -> bool:
        """True when the face island's normals point inward: the signed volume swept from the area centroid
        (the canonical origin) is negative; for a nearly flat patch (|volume| tiny) the mean normal's forward
        (+Z canonical) component decides."""
        fn = face_normals(cn, faces, normalize=False)            # (F, 3), length 2 * area
        vol = float((cn[faces].mean(axis=1) * fn).sum()) / 6.0
        if abs(vol) > 1e-3:
            return vol < 0
        return float(fn[:, 2].sum()) < 0

    # ------------------------------------------------------------------------------------- encoders
    def _cached(self, pm: PreparedMesh, name: str, fn):
        k = (self._token, name)
        if k not in pm._cache:
            pm._cache[k] = fn()
        return pm._cache[k]

    def _check_pm(self, pm, what="mesh"):
        if not isinstance(pm, PreparedMesh):
            raise ValueError(f"{what} must be a PreparedMesh from Model.prepare(), got {type(pm).__name__}")

    @_one_blas_thread
    def identity(self, pm: PreparedMesh) -> np.ndarray:
        """Identity code z_ID (Z,) float32 of a prepared neutral mesh (z_ID[:100] ~ ICT identity coefficients)."""
        self._check_pm(pm)
        z = self._cached(pm, "z_id", lambda: _check_finite(self.net.identity(pm.feats_n, pm.op), "identity encoder"))
        return z.copy()

    def identity_offsets(self, pm: PreparedMesh) -> np.ndarray | None:
        """Predicted identity offsets (Nf, 3) float32 of the face island's vertices (``pm.face_index`` order), in
        decoder-frame units, for ``id_offset`` models (None otherwise): the decoder reads ``a * canon + b -
        offset`` (``decoder_frame``), a point of the generic ICT head."""
        self._check_pm(pm)
        off = self._id_offsets(pm)
        return None if off is None else off.copy()

    def _skin_proxy(self, pm: PreparedMesh) -> np.ndarray:
        """Skinning encoder outputs on the proxy (P, R [+ 3]) float32 (cached; logits, then identity offsets)."""
        return self._cached(pm, "skin_proxy", lambda: self.net.skinning_proxy_outputs(pm.feats_n, pm.op))

    def _probs(self, pm: PreparedMesh) -> np.ndarray:
        """Model region probabilities (N, R) float32 (face rows from the face's k-NN, others from theirs)."""
        def run():
            lp = self._skin_proxy(pm)[:, :self.config.n_regions]             # (P, R)
            out = np.empty((pm.n_verts, self.config.n_regions), F32)
            out[pm.face_index] = softmax(interpolate(lp, pm.knn_idx, pm.knn_w))
            if len(pm.other_index):
                out[pm.other_index] = softmax(interpolate(lp, pm.other_knn_idx, pm.other_knn_w))
            return _check_finite(out, "skinning encoder")
        return self._cached(pm, "probs", run)

    def _resolve_probs(self, pm: PreparedMesh, override) -> np.ndarray:
        model = self._probs(pm)
        if override is None:
            return model
        p = np.asarray(override, dtype=np.float64)
        r = self.config.n_regions
        if p.shape != (pm.n_verts, r):
            raise ValueError(f"probs must have shape ({pm.n_verts}, {r}) (vertices x regions), got {p.shape}")
        if not np.isfinite(p).all():
            raise ValueError("probs contains NaN or infinite values")
        if (p < 0).any():
            raise ValueError("probs must be non-negative region weights (rows are renormalised)")
        return normalize_rows(p, model).astype(F32)

    @_one_blas_thread
    def skinning(self, pm: PreparedMesh, override_probs=None) -> tuple[np.ndarray, np.ndarray]:
        """Per-vertex facial skinning.

        Args:
            pm: prepared neutral mesh (N vertices).
            override_probs: optional (N, R) user-painted region weights (>= 0); rows are renormalised to sum
                to 1; rows summing to 0 keep the model's probabilities.
        Returns:
            (probs (N, R) float32, rows sum to 1, region order ``region_names``;
             weights (N, Z) float32 skinning weights w, the local code of a vertex being w * z_GE).
        """
        self._check_pm(pm)
        probs = self._resolve_probs(pm, override_probs)
        weights = _check_finite(self.net.skin_weights(probs), "skinning MLP")
        return probs.copy(), weights

    @_one_blas_thread
    def expression(self, posed_verts, neutral_pm: PreparedMesh, *, batch: int = 64, method: str = "fit",
                   sparsity: float | None = None, keys: str | None = None) -> np.ndarray:
        """Expression code z_GE of posed frame(s) of a prepared neutral mesh.

        Args:
            posed_verts: (N, 3) or (B, N, 3) posed positions, same vertex order, frame and units as the neutral
                given to ``prepare``.
            neutral_pm: the prepared neutral (its operator and FACS fit system are cached: per frame only the
                fit, or the displacement features and the expression encoder, run).
            batch: frames encoded together.
            method: 'encoder' - the expression encoder's output as it is (the paper's inverse rig);
                'fit' (default) - the exact area-weighted least-squares fit, bounded to [0, 1] and sparse, of the
                frame's displacement onto this mesh's own decoded FACS basis (``facs_basis``, computed once per
                mesh and cached); [53:] is then 0, so decoding the code reproduces the fitted FACS
                combination. The fit is convex and does not run the encoder. See docs/model.md.
            sparsity: 'fit' only: mu of the penalty that keeps keys at 0 unless they explain enough of the
                motion (relative to an average key); None = ``fit_sparsity`` (0.005); 0 = plain least squares.
            keys: 'fit' only: the FACS basis fitted onto, as ``facs_basis``'s ``keys`` ('decoder' or
                'template'; None = ``self.keys``). On an artist-rigged source the template's keys are the
                closer basis (docs/model.md, *Geometry-path bake*).
        Returns:
            (Z,) float32 for one frame, (B, Z) for several; [:53] = ICT FACS weights in ICT order
            ('encoder': raw outputs, trained towards 0..1, not clipped); [53:] = the generic expression residual.
        Raises:
            ValueError: wrong shape or NaN/inf positions, unknown method.
        """
        if method not in ("fit", "encoder"):
            raise ValueError(f"method must be 'fit' or 'encoder', got {method!r}")
        mu = self.fit_sparsity if sparsity is None else sparsity
        if not (isinstance(mu, (int, float, np.floating)) and np.isfinite(mu) and 0.0 <= mu <= 10.0):
            raise ValueError(f"sparsity must be a number in [0, 10], got {sparsity!r}")
        pm = neutral_pm
        self._check_pm(pm, "neutral_pm")
        p = np.asarray(posed_verts)
        single = p.ndim == 2
        if single:
            p = p[None]
        if p.ndim != 3 or p.shape[1:] != (pm.n_verts, 3):
            raise ValueError(f"posed_verts must have shape ({pm.n_verts}, 3) or (B, {pm.n_verts}, 3) like the "
                             f"neutral mesh, got {np.shape(posed_verts)}")
        if not np.issubdtype(p.dtype, np.number):
            raise ValueError(f"posed_verts must be numeric, got dtype {p.dtype}")
        out = np.zeros((p.shape[0], self.config.z_dim), F32)
        nv = pm.verts[pm.face_index]
        for s in range(0, p.shape[0], max(1, batch)):
            chunk = np.asarray(p[s:s + batch, pm.face_index], dtype=np.float64)
            if not np.isfinite(chunk).all():
                raise ValueError("posed_verts contains NaN or infinite coordinates")
            if method == "fit":
                w = self._fit_weights(pm, chunk - nv[None], float(mu), keys)
                out[s:s + batch, :w.shape[1]] = w                       # [53:] stays 0
                continue
            disp = pm.normalization.apply_vectors(chunk - nv[None])
            feats = np.ascontiguousarray(expression_features(pm.proxy, disp, self.config.expr_feat_scale), dtype=F32)
            out[s:s + batch] = self.net.expression(feats, pm.op)
        _check_finite(out, "expression encoder")
        return out[0] if single else out

    def _face_areas(self, pm: PreparedMesh) -> np.ndarray:
        """Canonical vertex areas (Nf,) of the face island (cached; the fit and the decoder frame weight by them)."""
        return self._cached(pm, "face_areas", lambda: vertex_areas(pm.canon, pm.face_faces))

    def _fit_system(self, pm: PreparedMesh, keys: str | None = None):
        """Normal equations of the area-weighted least-squares fit onto the mesh's FACS basis (cached):
        (A (53, 3 Nf) area-weighted basis rows, G (53, 53) = A B^T with a tiny ridge)."""
        def run():
            _, basis = self.facs_basis(pm, "ict", keys=keys)                           # (53, N, 3) float32
            k, nf = len(basis), len(pm.face_index)
            area = self._face_areas(pm)                                                # (Nf,)
            a = np.empty((k, nf, 3))
            g = np.zeros((k, k))
            for s in range(0, nf, self.decode_rows):                 # float64 copies one chunk at a time
                e = min(nf, s + self.decode_rows)
                b = basis[:, pm.face_index[s:e]].astype(np.float64)                    # (53, n, 3)
                a[:, s:e] = b * area[s:e, None]
                g += a[:, s:e].reshape(k, -1) @ b.reshape(k, -1).T
            del basis
            g += np.eye(k) * (1e-6 * np.trace(g) / k + 1e-30)
            return a.reshape(k, -1), g
        keys = self.keys if keys is None else keys
        return self._cached(pm, f"fit_system_{keys}", run)

    def _fit_weights(self, pm: PreparedMesh, disp: np.ndarray, mu: float, keys: str | None = None) -> np.ndarray:
        """FACS weights (B, 53) float64 of frames: the exact minimiser (``boxqp.box_qp``) of
        |B^T w - disp|_area^2 + 2 mu mean_k(G_kk) sum_k w_k over 0 <= w <= 1, then, for mu > 0, the same fit
        without the penalty on the keys it left active (relaxed lasso: the penalty picks the support, the
        refit removes its shrinkage).

        disp: (B, Nf, 3) caller-frame displacements of the face island."""
        a, g = self._fit_system(pm, keys)
        h = disp.reshape(len(disp), -1) @ a.T                                             # (B, 53)
        w = box_qp(g, h - mu * np.diag(g).mean())
        if mu > 0:
            w = box_qp(g, h, allowed=w > 0, start=w > 0)
        return w

    # ------------------------------------------------------------------------------------- decoder
    @_one_blas_thread
    def decoder_frame(self, pm: PreparedMesh) -> tuple[float, np.ndarray]:
        """(a, b (3,)): the decoder reads a * canon + b and its displacements are divided by a (cached).

        ``dec_frame='face'``: the similarity taking the face island's face core (config ``face_core`` regions,
        weighted by the model's own region probabilities, never painted ones, and by vertex area) onto the
        reference centroid and size ``face_ref``, so a face mask and a whole head decode a face point alike.
        ``'mesh'`` (or no face core found): (1, 0)."""
        self._check_pm(pm)
        cfg = self.config

        def run():
            if cfg.dec_frame != "face":
                return 1.0, np.zeros(3)
            probs = self._probs(pm)[pm.face_index].astype(np.float64)
            return core_frame(pm.canon, probs[:, list(cfg.face_core)].sum(axis=1) * self._face_areas(pm),
                              cfg.face_ref)
        a, b = self._cached(pm, "dec_frame", run)
        return a, b.copy()

    def _id_offsets(self, pm: PreparedMesh) -> np.ndarray | None:
        """Predicted identity offsets (Nf, 3) float32 of the face island in decoder-frame units (``id_offset``
        models; None otherwise): the decoder reads a * canon + b - offset, a point of the generic head."""
        cfg = self.config
        if not cfg.id_offset:
            return None
        return self._cached(pm, "id_offsets", lambda: _check_finite(
            interpolate(self._skin_proxy(pm)[:, cfg.n_regions:], pm.knn_idx, pm.knn_w) / F32(cfg.offset_scale),
            "identity offsets"))

    def _dec_pos(self, pm: PreparedMesh) -> np.ndarray:
        """Decoder input positions (Nf, 3) of the face island: a * canon + b (see ``decoder_frame``), minus the
        identity offsets of ``id_offset`` models."""
        def run():
            a, b = self.decoder_frame(pm)
            pos = pm.canon if a == 1.0 and not b.any() else pm.canon * a + b
            off = self._id_offsets(pm)
            return pos if off is None else pos - off
        return self._cached(pm, "dec_pos", run)

    def _base_rest(self, pm: PreparedMesh, s: int, e: int) -> tuple[np.ndarray, np.ndarray]:
        """Decoder per-mesh part (``dec.base``: (e-s, H), or (e-s, 3, Z) for the bilinear decoder) and zero-code
        output (e-s, 3) of face vertices s..e."""
        dec = self.net.decoder
        nf = len(pm.face_index)
        pos = self._dec_pos(pm)
        if nf * dec.base_width * 4 <= _CACHE_BYTES:
            def run():
                base = dec.base(pos, pm.normals, self.identity(pm))
                rest = np.concatenate([dec.rest(base[i:i + self.decode_rows])
                                       for i in range(0, nf, self.decode_rows)])
                return base, rest
            base, rest = self._cached(pm, "dec_base", run)
            return base[s:e], rest[s:e]
        return self._base_chunk(pm, s, e)          # too big to keep: computed per chunk (base once, rest from it)

    def _base_chunk(self, pm: PreparedMesh, s: int, e: int) -> tuple[np.ndarray, np.ndarray]:
        """Decoder per-mesh part and zero-code output of face vertices s..e, computed now and not cached (the
        streamed path of meshes whose whole per-mesh part exceeds ``_CACHE_BYTES``)."""
        dec = self.net.decoder
        base = dec.base(self._dec_pos(pm)[s:e], pm.normals[s:e], self.identity(pm))
        return base, dec.rest(base)

    def _displace(self, pm: PreparedMesh, base, rest, code) -> np.ndarray:
        """Canonical displacements (B, n, 3) float32: the decoder's (``dec.displace``), out of its frame (/ a)."""
        d = self.net.decoder.displace(base, rest, code)
        a, _ = self.decoder_frame(pm)
        return d if a == 1.0 else d / F32(a)

    def _face_weights(self, pm: PreparedMesh, probs_face: np.ndarray | None, s: int, e: int) -> np.ndarray:
        """Skinning weights w (e-s, Z) of face vertices s..e (cached for the model's own probabilities)."""
        if probs_face is not None:
            return self.net.skin_weights(probs_face[s:e])
        nf = len(pm.face_index)
        if nf * self.config.z_dim * 4 <= _CACHE_BYTES:
            w = self._cached(pm, "w_face", lambda: self.net.skin_weights(self._probs(pm)[pm.face_index]))
            return w[s:e]
        return self.net.skin_weights(self._probs(pm)[pm.face_index[s:e]])

    def _decode_face(self, pm: PreparedMesh, z: np.ndarray, probs) -> np.ndarray:
        """Canonical displacements (B, Nf, 3) float32 of the face island for codes z (B, Z)."""
        dec = self.net.decoder
        nf = len(pm.face_index)
        out = np.zeros((z.shape[0], nf, 3), F32)
        live = np.flatnonzero(np.any(z != 0, axis=1))    # a zero code gives exactly zero motion
        if not len(live):
            return out
        zl = z[live]
        pf = None if probs is None else self._resolve_probs(pm, probs)[pm.face_index]
        step = max(64, self.decode_rows // len(live))
        for s in range(0, nf, step):
            e = min(nf, s + step)
            base, rest = self._base_rest(pm, s, e)
            w = self._face_weights(pm, pf, s, e)
            out[live, s:e] = self._displace(pm, base, rest, dec.code_part(w, zl))
        return out

    def _to_caller(self, pm: PreparedMesh, disp_face: np.ndarray, dtype) -> np.ndarray:
        """Canonical face displacements (B, Nf, 3) -> caller-frame displacements of all vertices (B, N, 3)."""
        nz = pm.normalization
        out = np.zeros((disp_face.shape[0], pm.n_verts, 3), dtype)
        out[:, pm.face_index] = nz.invert_vectors(disp_face)
        if len(pm.other_index) and pm.other_islands == "follow":
            w = pm.other_knn_w.astype(np.float64)[..., None]
            if pm.other_follow is not None:                      # far pieces (a floor, a second head) stay put
                w = w * pm.other_follow.astype(np.float64)[:, None, None]
            for b in range(disp_face.shape[0]):
                dp = pm.proxy.to_proxy(disp_face[b].astype(np.float64))                 # (P, 3)
                out[b, pm.other_index] = nz.invert_vectors((dp[pm.other_knn_idx] * w).sum(axis=1))
        return out

    def _codes(self, z_ge) -> tuple[np.ndarray, bool]:
        z = np.asarray(z_ge)
        single = z.ndim == 1
        if single:
            z = z[None]
        if z.ndim != 2 or z.shape[1] != self.config.z_dim:
            raise ValueError(f"z_ge must have shape ({self.config.z_dim},) or (B, {self.config.z_dim}), got {np.shape(z_ge)}")
        if not np.issubdtype(z.dtype, np.number):
            raise ValueError(f"z_ge must be numeric, got dtype {z.dtype}")
        z = z.astype(F32)
        if not np.isfinite(z).all():
            raise ValueError("z_ge contains NaN or infinite values")
        return z, single

    @_one_blas_thread
    def decode_displacements(self, pm: PreparedMesh, z_ge, *, probs=None) -> np.ndarray:
        """Displacements of the prepared mesh for expression code(s).

        Args:
            pm: prepared target mesh (N vertices).
            z_ge: (Z,) or (B, Z) expression code(s) (e.g. from ``expression``); an all-zero code gives exactly 0.
            probs: optional (N, R) painted region weights replacing the model's skinning (see ``skinning``).
        Returns:
            (N, 3) or (B, N, 3) float64 displacements in the caller's frame and units. Decoded in chunks of
            vertices (``decode_rows``), so memory stays bounded for big meshes.
        """
        self._check_pm(pm)
        z, single = self._codes(z_ge)
        d = _check_finite(self._to_caller(pm, self._decode_face(pm, z, probs), np.float64), "decoder")
        return d[0] if single else d

    def decode(self, pm: PreparedMesh, z_ge, *, probs=None) -> np.ndarray:
        """Posed positions (N, 3) or (B, N, 3) float64 = neutral + ``decode_displacements`` (caller frame/units)."""
        d = self.decode_displacements(pm, z_ge, probs=probs)
        return d + pm.verts

    # ------------------------------------------------------------------------------------- FACS basis
    def _basis_codes(self, names: str) -> list[tuple[str, list[int]]]:
        if names == "ict":
            return [(n, [i]) for i, n in enumerate(ICT_NAMES)]
        if names == "arkit":
            return [(n, list(src)) for n, src in zip(ARKIT_NAMES, ARKIT_SOURCES)]
        raise ValueError(f"names must be 'ict' or 'arkit', got {names!r}")

    def _basis_face(self, pm: PreparedMesh, codes: list, pf: np.ndarray | None, out: np.ndarray) -> None:
        """Canonical face-island displacements of the one-hot FACS codes into ``out`` (K, Nf, 3) float32.

        Streams over the face vertices in chunks of ``decode_rows``: each chunk's decoder per-mesh part is
        computed once for all K codes and dropped (cached for the whole mesh only while it fits
        ``_CACHE_BYTES``), so the cost is one decoder pass plus K cheap products and the memory is ``out``
        plus one chunk."""
        dec = self.net.decoder
        nf = len(pm.face_index)
        a, _ = self.decoder_frame(pm)
        for s in range(0, nf, self.decode_rows):
            e = min(nf, s + self.decode_rows)
            base, rest = self._base_rest(pm, s, e)         # cached whole below _CACHE_BYTES, else per chunk
            w = self._face_weights(pm, pf, s, e)
            for i, (_name, idx) in enumerate(codes):
                if idx:
                    d = dec.displace_onehot(base, rest, w, idx)
                    out[i, s:e] = d if a == 1.0 else d / F32(a)
                else:
                    out[i, s:e] = 0.0

    def _basis_deltas(self, pm: PreparedMesh, names: str, probs, canon: np.ndarray, keys=None):
        """Yields (i, name, delta (N, 3) float32 caller frame) after filling ``canon`` (K, Nf, 3) float32 (may
        be a view of the output array's first Nf rows: row i is read before delta i is yielded)."""
        codes = self._basis_codes(names)
        keys = self.keys if keys is None else keys
        if keys not in KEY_SOURCES:
            raise ValueError(f"keys must be one of {', '.join(KEY_SOURCES)}, got {keys!r}")
        pf = None if probs is None else self._resolve_probs(pm, probs)[pm.face_index]
        if pf is None and keys != "decoder":         # painted regions (probs) always go through the decoder
            tk = self.template_face_keys(pm) if keys == "template" else self.auto_face_keys(pm)[0]
            for i, (_name, idx) in enumerate(codes):
                canon[i] = tk[idx].sum(axis=0) if idx else 0.0
        else:
            with blas.single_threaded(self.blas_single_thread):  # per step: not held while suspended at a yield
                self._basis_face(pm, codes, pf, canon)
        for i, (name, _idx) in enumerate(codes):
            with blas.single_threaded(self.blas_single_thread):
                disp = canon[i][None].copy()
                delta = _check_finite(self._to_caller(pm, disp, np.float64), f"decoder ({name})")[0].astype(F32)
            yield i, name, delta

    def facs_basis_iter(self, pm: PreparedMesh, names: str = "ict", probs=None, keys=None):
        """Generator over the FACS blendshapes of a mesh, one at a time (steppable, cancellable).

        Yields ``(i, name, delta)`` with delta (N, 3) float32 displacements in the caller's frame and units,
        for the code with 1 at the shape's ICT index and 0 elsewhere. ``names='ict'``: the 53 ICT shapes in ICT
        order. ``names='arkit'``: the 52 ARKit shapes in ARKit order; ``browInnerUp`` and ``cheekPuff`` are the
        decode of the code with BOTH the ICT ``_L`` and ``_R`` entries set to 1 (not a sum of two decodes);
        ``tongueOut`` is all zeros (ICT has no tongue shape). ``keys``: 'decoder', 'template' (the sums of
        ICT's keys carried by ``template_face_keys``) or 'auto' (``auto_face_keys``: the decoder's on faces
        like ICT's, the template's on others); None = ``Model.keys``; painted ``probs`` always decode.

        Cost: the first step decodes all K shapes of the face island in one streamed pass over the vertices
        (the decoder's per-mesh part is computed once, chunk by chunk; ~1-2 s per 100k vertices on 2 cores) and
        holds them, (K, Nf, 3) float32; each step then maps one shape to the caller's frame. The code part of a
        one-hot code needs no (N, Z) product (``code_onehot``).
        """
        self._check_pm(pm)
        codes = self._basis_codes(names)
        canon = np.empty((len(codes), len(pm.face_index), 3), F32)
        yield from self._basis_deltas(pm, names, probs, canon, keys)

    @_one_blas_thread
    def template_face_keys(self, pm: PreparedMesh, progress=None) -> np.ndarray:
        """The 53 ICT keys of the face island carried by dense correspondence (``runtime/template_keys.py``):
        (53, Nf, 3) float32 canonical displacements (cached per mesh). The face starts in ICT's frame where
        the model's face-core frame (``decoder_frame``) puts it."""
        self._check_pm(pm)

        def run():
            from .template_keys import default_template, template_keys
            tpl = default_template()
            a, b = self.decoder_frame(pm)
            pts = (pm.canon * a + b) * tpl.gen_size + tpl.gen_center
            keys = template_keys(tpl, pts, pm.face_faces, progress=progress)
            return _check_finite(keys / F32(tpl.gen_size * a), "template keys")
        return self._cached(pm, "template_keys", run)

    @_one_blas_thread
    def auto_face_keys(self, pm: PreparedMesh, progress=None) -> tuple[np.ndarray, float]:
        """The keys ``keys='auto'`` gives: (53, Nf, 3) float32 canonical displacements and the decoder's share
        in them (0..1), cached per mesh.

        The decoder was trained with exact correspondences on ICT's identities and is the more accurate there;
        on faces outside ICT's identity space its fields miss the features and the template's keys are right
        (docs/model.md). How far the two disagree tells which case a face is: d = mean |decoder - template| /
        mean |template| over the 53 keys and the face's vertices, or over jawOpen alone when that is larger (a
        decoder whose mouth stays shut must not win on the other keys' agreement); the decoder's share is 1 below
        ``AUTO_DISAGREEMENT[0]``, 0 above ``[1]``, linear between."""
        self._check_pm(pm)

        def run():
            tk = self.template_face_keys(pm, progress)
            dec = np.empty_like(tk)
            with blas.single_threaded(self.blas_single_thread):
                self._basis_face(pm, self._basis_codes("ict"), None, dec)
            def disagreement(x, y):
                return float(np.linalg.norm(x - y, axis=-1).mean() / max(np.linalg.norm(y, axis=-1).mean(), 1e-30))
            jaw = ICT_NAMES.index("jawOpen")
            d = max(disagreement(dec, tk), disagreement(dec[jaw], tk[jaw]))
            lo, hi = AUTO_DISAGREEMENT
            share = float(np.clip((hi - d) / (hi - lo), 0.0, 1.0))
            if share == 0.0:
                return tk, share
            if share == 1.0:
                return dec, share
            return (share * dec + (1.0 - share) * tk).astype(F32), share
        return self._cached(pm, "auto_keys", run)

    @_one_blas_thread
    def facs_basis(self, pm: PreparedMesh, names: str = "ict", probs=None, keys=None) -> tuple[list, np.ndarray]:
        """All FACS blendshapes of a mesh: (names list (K,), deltas (K, N, 3) float32, caller frame and units).

        K = 53 for ``names='ict'`` (ICT order), 52 for ``'arkit'`` (ARKit order; ``browInnerUp``/``cheekPuff`` =
        decode of the code with both ICT ``_L`` and ``_R`` set to 1; ``tongueOut`` = zeros). See
        ``facs_basis_iter`` for a one-at-a-time generator and ``keys``. Memory: the output plus one decoder chunk (the
        canonical shapes are decoded into the output's own rows first).
        """
        self._check_pm(pm)
        codes = self._basis_codes(names)
        out = np.empty((len(codes), pm.n_verts, 3), F32)
        for i, _, d in self._basis_deltas(pm, names, probs, out[:, :len(pm.face_index)], keys):
            out[i] = d
        return [n for n, _ in codes], out

    # ------------------------------------------------------------------------------------- retarget
    @_one_blas_thread
    def retarget(self, source_frames, source_neutral_pm: PreparedMesh, target_pm: PreparedMesh, *,
                 positions: bool = False, progress=None, batch: int = 32) -> dict:
        """Clone an animation from a source mesh onto a target mesh.

        Args:
            source_frames: (T, N_s, 3) posed source positions (same frame/units as the source neutral).
            source_neutral_pm: prepared source neutral (N_s vertices).
            target_pm: prepared target neutral (N_t vertices).
            positions: also decode the target's posed positions.
            progress: optional callable ``progress(done, total)`` called after each batch (total = T, or 2 T
                when positions are decoded); returning False stops and raises ``Cancelled``.
            batch: frames per encoder/decoder batch.
        Returns:
            dict with 'facs' (T, 53) float32 ICT FACS weights, 'z_ge' (T, Z) float32 codes, and with
            ``positions=True`` 'positions' (T, N_t, 3) float64 target positions (target's frame and units).
        """
        self._check_pm(source_neutral_pm, "source_neutral_pm")
        self._check_pm(target_pm, "target_pm")
        frames = np.asarray(source_frames)
        if frames.ndim != 3 or frames.shape[1:] != (source_neutral_pm.n_verts, 3):
            raise ValueError(f"source_frames must have shape (T, {source_neutral_pm.n_verts}, 3), got {frames.shape}")
        t = frames.shape[0]
        total = 2 * t if positions else t
        batch = max(1, int(batch))

        def tick(done):
            if progress is not None and progress(done, total) is False:
                raise Cancelled("retarget cancelled")

        z = np.empty((t, self.config.z_dim), F32)
        for s in range(0, t, batch):
            z[s:s + batch] = self.expression(frames[s:s + batch], source_neutral_pm, batch=batch)
            tick(min(t, s + batch))
        out = {"facs": z[:, :len(ICT_NAMES)].copy(), "z_ge": z}
        if positions:
            pos = np.empty((t, target_pm.n_verts, 3))
            for s in range(0, t, batch):
                pos[s:s + batch] = self.decode(target_pm, z[s:s + batch])
                tick(t + min(t, s + batch))
            out["positions"] = pos
        return out
