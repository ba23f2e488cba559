"""The bounded-size proxy mesh the encoders run on, and its spectral diffusion operator (numpy only).

Why: diffusion on an arbitrary user mesh (triangle sizes varying 400x, 1k-300k vertices) is either
slow or ill-conditioned without scipy. Area-weighted vertex clustering on a grid in canonical space
turns *any* tessellation of a face into nearly the same ~1k-vertex mesh, on which a dense
generalised eigendecomposition costs ~0.1-0.3 s in numpy. Training builds proxies with this same
code, so training and the runtime share one operator exactly.

All inputs are canonical coordinates (see ``frames.py``: face size sqrt(area) = 1).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .mesh import (cotan_weights, face_areas, nondegenerate, normalize_rows, referenced_renumbering, vertex_areas,
                   vertex_normals)
from .nearest import knn

PROXY_TARGET = 1000
K_EIG = 96
KNN = 4


@dataclass
class Proxy:
    """A decimated copy of a mesh plus everything needed to move data between the two.

    Attributes:
        verts: (P, 3) proxy positions (canonical); faces: (Q, 3) proxy triangles.
        normals: (P, 3) unit vertex normals of the proxy.
        mass: (P,) lumped vertex areas (> 0).
        evals: (K,) smallest generalised eigenvalues of L phi = lambda M phi (ascending, >= 0).
        evecs: (P, K) M-orthonormal eigenvectors.
        cluster: (N,) proxy vertex of each full-mesh vertex (-1 where its cluster was dropped).
        gather: (N,) weights so that a proxy value = sum over its cluster of gather * full value.
        knn_idx: (N, k) nearest proxy vertices of each full vertex; knn_w: (N, k) weights summing to 1.
    """
    verts: np.ndarray
    faces: np.ndarray
    normals: np.ndarray
    mass: np.ndarray
    evals: np.ndarray
    evecs: np.ndarray
    cluster: np.ndarray
    gather: np.ndarray
    knn_idx: np.ndarray
    knn_w: np.ndarray

    @property
    def n(self) -> int:
        return self.verts.shape[0]

    def to_proxy(self, values: np.ndarray) -> np.ndarray:
        """Average per-full-vertex values (N, ...) into proxy vertices -> (P, ...)."""
        ok = self.cluster >= 0
        w = self.gather[ok].reshape((-1,) + (1,) * (values.ndim - 1))
        v = (values[ok] * w).reshape(int(ok.sum()), -1)
        # one bincount per column: the same sums in the same order as add.at, without its per-element cost
        out = np.stack([np.bincount(self.cluster[ok], v[:, c], self.n) for c in range(v.shape[1])], axis=1)
        return out.reshape((self.n,) + values.shape[1:])

    def to_full(self, values: np.ndarray) -> np.ndarray:
        """Interpolate per-proxy values (P, ...) to full vertices (N, ...) with the k-NN weights."""
        w = self.knn_w.reshape(self.knn_w.shape + (1,) * (values.ndim - 1))
        return (values[self.knn_idx] * w).sum(axis=1)


def _cluster_keys(verts: np.ndarray, h: float) -> np.ndarray:
    q = np.floor(verts / h).astype(np.int64)
    q -= q.min(axis=0)
    dims = q.max(axis=0) + 1
    return (q[:, 0] * dims[1] + q[:, 1]) * dims[2] + q[:, 2]


def _clusters(verts: np.ndarray, target: int) -> tuple[np.ndarray, int]:
    """Grid clustering whose cluster count is close to ``target`` (bisection on the cell size)."""
    lo, hi = 1e-4, 1.0
    best = None
    for _ in range(30):
        h = np.sqrt(lo * hi)
        keys = _cluster_keys(verts, h)
        uniq, inv = np.unique(keys, return_inverse=True)
        n = len(uniq)
        if best is None or abs(n - target) < abs(best[1] - target):
            best = (inv.ravel(), n)
        if abs(n - target) <= 0.05 * target:
            break
        if n > target:
            lo = h
        else:
            hi = h
    return best


def build_proxy(verts: np.ndarray, faces: np.ndarray, *, target: int = PROXY_TARGET, k_eig: int = K_EIG,
                knn: int = KNN) -> Proxy:
    """Build the proxy of a canonical mesh.

    Args:
        verts: (N, 3) canonical positions; faces: (F, 3) int triangles (validated by the caller).
        target: wanted proxy vertex count (meshes smaller than this are used as they are).
        k_eig: number of eigenpairs kept (clipped to P - 1).
        knn: neighbours used to interpolate proxy values back to the full mesh.
    """
    verts = np.asarray(verts, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    pverts, pfaces, cluster, gather = cluster_decimate(verts, faces, target)
    fa = face_areas(pverts, pfaces)
    pfaces = pfaces[fa > 1e-14]
    mass = vertex_areas(pverts, pfaces)
    mass = np.maximum(mass, 1e-6 * max(mass.mean(), 1e-12))
    evals, evecs = spectral_basis(pverts, pfaces, mass, k_eig)
    knn_idx, knn_w = knn_weights(verts, pverts, knn)
    return Proxy(verts=pverts, faces=pfaces, normals=vertex_normals(pverts, pfaces), mass=mass, evals=evals,
                 evecs=evecs, cluster=cluster, gather=gather, knn_idx=knn_idx, knn_w=knn_w)


def cluster_decimate(verts: np.ndarray, faces: np.ndarray, target: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Area-weighted grid vertex clustering to about ``target`` vertices (a mesh of at most ``target`` vertices
    keeps its own vertices; ``verts`` of unit-order size, e.g. canonical).

    Every cluster's vertex is the area-weighted mean of its members; the triangles are those between three
    different clusters, one copy each, oriented by majority; clusters no triangle uses are dropped.
    Returns (pverts (P, 3), pfaces (Q, 3), cluster (N,) proxy vertex of every input vertex (-1: dropped),
    gather (N,) each input vertex's share of its cluster's area (0 when dropped)).
    """
    n = len(verts)
    if n <= target:
        inv, n_cl = np.arange(n), n
    else:
        inv, n_cl = _clusters(verts, target)
    va = vertex_areas(verts, faces) + 1e-12
    csum = np.zeros(n_cl)
    np.add.at(csum, inv, va)
    pos = np.zeros((n_cl, 3))
    np.add.at(pos, inv, verts * va[:, None])
    pos /= csum[:, None]
    # triangles between three distinct clusters, one copy each
    tf = inv[faces]
    tf = tf[nondegenerate(tf)]
    tf = _dedup_oriented(tf)
    # drop clusters no triangle uses; renumber
    used, remap = referenced_renumbering(tf, n_cl)
    cluster = remap[inv]
    gather = np.where(cluster >= 0, va / csum[inv], 0.0)
    return pos[used], remap[tf], cluster, gather


def _dedup_oriented(tris: np.ndarray) -> np.ndarray:
    """One copy of each triangle (any vertex order), oriented by majority vote of its copies; the result
    does not depend on the input order (sorted by vertex triple)."""
    srt = np.sort(tris, axis=1)
    # parity of the rotation/reflection taking each triangle to its sorted order: even = same winding
    even = ((tris[:, 0] == srt[:, 0]) & (tris[:, 1] == srt[:, 1])) | \
           ((tris[:, 1] == srt[:, 0]) & (tris[:, 2] == srt[:, 1])) | \
           ((tris[:, 2] == srt[:, 0]) & (tris[:, 0] == srt[:, 1]))
    keys, inv = np.unique(srt, axis=0, return_inverse=True)
    vote = np.zeros(len(keys))
    np.add.at(vote, inv.ravel(), np.where(even, 1.0, -1.0))
    out = keys.copy()
    flip = vote < 0
    out[flip] = out[flip][:, [0, 2, 1]]
    return out


def spectral_basis(verts: np.ndarray, faces: np.ndarray, mass: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Smallest ``k`` eigenpairs of the cotangent Laplacian with lumped mass (dense; P up to a few thousand).

    Returns (evals (k,) ascending >= 0, evecs (P, k) with evecs.T @ diag(mass) @ evecs = I).
    Negative cotangent weights are clipped to 0 so the operator is positive semi-definite.
    """
    p = len(verts)
    edges, w = cotan_weights(verts, faces)
    w = np.maximum(w, 0.0)
    lap = np.zeros((p, p))
    lap[edges[:, 0], edges[:, 1]] = -w
    lap[edges[:, 1], edges[:, 0]] = -w
    lap[np.arange(p), np.arange(p)] = -lap.sum(axis=1)
    s = 1.0 / np.sqrt(mass)
    a = lap * s[:, None] * s[None, :]
    vals, vecs = np.linalg.eigh(a)
    k = min(k, p - 1)
    vals = np.maximum(vals[:k], 0.0)
    vecs = vecs[:, :k] * s[:, None]
    return vals, vecs


def knn_weights(points: np.ndarray, targets: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Inverse-square-distance weights of each point's ``k`` nearest targets (exact: ``nearest.knn``).

    Args: points (N, 3); targets (P, 3) (any units). Returns (idx (N, k) int64 nearest first, equal distances
    by lower index; w (N, k) float64 rows summing to 1); k is clipped to P.
    """
    idx, d2k = knn(points, targets, k)
    w = 1.0 / (d2k + 1e-8)
    return idx, normalize_rows(w)


def neutral_features(proxy: Proxy) -> np.ndarray:
    """Encoder input on the neutral proxy: (P, 6) = canonical position, unit normal."""
    return np.concatenate([proxy.verts, proxy.normals], axis=1)


def expression_features(proxy: Proxy, disp_full: np.ndarray, scale: float) -> np.ndarray:
    """Expression-encoder input: (B, P, 9) = neutral features + ``scale`` * displacement averaged per proxy vertex.

    Args: disp_full (B, N, 3) canonical displacements of the full mesh (posed - neutral).
    """
    nf = neutral_features(proxy)
    d = np.stack([proxy.to_proxy(disp) for disp in np.asarray(disp_full)]) * scale
    return np.concatenate([np.broadcast_to(nf, d.shape[:2] + (6,)), d], axis=2)
