"""Checks of a neutral mesh's geometry before the model sees it (issue 17), numpy only.

* ``orient_consistently``: faces wound inconsistently (some reversed) are re-wound so that every pair of faces
  sharing an edge agrees, per edge-connected piece (vectorised union of the faces over shared edges, each face's
  winding relative to the piece's first face; a breadth-first search only for a piece with no consistent
  winding); each piece keeps the winding of the majority of its faces. Consistent meshes are returned
  unchanged (one vectorised test).
* ``pick_face_island``: the face is the largest connected piece *that is not flat* (a floor, a backdrop, a
  card: thickness under ``FLAT_RATIO`` of its width), so a 2 m floor in the same object does not win by area;
  a second head-sized piece is reported.
* ``flat_problem``: a face piece that is flat is refused (a plain plane is not a face).
* ``half_problem``: a face piece that is half a head (cut at its mirror plane, every vertex on one side) is refused
  with what to do: the model would read a whole face into it and give it no motion.
* ``far_vertices``: vertices of the face piece far outside the rest (a stray vertex dragged metres away).
* ``follow_falloff``: pieces other than the face follow it only where they are near it (eyes, teeth, lashes);
  far pieces (a floor, a second head, a loose vertex metres away) get no motion.
"""
from __future__ import annotations

from collections import deque

import numpy as np

from .mesh import boundary_loops, edge_table, median_edge, nondegenerate, union_roots
from .nearest import knn

SEAM_WELD = 0.01       # open-edge vertices closer than this x the median edge are one seam: a mirror-modelled face
                       # whose halves were never merged has gaps of 1e-4-1e-3 median edges (hand-made dev head);
                       # distinct open vertices of ICT's head and the dev heads lie >= 0.09 median edges apart
FLAT_RATIO = 0.05      # thickness / width (sqrt of the smallest / largest area-weighted variance) of a flat piece
SECOND_HEAD = 0.5      # another non-flat piece with at least this share of the face's area is reported
HALF_SPAN = 0.4       # open-edge vertices at the piece's least or greatest X over this share of its height ...
HALF_FLAT = 0.02      # ... within this share of its width of that X ...
HALF_NOSE = 0.1       # ... and the frontmost vertex within this share of its width of that plane: half a head
FAR_FACTOR = 5.0       # a face vertex farther than this x the 95th percentile distance from the median is stray
FOLLOW_NEAR = 0.15     # other vertices within this x the face's bbox diagonal of the face follow fully,
FOLLOW_FAR = 0.30      # beyond this they get no motion (linear between); ICT's eyes / teeth lie within 0.09


def label_firsts(labels: np.ndarray) -> np.ndarray:
    """(L,) int64 a vertex of each label 0..L-1 of ``labels`` (N,), its lowest index (-1 for an unused label)."""
    first = np.full(int(labels.max()) + 1, -1, np.int64)
    first[labels[::-1]] = np.arange(len(labels))[::-1]
    return first


def seam_labels(v: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """(N,) int64 a label per vertex of v (N, 3): vertices at exactly one position share one (split UV seams),
    and open seams closer than ``SEAM_WELD`` x the median edge of ``tris`` (F, 3) are closed
    (``weld_open_seams``; the median: a stray vertex does not move it)."""
    _, weld = np.unique(v, axis=0, return_inverse=True)
    return weld_open_seams(v, tris, np.asarray(weld).ravel(), SEAM_WELD * median_edge(v, tris))


def weld_open_seams(v: np.ndarray, tris: np.ndarray, weld: np.ndarray, tol: float) -> np.ndarray:
    """``weld`` (N,) with the open seams closed: boundary vertices (of the welded triangles) within ``tol`` of
    each other take one label, so two halves of a face modelled apart and never merged are one piece.

    Args: v (N, 3) positions; tris (F, 3) triangles; weld (N,) int64 label of each vertex (vertices at exactly
    one position share one); tol: the largest gap closed, in v's units. Only open edges' vertices are joined,
    so a piece inside the face (an eyeball, a lash touching the lid) stays apart unless its own open edge meets
    the face's within ``tol``. Returns (N,) int64 labels (the smallest joined label of each group)."""
    weld = np.asarray(weld, np.int64)
    if tol <= 0.0 or not len(tris):
        return weld
    _, edges, count, _ = edge_table(weld[tris])
    open_ids = np.unique(edges[count == 1])
    if len(open_ids) < 2:
        return weld
    pos = np.asarray(v, np.float64)[label_firsts(weld)[open_ids]]
    idx, d2 = knn(pos, pos, min(4, len(pos)))
    a = np.repeat(np.arange(len(pos)), idx.shape[1])
    b, d2 = idx.ravel(), d2.ravel()
    near = (d2 <= tol * tol) & (a != b)
    if not near.any():
        return weld
    root, _ = union_roots(int(weld.max()) + 1, open_ids[a[near]], open_ids[b[near]])
    return root[weld]


def orient_consistently(tris: np.ndarray, weld: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Make the winding of (F, 3) triangles consistent across shared edges.

    Args:
        tris: (F, 3) int vertex indices.
        weld: optional (N,) ids of vertices at the same position (edges are compared on these ids).
    Returns:
        (triangles (F, 3), number of faces reversed); the input array itself when nothing is reversed.
    Edges shared by more than two faces (non-manifold) do not link faces.
    """
    t = np.asarray(tris)
    if len(t) < 2:
        return t, 0
    f1, f2, need_flip = _face_pairs(t, weld)
    if not need_flip.any():
        return t, 0
    nf = len(t)
    root, flip = union_roots(nf, f1, f2, need_flip)   # flip relative to each piece's first face, as a BFS from it
    size = np.bincount(root, minlength=nf)
    turned = np.bincount(root, weights=flip, minlength=nf)
    flip ^= ((size > 1) & (2 * turned > size))[root].astype(np.int8)   # keep the majority's winding
    if np.any((flip[f1] ^ flip[f2]).astype(bool) != need_flip):   # no consistent winding (a Moebius strip)
        flip = _bfs_flips(nf, f1, f2, need_flip)
    rev = flip.astype(bool)
    n_rev = int(rev.sum())
    if n_rev == 0:
        return t, 0
    out = t.copy()
    out[rev] = out[rev][:, [0, 2, 1]]
    return out, n_rev


def _face_pairs(t: np.ndarray, weld: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairs of triangles (F, 3) that share an edge used by exactly these two (on the ``weld`` ids): (f1, f2)
    (E,) int64 face indices and need_flip (E,) bool, True where both run the edge the same way."""
    w = t if weld is None else np.asarray(weld)[t]
    a, b = w.ravel(), w[:, [1, 2, 0]].ravel()
    fid = np.repeat(np.arange(len(t)), 3)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    key = lo.astype(np.int64) * (int(hi.max()) + 1) + hi
    order = np.argsort(key, kind="stable")
    ks = key[order]
    same = ks[1:] == ks[:-1]
    run2 = same.copy()                          # i: edges order[i], order[i+1] form a run of exactly two
    run2[1:] &= ~same[:-1]
    run2[:-1] &= ~same[1:]
    i = np.nonzero(run2)[0]
    e1, e2 = order[i], order[i + 1]
    f1, f2 = fid[e1], fid[e2]
    ok = (f1 != f2) & (lo[e1] != hi[e1])
    need_flip = ((a[e1] < b[e1]) == (a[e2] < b[e2]))[ok]     # same direction: one of the two must turn
    return f1[ok], f2[ok], need_flip


def _bfs_flips(nf: int, f1: np.ndarray, f2: np.ndarray, need_flip: np.ndarray) -> np.ndarray:
    """(nf,) int8 faces to reverse, by breadth-first search over the face pairs (f1, f2) from each piece's first
    face (the winding of a non-orientable piece depends on the search order; this is the order used)."""
    src = np.concatenate([f1, f2])
    dst = np.concatenate([f2, f1])
    par = np.concatenate([need_flip, need_flip]).astype(np.int8)
    o = np.argsort(src, kind="stable")
    dst, par = dst[o], par[o]
    start = np.searchsorted(src[o], np.arange(nf + 1))
    flip = np.full(nf, -1, np.int8)
    for seed in range(nf):
        if flip[seed] >= 0:
            continue
        flip[seed] = 0
        comp = [seed]
        q = deque([seed])
        while q:
            f = q.popleft()
            s, e = start[f], start[f + 1]
            for g, p in zip(dst[s:e].tolist(), par[s:e].tolist()):
                if flip[g] < 0:
                    flip[g] = flip[f] ^ p
                    comp.append(g)
                    q.append(g)
        if len(comp) > 1 and 2 * int(flip[comp].sum()) > len(comp):   # keep the majority's winding
            flip[comp] ^= 1
    return flip


def _island_moments(v: np.ndarray, tris: np.ndarray, areas: np.ndarray, label: np.ndarray, n: int):
    """Per island (n labels): area, and the sqrt of the smallest / largest eigenvalue of the area-weighted
    covariance of its face centroids (0 for a plane, ~0.5 for a head)."""
    area = np.bincount(label, weights=areas, minlength=n)
    c = v[tris].mean(axis=1)
    safe = np.where(area > 0, area, 1.0)
    mu = np.stack([np.bincount(label, weights=areas * c[:, k], minlength=n) for k in range(3)], 1) / safe[:, None]
    d = c - mu[label]
    cov = np.zeros((n, 3, 3))
    for i in range(3):
        for j in range(i, 3):
            cov[:, i, j] = cov[:, j, i] = np.bincount(label, weights=areas * d[:, i] * d[:, j], minlength=n) / safe
    ev = np.linalg.eigvalsh(cov)
    ratio = np.sqrt(np.clip(ev[:, 0], 0, None) / np.where(ev[:, 2] > 0, ev[:, 2], 1.0))
    return area, np.where(ev[:, 2] > 0, ratio, 0.0)


def pick_face_island(v: np.ndarray, tris: np.ndarray, areas: np.ndarray, label: np.ndarray,
                     n_verts: np.ndarray, min_verts: int) -> tuple[int, float, list, np.ndarray]:
    """The label of the face piece: the largest by area among pieces with at least ``min_verts`` vertices that
    are not flat; the largest overall when every piece is flat or small.

    Args:
        v: (N, 3) positions; tris: (F, 3) triangles with positive area; areas: (F,); label: (F,) piece of each
        triangle (0..n-1); n_verts: (n,) vertex count of each piece.
    Returns:
        (label, flatness of that piece, warnings, labels of the pieces that must not move: flat pieces larger
        than the face, other head-sized pieces).
    """
    n = len(n_verts)
    area, ratio = _island_moments(v, tris, areas, label, n)
    cand = (area > 0) & (ratio >= FLAT_RATIO) & (n_verts >= min_verts)
    warnings = []
    if not cand.any():
        main = int(np.argmax(area))
        return main, float(ratio[main]), warnings, np.zeros(0, np.int64)
    main = int(np.argmax(np.where(cand, area, -1.0)))
    bigger_flat = (area > area[main]) & ~cand & (area > 0)
    if bigger_flat.any():
        warnings.append(f"{int(bigger_flat.sum())} flat piece(s) larger than the face (a floor, a backdrop?) "
                        f"were not used as the face and get no motion")
    others = cand & (area >= SECOND_HEAD * area[main])
    others[main] = False
    if others.any():
        warnings.append(f"the mesh holds {int(others.sum()) + 1} head-sized pieces; only the largest "
                        f"({int(n_verts[main])} vertices) was processed as the face; the other(s) were not (they "
                        f"get no motion): separate them (Edit Mode > Mesh > Separate > By Loose Parts) and process "
                        f"each")
    return main, float(ratio[main]), warnings, np.nonzero(bigger_flat | others)[0]


def flat_problem(ratio: float) -> str | None:
    """A sentence when the face piece is flat (``ratio`` from ``pick_face_island``), else None."""
    if ratio < FLAT_RATIO:
        return (f"its largest piece is flat (thickness {100 * ratio:.1f} % of its width), a plane, not a face: "
                f"the model needs a head or face mesh")
    return None


def half_problem(p: np.ndarray, faces: np.ndarray) -> str | None:
    """A sentence when the face piece is half a head, else None.

    p (N, 3) the piece's positions in its canonical frame (+X across the face, +Y up, +Z forward), faces (F, 3).
    Half a head (modelled for a Mirror modifier, or exported before it was applied) ends at the mirror plane:
    at its least (or greatest) X, open-edge vertices within ``HALF_FLAT`` of its width of that plane run over
    ``HALF_SPAN`` of its height, and the frontmost vertex (the nose) lies on it too (within ``HALF_NOSE``). Read
    as a face, the template's whole face found no face there and every key stayed 0 (the dev heads cut at
    X = 0). Two halves never merged at the seam have their seam in the middle, not at an extreme; a face mask cut
    with straight sides has its nose far from them."""
    p = np.asarray(p, np.float64)
    width, height = float(np.ptp(p[:, 0])), float(np.ptp(p[:, 1]))
    loops = boundary_loops(faces)
    if width <= 0.0 or height <= 0.0 or not loops:
        return None
    rim = np.unique(np.concatenate(loops))
    nose = float(p[np.argmax(p[:, 2]), 0])
    for x0 in (float(p[:, 0].min()), float(p[:, 0].max())):
        on = rim[np.abs(p[rim, 0] - x0) <= HALF_FLAT * width]
        if len(on) >= 8 and np.ptp(p[on, 1]) >= HALF_SPAN * height and abs(nose - x0) <= HALF_NOSE * width:
            return ("it is half a head: it ends at a plane down the middle of the face (its open edge there runs "
                    "through the nose), so no keys can be found for it. Mirror it into a whole head first (in "
                    "Blender: add a Mirror modifier and apply it), then run again")
    return None


def far_vertices(p: np.ndarray) -> np.ndarray:
    """(M,) bool: points far outside the rest (distance from the median point > ``FAR_FACTOR`` x the 95th
    percentile distance)."""
    if len(p) < 20:
        return np.zeros(len(p), bool)
    d = np.linalg.norm(p - np.median(p, axis=0), axis=1)
    r = float(np.percentile(d, 95))
    return d > FAR_FACTOR * r if r > 0 else np.zeros(len(p), bool)


def stray_vertices(v: np.ndarray, vlabel: np.ndarray, min_verts: int, top: int = 4):
    """(N,) bool of vertices far outside the rest of their piece (``far_vertices``; ``vlabel`` (N,) the piece
    of each vertex), checked on the ``top`` pieces with the most vertices (at least ``min_verts``); None when
    there are none. Their faces are left out before the face piece is chosen (a 10 m spike would make a head
    look flat and huge)."""
    counts = np.bincount(vlabel)
    bad = np.zeros(len(v), bool)
    for lab in np.argsort(-counts, kind="stable")[:top]:
        if counts[lab] < min_verts:
            break
        idx = np.nonzero(vlabel == lab)[0]
        far = far_vertices(v[idx])
        if far.any() and (~far).sum() >= min_verts:
            bad[idx[far]] = True
    return bad if bad.any() else None


def follow_falloff(dist: np.ndarray, diag: float) -> np.ndarray:
    """(M,) float32 share of the face's motion a vertex at ``dist`` from the face (same units as ``diag``, the
    face's bbox diagonal) follows: 1 near, 0 far."""
    x = (FOLLOW_FAR - np.asarray(dist, np.float64) / max(diag, 1e-300)) / (FOLLOW_FAR - FOLLOW_NEAR)
    return np.clip(x, 0.0, 1.0).astype(np.float32)


def welded(pts: np.ndarray, faces: np.ndarray, weld: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The face with the vertices split along its seams made one: (pts (G, 3), faces (F', 3) over them, the
    triangles that collapse dropped, group (N,) int64 the welded vertex of each face vertex). pts (N, 3), faces
    (F, 3), weld (N,) int64 group of each vertex by position (``PreparedMesh.face_weld``: ``seam_labels``, a UV
    seam or an open seam closed).

    A mesh imported split along its UV seams (Blender's glTF importer does so by default) has a boundary loop
    wherever a seam runs: a Ready Player Me head's lips meet at one, so the template met a mouth "opening" there
    and jawOpen tore the lips into a curtain (docs/model.md, *Split UV seams*; ``Model._template_match``). A seam
    welded leaves each of its edges between two triangles; a piece that only touches the surface along an edge
    (ICT's eye occlusion on the lid margin) would leave three there: the vertices of such edges stay apart."""
    weld = np.asarray(weld, np.int64)
    faces = np.asarray(faces, np.int64)
    f = weld[faces]
    _, edges, count, _ = edge_table(f[nondegenerate(f)])
    bad = np.zeros(int(weld.max()) + 1, bool)
    bad[edges[count > 2].ravel()] = True
    _, group = np.unique(np.where(bad[weld], int(weld.max()) + 1 + np.arange(len(weld)), weld), return_inverse=True)
    group = group.ravel()
    first = np.full(int(group.max()) + 1, len(group), np.int64)
    np.minimum.at(first, group, np.arange(len(group)))
    f = group[faces]
    return np.asarray(pts)[first], f[nondegenerate(f)], group
