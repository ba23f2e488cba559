"""Find the vertex order that makes two meshes one topology (numpy only; runs inside Blender).

One base mesh exported twice may come back with its vertices numbered otherwise (an exporter's order, Blender's
*Sort Mesh Elements*, a round trip through another tool). ``same_topology`` then sees another topology and the
transfer would register the heads. ``renumbering`` finds the order by the mesh's connectivity alone, so the keys can
still be carried vertex for vertex:

1. every vertex gets a signature from its valence and its one- and two-ring valences;
2. per connected piece of the target (largest first), a vertex whose signature is rare is paired with a source
   vertex of that signature, and a triangle on one of its edges with a triangle on one of the partner's (every
   edge of the partner and both its triangles are tried);
3. the pairing grows across triangles: an edge with both ends matched and one of its two triangles' third corners
   proposes, as the other third corner's partner, the other third corner on the matched source edge (no winding
   needed: a mirrored half wound the other way is matched too); each round every unmatched vertex takes its most
   proposed partner; a piece joined to the rest at a single vertex grows from a seed of its own;
4. a trial counts when the vertices it matched have their edges on source edges; of equal trials, the one a
   similarity without reflection fits best is kept (not the mirror image of a symmetric head).

Only the same triangles, renumbered, are matched: one base mesh whose quads two exports split along other
diagonals changes its vertices' signatures, and is left to the registration (``transfer``) unless its numbering is
the same (``same_topology.is_same_topology`` allows a few diagonals).

Twin pieces (two eyeballs) have the same signatures; with positions given, the candidate nearest the target piece
under the similarity of the pieces matched so far is tried first.
"""
from __future__ import annotations

import numpy as np

from .correspond import umeyama
from .mesh import concat_ranges, connected_components, half_edges, mesh_hash, unique_edges

MAX_SEEDS = 3           # seed vertices tried per piece (rarest signatures first)
MAX_PARTNERS = 4        # source candidates tried per seed vertex
MAX_ROUNDS = 10000      # growth rounds per trial (a piece's diameter in triangles bounds them)
CACHE_SIZE = 4          # orders kept by content: the add-on and the CLI ask whether two meshes (and their face
                        # islands) match vertex for vertex before the transfer asks again
_CACHE: dict = {}


def _signatures(n: int, faces: np.ndarray) -> np.ndarray:
    """(N,) int64 signature of each vertex: its valence and the sums of its one- and two-ring valences."""
    e = unique_edges(faces).astype(np.int64)
    deg = np.bincount(e.ravel(), minlength=n).astype(np.int64)

    def ring_sum(v):
        return np.bincount(e[:, 0], v[e[:, 1]], n) + np.bincount(e[:, 1], v[e[:, 0]], n)
    s1 = ring_sum(deg).astype(np.int64)
    s2 = ring_sum(s1).astype(np.int64)
    return (deg * 1_000_003 + s1) * 1_000_033 + s2


class _EdgeThirds:
    """A triangle mesh's edges {u, v} with the third corners of the (at most two) triangles on them, looked up by
    their ends: orientation-free, so a mesh wound inconsistently (a mirrored half) is matched too. Edges of more
    than two triangles are left out."""

    def __init__(self, n: int, faces: np.ndarray):
        he = half_edges(faces).astype(np.int64)
        third = np.concatenate([faces[:, 2], faces[:, 0], faces[:, 1]]).astype(np.int64)
        key = np.minimum(he[:, 0], he[:, 1]) * n + np.maximum(he[:, 0], he[:, 1])
        order = np.argsort(key, kind="stable")
        key, third = key[order], third[order]
        uk, start, count = np.unique(key, return_index=True, return_counts=True)
        keep = count <= 2
        self.n, self.key = n, uk[keep]
        self.a = third[start[keep]]
        self.b = np.where(count[keep] == 2, third[np.minimum(start[keep] + 1, len(third) - 1)], -1)
        self._interior = None

    def interior(self):
        """(u, v, a, b, start, edges): the edges with two triangles (ends u, v, thirds a, b; (E2,) each) and, for
        each vertex i, the ids of those edges it is a corner of, ``edges[start[i]:start[i + 1]]`` (cached)."""
        if self._interior is None:
            two = self.b >= 0
            u, v = self.key[two] // self.n, self.key[two] % self.n
            a, b = self.a[two], self.b[two]
            corner = np.concatenate([u, v, a, b])
            ids = np.tile(np.arange(len(u)), 4)
            order = np.argsort(corner, kind="stable")
            start = np.concatenate([[0], np.cumsum(np.bincount(corner, minlength=self.n))])
            self._interior = (u, v, a, b, start, ids[order])
        return self._interior

    def lookup(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(found (M,) bool, a (M,), b (M,)): the third corners on the edges {u, v} (b = -1 on a border)."""
        k = np.minimum(u, v) * self.n + np.maximum(u, v)
        i = np.minimum(np.searchsorted(self.key, k), max(len(self.key) - 1, 0))
        found = self.key[i] == k
        return found, self.a[i], self.b[i]


def _grow(src: _EdgeThirds, tgt: _EdgeThirds, m: np.ndarray, used: np.ndarray) -> np.ndarray:
    """Grow the partial map m (N,) target -> source (-1: unmatched; changed in place) across triangles (step 3
    of the module docstring); used (N,) bool: source vertices taken (changed in place). Each round looks only at
    the edges beside the vertices the round before matched (an edge's state changes only with its four corners)."""
    n = tgt.n
    u, v, ta, tb, start, edges = tgt.interior()
    cand = np.arange(len(u))
    for _ in range(MAX_ROUNDS):
        # an edge with both ends matched and one of its thirds: the other third's partner is the source's other
        cu, cv, ca, cb = u[cand], v[cand], ta[cand], tb[cand]
        live = (m[cu] >= 0) & (m[cv] >= 0) & ((m[ca] >= 0) != (m[cb] >= 0))
        if not live.any():
            break
        cu, cv, ca, cb = cu[live], cv[live], ca[live], cb[live]
        found, sa, sb = src.lookup(m[cu], m[cv])
        known_a = m[ca] >= 0
        known = np.where(known_a, m[ca], m[cb])
        tw = np.where(known_a, cb, ca)
        sw = np.where(known == sa, sb, np.where(known == sb, sa, -1))
        ok = found & (sw >= 0)
        tw, sw = tw[ok], sw[ok]
        ok = ~used[sw]
        tw, sw = tw[ok], sw[ok]
        if not len(tw):
            break
        # the most proposed partner of each target vertex, then of each source vertex the most voted target
        pair, votes = np.unique(tw * n + sw, return_counts=True)
        pt, ps = pair // n, pair % n
        order = np.lexsort((-votes, pt))
        first = np.r_[True, pt[order][1:] != pt[order][:-1]]
        pt, ps, votes = pt[order][first], ps[order][first], votes[order][first]
        order = np.lexsort((-votes, ps))
        first = np.r_[True, ps[order][1:] != ps[order][:-1]]
        pt, ps = pt[order][first], ps[order][first]
        m[pt] = ps
        used[ps] = True
        cand = np.unique(edges[concat_ranges(start[pt], start[pt + 1] - start[pt])])
    return m


def _edge_share(src_edges: np.ndarray, n: int, tgt_edges: np.ndarray, m: np.ndarray) -> float:
    """Share of the target edges (E, 2) whose two ends map (m) onto a source edge (sorted keys lo * n + hi)."""
    a, b = m[tgt_edges[:, 0]], m[tgt_edges[:, 1]]
    if (a < 0).any() or (b < 0).any():
        return 0.0
    k = np.minimum(a, b) * n + np.maximum(a, b)
    return float(np.isin(k, src_edges).mean()) if len(k) else 1.0


def renumbering(src_faces, tgt_faces, n_verts: int, src_verts=None, tgt_verts=None,
                same_edges: float | None = None) -> np.ndarray | None:
    """The source vertex of each target vertex when the two meshes are one topology up to their vertex order.

    src_faces, tgt_faces (F, 3) int triangles of two meshes of ``n_verts`` vertices each (any winding);
    src_verts, tgt_verts: optional (N, 3) rest positions, to tell twin pieces (two eyeballs) and a symmetric
    head from its mirror image apart;
    same_edges: the share of edges that must land on source edges (default ``same_topology.SAME_EDGES``).
    Returns perm (N,) int64, target vertex i being source vertex perm[i] (a bijection),
    or None when no such order is found (the meshes are not one topology). The answers for the last
    ``CACHE_SIZE`` argument sets are kept by content: asked again (the transfer after the add-on's check), the
    order is not searched again."""
    from .same_topology import SAME_EDGES
    same_edges = SAME_EDGES if same_edges is None else float(same_edges)
    n = int(n_verts)
    sf = np.asarray(src_faces, np.int64).reshape(-1, 3)
    tf = np.asarray(tgt_faces, np.int64).reshape(-1, 3)
    if n < 3 or len(sf) != len(tf) or not len(sf):
        return None
    pos = [np.asarray(p, np.float64) for p in (src_verts, tgt_verts) if p is not None]
    key = mesh_hash(sf, tf, np.array([n, len(pos)], np.int64), np.array([same_edges]), *pos)
    if key not in _CACHE:
        while len(_CACHE) >= CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = _order(n, sf, tf, src_verts, tgt_verts, same_edges)
    return None if _CACHE[key] is None else _CACHE[key].copy()


def _order(n, sf, tf, src_verts, tgt_verts, same_edges):
    """``renumbering`` once its arguments are checked: perm (N,) or None."""
    sig_s, sig_t = _signatures(n, sf), _signatures(n, tf)
    if not np.array_equal(np.sort(sig_s), np.sort(sig_t)):
        return None
    return _match(n, sf, tf, sig_s, sig_t, src_verts, tgt_verts, same_edges)


def _match(n, sf, tf, sig_s, sig_t, src_verts, tgt_verts, same_edges):
    """``renumbering`` once the signatures agree: perm (N,) or None."""
    src, tgt = _EdgeThirds(n, sf), _EdgeThirds(n, tf)
    et = unique_edges(tf).astype(np.int64)
    comp_t = connected_components(n, tf)
    sizes = np.bincount(comp_t)
    m = np.full(n, -1, np.int64)
    used = np.zeros(n, bool)
    for c in np.argsort(-sizes, kind="stable"):
        members = np.flatnonzero(comp_t == c)
        while True:             # a piece joined at a single vertex (two halves of a head) grows from each part
            todo = members[m[members] < 0]
            if len(todo) < 3:    # a stray vertex or edge: given the source's left over below
                break
            found = None
            for t0, cands in _seeds(todo, sig_s, sig_t, used, m, src_verts, tgt_verts):
                found = _seed_trials(src, tgt, m, used, t0, cands, sig_s, sig_t, et, same_edges, src_verts,
                                     tgt_verts)
                if found is not None:
                    break
            if found is None:
                return None
            m, used = found
    rest = np.flatnonzero(m < 0)                   # stray vertices: the source's left over, in index order
    if len(rest):
        free = np.flatnonzero(~used)
        if len(free) != len(rest):
            return None
        m[rest] = free
    if len(np.unique(m)) != n or _edge_share(src.key, n, et, m) < same_edges:
        return None
    return m


def _seed_trials(src, tgt, m, used, t0, cands, sig_s, sig_t, et, same_edges, src_verts, tgt_verts):
    """Seed the target at the triangle of vertex t0, its first edge and a triangle on that edge, against each
    candidate source vertex's edges and their triangles, and grow (``_grow``): (m, used) of the
    trial that matched the most new vertices with at least ``same_edges`` of the edges among them on source
    edges (of equal ones, the one whose matched vertices a similarity without reflection fits best: not a mirror
    image of a symmetric head), or None."""
    n = tgt.n
    tu, tv = tgt.key // n, tgt.key % n
    at = np.flatnonzero((tu == t0) | (tv == t0))
    if not len(at):
        return None
    e0 = at[0]
    t1 = int(tv[e0] if tu[e0] == t0 else tu[e0])
    t2 = int(tgt.a[e0])
    su, sv = src.key // n, src.key % n
    best, best_score = None, None

    def fits(t, s_):        # a matched target vertex keeps its partner; an unmatched one takes a free vertex
        return s_ == m[t] if m[t] >= 0 else (s_ >= 0 and not used[s_] and sig_s[s_] == sig_t[t])

    for s0 in cands:
        for e in np.flatnonzero((su == s0) | (sv == s0)):
            s1 = int(sv[e] if su[e] == s0 else su[e])
            if not fits(t1, s1):
                continue
            for s2 in (int(src.a[e]), int(src.b[e])):
                if s2 == s1 or s2 == s0 or not fits(t2, s2):
                    continue
                trial, tused = m.copy(), used.copy()
                trial[[t0, t1, t2]] = [s0, s1, s2]
                tused[[s0, s1, s2]] = True
                _grow(src, tgt, trial, tused)
                new = (trial >= 0) & (m < 0)
                inner = et[new[et[:, 0]] | new[et[:, 1]]]
                if _edge_share(src.key, n, inner[(trial[inner] >= 0).all(axis=1)], trial) < same_edges:
                    continue
                score = (-int(new.sum()), _misfit(trial, src_verts, tgt_verts))
                if best_score is None or score < best_score:
                    best, best_score = (trial, tused), score
    return best


def _misfit(m, src_verts, tgt_verts) -> float:
    """RMS distance of the matched target vertices from their source partners under the best similarity without
    reflection, over the RMS spread of the target's (0 without positions)."""
    if src_verts is None or tgt_verts is None:
        return 0.0
    done = np.flatnonzero(m >= 0)
    if len(done) < 3:
        return 0.0
    p, q = np.asarray(src_verts, np.float64)[m[done]], np.asarray(tgt_verts, np.float64)[done]
    s, R, t = umeyama(p, q)
    r = np.sqrt(((s * p @ R.T + t - q) ** 2).sum(axis=1).mean())
    return float(r / max(np.sqrt(((q - q.mean(axis=0)) ** 2).sum(axis=1).mean()), 1e-30))


def _seeds(members, sig_s, sig_t, used, m, src_verts, tgt_verts):
    """(target seed vertex, source candidates) pairs for one target piece: its vertices of the rarest signatures
    (at most ``MAX_SEEDS``), each with the unmatched source vertices of its signature (at most ``MAX_PARTNERS``;
    nearest first under the similarity of the vertices matched so far, when positions are given)."""
    vals, counts = np.unique(sig_t[members], return_counts=True)
    free_s = np.flatnonzero(~used)
    fit = None
    if src_verts is not None and tgt_verts is not None and (m >= 0).sum() >= 3:
        done = np.flatnonzero(m >= 0)
        s, R, t = umeyama(np.asarray(src_verts, np.float64)[m[done]], np.asarray(tgt_verts, np.float64)[done],
                          reflect=True)
        fit = s * np.asarray(src_verts, np.float64) @ R.T + t
    for v in vals[np.argsort(counts, kind="stable")][:MAX_SEEDS]:
        t0 = int(members[np.flatnonzero(sig_t[members] == v)[0]])
        cands = free_s[sig_s[free_s] == v]
        if fit is not None and len(cands) > 1:
            cands = cands[np.argsort(np.linalg.norm(fit[cands] - np.asarray(tgt_verts, np.float64)[t0], axis=1))]
        yield t0, [int(x) for x in cands[:MAX_PARTNERS]]
