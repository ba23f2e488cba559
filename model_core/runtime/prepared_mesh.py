"""``PreparedMesh``: what the model needs of a neutral mesh, and ``build_prepared_mesh``, which computes it from the
geometry alone (no weights): the welded islands and the face piece (``mesh_checks``), consistent winding, the face
island's canonical frame (``frames``), its proxy and spectral operator (``proxy``), normals, and the k-NN maps
of the other vertices. ``Model.prepare`` (``model_prepare.py``) validates the input and caches the result.

Shapes: N vertices, Nf in the face island, No = N - Nf others, P proxy vertices (see ``PreparedMesh``).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from . import mesh_checks, neck, orientation
from .config import ModelConfig
from .frames import Normalization, axes_to_ict, axis_key, axis_vector, canonical_normalization
from .mesh import connected_components, face_areas, face_normals, vertex_normals
from .proxy import Proxy, build_proxy, knn_weights, neutral_features

F32 = np.float32
MIN_FACE_VERTICES = 20        # fewer vertices in the face island cannot be a face mesh
_DEGENERATE_REL = 1e-12       # a face with area <= this * bbox_diagonal^2 is dropped for the operator
_MAX_SPAN = 1e100             # a mesh wider than this (or narrower than its inverse) cannot be computed with


@dataclass(eq=False)
class PreparedMesh:
    """A mesh made ready for the model (``Model.prepare``); treat as read-only.

    Attributes (N vertices, Nf of them in the face island, No = N - Nf others, P proxy vertices):
        verts: (N, 3) float64 positions, caller frame and units (a copy).
        faces: (F, 3) int64 triangles as given (after triangulating polygons).
        up, forward: the axis names used (the caller's, or those found from the face's shape when the caller's
            clearly disagree with it: ``runtime/orientation.py``, reported in ``warnings``);
            other_islands: 'follow' or 'static'.
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
    face_weld: np.ndarray | None = None      # (Nf,) int64 group of each face vertex when some share a position (UV
                                             # seams) or an open seam (``weld_open_seams``); None: all apart
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

    @property
    def following(self) -> np.ndarray:
        """(R,) int64 rows of ``other_index`` whose vertices move with the face: all with ``other_follow`` > 0
        when ``other_islands`` is 'follow' (a floor or a second head has 0), none when it is 'static'."""
        if self.other_islands != "follow":
            return np.zeros(0, np.int64)
        if self.other_follow is None:
            return np.arange(len(self.other_index))
        return np.flatnonzero(self.other_follow > 0)

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


ORIENT_MIN_SHARE = 0.3   # the orientation check runs when the face piece holds this share of the vertices or more
                         # (a mesh in 316 pieces whose largest is 8 % of it was turned on the shape of that piece)


def build_prepared_mesh(v_in, f, up, forward, other_islands, key, cfg: ModelConfig,
                        find_axes: bool = False) -> PreparedMesh:
    """The ``PreparedMesh`` of a validated mesh: v_in (N, 3) float64 caller positions, f (F, 3) int64 triangles,
    the caller's axis keys, ``other_islands``, the cache ``key``, and the model's ``cfg`` (proxy size, eigenpairs,
    k-NN). ``find_axes``: check the axes against the face's shape (``runtime/orientation.py``) and build in the
    frame it finds when that fits clearly better (``build_turned``). Raises ValueError for meshes that cannot be a
    face (see ``Model.prepare``)."""
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
    # islands on the mesh welded by exact position (split UV seams stay one piece), and open seams closed (two
    # halves of a face modelled apart, never merged: ``mesh_checks.SEAM_WELD``)
    weld = mesh_checks.seam_labels(v, fg)
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
    cut = neck.neck_cut(cn)
    if cut is not None:            # shoulders or a body below the neck: the model reads the head above it
        kept = _above_neck(cn, faces_f, cut, ag[face_label == main])
        if kept is not None:
            n_piece = len(face_index)
            ff_global = ff_global[kept]
            face_index, local = np.unique(ff_global, return_inverse=True)
            warnings.append(f"the face piece goes on below the neck (shoulders or a body): the model reads the "
                            f"{len(face_index)} vertices above the neck's base, and the {n_piece - len(face_index)} "
                            f"below move with the skin above them, like other pieces")
            faces_f = np.asarray(local).reshape(-1, 3).astype(np.int64)
            vf = v[face_index]
            nz = canonical_normalization(vf, faces_f, up=up, forward=forward)
            cn = nz.apply(vf)
    problem = mesh_checks.half_problem(cn, faces_f)
    if problem:
        raise ValueError(f"mesh: {problem}")
    nz_shift = nz                                         # on the recentred coordinates
    nz = replace(nz, center=nz.center + shift)            # the caller's frame (reported; vectors alike)
    flipped = is_inward(cn, faces_f)
    if flipped:
        faces_f = faces_f[:, [0, 2, 1]]
    proxy = build_proxy(cn, faces_f, target=cfg.proxy_target, k_eig=cfg.k_eig, knn=cfg.knn)
    if proxy.n < 4 or len(proxy.evals) < 1:
        raise ValueError(f"mesh: its face surface reduces to {proxy.n} proxy vertices; it is too small or "
                         f"degenerate to be a face")
    if not (np.isfinite(proxy.evecs).all() and np.isfinite(proxy.evals).all()):
        raise RuntimeError("the spectral operator of this mesh is not finite; check for degenerate faces")
    if find_axes and len(face_index) >= ORIENT_MIN_SHARE * n:    # a face piece that is a small part of a
        found = orientation.find_rotation(proxy.verts, proxy.normals)   # fragmented mesh cannot tell
        if found.changed:     # the face's shape says another way: build again in the frame it says
            return build_turned(v_in, f, up, forward, other_islands, key, cfg, found)
    nrm = vertex_normals(cn, faces_f)
    wid, winv = np.unique(weld[face_index], return_inverse=True)
    face_weld = None
    if len(wid) < len(face_index):   # split vertices (UV seams, triangle soup): smooth normals across them
        winv = face_weld = np.asarray(winv).ravel()
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
        warnings=tuple(warnings), reversed_faces=int(n_rev), face_weld=face_weld)


def _above_neck(cn: np.ndarray, faces: np.ndarray, cut: float, areas: np.ndarray) -> np.ndarray | None:
    """(F,) bool: the face piece's triangles (faces (F, 3) into cn (N, 3) canonical positions, areas (F,)) with
    every corner above the height ``cut`` (``neck.neck_height``) and in the largest piece they make by area; None
    when that piece has fewer than ``MIN_FACE_VERTICES`` vertices (the cut is not used)."""
    above = (neck.neck_height(cn)[faces] >= cut).all(axis=1)
    if not above.any():
        return None
    lab = connected_components(len(cn), faces[above])
    tri_lab = lab[faces[above, 0]]
    main = int(np.argmax(np.bincount(tri_lab, weights=areas[above])))
    keep = np.zeros(len(faces), bool)
    keep[np.nonzero(above)[0][tri_lab == main]] = True
    if len(np.unique(faces[keep])) < MIN_FACE_VERTICES:
        return None
    return keep


def build_turned(v_in, f, up, forward, other_islands, key, cfg: ModelConfig, found) -> PreparedMesh:
    """``build_prepared_mesh`` in the frame ``found`` (``orientation.find_rotation``) says the face is in, with a
    warning naming it; vectors still come back in the caller's frame (``Normalization.invert_vectors``)."""
    axes = found.rotation @ axes_to_ict(up, forward)          # rows: the face's left, up, forward (caller frame)
    new_up, new_forward = orientation.axis_name(axes[1]), orientation.axis_name(axes[2])
    pm = build_prepared_mesh(v_in, f, axis_key(new_up), axis_key(new_forward), other_islands, key, cfg)
    given_up, given_forward = orientation.axis_name(axis_vector(up)), orientation.axis_name(axis_vector(forward))
    note = (f"the face looks toward {new_forward} with {new_up} up (found from its shape), not toward "
            f"{given_forward} with {given_up} up as given; used {new_forward} forward, {new_up} up. Set the "
            f"face's axes to match (Blender: 'Face looks toward'; command line: --forward / --up) or rotate the "
            f"mesh")
    return replace(pm, warnings=pm.warnings + (note,))


def is_inward(cn: np.ndarray, faces: np.ndarray) -> bool:
    """True when the face island's normals point inward: the signed volume swept from the area centroid
    (the canonical origin) is negative; for a nearly flat patch (|volume| tiny) the mean normal's forward
    (+Z canonical) component decides."""
    fn = face_normals(cn, faces, normalize=False)            # (F, 3), length 2 * area
    vol = float((cn[faces].mean(axis=1) * fn).sum()) / 6.0
    if abs(vol) > 1e-3:
        return vol < 0
    return float(fn[:, 2].sum()) < 0
