"""Cross-topology training meshes: the same ICT face surface with other tessellations.

Every generated mesh is a :class:`Topology`: its own triangles plus, for every one of its vertices, an exact
barycentric map ``(src_face, bary)`` into the triangles of an ICT crop (``ICTModel.crop_faces(crop)``). A vertex
always lies ON the template surface, so any identity or expression of the ICT model transfers exactly::

    topo.positions(ict.head(id_coeffs, facs, crop=topo.crop)[0])   # (N, 3) cm, exact ground truth

Generators (numpy + scipy only; ``kind`` names them):

- ``ict``      the crop's own triangles (bary one-hot; the identity map).
- ``flip``     ICT's vertices re-triangulated: each quad gets a random diagonal, then random edge flips.
- ``voronoi``  isotropic remeshing, ACVD-style: the crop is subdivided into a dense exact lattice, random
               area-weighted seeds are relaxed by Lloyd steps (k-d tree nearest seed), every seed cell is split
               into its surface-connected pieces (so cells never bridge lips or eyelids), a cell's vertex is its
               area centroid snapped to the closest point of the cell's own dense triangles (boundary cells:
               the closest point of their boundary edges, keeping the outline), and the faces are the dense
               triangles whose corners fall in three different cells (the dual of the clustering).
- ``aniso``    the same with a stretched metric along a random direction (elongated triangles).
- ``decimate`` the same with a curvature-adaptive density (dense around eyes, nose, lips; coarse elsewhere),
               like an artist's or QEM-decimated mesh.
- ``subdiv``   midpoint subdivision, each triangle split into s*s (s = 2, 3): of the ICT crop itself (exact,
               in-face; kind "subdiv2-ict") when s*s*crop size fits the target, else of a coarser ``voronoi``
               mesh (>= 2500 vertices) with the new vertices projected to the closest template point among the
               faces within k template rings of their parent vertex's source face (no jumps across lips/lids),
               and new vertices on a boundary edge projected onto the template's boundary arc between its ends.

Every generator ends in the same cleanup: drop degenerate/duplicate faces, faces of area < ``MIN_FACE_AREA``,
faces whose normal disagrees with the template (neither the interpolated vertex normals nor the source-face
normals within ~87 deg), faces on non-manifold edges or inconsistently oriented pairs; keep the largest
component; close small holes that the cleanup opened (boundary loops of <= 12 edges not lying on the template's
boundary) by a fan if it agrees with the template, else by collapsing a loop edge. Remaining holes (measured by
:func:`topology_stats`): template folds at the mouth corners and, at ~1k vertices, ears and nostrils.
Optionally random edge flips are applied on top (``kind`` gets a ``+flips`` suffix). Generated vertices of
voronoi/aniso/decimate/subdiv (projected) lie away from ICT's vertex positions (< 3 % coincide);
``flip`` keeps ICT's vertices, "subdiv2-ict" keeps them as a quarter of its vertices.

Units: centimetres, ICT axes (Y up, face toward +Z). Training-side module, not shipped in the add-on: building
topologies needs scipy (imported lazily), while ``Topology``, loading a cached ``TopologyBank`` and the sampler
need numpy only.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..runtime.correspond import closest_point_triangles
from ..runtime.mesh import (argmin_per_group, barycentric_combine, barycentric_interpolate, boundary_loops,
                   closest_point_segments, edge_table, face_areas, face_normals, half_edges, interior_halves,
                   mesh_hash, nondegenerate, normalize_rows, referenced_renumbering, remove_unreferenced, triangle_keys,
                   unit_rows, vertex_areas, vertex_normals)
from .ict import CROPS, ICTModel, crop_sizes

__all__ = ["Topology", "TopologyBank", "random_topology", "ict_topology", "crop_topology", "make_topology",
           "remesh_mesh", "topology_stats", "default_cache_dir", "KINDS", "DEFAULT_SIZES", "MIN_FACE_AREA", "VERSION"]

KINDS = ("ict", "flip", "voronoi", "aniso", "decimate", "subdiv")
GENERATED_KINDS = ("flip", "voronoi", "aniso", "decimate", "subdiv")
MIN_FACE_AREA = 1e-7  # cm^2; faces below are dropped by the cleanup (spec: > 1e-10)
MIN_NORMAL_DOT = 0.05  # faces whose normal is not within ~87 deg of the template normal are dropped
N_MIN, N_MAX = 200, 60000
SUBDIV_MIN_BASE = 2500  # smallest base mesh of projected subdivision (random_topology offers "subdiv" from 4x this)
VERSION = 4  # bump when a generator changes: invalidates bank caches


# ----------------------------------------------------------------------------------------------------------
# Topology
# ----------------------------------------------------------------------------------------------------------
@dataclass(eq=False)
class Topology:
    """A tessellation of an ICT crop's surface with an exact barycentric map back to the crop's triangles.

    Attributes:
        crop: ICT crop name ("full", "face", "narrow").
        faces: (M, 3) int64 triangles of this topology, counter-clockwise seen from outside (as ICT).
        src_face: (N,) int64 index into ``ict.crop_faces(crop)`` of the template triangle holding each vertex.
        bary: (N, 3) float64 barycentric weights (>= 0, sum 1) in that triangle.
        kind: generator name (see module doc), e.g. "voronoi" or "voronoi+flips".
        seed: the integer seed the generator ran with.
        corners: (N, 3) int64 crop vertex indices of the source triangles (``crop_faces[src_face]``); filled
            from the default ICT data when omitted.
    """
    crop: str
    faces: np.ndarray
    src_face: np.ndarray
    bary: np.ndarray
    kind: str
    seed: int
    corners: np.ndarray | None = None
    _key: str | None = field(default=None, repr=False)

    def __post_init__(self):
        crop_sizes(self.crop)
        self.faces = np.ascontiguousarray(self.faces, dtype=np.int64)
        self.src_face = np.ascontiguousarray(self.src_face, dtype=np.int64)
        self.bary = np.ascontiguousarray(self.bary, dtype=np.float64)
        n = self.src_face.shape[0]
        if self.faces.ndim != 2 or self.faces.shape[1] != 3 or len(self.faces) == 0:
            raise ValueError(f"Topology.faces must have shape (M, 3) with M > 0, got {self.faces.shape}")
        if self.src_face.ndim != 1 or self.bary.shape != (n, 3):
            raise ValueError(f"Topology: src_face must be (N,) and bary (N, 3); got {self.src_face.shape} and "
                             f"{self.bary.shape}")
        if self.faces.min() < 0 or self.faces.max() >= n:
            raise ValueError(f"Topology.faces index vertices outside 0..{n - 1}")
        if not np.isfinite(self.bary).all():
            raise ValueError("Topology.bary contains NaN or infinite values")
        if self.corners is None:
            from .ict import load_ict
            self.corners = load_ict().crop_faces(self.crop)[self.src_face]
        self.corners = np.ascontiguousarray(self.corners, dtype=np.int64)
        if self.corners.shape != (n, 3):
            raise ValueError(f"Topology.corners must have shape ({n}, 3), got {self.corners.shape}")

    @property
    def n_verts(self) -> int:
        """Number of vertices N."""
        return int(self.src_face.shape[0])

    @property
    def n_faces(self) -> int:
        return int(self.faces.shape[0])

    @property
    def key(self) -> str:
        """Content hash (16 hex chars) of crop, faces and the barycentric map."""
        if self._key is None:
            self._key = mesh_hash(np.frombuffer(self.crop.encode(), np.uint8), self.faces, self.src_face, self.bary)
        return self._key

    def positions(self, ict_crop_verts) -> np.ndarray:
        """Positions of this topology's vertices on a posed/identity ICT crop.

        Args:
            ict_crop_verts: (n, 3) or (..., n, 3) vertices of the ICT crop (n = ``CROPS[crop][0]``), cm.
        Returns:
            (N, 3) or (..., N, 3) float64 = barycentric interpolation in the mapped template triangles.
        """
        v = np.asarray(ict_crop_verts)
        n = crop_sizes(self.crop)[0]
        if v.ndim < 2 or v.shape[-2:] != (n, 3):
            raise ValueError(f"positions() needs ICT '{self.crop}' crop vertices of shape (..., {n}, 3), "
                             f"got {v.shape}")
        v = v.astype(np.float64, copy=False)
        return barycentric_combine(v[..., self.corners, :], self.bary)

    def labels(self, ict_crop_labels) -> np.ndarray:
        """Per-vertex labels (N,) int64: the label of the source-triangle corner with the largest weight.

        Args:
            ict_crop_labels: (n,) labels of the crop's vertices (longer arrays, e.g. full-head labels for the
                "face" crop, are cut to the crop's first n vertices, which is how ICT crops nest).
        """
        lab = np.asarray(ict_crop_labels)
        n = crop_sizes(self.crop)[0]
        if lab.ndim != 1 or lab.shape[0] < n:
            raise ValueError(f"labels() needs (n,) crop labels with n >= {n} for crop '{self.crop}', got {lab.shape}")
        best = self.corners[np.arange(self.n_verts), np.argmax(self.bary, axis=1)]
        return lab[best].astype(np.int64)

    def to_arrays(self, prefix: str = "") -> dict:
        """Arrays for ``np.savez`` (see :meth:`from_arrays`)."""
        return {prefix + "faces": self.faces, prefix + "src_face": self.src_face, prefix + "bary": self.bary,
                prefix + "corners": self.corners,
                prefix + "meta": np.frombuffer(json.dumps({"crop": self.crop, "kind": self.kind,
                                                           "seed": int(self.seed)}).encode(), np.uint8)}

    @classmethod
    def from_arrays(cls, d, prefix: str = "") -> "Topology":
        meta = json.loads(bytes(np.asarray(d[prefix + "meta"], np.uint8)).decode())
        return cls(crop=meta["crop"], faces=d[prefix + "faces"], src_face=d[prefix + "src_face"],
                   bary=d[prefix + "bary"], kind=meta["kind"], seed=int(meta["seed"]), corners=d[prefix + "corners"])


# ----------------------------------------------------------------------------------------------------------
# quality numbers
# ----------------------------------------------------------------------------------------------------------
def topology_stats(topo: Topology, ict: ICTModel) -> dict:
    """Quality numbers of a topology on the neutral template: counts, area ratio, components, orientation,
    smallest face area, boundary loops (``holes``: loops not on the template's boundary), non-manifold edges,
    fraction of vertices sitting on an ICT vertex (for tests, benchmarks, reports)."""
    from scipy.sparse import csgraph
    tpl = _template(ict, topo.crop)
    p = topo.positions(tpl.v)
    a = face_areas(p, topo.faces)
    tn = tpl.normals(topo.src_face, topo.bary)
    fn = face_normals(p, topo.faces)
    tnf = unit_rows(tn[topo.faces].sum(1))
    _, _, cnt, _ = edge_table(topo.faces)
    cc = csgraph.connected_components(_adjacency(topo.n_verts, topo.faces), directed=False)[0]
    loops = boundary_loops(topo.faces)
    onb = tpl.on_boundary(topo.src_face, topo.bary)
    e = half_edges(topo.faces)
    el = np.linalg.norm(p[e[:, 0]] - p[e[:, 1]], axis=1)
    return {"kind": topo.kind, "crop": topo.crop, "n_verts": topo.n_verts, "n_faces": topo.n_faces,
            "area_ratio": float(a.sum() / face_areas(tpl.v, tpl.f).sum()), "components": int(cc),
            "min_area": float(a.min()), "orient_ok": float((np.einsum("ij,ij->i", fn, tnf) > 0).mean()),
            "boundary_loops": len(loops), "holes": int(sum(onb[lp].mean() < 0.5 for lp in loops)),
            "nonmanifold_edges": int((cnt > 2).sum()), "mean_edge": float(el.mean()),
            "at_ict_vertex": float((topo.bary.max(1) > 1 - 1e-9).mean())}


def _adjacency(n: int, faces: np.ndarray):
    from scipy import sparse
    e = half_edges(faces)
    return sparse.coo_matrix((np.ones(len(e), np.int8), (e[:, 0], e[:, 1])), shape=(n, n)).tocsr()


# ----------------------------------------------------------------------------------------------------------
# the template of a crop
# ----------------------------------------------------------------------------------------------------------
class _Template:
    """Neutral crop surface, its normals and a ring-restricted closest-point locator."""

    def __init__(self, ict: ICTModel, crop: str):
        from scipy import sparse
        crop_sizes(crop)
        self.crop = crop
        self.v = ict.identity_verts(None, crop)
        self.f = ict.crop_faces(crop)
        self.vn = vertex_normals(self.v, self.f)
        nf = len(self.f)
        inc = sparse.coo_matrix((np.ones(3 * nf, np.int8), (np.repeat(np.arange(nf), 3), self.f.ravel())),
                                shape=(nf, len(self.v))).tocsr()
        self.face_adj = (inc @ inc.T).tocsr().astype(bool)  # faces sharing a vertex (incl. itself)
        e = self.v[self.f[:, [1, 2, 0]]] - self.v[self.f]
        self.face_edge = np.linalg.norm(e, axis=2).mean(1)
        self.fn = face_normals(self.v, self.f)
        inv, _, cnt, _ = edge_table(self.f)
        self.face_bnd = (cnt[inv] == 1).reshape(3, nf).T  # (F, 3): local edge (k, k+1) is on the boundary

    def on_boundary(self, src_face, bary, tol: float = 1e-9):
        """(M,) bool: the point lies on a boundary edge of the template."""
        out = np.zeros(len(src_face), bool)
        for k in range(3):
            out |= self.face_bnd[src_face, k] & (bary[:, (k + 2) % 3] < tol)
        return out

    def points(self, src_face, bary):
        return barycentric_interpolate(self.v, self.f, src_face, bary)

    def _loops(self):
        """Boundary loops: per boundary half-edge (face, slot k: corners k -> k+1) its (loop, position)."""
        if not hasattr(self, "_loop_data"):
            loops = boundary_loops(self.f)
            pos = {}
            for li, lp in enumerate(loops):
                for i in range(len(lp)):
                    pos[(int(lp[i]), int(lp[(i + 1) % len(lp)]))] = (li, i)
            where = {}
            for fi, k in zip(*np.nonzero(self.face_bnd)):
                a, b = int(self.f[fi, k]), int(self.f[fi, (k + 1) % 3])
                if (a, b) in pos:
                    li, i = pos[(a, b)]
                    where[(li, i)] = (int(fi), int(k))
            self._loop_data = (loops, pos, where)
        return self._loop_data

    def arc_position(self, src_face, bary):
        """(loop id, arc parameter i + t) of points on the template boundary; (-1, nan) for other points."""
        loops, pos, _ = self._loops()
        li = -np.ones(len(src_face), np.int64)
        arc = np.full(len(src_face), np.nan)
        for k in range(3):
            on = self.face_bnd[src_face, k] & (bary[:, (k + 2) % 3] < 1e-9) & (li < 0)
            for j in np.flatnonzero(on):
                a, b = int(self.f[src_face[j], k]), int(self.f[src_face[j], (k + 1) % 3])
                lid, i = pos[(a, b)]
                li[j], arc[j] = lid, i + bary[j, (k + 1) % 3]
        return li, arc

    def project_boundary(self, q, loop_id, arc_a, arc_b):
        """Closest point to each query on the template boundary arc of loop ``loop_id`` between arc
        parameters ``arc_a`` and ``arc_b`` (the shorter way round). Returns (src_face, bary)."""
        loops, _, where = self._loops()
        out_f = np.empty(len(q), np.int64)
        out_b = np.zeros((len(q), 3))
        for j in range(len(q)):
            lp = loops[int(loop_id[j])]
            m = len(lp)
            a, b = float(arc_a[j]), float(arc_b[j])
            d = (b - a) % m
            if d > m / 2:
                a, d = b, m - d
            idx = (int(np.floor(a)) + np.arange(int(np.ceil(d)) + 2) - 1) % m
            pa, pb = self.v[lp[idx]], self.v[lp[(idx + 1) % m]]
            t, d2 = closest_point_segments(np.broadcast_to(q[j], pa.shape), pa, pb)
            i = int(np.argmin(d2))
            fi, k = where[(int(loop_id[j]), int(idx[i]))]
            out_f[j] = fi
            out_b[j, k], out_b[j, (k + 1) % 3] = 1 - t[i], t[i]
        return out_f, out_b

    def normals(self, src_face, bary):
        n = barycentric_interpolate(self.vn, self.f, src_face, bary)
        return unit_rows(n)

    def project(self, q, hint_face, max_rings: int = 48, budget: int = 3_000_000):
        """Closest template point to each query among the faces within k rings of ``hint_face`` (k grows with
        the distance to the hint in local edge lengths), so points never jump to another sheet (lips, lids)
        that is not near the hint along the surface.
        Returns (src_face (M,), bary (M, 3), distance (M,))."""
        from scipy import sparse
        q = np.asarray(q, np.float64)
        hint_face = np.asarray(hint_face, np.int64)
        d0 = np.linalg.norm(q - self.v[self.f[hint_face]].mean(1), axis=1)
        rings = np.clip(np.ceil(1.5 * d0 / np.maximum(self.face_edge[hint_face], 1e-6)) + 1, 1, max_rings).astype(int)
        out_f = np.empty(len(q), np.int64)
        out_b = np.empty((len(q), 3))
        out_d = np.empty(len(q))
        for k in np.unique(rings):
            idx_k = np.flatnonzero(rings == k)
            chunk = max(16, budget // (12 * k * k + 12))
            for s in range(0, len(idx_k), chunk):
                idx = idx_k[s:s + chunk]
                m = sparse.csr_matrix((np.ones(len(idx), bool), (np.arange(len(idx)), hint_face[idx])),
                                      shape=(len(idx), len(self.f)))
                for _ in range(k):
                    m = (m @ self.face_adj).astype(bool)
                m = m.tocsr()
                m.sort_indices()
                rows = np.repeat(np.arange(len(idx)), np.diff(m.indptr))
                cand = m.indices
                tri = self.f[cand]
                b, d2 = closest_point_triangles(q[idx][rows], self.v[tri[:, 0]], self.v[tri[:, 1]], self.v[tri[:, 2]])
                best = argmin_per_group(rows, d2, len(idx))
                out_f[idx], out_b[idx], out_d[idx] = cand[best], b[best], np.sqrt(d2[best])
        return out_f, out_b, out_d


# ----------------------------------------------------------------------------------------------------------
# lattice subdivision (exact in-face)
# ----------------------------------------------------------------------------------------------------------
def _lattice(s: int):
    """Lattice points (P, 2) (i, j) with i + j <= s, their bary (P, 3) and local sub-triangles (s*s, 3)."""
    pts = [(i, j) for i in range(s + 1) for j in range(s + 1 - i)]
    index = {p: k for k, p in enumerate(pts)}
    tris = []
    for i in range(s):
        for j in range(s - i):
            tris.append((index[(i, j)], index[(i + 1, j)], index[(i, j + 1)]))
            if i + j <= s - 2:
                tris.append((index[(i + 1, j)], index[(i + 1, j + 1)], index[(i, j + 1)]))
    pts = np.asarray(pts, np.int64)
    bary = np.stack([s - pts[:, 0] - pts[:, 1], pts[:, 0], pts[:, 1]], 1).astype(np.float64) / s
    return pts, bary, np.asarray(tris, np.int64)


def _lattice_subdivide(n_verts: int, faces: np.ndarray, s: int):
    """Split every triangle into s*s, sharing the new edge vertices between neighbours.

    Returns (parent (Nn,) face holding each new vertex, lat (Nn, 3) bary in it, new faces (F*s*s, 3),
    tri_parent (F*s*s,), tri_lat (F*s*s, 3, 3) bary of each new triangle's corners in its parent face).
    The first ``n_verts`` new vertices are the old ones (one-hot bary).
    """
    faces = np.asarray(faces, np.int64)
    nf = len(faces)
    pts, lb, ltri = _lattice(s)
    w = np.rint(lb * s).astype(np.int64)  # (P, 3) integer weights
    n_p = len(pts)
    # global ids (F, P)
    ids = np.empty((nf, n_p), np.int64)
    einv, edges, _, _ = edge_table(faces)
    einv = einv.reshape(3, nf).T  # (F, 3): undirected edge id of local edge k (corners k -> k + 1)
    n_e = len(edges)
    n_int = (s - 1) * (s - 2) // 2
    base_int = n_verts + n_e * (s - 1)
    int_counter = 0
    for p in range(n_p):
        nz = w[p] > 0
        if nz.sum() == 1:
            ids[:, p] = faces[:, int(np.argmax(w[p]))]
        elif nz.sum() == 2:
            k0, k1 = [k for k in range(3) if nz[k]]
            # local edges: 0 -> (c0, c1), 1 -> (c1, c2), 2 -> (c2, c0)
            if (k0, k1) == (0, 1):
                le, a, b = 0, 0, 1
            elif (k0, k1) == (1, 2):
                le, a, b = 1, 1, 2
            else:
                le, a, b = 2, 2, 0
            va, vb = faces[:, a], faces[:, b]
            m = np.where(vb > va, w[p, b], w[p, a])  # weight of the larger-index endpoint
            ids[:, p] = n_verts + einv[:, le] * (s - 1) + (m - 1)
        else:
            ids[:, p] = base_int + np.arange(nf) * n_int + int_counter
            int_counter += 1
    n_new = base_int + nf * n_int
    winner = np.empty(n_new, np.int64)
    flat = ids.ravel()
    winner[flat] = np.arange(flat.size)
    parent = winner // n_p
    lat = lb[winner % n_p]
    new_faces = ids[:, ltri].reshape(-1, 3)
    tri_parent = np.repeat(np.arange(nf), len(ltri))
    tri_lat = np.broadcast_to(lb[ltri], (nf, len(ltri), 3, 3)).reshape(-1, 3, 3)
    return parent, lat, new_faces, tri_parent, tri_lat


# ----------------------------------------------------------------------------------------------------------
# cleanup
# ----------------------------------------------------------------------------------------------------------
def _face_ok(p, ref_a, ref_b, tri, min_dot=MIN_NORMAL_DOT, min_area=MIN_FACE_AREA):
    """Faces (T, 3) with area > min_area whose normal agrees (dot > min_dot) with the template normal
    (interpolated vertex normals ``ref_a`` summed over the corners) or with the source-face normals
    (``ref_b`` summed), the latter so that exact in-face pieces of ICT's own slivers are never dropped."""
    n = np.cross(p[tri[:, 1]] - p[tri[:, 0]], p[tri[:, 2]] - p[tri[:, 0]])
    a2 = np.linalg.norm(n, axis=1)
    ok = np.zeros(len(tri), bool)
    for ref in (ref_a, ref_b):
        t = ref[tri].sum(1)
        dot = np.einsum("ij,ij->i", n, t) / np.maximum(a2 * np.linalg.norm(t, axis=1), 1e-30)
        ok |= dot > min_dot
    return ok & (0.5 * a2 > min_area), 0.5 * a2


def _clean(p, ref_a, ref_b, faces, on_bnd, *, max_hole: int = 12):
    """Clean a triangle soup of remapped faces into a single manifold-ish oriented island.

    Args:
        p: (N, 3) vertex positions on the neutral template.
        ref_a, ref_b: (N, 3) template vertex normals interpolated at the vertices / normals of their source faces.
        faces: (F, 3) candidate triangles.
        on_bnd: (N,) bool, vertex lies on the template's boundary (loops made mostly of these are kept open).
        max_hole: largest other boundary loop (in edges) that is closed, by a fan when the fan agrees with the
            template, else by merging the loop's vertices into one of them.
    Returns:
        faces (F', 3) int64 (vertices still indexed into p; unreferenced ones are dropped by the caller).
    """
    from scipy.sparse import csgraph
    f = np.asarray(faces, np.int64)
    tried = set()
    for _ in range(40):
        f = f[nondegenerate(f)]
        _, first = np.unique(triangle_keys(f, len(p)), return_index=True)
        f = f[np.sort(first)]
        ok, area = _face_ok(p, ref_a, ref_b, f)
        f, area = f[ok], area[ok]
        # non-manifold edges (> 2 faces) and inconsistently oriented pairs (same directed half-edge twice)
        inv, edges, cnt, he = edge_table(f)
        _, hinv, hcnt = np.unique(he[:, 0] * len(p) + he[:, 1], return_inverse=True, return_counts=True)
        bad_he = (cnt[inv] > 2) | (hcnt[hinv.ravel()] > 1)
        if bad_he.any():
            fidx = np.tile(np.arange(len(f)), 3)
            bad_idx = np.flatnonzero(bad_he)
            # on each bad edge drop its smallest face (then iterate)
            w = argmin_per_group(inv[bad_idx], area[fidx[bad_idx]], len(edges))
            keep = np.ones(len(f), bool)
            keep[fidx[bad_idx[w[w >= 0]]]] = False
            f = f[keep]
            continue
        # largest component (vertex-connected through edges)
        n_c, lab = csgraph.connected_components(_adjacency(len(p), f), directed=False)
        fl = lab[f[:, 0]]
        big = np.argmax(np.bincount(fl))
        if n_c > 1 and (fl != big).any():
            f = f[fl == big]
            continue
        changed = False
        for loop in boundary_loops(f):
            key = tuple(sorted(loop.tolist()))
            if len(loop) > max_hole or on_bnd[loop].mean() >= 0.5 or key in tried:
                continue
            tried.add(key)
            nf = _close_hole(p, ref_a, ref_b, f, loop)
            if nf is not None:
                f, changed = nf, True
        if not changed:
            break
    return f


def _close_hole(p, ref_a, ref_b, f, loop):
    """Faces with the hole ``loop`` closed (or shrunk), or None. A fan from the first loop vertex whose fan
    agrees with the template; else one loop vertex merged into a loop neighbour (an edge collapse) such that
    every face touched stays valid (the caller then retries the smaller hole)."""
    lp = loop[::-1]  # boundary half-edges run along existing faces; filling faces run the other way
    for start in range(len(lp)):
        r = np.roll(lp, -start)
        tri = np.stack([np.full(len(r) - 2, r[0]), r[1:-1], r[2:]], 1)
        ok, _ = _face_ok(p, ref_a, ref_b, tri, min_dot=0.2, min_area=2 * MIN_FACE_AREA)
        if ok.all():
            return np.concatenate([f, tri])
    existing = None
    for i in range(len(loop)):
        for a, b in ((loop[i], loop[(i + 1) % len(loop)]), (loop[(i + 1) % len(loop)], loop[i])):
            touched = (f == a).any(1)
            g = f[touched].copy()
            g[g == a] = b
            g = g[nondegenerate(g)]
            ok, _ = _face_ok(p, ref_a, ref_b, g, min_dot=0.2, min_area=2 * MIN_FACE_AREA)
            if not (len(g) and ok.all()):
                continue
            if existing is None:
                existing = triangle_keys(f, len(p))
            if np.isin(triangle_keys(g, len(p)), existing).any():
                continue
            return np.concatenate([f[~touched], g])
    return None


def _finish(tpl: _Template, src_face, bary, faces, kind: str, seed: int) -> Topology:
    """Clean, drop unreferenced vertices, renumber, build the Topology."""
    src_face = np.asarray(src_face, np.int64)
    bary = normalize_rows(np.clip(np.asarray(bary, np.float64), 0.0, None))
    p = tpl.points(src_face, bary)
    ref_a = tpl.normals(src_face, bary)
    ref_b = tpl.fn[src_face]
    f = _clean(p, ref_a, ref_b, faces, tpl.on_boundary(src_face, bary))
    kept, remap = referenced_renumbering(f, len(src_face))
    return Topology(crop=tpl.crop, faces=remap[f], src_face=src_face[kept], bary=bary[kept], kind=kind,
                    seed=int(seed), corners=tpl.f[src_face[kept]])


# ----------------------------------------------------------------------------------------------------------
# generators
# ----------------------------------------------------------------------------------------------------------
def ict_topology(ict: ICTModel, crop: str) -> Topology:
    """The ICT crop's own triangulation as a Topology (kind "ict", one-hot bary, vertex i = crop vertex i)."""
    n, _ = crop_sizes(crop)
    f = ict.crop_faces(crop)
    winner = np.empty(n, np.int64)  # one (face, slot) per vertex, the same pick for both arrays
    winner[f.ravel()] = np.arange(f.size)
    src, slot = winner // 3, winner % 3
    bary = np.zeros((n, 3))
    bary[np.arange(n), slot] = 1.0
    return Topology(crop=crop, faces=f.copy(), src_face=src, bary=bary, kind="ict", seed=0, corners=f[src])


def crop_topology(topo: Topology, keep: np.ndarray, kind_suffix: str = "+crop") -> Topology:
    """The part of a topology on the vertices ``keep`` (N,) bool: its triangles with all three corners kept,
    vertices renumbered in order, those left without a triangle dropped; same crop, exact barycentric map.
    Raises ValueError when no triangle is left."""
    keep = np.asarray(keep, dtype=bool)
    if keep.shape != (topo.n_verts,):
        raise ValueError(f"keep must have shape ({topo.n_verts},), got {keep.shape}")
    faces = topo.faces[keep[topo.faces].all(axis=1)]
    if not len(faces):
        raise ValueError("crop_topology: no triangle has all three corners kept")
    src_face, faces, used = remove_unreferenced(topo.src_face, faces)
    return Topology(crop=topo.crop, faces=faces, src_face=src_face, bary=topo.bary[used],
                    kind=topo.kind + kind_suffix, seed=topo.seed, corners=topo.corners[used])


def _flip_topology(ict: ICTModel, tpl: _Template, rng, seed) -> Topology:
    base = ict_topology(ict, tpl.crop)
    n_p = crop_sizes(tpl.crop)[1]
    sizes = ict.face_sizes[:n_p].astype(np.int64)
    tri = base.faces.copy()
    # quads were fanned (0,1,2),(0,2,3); the other diagonal is (0,1,3),(1,2,3)
    starts = np.concatenate([[0], np.cumsum(sizes - 2)[:-1]])
    quads = np.flatnonzero(sizes == 4)
    flip = quads[rng.random(len(quads)) < 0.5]
    t0, t1 = starts[flip], starts[flip] + 1
    c0, c1, c2 = tri[t0, 0], tri[t0, 1], tri[t0, 2]
    c3 = tri[t1, 2]
    tri[t0] = np.stack([c0, c1, c3], 1)
    tri[t1] = np.stack([c1, c2, c3], 1)
    p = tpl.points(base.src_face, base.bary)
    tn = tpl.normals(base.src_face, base.bary)
    tri = _random_edge_flips(p, tn, tri, rng, frac=float(rng.uniform(0.05, 0.25)))
    return _finish(tpl, base.src_face, base.bary, tri, "flip", seed)


def _random_edge_flips(p, tn, faces, rng, frac: float = 0.1, rounds: int = 3) -> np.ndarray:
    """Flip a random fraction of interior edges (independent sets, several rounds). A flip is done only when
    both new triangles keep a positive area, agree with the template normal, the new edge does not exist
    yet and neither old endpoint drops below valence 4."""
    f = np.asarray(faces, np.int64).copy()
    for _ in range(rounds):
        nf = len(f)
        inv, edges, cnt, he = edge_table(f)
        opp = np.concatenate([f[:, 2], f[:, 0], f[:, 1]])
        fid = np.tile(np.arange(nf), 3)
        interior, halves = interior_halves(inv, cnt)
        if len(interior) == 0:
            break
        h1, h2 = halves[:, 0], halves[:, 1]
        if not (he[h1, 0] == he[h2, 1]).all():  # consistent orientation expected after cleanup
            ok = he[h1, 0] == he[h2, 1]
            interior, h1, h2 = interior[ok], h1[ok], h2[ok]
        pick = rng.random(len(interior)) < frac
        interior, h1, h2 = interior[pick], h1[pick], h2[pick]
        # independent set: an edge wins if its random priority is the largest on both of its faces
        pr = rng.random(len(interior))
        best = np.full(nf, -1.0)
        np.maximum.at(best, fid[h1], pr)
        np.maximum.at(best, fid[h2], pr)
        win = (best[fid[h1]] == pr) & (best[fid[h2]] == pr)
        h1, h2 = h1[win], h2[win]
        a, b, c, d = he[h1, 0], he[h1, 1], opp[h1], opp[h2]
        deg = np.bincount(edges.ravel(), minlength=len(p))
        existing = edges[:, 0] * len(p) + edges[:, 1]
        new1 = np.stack([a, d, c], 1)
        new2 = np.stack([d, b, c], 1)

        def ok_tri(t):
            n = np.cross(p[t[:, 1]] - p[t[:, 0]], p[t[:, 2]] - p[t[:, 0]])
            ar = np.linalg.norm(n, axis=1)
            tt = tn[t].sum(1)
            return (ar > 4 * MIN_FACE_AREA) & (np.einsum("ij,ij->i", n, tt) > 0.5 * ar * np.linalg.norm(tt, axis=1))

        ok = ok_tri(new1) & ok_tri(new2) & (deg[a] > 4) & (deg[b] > 4) & (c != d)
        cd = np.minimum(c, d) * len(p) + np.maximum(c, d)
        ok &= ~np.isin(cd, existing)
        # two flips must not create the same new edge
        if ok.any():
            _, fi = np.unique(cd[ok], return_index=True)
            sel = np.flatnonzero(ok)[fi]
        else:
            sel = np.zeros(0, np.int64)
        f[fid[h1[sel]]] = new1[sel]
        f[fid[h2[sel]]] = new2[sel]
    return f


def _curvature(tpl: _Template) -> np.ndarray:
    """Per template vertex: mean |normal change| / edge length over its edges (1/cm)."""
    e = half_edges(tpl.f)
    dn = np.linalg.norm(tpl.vn[e[:, 0]] - tpl.vn[e[:, 1]], axis=1)
    dl = np.maximum(np.linalg.norm(tpl.v[e[:, 0]] - tpl.v[e[:, 1]], axis=1), 1e-6)
    k = np.zeros(len(tpl.v))
    c = np.zeros(len(tpl.v))
    np.add.at(k, e.ravel(), np.repeat(dn / dl, 2))
    np.add.at(c, e.ravel(), 1)
    return k / np.maximum(c, 1)


def _cluster_topology(tpl: _Template, n_target: int, rng, seed, kind: str) -> Topology:
    """Voronoi-cell clustering of a dense exact lattice + dual triangulation (see module doc)."""
    from scipy import sparse
    from scipy.sparse import csgraph
    from scipy.spatial import cKDTree
    area = float(face_areas(tpl.v, tpl.f).sum())
    edge_target = np.sqrt(4 * area / (np.sqrt(3) * n_target) / 2)  # ~ edge of a regular mesh with n_target verts
    e95 = np.percentile(tpl.face_edge, 95)
    s = int(np.clip(np.ceil(2.0 * e95 / edge_target), 1, 6))
    while s > 1 and len(tpl.v) * s * s > 12 * n_target + 40000:  # bound the lattice size
        s -= 1
    parent, lat, dfaces, tri_parent, tri_lat = _lattice_subdivide(len(tpl.v), tpl.f, s)
    x = tpl.points(parent, lat)
    va = vertex_areas(x, dfaces)
    weight = va.copy()
    y = x
    if kind == "aniso":
        u = rng.normal(size=3)
        u /= np.linalg.norm(u)
        k = rng.uniform(1.6, 2.6)
        m = np.eye(3) + (k - 1) * np.outer(u, u)
        y = x @ m.T
    elif kind == "decimate":
        curv = _curvature(tpl)
        cd = np.einsum("nk,nk->n", curv[tpl.f[parent]], lat)
        cd = cd / max(np.median(cd), 1e-9)
        alpha = rng.uniform(0.5, 2.0)
        rho = np.clip(1 + alpha * cd, 1, 30) ** rng.uniform(1.0, 2.0)
        # plus a random large-scale density tilt (e.g. denser front than back)
        g = rng.normal(size=3)
        g /= np.linalg.norm(g)
        proj = (x - x.mean(0)) @ g
        rho *= np.exp(rng.uniform(0, 1.2) * proj / max(np.ptp(proj), 1e-9))
        weight = va * rho
    n_seeds = min(n_target, len(x) // 2)
    prob = weight / weight.sum()
    seeds = y[rng.choice(len(x), size=n_seeds, replace=False, p=prob)]
    for _ in range(4):  # Lloyd relaxation (weighted centroids)
        lab = cKDTree(seeds).query(y, workers=1)[1]
        wsum = np.bincount(lab, weight, minlength=len(seeds))
        cen = np.stack([np.bincount(lab, weight * y[:, d], minlength=len(seeds)) for d in range(3)], 1)
        keep = wsum > 0
        seeds = cen[keep] / wsum[keep, None]
    lab = cKDTree(seeds).query(y, workers=1)[1]
    # split cells into surface-connected pieces
    e = half_edges(dfaces)
    same = lab[e[:, 0]] == lab[e[:, 1]]
    g = sparse.coo_matrix((np.ones(same.sum(), np.int8), (e[same, 0], e[same, 1])), shape=(len(x), len(x)))
    n_cl, cl = csgraph.connected_components(g, directed=False)
    # merge tiny pieces (< 15 % of the mean cell measure, in the density-weighted area) into a neighbour
    limit = 0.15 * weight.sum() / len(seeds)
    small = np.bincount(cl, weight, minlength=n_cl) < limit
    for _ in range(3):
        if not small.any():
            break
        ea, eb = cl[e[:, 0]], cl[e[:, 1]]
        m = small[ea] & ~small[eb] & (ea != eb)
        target = np.arange(n_cl)
        target[ea[m]] = eb[m]
        cl = target[cl]
        _, cl = np.unique(cl, return_inverse=True)
        n_cl = cl.max() + 1
        small = np.bincount(cl, weight, minlength=n_cl) < limit
    carea = np.bincount(cl, va, minlength=n_cl)
    # representative: area centroid snapped to the closest point of the cell's own dense triangles
    cen = np.stack([np.bincount(cl, va * x[:, d], minlength=n_cl) for d in range(3)], 1) / carea[:, None]
    pair_t = np.repeat(np.arange(len(dfaces)), 3)
    pair_c = cl[dfaces].ravel()
    pc = np.unique(pair_c * len(dfaces) + pair_t)
    pair_c, pair_t = pc // len(dfaces), pc % len(dfaces)
    tri = dfaces[pair_t]
    b, d2 = closest_point_triangles(cen[pair_c], x[tri[:, 0]], x[tri[:, 1]], x[tri[:, 2]])
    best = argmin_per_group(pair_c, d2, n_cl)
    rep_t = pair_t[best]
    rep_b = barycentric_combine(tri_lat[rep_t], b[best])  # bary in the template face
    rep_f = tri_parent[rep_t]
    # boundary cells: closest point of their boundary edges instead
    inv, edges, cnt, he = edge_table(dfaces)
    bh = np.flatnonzero(cnt[inv] == 1)
    if len(bh):
        bt = np.tile(np.arange(len(dfaces)), 3)[bh]
        local = np.repeat(np.arange(3), len(dfaces))[bh]  # half-edge (k, k+1) of its triangle
        ea, eb = he[bh, 0], he[bh, 1]
        pcs = np.concatenate([cl[ea], cl[eb]])
        idx = np.concatenate([np.arange(len(bh)), np.arange(len(bh))])
        t, d2b = closest_point_segments(cen[pcs], x[ea[idx]], x[eb[idx]])
        bbest = argmin_per_group(pcs, d2b, n_cl)
        has = bbest >= 0
        j = idx[bbest[has]]
        tt = t[bbest[has]]
        kk = local[j]
        wloc = np.zeros((len(j), 3))
        wloc[np.arange(len(j)), kk] = 1 - tt
        wloc[np.arange(len(j)), (kk + 1) % 3] = tt
        rep_b[has] = barycentric_combine(tri_lat[bt[j]], wloc)
        rep_f[has] = tri_parent[bt[j]]
    return _finish(tpl, rep_f, rep_b, cl[dfaces], kind, seed)


def _subdiv_topology(ict: ICTModel, tpl: _Template, n_target: int, rng, seed) -> Topology:
    n = len(tpl.v)
    exact = [s for s in (2, 3, 4) if 0.75 * n_target <= n * s * s <= 1.1 * n_target]
    if exact:
        s = exact[0]
        parent, lat, faces, _, _ = _lattice_subdivide(n, tpl.f, s)
        return _finish(tpl, parent, lat, faces, f"subdiv{s}-ict", seed)
    # a coarse base folds where it spans ears/nostrils once its new vertices are projected: keep it >= 2500
    choices = [s for s in (2, 3) if n_target / (s * s) >= SUBDIV_MIN_BASE] or [2]
    s = int(rng.choice(choices))
    base = _cluster_topology(tpl, max(int(round(n_target / (s * s))), N_MIN), rng, seed, "voronoi")
    parent, lat, faces, _, _ = _lattice_subdivide(base.n_verts, base.faces, s)
    nb = base.n_verts
    src = np.empty(len(parent), np.int64)
    bary = np.empty((len(parent), 3))
    src[:nb], bary[:nb] = base.src_face, base.bary
    newv = np.arange(nb, len(parent))
    pb = base.positions(tpl.v)
    bf = base.faces[parent[newv]]
    q = barycentric_combine(pb[bf], lat[newv])
    hint = base.src_face[bf[np.arange(len(newv)), np.argmax(lat[newv], 1)]]
    src[nb:], bary[nb:], _ = tpl.project(q, hint)
    # new vertices on the base's boundary go onto the template's boundary (between their edge's endpoints)
    li, arc = tpl.arc_position(base.src_face, base.bary)
    inv, _, cnt, _ = edge_table(base.faces)
    fb = (cnt[inv] == 1).reshape(3, -1).T  # (Fb, 3): base edge (k, k+1) is a boundary edge
    latn = lat[newv]
    for k in range(3):
        on = fb[parent[newv], k] & (latn[:, (k + 2) % 3] == 0)
        a, b = bf[on, k], bf[on, (k + 1) % 3]
        good = (li[a] >= 0) & (li[a] == li[b])
        sel = np.flatnonzero(on)[good]
        if len(sel):
            src[nb + sel], bary[nb + sel] = tpl.project_boundary(q[sel], li[a[good]], arc[a[good]], arc[b[good]])
    return _finish(tpl, src, bary, faces, f"subdiv{s}", seed)


def make_topology(ict: ICTModel, crop: str, n_target: int, kind: str, seed: int, *, flips: bool = False) -> Topology:
    """Build one topology deterministically from (crop, n_target, kind, seed).

    Args:
        kind: one of ``GENERATED_KINDS`` ("flip" ignores n_target: it has the crop's vertex count) or "ict".
        flips: apply random edge flips on top (kind gets "+flips").
    Raises:
        ValueError: unknown crop/kind, or n_target outside [200, 60000].
    """
    crop_sizes(crop)
    if kind not in KINDS:
        raise ValueError(f"unknown topology kind {kind!r}; choose one of {KINDS}")
    n_target = int(n_target)
    if not N_MIN <= n_target <= N_MAX:
        raise ValueError(f"n_target must lie in [{N_MIN}, {N_MAX}], got {n_target}")
    if kind == "ict":
        return ict_topology(ict, crop)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), VERSION]))
    tpl = _template(ict, crop)
    if kind == "flip":
        return _flip_topology(ict, tpl, rng, seed)
    if kind == "subdiv":
        topo = _subdiv_topology(ict, tpl, n_target, rng, seed)
    else:
        topo = _cluster_topology(tpl, n_target, rng, seed, kind)
    if flips:
        p = topo.positions(tpl.v)
        tn = tpl.normals(topo.src_face, topo.bary)
        f = _random_edge_flips(p, tn, topo.faces, rng, frac=float(rng.uniform(0.05, 0.3)))
        topo = _finish(tpl, topo.src_face, topo.bary, f, topo.kind + "+flips", seed)
    return topo


_TEMPLATES: dict = {}


def _template(ict: ICTModel, crop: str) -> _Template:
    key = (id(ict), crop)
    hit = _TEMPLATES.get(key)
    if hit is None or hit[0] is not ict:  # (the model is kept referenced so its id cannot be reused)
        hit = _TEMPLATES[key] = (ict, _Template(ict, crop))
    return hit[1]


def random_topology(ict: ICTModel, crop: str, n_target: int, rng: np.random.Generator) -> Topology:
    """A random topology of about ``n_target`` vertices (kind drawn among those that can hit the target:
    "flip" only when the crop's own vertex count is within 30 % of it, "subdiv" from 10000 vertices; edge flips
    on top 30 % of the time).

    Args:
        ict: the ICT model; crop: crop name; n_target: vertex count wanted (200..60000);
        rng: numpy Generator (one integer is drawn from it; the topology is reproducible from that seed).
    """
    crop_sizes(crop)
    kinds = ["voronoi", "aniso", "decimate"]
    if n_target >= 4 * SUBDIV_MIN_BASE:
        kinds.append("subdiv")
    if abs(CROPS[crop][0] - n_target) <= 0.3 * n_target:
        kinds.append("flip")
    kind = str(rng.choice(kinds))
    seed = int(rng.integers(2 ** 31 - 1))
    flips = bool(rng.random() < 0.3) and kind != "flip"
    return make_topology(ict, crop, n_target, kind, seed, flips=flips)


class _MeshAsICT:
    """Just enough of an ICTModel for ``_Template``: one mesh as the 'full' crop (cm)."""

    def __init__(self, verts_cm, faces):
        self.v, self.f = np.asarray(verts_cm, np.float64), np.asarray(faces, np.int64)

    def identity_verts(self, id_coeffs=None, crop=None):
        return self.v

    def crop_faces(self, crop="full"):
        return self.f


def remesh_mesh(verts_cm, faces, n_target: int, seed: int, kind: str = "voronoi"
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Any triangle surface (not only ICT's) remeshed by a clustering generator to about ``n_target`` vertices.

    Args:
        verts_cm: (N, 3) positions in centimetres at a head's scale (the cleanup's thresholds are in cm);
        faces: (F, 3) triangles; seed: the generator's seed; kind: "voronoi", "aniso" or "decimate".
    Returns:
        (faces (M, 3), src_face (K,), bary (K, 3)): the new triangles and every new vertex's exact barycentric
        position in the input's triangles.
    """
    if kind not in ("voronoi", "aniso", "decimate"):
        raise ValueError(f"remesh_mesh: kind must be voronoi, aniso or decimate, got {kind!r}")
    tpl = _Template(_MeshAsICT(verts_cm, faces), "full")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), VERSION]))
    topo = _cluster_topology(tpl, int(n_target), rng, seed, kind)
    return topo.faces, topo.src_face, topo.bary


# ----------------------------------------------------------------------------------------------------------
# bank
# ----------------------------------------------------------------------------------------------------------
DEFAULT_SIZES = (1000, 2000, 4000, 8000, 15000, 30000)


def default_cache_dir() -> Path:
    """$NFS_CACHE_DIR/topologies, else ~/.cache/nfs_blender/topologies."""
    root = os.environ.get("NFS_CACHE_DIR")
    return Path(root) / "topologies" if root else Path.home() / ".cache" / "nfs_blender" / "topologies"


class TopologyBank:
    """A pool of pre-built topologies per crop, built once and cached as one .npz.

    For every crop, every size in ``sizes`` gets ``per_size`` topologies: the first of a size >= 10000 is
    "subdiv", the others cycle through voronoi / aniso / decimate (about a third get edge flips on top);
    plus one "flip" topology per crop
    (ICT's vertices, random diagonals). The cache file name is a hash of (seed, sizes, crops, per_size,
    generator version, ICT neutral/faces), so any change rebuilds.

    Args:
        ict: the ICT model.
        seed: bank seed (all topologies are deterministic given it).
        sizes: target vertex counts (each 200..60000).
        crops: crops to build.
        per_size: topologies per (crop, size).
        cache_dir: folder for the .npz (None: ``default_cache_dir()``; False: no caching).
        verbose: print progress while building.
    """

    def __init__(self, ict: ICTModel, seed: int = 0, sizes=DEFAULT_SIZES, crops=("full", "face", "narrow"),
                 per_size: int = 2, cache_dir=None, verbose: bool = False):
        self.seed = int(seed)
        self.sizes = tuple(int(s) for s in sizes)
        self.crops = tuple(crops)
        self.per_size = int(per_size)
        if not self.crops:
            raise ValueError("TopologyBank needs at least one crop")
        for c in self.crops:
            crop_sizes(c)
        for s in self.sizes:
            if not N_MIN <= s <= N_MAX:
                raise ValueError(f"bank sizes must lie in [{N_MIN}, {N_MAX}], got {s}")
        if self.per_size < 1:
            raise ValueError("per_size must be >= 1")
        self.ict = ict
        params = {"seed": self.seed, "sizes": self.sizes, "crops": self.crops, "per_size": self.per_size,
                  "version": VERSION,
                  "ict": mesh_hash(ict.neutral[:CROPS["full"][0]], ict.crop_faces("full"))}
        self.cache_key = hashlib.blake2b(json.dumps(params, sort_keys=True).encode(), digest_size=8).hexdigest()
        self.cache_path = None
        if cache_dir is not False:
            self.cache_path = Path(cache_dir if cache_dir is not None else default_cache_dir()) / \
                f"bank_{self.cache_key}.npz"
        self.topologies: dict[str, list[Topology]] = {}
        self.loaded_from_cache = False
        if self.cache_path is not None and self.cache_path.is_file():
            try:
                self._load(self.cache_path)
                self.loaded_from_cache = True
            except Exception:  # corrupt cache: rebuild
                self.topologies = {}
        if not self.topologies:
            self._build(verbose)
            if self.cache_path is not None:
                self.save(self.cache_path)

    def _plan(self):
        plan = []
        cluster_kinds = ("voronoi", "aniso", "decimate")
        for ci, crop in enumerate(self.crops):
            j = 0
            for size in self.sizes:
                for r in range(self.per_size):
                    seed = int(np.random.SeedSequence([self.seed, ci, size, r]).generate_state(1)[0] >> 1)
                    if r == 0 and size >= 4 * SUBDIV_MIN_BASE:
                        kind = "subdiv"
                    else:
                        kind = cluster_kinds[(j + ci) % 3]
                        j += 1
                    plan.append((crop, size, kind, seed, (j + r) % 3 == 2))
            seed = int(np.random.SeedSequence([self.seed, ci, 0, 99]).generate_state(1)[0] >> 1)
            plan.append((crop, CROPS[crop][0], "flip", seed, False))
        return plan

    def _build(self, verbose):
        import time
        for crop, size, kind, seed, flips in self._plan():
            t = time.perf_counter()
            topo = make_topology(self.ict, crop, size, kind, seed, flips=flips)
            self.topologies.setdefault(crop, []).append(topo)
            if verbose:
                print(f"  {crop:6s} {topo.kind:18s} target {size:6d} -> {topo.n_verts:6d} verts "
                      f"({time.perf_counter() - t:.1f} s)", flush=True)

    def save(self, path) -> Path:
        """Write all topologies to one .npz (atomic rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {}
        i = 0
        for crop in self.crops:
            for topo in self.topologies.get(crop, []):
                arrays.update(topo.to_arrays(f"t{i}_"))
                i += 1
        arrays["count"] = np.asarray([i])
        tmp = path.with_name(path.stem + f".tmp{os.getpid()}.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
        return path

    def _load(self, path):
        with np.load(path) as d:
            for i in range(int(d["count"][0])):
                topo = Topology.from_arrays(d, f"t{i}_")
                self.topologies.setdefault(topo.crop, []).append(topo)

    def __len__(self) -> int:
        return sum(len(v) for v in self.topologies.values())

    def all(self) -> list[Topology]:
        return [t for c in self.crops for t in self.topologies.get(c, [])]

    def for_crop(self, crop: str) -> list[Topology]:
        crop_sizes(crop)
        if crop not in self.topologies:
            raise ValueError(f"this bank has no topologies of crop {crop!r}; it holds {list(self.topologies)}")
        return self.topologies[crop]

    def sample(self, crop: str, rng: np.random.Generator) -> Topology:
        """A uniformly drawn topology of ``crop``."""
        lst = self.for_crop(crop)
        return lst[int(rng.integers(len(lst)))]
