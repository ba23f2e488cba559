"""Numpy-only triangle-mesh operations used by training and by the inference runtime.

Conventions: ``verts`` is a float array of shape (N, 3); ``faces`` is an int array of shape (F, 3)
of vertex indices (triangles, counter-clockwise seen from outside). Nothing here imports torch or
scipy, so every function runs inside a stock Blender.
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "validate_mesh", "triangulate_polygons", "face_normals", "median_edge", "face_areas", "vertex_areas",
    "vertex_normals", "unit_rows", "half_edges", "edge_table", "interior_halves", "edge_face_pairs", "dihedral_angles",
    "dihedral_change", "unique_edges", "vertex_rings", "connected_components", "edge_components", "union_roots",
    "subdivide_midpoint", "cotan_weights", "nondegenerate", "triangle_keys",
    "barycentric_combine", "barycentric_interpolate", "referenced_renumbering", "remove_unreferenced",
    "closest_point_segments", "argmin_per_group", "normalize_rows", "mesh_hash", "boundary_loops",
    "point_in_polygon",
]

MIN_VERTICES = 4


def validate_mesh(verts, faces, *, name: str = "mesh") -> tuple[np.ndarray, np.ndarray]:
    """Check and convert a triangle mesh at an API boundary.

    Args:
        verts: (N, 3) array-like of vertex positions, any float type.
        faces: (F, 3) array-like of triangle vertex indices.
        name: what to call the mesh in error messages.
    Returns:
        (verts float64 (N, 3), faces int64 (F, 3)).
    Raises:
        ValueError: wrong shapes, NaN/inf coordinates, no faces, too few vertices, or
            out-of-range indices; the message says what to fix.
    """
    v = np.asarray(verts)
    f = np.asarray(faces)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"{name}: vertices must have shape (N, 3), got {v.shape}")
    if v.shape[0] == 0:
        raise ValueError(f"{name}: has no vertices (an empty mesh); give the head's vertex positions")
    if v.shape[0] < MIN_VERTICES:
        raise ValueError(f"{name}: has {v.shape[0]} vertices; a face mesh needs at least {MIN_VERTICES}")
    if not np.issubdtype(v.dtype, np.number):
        raise ValueError(f"{name}: vertices must be numeric, got dtype {v.dtype}")
    v = v.astype(np.float64)
    if not np.isfinite(v).all():
        bad = int((~np.isfinite(v).all(axis=1)).sum())
        raise ValueError(f"{name}: {bad} vertices have NaN or infinite coordinates; fix or delete them first")
    if f.size == 0:
        raise ValueError(f"{name}: has no faces (points or edges only); the model needs a surface mesh")
    if f.ndim != 2 or f.shape[1] != 3:
        raise ValueError(f"{name}: faces must be triangles of shape (F, 3), got {f.shape}; triangulate first")
    if not np.issubdtype(f.dtype, np.integer):
        if np.issubdtype(f.dtype, np.floating) and np.all(np.mod(f, 1) == 0):
            f = f.astype(np.int64)
        else:
            raise ValueError(f"{name}: face indices must be integers, got dtype {f.dtype}")
    f = f.astype(np.int64)
    if f.min() < 0 or f.max() >= v.shape[0]:
        raise ValueError(f"{name}: face indices must lie in [0, {v.shape[0] - 1}], got [{f.min()}, {f.max()}]")
    return v, f


def triangulate_polygons(corner_indices, face_sizes) -> tuple[np.ndarray, np.ndarray]:
    """Fan-triangulate polygons given as concatenated corners.

    Args:
        corner_indices: (C,) vertex index of every polygon corner, polygons concatenated.
        face_sizes: (P,) number of corners of each polygon (>= 3), sum == C.
    Returns:
        (tris (T, 3) int64, tri_polygon (T,) int64 index of the polygon each triangle came from).
    """
    corners = np.asarray(corner_indices, dtype=np.int64).ravel()
    sizes = np.asarray(face_sizes, dtype=np.int64).ravel()
    if sizes.size and sizes.min() < 3:
        raise ValueError("every polygon needs at least 3 corners")
    if int(sizes.sum()) != corners.size:
        raise ValueError(f"face sizes sum to {int(sizes.sum())} but {corners.size} corners were given")
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    ntri = sizes - 2
    poly = np.repeat(np.arange(sizes.size), ntri)
    # k-th triangle of a polygon uses corners (0, k+1, k+2)
    k = concat_ranges(np.zeros_like(ntri), ntri)
    s = starts[poly]
    tris = np.stack([corners[s], corners[s + k + 1], corners[s + k + 2]], axis=1)
    return tris, poly


def _normal_components(cols, faces: np.ndarray) -> list:
    """The unnormalised face normals as three (F,) arrays (x, y, z), from the vertices' components cols (three
    (N,) arrays): ``np.cross(b - a, c - a)``'s products and differences, on contiguous 1-D arrays."""
    f0, f1, f2 = faces[:, 0], faces[:, 1], faces[:, 2]
    a = [c[f0] for c in cols]
    e1 = [c[f1] - a[j] for j, c in enumerate(cols)]
    e2 = [c[f2] - a[j] for j, c in enumerate(cols)]
    return [e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2], e1[0] * e2[1] - e1[1] * e2[0]]


def face_normals(verts: np.ndarray, faces: np.ndarray, *, normalize: bool = True) -> np.ndarray:
    """Per-face normals, (F, 3). Unnormalised length is twice the triangle area (``np.cross``'s numbers, computed
    per component)."""
    v = np.asarray(verts)
    faces = np.asarray(faces)
    n = np.stack(_normal_components([np.ascontiguousarray(v[:, j]) for j in range(3)], faces), 1)
    if normalize:
        n = unit_rows(n)
    return n


def turned_over(verts: np.ndarray, faces: np.ndarray, disp: np.ndarray, rest_normals: np.ndarray | None = None
                ) -> np.ndarray:
    """(F,) bool: the triangles that displacements disp (N, 3) turn over, i.e. whose normal at verts + disp points
    against its rest normal. verts (N, 3), faces (F, 3); rest_normals (F, 3) may be passed in (any length, e.g.
    ``face_normals(verts, faces, normalize=False)``) when one mesh is asked about many displacements. The
    numbers of ``(face_normals(verts + disp, faces, normalize=False) * n0).sum(axis=1) < 0``, per component."""
    n0 = face_normals(verts, faces, normalize=False) if rest_normals is None else rest_normals
    verts, disp, faces = np.asarray(verts), np.asarray(disp), np.asarray(faces)
    n = _normal_components([verts[:, j] + disp[:, j] for j in range(3)], faces)
    return (n[0] * n0[:, 0] + n[1] * n0[:, 1]) + n[2] * n0[:, 2] < 0


def keep_unturned(new: np.ndarray, old: np.ndarray, verts: np.ndarray, faces: np.ndarray,
                  rest_normals: np.ndarray | None = None, rounds: int = 50) -> np.ndarray:
    """``new`` (N, 3) displacements, changed in place and returned, with the corners of every triangle it turns
    over where ``old`` (N, 3) does not (``turned_over``) given their ``old`` motion back, round after round until
    none is left (each round gives at least one more vertex its old motion, so the rounds end; ``rounds`` caps
    them). A post-process that changes a key (a trim, a symmetrisation) thus turns no triangle over the key did
    not. verts (N, 3), faces (F, 3); rest_normals as ``turned_over``'s."""
    n0 = face_normals(verts, faces, normalize=False) if rest_normals is None else rest_normals
    before = turned_over(verts, faces, old, n0)
    for _ in range(rounds):
        fresh = turned_over(verts, faces, new, n0) & ~before
        if not fresh.any():
            break
        back = np.unique(np.asarray(faces)[fresh])
        new[back] = old[back]
    return new


def unit_rows(v: np.ndarray) -> np.ndarray:
    """Rows of ``v`` (N, D) scaled to unit length (a zero row stays zero)."""
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-30)


def median_edge(verts: np.ndarray, faces: np.ndarray) -> float:
    """The median length of each triangle's first edge (verts' units): a mesh's scale that a few stray or
    degenerate triangles do not move."""
    return float(np.median(np.linalg.norm(verts[faces[:, 1]] - verts[faces[:, 0]], axis=1)))


def face_areas(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Triangle areas, (F,), in squared input units."""
    return 0.5 * np.linalg.norm(face_normals(verts, faces, normalize=False), axis=1)


def vertex_areas(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Lumped (barycentric) vertex areas, (N,): a third of each incident triangle's area."""
    a = face_areas(verts, faces) / 3.0
    out = np.zeros(len(verts))
    for j in range(3):
        np.add.at(out, faces[:, j], a)
    return out


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals, (N, 3); isolated vertices get (0, 0, 0)."""
    fn = face_normals(verts, faces, normalize=False)
    # np.add.at(out, faces[:, j], fn) for j = 0, 1, 2 in turn, as one bincount per component over the three
    # corner columns one after the other: the same sums in the same order
    corners = np.asarray(faces).T.ravel()
    out = np.stack([np.bincount(corners, np.tile(fn[:, c], 3), len(verts)) for c in range(3)], 1)
    norm = np.linalg.norm(out, axis=1, keepdims=True)
    return np.where(norm > 1e-30, out / np.maximum(norm, 1e-30), 0.0)


def half_edges(faces: np.ndarray) -> np.ndarray:
    """Directed half-edges (3F, 2) of the triangles: all corner (0 -> 1) edges, then all (1 -> 2), then all (2 -> 0),
    so half-edge ``k * F + i`` runs from ``faces[i, k]`` to ``faces[i, (k + 1) % 3]``."""
    faces = np.asarray(faces)
    return np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])


def edge_table(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Half-edges and undirected edges of a triangle mesh.

    Returns:
        (edge_id (3F,) int64 undirected edge of every half-edge, edges (E, 2) int64 unique undirected edges with
        edges[:, 0] < edges[:, 1] in lexicographic order (as ``unique_edges``), count (E,) how many half-edges
        each edge has (1: boundary, 2: interior, > 2: non-manifold), he (3F, 2) the ``half_edges``).
    """
    he = half_edges(faces)
    n = int(he.max()) + 1 if len(he) else 1
    key = np.minimum(he[:, 0], he[:, 1]) * n + np.maximum(he[:, 0], he[:, 1])
    ukey, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
    edges = np.stack([ukey // n, ukey % n], 1)
    return inv.ravel(), edges, cnt, he


def interior_halves(edge_id: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The interior edges (exactly two half-edges) of ``edge_table``'s edge_id (3F,) and count (E,): (P,) their edge
    indices, ascending, and (P, 2) their two half-edges (indices into the (3F,) half-edges, lower first; half-edge
    h lies on triangle h % F)."""
    order = np.argsort(edge_id, kind="stable")              # half-edges grouped by edge
    start = np.cumsum(count) - count
    two = np.flatnonzero(count == 2)
    return two, np.stack([order[start[two]], order[start[two] + 1]], 1)


def edge_face_pairs(faces: np.ndarray) -> np.ndarray:
    """(P, 2) int64: the two triangles (indices into faces (F, 3)) on each interior edge (an edge with exactly two
    half-edges), in ``edge_table``'s edge order; boundary and non-manifold edges have no row."""
    faces = np.asarray(faces, np.int64)
    if not len(faces):
        return np.zeros((0, 2), np.int64)
    edge_id, _, count, _ = edge_table(faces)
    return interior_halves(edge_id, count)[1] % len(faces)


def dihedral_angles(verts: np.ndarray, faces: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """(P,) degrees: the angle between the normals of each pair of triangles ``pairs`` (P, 2) (``edge_face_pairs``)
    of the mesh verts (N, 3), faces (F, 3): 0 where the two lie flat, 180 where one is folded back onto the other."""
    n = face_normals(np.asarray(verts, np.float64), faces)
    return np.degrees(np.arccos(np.clip(np.einsum("ij,ij->i", n[pairs[:, 0]], n[pairs[:, 1]]), -1.0, 1.0)))


def dihedral_change(verts: np.ndarray, faces: np.ndarray, disp: np.ndarray, pairs: np.ndarray,
                    rest: np.ndarray | None = None) -> np.ndarray:
    """(P,) degrees: how much displacements disp (N, 3) change ``dihedral_angles`` of the pairs (P, 2): 0 where an
    edge keeps its bend, up to 180 where it folds over. rest (P,): the angles at rest, when one mesh is asked about
    many displacements."""
    verts = np.asarray(verts, np.float64)
    before = dihedral_angles(verts, faces, pairs) if rest is None else rest
    return np.abs(dihedral_angles(verts + disp, faces, pairs) - before)


def concat_ranges(starts, counts) -> np.ndarray:
    """Concatenated ``arange(s, s + c)`` for each (s, c) of starts (G,), counts (G,) >= 0: (sum(counts),) int64.
    With starts 0 it numbers the members of consecutive groups of the given sizes 0, 1, ... within each group."""
    counts = np.asarray(counts, np.int64)
    offs = np.cumsum(counts) - counts
    return np.repeat(np.asarray(starts, np.int64) - offs, counts) + np.arange(int(counts.sum()))


def unique_edges(faces: np.ndarray) -> np.ndarray:
    """Undirected unique edges, (E, 2) int64 with edges[:, 0] < edges[:, 1], in lexicographic order (the rows of
    ``np.unique(np.sort(half_edges(faces), axis=1), axis=0)``, found as the unique keys lo * n + hi: one integer
    sort, not a sort of rows; the faces' dtype is kept)."""
    he = half_edges(faces)
    if not len(he):
        return np.zeros((0, 2), he.dtype)
    lo, hi = np.minimum(he[:, 0], he[:, 1]).astype(np.int64), np.maximum(he[:, 0], he[:, 1]).astype(np.int64)
    n = int(hi.max()) + 1
    key = np.unique(lo * n + hi)
    return np.stack([key // n, key % n], 1).astype(he.dtype, copy=False)


def vertex_rings(n_verts: int, faces: np.ndarray, seeds, n_rings: int) -> np.ndarray:
    """(n_verts,) int64 edge hops from the nearest of the ``seeds`` vertices (0 on them), -1 beyond ``n_rings``
    hops or unreachable."""
    e = unique_edges(np.asarray(faces, np.int64))
    ring = np.full(n_verts, -1, np.int64)
    ring[np.asarray(seeds, np.int64)] = 0
    for r in range(1, n_rings + 1):
        front = ring == r - 1
        nb = np.concatenate([e[front[e[:, 0]], 1], e[front[e[:, 1]], 0]])
        nb = nb[ring[nb] < 0]
        if not len(nb):
            break
        ring[nb] = r
    return ring


def connected_components(n_verts: int, faces: np.ndarray) -> np.ndarray:
    """Label of the connected component of every vertex, (N,) int64 (isolated vertices get their own),
    numbered in the order of each component's smallest vertex index."""
    faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    if len(faces) == 0:
        return np.arange(n_verts)
    # two edges per triangle connect its three corners (the third, and repeated edges, add nothing)
    root, _ = union_roots(n_verts, np.concatenate([faces[:, 0], faces[:, 1]]),
                          np.concatenate([faces[:, 1], faces[:, 2]]))
    return _number_roots(root)


def closed_components(labels: np.ndarray, faces: np.ndarray, boundary: np.ndarray | None = None) -> np.ndarray:
    """(C,) bool: which connected pieces are closed surfaces (no boundary edge: an eyeball, a closed tooth), for
    labels (N,) each vertex's piece 0..C-1 (``connected_components``) and faces (F, 3); boundary: the faces'
    ``boundary_vertices`` when already at hand. A piece with no triangle is not closed."""
    labels = np.asarray(labels, np.int64)
    n = int(labels.max()) + 1 if len(labels) else 0
    closed = np.zeros(n, bool)
    faces = np.asarray(faces, np.int64)
    if not len(faces):
        return closed
    closed[labels[faces[:, 0]]] = True
    if boundary is None:
        boundary = boundary_vertices(faces, len(labels))
    closed[labels[boundary]] = False
    return closed


def boundary_vertices(faces: np.ndarray, n_verts: int) -> np.ndarray:
    """(N,) bool: the vertices on a boundary edge (an edge of one triangle) of faces (F, 3)."""
    out = np.zeros(n_verts, bool)
    faces = np.asarray(faces, np.int64)
    if len(faces):
        _, edges, count, _ = edge_table(faces)
        out[edges[count == 1].ravel()] = True
    return out


def edge_components(n_verts: int, edges: np.ndarray) -> np.ndarray:
    """Connected components of the graph of ``edges`` (E, 2) on ``n_verts`` vertices: (N,) int64 labels
    0..C-1, numbered in the order of each component's smallest vertex index (``union_roots``)."""
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    return _number_roots(union_roots(n_verts, edges[:, 0], edges[:, 1])[0])


def _number_roots(root: np.ndarray) -> np.ndarray:
    """Roots (N,) (each component's smallest index) -> labels 0..C-1 in ascending root order."""
    _, inv = np.unique(root, return_inverse=True)
    return inv.ravel().astype(np.int64)


def union_roots(n: int, a: np.ndarray, b: np.ndarray, parity: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Connected components of the undirected graph of edges (a[i], b[i]) on nodes 0..n-1, vectorised.

    Args:
        n: node count; a, b: (E,) int node ids of the edges (repeats and self-loops allowed).
        parity: optional (E,) 0/1 per edge: node b's bit = node a's bit XOR parity.
    Returns:
        (root (n,) int64: the smallest node of each node's component; bit (n,) int8: the XOR of the edge
        parities along a path from the root (all 0 without ``parity``; path-independent only when the
        parities are consistent around every cycle, which the caller checks)).

    Rounds of hooking: every root with an edge to a smaller root points to the smallest of them, then pointer
    jumping (with the bits XORed along) until every node points at its root; edges inside one component are
    dropped as they appear. Rounds: a few on meshes (the roots shrink geometrically in practice).
    """
    parent = np.arange(n, dtype=np.int64)
    bit = np.zeros(n, np.int8)
    a, b = np.asarray(a, np.int64).ravel(), np.asarray(b, np.int64).ravel()
    p = np.zeros(len(a), np.int8) if parity is None else np.asarray(parity).astype(np.int8).ravel()
    a, b, p = np.concatenate([a, b]), np.concatenate([b, a]), np.concatenate([p, p])
    best = np.empty(n, np.int64)
    none = np.iinfo(np.int64).max
    while True:
        while True:                              # pointer jumping to the roots
            up = parent[parent]
            if np.array_equal(up, parent):
                break
            bit ^= bit[parent]
            parent = up
        ra, rb = parent[a], parent[b]
        cross = ra != rb
        if not cross.any():
            return parent, bit
        a, b, p, ra, rb = a[cross], b[cross], p[cross], ra[cross], rb[cross]
        m = ra < rb                              # hook rb's root under ra's (the other direction is also listed)
        r = rb[m]
        key = ra[m] * 2 + (bit[a[m]] ^ p[m] ^ bit[b[m]])   # the root's bit relative to its new parent
        best[r] = none
        np.minimum.at(best, r, key)
        parent[r] = best[r] >> 1
        bit[r] = (best[r] & 1).astype(np.int8)


def subdivide_midpoint(values: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """1 -> 4 midpoint subdivision.

    Args: values (N, ...) per-vertex values (positions, or any attribute to interpolate); faces (F, 3).
    Returns: (values (N + E, ...) with the edge midpoints appended in ``unique_edges`` order, faces (4F, 3)).
    Calling it twice with the same faces gives the same vertex order, so positions and attributes match.
    """
    n = len(values)
    e = unique_edges(faces)
    key = e[:, 0] * n + e[:, 1]  # ascending: unique_edges is sorted lexicographically

    def mid(a, b):
        return n + np.searchsorted(key, np.minimum(a, b) * n + np.maximum(a, b))

    a, b, c = faces[:, 0], faces[:, 1], faces[:, 2]
    ab, bc, ca = mid(a, b), mid(b, c), mid(c, a)
    nf = np.concatenate([np.stack(t, 1) for t in ((a, ab, ca), (ab, b, bc), (ca, bc, c), (ab, bc, ca))])
    return np.concatenate([values, 0.5 * (values[e[:, 0]] + values[e[:, 1]])]), nf


def cotan_weights(verts: np.ndarray, faces: np.ndarray, *, clamp: float = 1e3) -> tuple[np.ndarray, np.ndarray]:
    """Cotangent edge weights of the Laplace-Beltrami operator.

    Returns:
        (edges (E, 2) int64 unique undirected edges, w (E,) float64 weights 0.5*(cot a + cot b),
        each cotangent clamped to [-clamp, clamp] so degenerate triangles stay finite).
    The Laplacian is L = D - W with W[i, j] = w for each edge; it is positive semi-definite
    when every weight is >= 0 (intrinsic Delaunay), which callers may enforce by clipping.
    """
    v = verts
    ei, ej, cots = [], [], []
    for k in range(3):
        i, j, o = faces[:, (k + 1) % 3], faces[:, (k + 2) % 3], faces[:, k]
        u, w = v[i] - v[o], v[j] - v[o]
        cross = np.linalg.norm(np.cross(u, w), axis=1)
        cot = np.einsum("ij,ij->i", u, w) / np.maximum(cross, 1e-30)
        ei.append(i)
        ej.append(j)
        cots.append(np.clip(cot, -clamp, clamp))
    ei, ej, cots = np.concatenate(ei), np.concatenate(ej), np.concatenate(cots)
    pairs = np.sort(np.stack([ei, ej], axis=1), axis=1)
    edges, inv = np.unique(pairs, axis=0, return_inverse=True)
    w = np.zeros(len(edges))
    np.add.at(w, inv.ravel(), 0.5 * cots)
    return edges, w


def nondegenerate(faces: np.ndarray) -> np.ndarray:
    """(F,) bool: the triangle's three corners are three different vertices."""
    f = np.asarray(faces)
    return (f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])


def triangle_keys(faces: np.ndarray, n_verts: int) -> np.ndarray:
    """Orientation-free int64 key of each triangle (equal for any order of the same three corners); needs
    n_verts**3 < 2**63, i.e. fewer than 2 million vertices."""
    t = np.sort(faces, 1)
    return (t[:, 0] * n_verts + t[:, 1]) * n_verts + t[:, 2]


def front_hits(verts: np.ndarray, faces: np.ndarray, xy: np.ndarray, chunk: int = 1 << 20) -> np.ndarray:
    """The frontmost surface point under each of M lines parallel to Z: (M,) its z (NaN where no triangle
    lies under the line). verts (N, 3), faces (F, 3), xy (M, 2) the lines' (x, y), same units as verts.

    Each line is tested only against the triangles whose (x, y) bounding box covers its cell of a grid with cells
    about as wide as the median triangle (``_xy_bins``), so the cost grows with M + F, not M F (a 225k-vertex head's
    eye: 19 s -> well under a second); the numbers are those of testing every triangle (the same arithmetic per
    pair, in ``chunk``-sized batches of pairs). Only the triangles whose (x, y) bounding box meets the lines' own are
    read: no other covers a line, so a few lines through a dense head cost what their patch of it does."""
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    out = np.full(len(xy), -np.inf)
    t = np.asarray(verts, np.float64)[np.asarray(faces, np.int64)]            # (F, 3, 3)
    lines = xy[np.isfinite(xy).all(axis=1)]
    if len(lines) and len(t):
        lo, hi = lines.min(axis=0), lines.max(axis=0)
        t = t[((t[:, :, :2].max(axis=1) >= lo) & (t[:, :, :2].min(axis=1) <= hi)).all(axis=1)]
    a, e1, e2 = t[:, 0, :2], t[:, 1, :2] - t[:, 0, :2], t[:, 2, :2] - t[:, 0, :2]
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    keep = np.abs(det) > 1e-300
    t, a, e1, e2, det = t[keep], a[keep], e1[keep], e2[keep], det[keep]
    if not len(t) or not len(xy):
        return np.full(len(xy), np.nan)
    q_of, t_of = _xy_bins(t[:, :, :2], xy)                                    # candidate (line, triangle) pairs
    for s0 in range(0, len(q_of), chunk):
        qi, ti = q_of[s0:s0 + chunk], t_of[s0:s0 + chunk]
        d = xy[qi] - a[ti]
        u = (d[:, 0] * e2[ti, 1] - d[:, 1] * e2[ti, 0]) / det[ti]
        v = (e1[ti, 0] * d[:, 1] - e1[ti, 1] * d[:, 0]) / det[ti]
        inside = (u >= 0) & (v >= 0) & (u + v <= 1)
        z = t[ti, 0, 2] + u * (t[ti, 1, 2] - t[ti, 0, 2]) + v * (t[ti, 2, 2] - t[ti, 0, 2])
        np.maximum.at(out, qi[inside], z[inside])
    out[~np.isfinite(out)] = np.nan
    return out


def depth_behind_front(verts: np.ndarray, faces: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """(P,) how far each point pts (P, 3) lies behind the frontmost surface of (verts (N, 3), faces (F, 3)) at its
    (x, y) (``front_hits``' z minus its own; verts' units): > 0 hidden from the front, 0 where no triangle lies
    under it."""
    pts = np.asarray(pts, np.float64).reshape(-1, 3)
    return np.nan_to_num(front_hits(verts, faces, pts[:, :2]) - pts[:, 2])


def _xy_bins(tri_xy: np.ndarray, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(line indices (P,), triangle indices (P,)): every pair of a point xy (M, 2) and a triangle tri_xy (F, 3, 2)
    whose (x, y) bounding box covers the point's cell of a square grid (cell side: the median of the triangles'
    larger bounding-box side). A triangle that contains a point covers its cell, so no such pair is missed."""
    lo, hi = tri_xy.min(axis=1), tri_xy.max(axis=1)
    h = float(np.median((hi - lo).max(axis=1)))
    if not h > 0.0:
        h = float(np.ptp(np.concatenate([lo, hi, xy]), axis=0).max()) or 1.0
    origin = np.minimum(lo.min(axis=0), xy.min(axis=0))
    while True:         # a few huge triangles among small ones would cover too many cells: coarser cells then
        ilo = np.floor((lo - origin) / h).astype(np.int64)
        ihi = np.floor((hi - origin) / h).astype(np.int64)
        if int(np.prod(ihi - ilo + 1, axis=1).sum()) <= 16 * (len(tri_xy) + len(xy)):
            break
        h *= 2.0
    iq = np.floor((xy - origin) / h).astype(np.int64)
    ny = int(max(ihi[:, 1].max(), iq[:, 1].max())) + 1
    nx_t, ny_t = ihi[:, 0] - ilo[:, 0] + 1, ihi[:, 1] - ilo[:, 1] + 1
    count = nx_t * ny_t                                                       # cells each triangle covers
    tri = np.repeat(np.arange(len(tri_xy)), count)
    k = concat_ranges(np.zeros(len(count), np.int64), count)                  # the cell's number within the box
    cx = ilo[tri, 0] + k // ny_t[tri]
    cy = ilo[tri, 1] + k % ny_t[tri]
    key = cx * ny + cy
    order = np.argsort(key, kind="stable")
    key, tri = key[order], tri[order]
    qkey = iq[:, 0] * ny + iq[:, 1]
    start = np.searchsorted(key, qkey, side="left")
    n = np.searchsorted(key, qkey, side="right") - start
    return np.repeat(np.arange(len(xy)), n), tri[concat_ranges(start, n)]


def barycentric_combine(corner_values: np.ndarray, bary: np.ndarray) -> np.ndarray:
    """Barycentric combination of per-corner vectors: (..., M, 3, D) corner values and (M, 3) weights ->
    (..., M, D) = sum_k bary[:, k] * corner_values[..., :, k, :]."""
    return np.einsum("...nkd,nk->...nd", corner_values, bary)


def barycentric_interpolate(values: np.ndarray, faces: np.ndarray, face_index: np.ndarray,
                            bary: np.ndarray) -> np.ndarray:
    """Interpolate per-vertex ``values`` (N, ...) at points given by (face_index (M,), bary (M, 3)): (M, ...)."""
    values = np.asarray(values)
    vals = values[faces[face_index]]  # (M, 3, ...)
    if vals.ndim == 3:
        return barycentric_combine(vals, bary)
    out = barycentric_combine(vals.reshape(vals.shape[:2] + (-1,)), bary)
    return out.reshape(vals.shape[:1] + vals.shape[2:])


def referenced_renumbering(faces: np.ndarray, n_verts: int) -> tuple[np.ndarray, np.ndarray]:
    """The vertices some face uses and their new numbers once the others are dropped.

    Returns (kept (N',) int64 ascending original indices, remap (n_verts,) int64 new index of every vertex,
    -1 for the dropped ones); ``remap[faces]`` are the renumbered faces.
    """
    kept = np.unique(faces)
    remap = -np.ones(n_verts, dtype=np.int64)
    remap[kept] = np.arange(len(kept))
    return kept, remap


def remove_unreferenced(verts: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop vertices no face uses. ``verts`` may be any per-vertex array (N, ...).
    Returns (verts', faces', kept (N',) original indices)."""
    kept, remap = referenced_renumbering(faces, len(verts))
    return verts[kept], remap[faces], kept


def closest_point_segments(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Closest points of segments a -> b (M, 3) to points p (M, 3): (t (M,) in [0, 1] with the closest point
    a + t (b - a), squared distance (M,)). A zero-length segment gives t = 0."""
    ab = b - a
    den = np.maximum((ab * ab).sum(1), 1e-300)
    t = np.clip(((p - a) * ab).sum(1) / den, 0.0, 1.0)
    q = a + t[:, None] * ab
    return t, ((q - p) ** 2).sum(1)


def argmin_per_group(group: np.ndarray, value: np.ndarray, n_groups: int) -> np.ndarray:
    """(n_groups,) int64: for every group id 0..n_groups-1 the index (into ``group``/``value``) of its smallest
    value (ties: the first such index), -1 for a group with no entries."""
    order = np.lexsort((value, group))
    g = group[order]
    first = np.ones(len(g), bool)
    first[1:] = g[1:] != g[:-1]
    out = -np.ones(n_groups, np.int64)
    out[g[first]] = order[first]
    return out


def normalize_rows(p: np.ndarray, fallback=None) -> np.ndarray:
    """Rows of non-negative weights (N, K) divided by their sums (probabilities, barycentric weights).

    A row that sums to 0 becomes ``fallback`` (a scalar, or an array broadcasting to (N, K), e.g. the model's
    own probabilities); with ``fallback=None`` every row must have a positive sum.
    """
    p = np.asarray(p)
    s = p.sum(axis=1, keepdims=True)
    if fallback is None:
        return p / s
    return np.where(s > 0, p / np.where(s > 0, s, 1.0), fallback)


def mesh_hash(*arrays: np.ndarray) -> str:
    """Content hash (hex, 16 chars) of arrays' dtype, shape and bytes: a cache key for per-mesh data."""
    import hashlib
    h = hashlib.blake2b(digest_size=8)
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def boundary_loops(faces: np.ndarray) -> list[np.ndarray]:
    """Boundary loops of a triangle mesh, (L_i,) int64 vertex cycles following the boundary half-edges
    (open chains at non-manifold spots are dropped), in the order of their first boundary half-edge."""
    faces = np.asarray(faces, np.int64)
    if not len(faces):
        return []
    inv, _, cnt, he = edge_table(faces)
    bhe = he[cnt[inv] == 1]
    nxt: dict[int, list[int]] = {}
    for a, b in bhe.tolist():
        nxt.setdefault(a, []).append(b)
    loops, used = [], set()
    for a, b in bhe.tolist():
        if (a, b) in used:
            continue
        loop, cur = [a], b
        used.add((a, b))
        while cur != loop[0]:
            loop.append(cur)
            cands = [x for x in nxt.get(cur, []) if (cur, x) not in used]
            if not cands or len(loop) > len(bhe):
                loop = None
                break
            used.add((cur, cands[0]))
            cur = cands[0]
        if loop is not None:
            loops.append(np.asarray(loop, np.int64))
    return loops


def point_in_polygon(pts: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """(M,) bool: 2-D points pts (M, 2) inside the closed polygon poly (K, 2) (even-odd rule; one pass per edge,
    O(M) memory)."""
    a, b = poly, np.roll(poly, -1, axis=0)
    inside = np.zeros(len(pts), bool)
    for (x1, y1), (x2, y2) in zip(a, b):
        cross = (y1 > pts[:, 1]) != (y2 > pts[:, 1])
        with np.errstate(divide="ignore", invalid="ignore"):      # a level edge: never crossed
            xi = x1 + (pts[:, 1] - y1) * (x2 - x1) / (y2 - y1)
        inside ^= cross & (pts[:, 0] < xi)
    return inside
