"""The pieces inside a face: teeth, tongue and eyeballs move as ICT's own do; mouth bags and lashes follow the skin
they meet (numpy only; runs inside Blender).

Game and film heads often carry these as separate pieces in the same object. They do not move with the skin
next to them: a smile stretches the lips, not the teeth; jawOpen carries the lower teeth with the jaw; a blink
leaves the eyeball where it is. Following the nearest skin (what the other pieces do: ``prepared_mesh``, and on
the template path ``Pieces.follow_skin``) drags the teeth 4 mm with the lips (ICT ground truth,
``tests/test_inner_parts.py``).

ICT-FaceKit models these pieces too, with their own deltas for the 53 keys (``model_core/data/
ict_inner_parts.npz``: ICT's generic neutral of every part after the skin, cm, MIT, see NOTICE). Once
``template_keys`` has registered ICT's face template onto the face, a vertex of another piece is brought into the
template's rest frame through that registration (``to_template_frame``: the registration's offset near it
removed, then the similarity undone). A piece whose vertices lie closer to ICT's inner parts than to its face
surface takes the inner parts' deltas, rotated and scaled by the similarity (``inner_keys``), unless it lands on
ICT's lashes, eye occlusion or lacrimal fluid for ``LID_SHARE`` of its vertices, or mostly on ICT's mouth or eye
sockets: then it follows the skin it meets (the lids' keys close the face's own eye, and a mouth bag stays
joined to the face's own lips; ICT's would not). A closed piece (an eyeball, a closed tooth: lashes and sockets are
open) takes ICT's rigid parts' motion wherever it lands (``CLOSED_RIGID``). A piece inside moves as a whole with the
jaw or with the skull, from ICT's rigid parts that do (``_rigid_sources``). ICT's eyeballs stay in its keys (its
gaze is a transform); a piece that takes their motion turns ``EYE_LOOK_DEG`` in the eyeLook keys, as an ARKit rig's
eyes do (``eye_look_keys``, ``Pieces._turn_eyeballs``). Each vertex takes the motion
of the ICT piece (a tooth, an eyeball, the tongue) that most of its ``VOTE_NEIGHBOURS`` nearest fellow vertices
land on, at its nearest point of that piece: a vertex that lands a few millimetres off, on the gum behind its
tooth, still moves with the tooth, and a small piece (one tooth, a row) moves as one ICT piece. Weak: one
connected piece holding both tooth rows is not split cleanly where the rows meet (ICT's 32 teeth taken as one
piece: the upper row moves 4-6 mm with the jaw on average); in the heads we know each row, or each tooth, is
its own piece.

Units: ICT centimetres, the face brought into ICT's frame (as in ``template_keys``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .correspond import PointGrid
from .mesh import argmin_per_group, depth_behind_front, normalize_rows

INNER_PATH = Path(__file__).resolve().parent.parent / "data" / "ict_inner_parts.npz"
OFFSET_NEIGHBOURS = 16    # registered template vertices whose offsets carry a point into the template's frame
INNER_REACH_CM = 1.5      # a piece is inside the face when its vertices lie (median) within this of ICT's parts
RIGID, SOCKET, ON_LIDS = 0, 1, 2   # ``InnerParts.kind``
CLOSED_RIGID = True       # a closed piece moves as ICT's rigid parts wherever it lands (``inner_keys``' closed)
EYE_ABOVE_CM = 0.0        # ICT's eyeballs: its still rigid pieces centred above this height (template frame)
EYE_LOOK_DEG = 25.0       # an eyeball piece turns this far in eyeLook* at weight 1 (0: stays, as ICT's own do)
JAW_PIECE_CM = 0.5        # an ICT inner-part vertex jawOpen moves over this moves with the jaw
RIGID_VOTES = True        # a piece inside takes the motion of ICT's rigid parts only (never a socket's)
SOCKET_SHARE = 0.5        # a piece this much of which lands on ICT's sockets, its rim on the face (a mouth bag),
SOCKET_ALONE = 0.95       # ... or this much, rim or not, follows the skin (``inner_keys``' touching)
TOUCH_EDGES = 0.5         # a piece's rim is on the face within this many of the face's median edge (its median)
LID_SHARE = 0.25          # a piece this much of which lands on ICT's lashes / eye occlusion follows the lids' skin
                          # (ICT's teeth and eyeballs: at most 3 %; an eye-occlusion strip lying on the eyeball
                          # 45 %: a lid piece left still shows, an eyeball dragged 1 mm hides under the lid)
SOCKET_MIN_CM = 0.05      # face vertices this far off the registered template may take the sockets' motion,
SOCKET_REACH_CM = 1.5     # fading out this far from ICT's sockets (``fill_sockets``)
OFFSET_BOUND_CM = 3.0     # points further than reach + this from the sockets by the similarity alone are not read
SOCKET_NEIGHBOURS = 4     # a face vertex beyond the template takes the mean of this many nearest socket vertices
SIDE_MARGIN_CM = 0.3      # a point this far above (below) ICT's lip contact lies on the upper (lower) side of the mouth
SIDE_DEPTH_CM = 0.3       # the mouth's cavity starts this far behind the centre of the template's mouth opening
                          # (no template vertex lies in it: a face vertex there is a mouth bag's wall, not skin)
SIDE_REACH_CM = 3.0       # a face vertex in the cavity takes its side's socket motion whole from this far
SIDE_Y_WEIGHT = 0.25      # ... read above or below it: heights count this much (a flat bag's floor 1.5 cm above ICT's
                          # reads the floor, not the socket's side walls)
CAVITY_ON_TEMPLATE = True  # a point in the cavity takes its side's socket motion even where the registration pulled
                          # the template's lip lining onto it (within SOCKET_MIN_CM), when it lies deeper behind the
                          # face's front than the template's lining reaches behind its own (``mouth_lining_depth``)
BAND = 2                  # ``point_sides``'s code of a point in the cavity on the contact band
CAVITY_BAND = True        # a point in the cavity within SIDE_MARGIN_CM of the contact takes both sides' socket motion,
                          # mixed by its height (``band_share``): a bag's back wall across the contact stretches from
                          # the still palate to the dropping floor instead of keeping the template's lip corner
VOTE_NEIGHBOURS = 64      # a vertex moves as the ICT piece most of its this many nearest fellow vertices land on


@dataclass
class InnerParts:
    """ICT's inner parts: verts (M, 3) cm (generic neutral), modes (K, M, 3) float32 deltas (cm, the template's
    key order), piece (M,) int64 connected piece of ICT's mesh each vertex belongs to, kind (M,) int64: ``RIGID``
    (gums and tongue, teeth, eyeballs), ``SOCKET`` (the mouth and eye sockets: soft, they meet the lips and lids)
    or ``ON_LIDS`` (lashes, eye occlusion, lacrimal fluid); jaw: the key of ``modes`` that opens the jaw (ICT's
    jawOpen; a transfer source's mouth-opening key), None when there is none. The same class carries a transfer
    source's own pieces (``transfer._piece_keys``: its keys, all ``RIGID``)."""
    verts: np.ndarray
    modes: np.ndarray
    piece: np.ndarray
    kind: np.ndarray
    jaw: int | None = None

    @classmethod
    def load(cls, path=None) -> "InnerParts":
        from .facs_names import ICT_NAMES
        from .template_keys import open_asset
        with open_asset(path or INNER_PATH, "inner-parts data") as d:
            return cls(d["verts"].astype(np.float64), d["modes"].astype(np.float32), d["piece"].astype(np.int64),
                       d["kind"].astype(np.int64), ICT_NAMES.index("jawOpen"))

    def grid(self) -> PointGrid:
        if not hasattr(self, "_grid"):
            self._grid = PointGrid(self.verts)
        return self._grid

    def rigid_grid(self, jaw: bool | None = None) -> tuple[PointGrid, np.ndarray]:
        """(a grid of the ``RIGID`` vertices, their indices (R,) into ``verts``), built once; with ``jaw``, only the
        rigid vertices that move with the jaw (True: the lower teeth and gums, the tongue: jawOpen moves them over
        ``JAW_PIECE_CM``) or only those that do not (False: the upper teeth and gums, the eyeballs)."""
        if not hasattr(self, "_rigid"):
            self._rigid = {}
        if jaw not in self._rigid:
            rigid = self.kind == RIGID
            if jaw is not None:
                rigid &= self.with_jaw() == jaw
            idx = np.flatnonzero(rigid)
            self._rigid[jaw] = (PointGrid(self.verts[idx]), idx)
        return self._rigid[jaw]

    def eyeballs(self) -> np.ndarray:
        """(M,) bool: the eyeballs: rigid pieces the jaw does not move, centred above ``EYE_ABOVE_CM`` (the template's
        frame: ICT's eyes at 3.6 cm, its upper teeth below -1 cm)."""
        still = (self.kind == RIGID) & ~self.with_jaw()
        height = np.bincount(self.piece, self.verts[:, 1]) / np.maximum(np.bincount(self.piece), 1)
        return still & (height[self.piece] > EYE_ABOVE_CM)

    def with_jaw(self) -> np.ndarray:
        """(M,) bool: the vertex moves with the jaw (the ``jaw`` key moves it over ``JAW_PIECE_CM``; ICT's gums are
        one piece, upper and lower); all False without a jaw key. Built once (read-only)."""
        if not hasattr(self, "_with_jaw"):       # built once: ``_rigid_sources`` asks for every piece
            self._with_jaw = np.zeros(len(self.verts), bool) if self.jaw is None else \
                np.linalg.norm(self.modes[self.jaw].astype(np.float64), axis=1) > JAW_PIECE_CM
        return self._with_jaw


_DEFAULT: list = []


def default_inner_parts() -> InnerParts:
    """The shipped inner parts (``INNER_PATH``), loaded once."""
    if not _DEFAULT:
        _DEFAULT.append(InnerParts.load())
    return _DEFAULT[0]


def to_template_frame(points: np.ndarray, tpl_verts: np.ndarray, registered: np.ndarray, scale: float,
                      rot: np.ndarray, shift: np.ndarray, anchors: np.ndarray | None = None) -> np.ndarray:
    """Points near a registered face brought into the template's rest frame.

    points (N, 3) cm in the face's frame; tpl_verts (M, 3) the template at rest; registered (M, 3) where the
    registration put them (the face's frame); the similarity ``scale * rot @ x + shift`` it started from; anchors
    (M,) bool: the template vertices whose offsets are read (default all). Each point moves back by the
    inverse-distance mean of its ``OFFSET_NEIGHBOURS`` nearest anchors' offsets (registered - similarity image),
    then the similarity is undone. Returns (N, 3) float64 cm."""
    points = np.asarray(points, np.float64)
    if not len(points):
        return np.zeros((0, 3))
    use = np.arange(len(tpl_verts)) if anchors is None else np.flatnonzero(anchors)
    offset = registered[use] - (scale * tpl_verts[use] @ rot.T + shift)          # (A, 3)
    idx, d2 = PointGrid(registered[use]).knn(points, min(OFFSET_NEIGHBOURS, len(use)))
    w = normalize_rows(1.0 / (d2 + 1e-6))
    back = points - np.einsum("nk,nkc->nc", w, offset[idx])
    return (back - shift) @ rot / scale


def _in_box(points: np.ndarray, targets: np.ndarray, margin: float, scale: float, rot: np.ndarray,
            shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """points (N, 3) in the face's frame brought into the template's by the similarity alone (no registration
    offsets): (q (N, 3) cm, inside (N,) bool: within ``margin`` cm of the bounding box of ``targets`` (M, 3)).
    A cheap cut before exact nearest-neighbour searches, which compare far queries with every point."""
    q = (points - shift) @ rot / scale
    return q, ((q >= targets.min(axis=0) - margin) & (q <= targets.max(axis=0) + margin)).all(axis=1)


def inner_keys(parts: InnerParts, tpl_verts: np.ndarray, points: np.ndarray, labels: np.ndarray, registered,
               scale: float, rot: np.ndarray, shift: np.ndarray, anchors: np.ndarray | None = None,
               key_rot: np.ndarray | None = None, key_gain: np.ndarray | None = None, closed=None, touching=None,
               return_sources: bool = False) -> tuple:
    """ICT's inner-part deltas on the pieces of a face that lie inside it.

    parts: ``InnerParts``; tpl_verts (M, 3) the face template at rest (cm); points (N, 3) the vertices of the
    pieces that are not the face surface, cm in the face's frame; labels (N,) their piece; registered, scale,
    rot, shift: the template's registration (``TemplateMatch``); anchors: see ``to_template_frame``; key_rot
    (3, 3): the rotation the deltas are carried with (``TemplateMatch.key_rot``; None: ``rot``); key_gain: optional
    (K,) factor of each key (``TemplateMatch.key_gain``: a far narrower mouth's keys, and so its teeth, move less);
    closed: optional (N,) bool, the point's piece is a closed surface (``mesh.closed_components``): such a piece
    (an eyeball, a tooth) is neither lashes nor a socket, it takes the motion of ICT's rigid parts wherever it lands
    (a remeshed head's eyeball landed a third on ICT's eye occlusion and followed the lids: 1.3 cm in a blink);
    touching: optional (N,) bool, the point's piece has its rim on the face (``mesh.boundary_vertices`` near the face
    surface: a mouth bag or eye socket made as a piece of its own): only such a piece, or one lying almost wholly on
    ICT's sockets (``SOCKET_ALONE``), is taken for a socket; a tooth row landing mostly on ICT's mouth socket
    (MakeHuman's lower row: 63 %, Ready Player Me's: 83 %) moves as a tooth.
    Returns (rows (R,) int64 indices into points of the vertices that take inner-part motion, keys (K, R, 3) float32
    cm in the face's frame) and, with ``return_sources``, (R,) int64 the inner-part vertex each takes it from."""
    points = np.asarray(points, np.float64)
    labels = np.asarray(labels, np.int64)
    if len(points) != len(labels):
        raise ValueError(f"inner_keys: {len(points)} points but {len(labels)} piece labels")
    # pieces wholly outside a box around the inner parts (hair, a hat: by the similarity alone) follow the skin
    _, inside = _in_box(points, parts.verts, INNER_REACH_CM + OFFSET_BOUND_CM, scale, rot, shift)
    keep = np.flatnonzero(np.isin(labels, np.unique(labels[inside])))
    if not len(keep):
        none = np.zeros(0, np.int64), np.zeros((len(parts.modes), 0, 3), np.float32)
        return none + (np.zeros(0, np.int64),) if return_sources else none
    closed = np.zeros(len(points), bool) if closed is None else np.asarray(closed, bool)
    touching = np.ones(len(points), bool) if touching is None else np.asarray(touching, bool)
    rows, keys, src = _inner_keys(parts, tpl_verts, points[keep], labels[keep], registered, scale, rot, shift,
                                  anchors, rot if key_rot is None else key_rot, closed[keep], touching[keep])
    if key_gain is not None:
        keys *= np.asarray(key_gain, np.float32)[:, None, None]
    return (keep[rows], keys, src) if return_sources else (keep[rows], keys)


def _inner_keys(parts: InnerParts, tpl_verts: np.ndarray, points: np.ndarray, labels: np.ndarray, registered,
                scale: float, rot: np.ndarray, shift: np.ndarray, anchors: np.ndarray | None, key_rot: np.ndarray,
                closed: np.ndarray, touching: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``inner_keys`` on the pieces near the inner parts, with the sources (``inner_keys``' return_sources)."""
    q = to_template_frame(points, tpl_verts, registered, scale, rot, shift, anchors)
    near, d2_in = parts.grid().knn(q, 1)
    _, d2_skin = PointGrid(tpl_verts).knn(q, 1)
    d_in, d_skin = np.sqrt(d2_in[:, 0]), np.sqrt(d2_skin[:, 0])
    near = near[:, 0]
    rows, src = [], []
    order = np.argsort(labels, kind="stable")
    starts = np.flatnonzero(np.r_[True, labels[order][1:] != labels[order][:-1]])
    for sel in np.split(order, starts[1:]):             # each piece's vertices (hair cards: thousands of pieces)
        on_skin = np.median(d_in[sel]) > min(INNER_REACH_CM, np.median(d_skin[sel]))
        kind = parts.kind[near[sel]]
        if closed[sel].all() and not on_skin and CLOSED_RIGID:     # an eyeball, a tooth: ICT's rigid parts only
            rows.append(sel)
            src.append(_rigid_sources(parts, q[sel]))
            continue
        socket = (kind != RIGID).mean()
        if on_skin or (kind == ON_LIDS).mean() > LID_SHARE or socket > SOCKET_ALONE or (
                socket > SOCKET_SHARE and touching[sel].any()):
            continue            # on the skin (brows, a beard), on the lids (lashes), a socket or far away: follows
        rows.append(sel)
        if RIGID_VOTES:         # a tooth row landing partly on ICT's mouth socket moves as ICT's teeth, not the socket
            src.append(_rigid_sources(parts, q[sel]))
        else:
            src.append(_piece_sources(parts, q[sel], parts.piece[near[sel]]))
    if not rows:
        return np.zeros(0, np.int64), np.zeros((len(parts.modes), 0, 3), np.float32), np.zeros(0, np.int64)
    rows, src = np.concatenate(rows), np.concatenate(src)
    keys = scale * (parts.modes[:, src].astype(np.float64) @ key_rot.T)
    return rows, keys.astype(np.float32), src


def _rigid_sources(parts: InnerParts, q: np.ndarray) -> np.ndarray:
    """``_piece_sources`` among ICT's rigid parts, for the vertices q (n, 3) of one piece: the piece moves with the
    jaw when most of its vertices land nearest a rigid part that does (the lower teeth, the tongue), else it stays
    with the skull (the upper teeth, the eyeballs), and its vertices vote among those parts only: a tooth row is
    not torn where its edge lands on the other row (MakeHuman's upper row: 5 of its 68 vertices took the lower
    teeth's 3.7 cm at jawOpen)."""
    grid, idx = parts.rigid_grid()
    jaw = bool(parts.with_jaw()[idx[grid.knn(q, 1)[0][:, 0]]].mean() > 0.5)
    grid, idx = parts.rigid_grid(jaw)
    allowed = np.zeros(len(parts.verts), bool)
    allowed[idx] = True
    return _piece_sources(parts, q, parts.piece[idx[grid.knn(q, 1)[0][:, 0]]], allowed)


def _piece_sources(parts: InnerParts, q: np.ndarray, vote: np.ndarray, allowed: np.ndarray | None = None
                   ) -> np.ndarray:
    """For the vertices of one piece, q (n, 3) in the template's frame and vote (n,) the ICT piece each lands
    closest to: (n,) int64 the inner-part vertex each takes its motion from (its nearest on the ICT piece most of
    its ``VOTE_NEIGHBOURS`` nearest fellow vertices vote for; among the ``allowed`` (M,) bool vertices only, when
    given)."""
    k = min(VOTE_NEIGHBOURS, len(q))
    nbr, _ = PointGrid(q).knn(q, k)                                   # (n, k) fellow vertices, itself included
    pieces, code = np.unique(vote[nbr], return_inverse=True)
    code = code.reshape(nbr.shape)
    rows = np.repeat(np.arange(len(q)), k)
    pair, count = np.unique(rows * len(pieces) + code.ravel(), return_counts=True)
    best = argmin_per_group(pair // len(pieces), -count, len(q))       # the most voted piece of every row
    chosen = pieces[pair[best] % len(pieces)]
    src = np.empty(len(q), np.int64)
    for p in np.unique(chosen):
        on = np.flatnonzero((parts.piece == p) if allowed is None else (parts.piece == p) & allowed)
        sel = np.flatnonzero(chosen == p)
        src[sel] = on[PointGrid(parts.verts[on]).knn(q[sel], 1)[0][:, 0]]
    return src


def mouth_sides(parts: InnerParts, tpl) -> tuple[np.ndarray, float, np.ndarray]:
    """Which side of the mouth ICT's socket vertices lie on: (side (S,) int64 over ``parts.kind == SOCKET``: +1 the
    mouth socket above the template's lip contact (the palate: still at jawOpen), -1 below it (the floor: it turns
    with the jaw), 0 the eye sockets and the band within ``SIDE_MARGIN_CM`` of the contact; the contact's height
    y_c (cm, template frame: the centre of the template's lowest opening, its mouth); the mouth's cavity as a box
    (2, 3) cm: across, the mouth opening's width; up and down, the mouth socket's; from the socket's back to
    ``SIDE_DEPTH_CM`` behind the opening's centre, behind the lips)."""
    sock = np.flatnonzero(parts.kind == SOCKET)
    mouth = tpl.verts[min(tpl.openings, key=lambda o: tpl.verts[o, 1].mean())]
    c = mouth.mean(axis=0)
    piece = parts.piece[sock[np.argmin(np.linalg.norm(parts.verts[sock] - c, axis=1))]]
    in_mouth = parts.piece[sock] == piece
    y = parts.verts[sock, 1] - c[1]
    side = np.where(in_mouth & (np.abs(y) > SIDE_MARGIN_CM), np.sign(y), 0).astype(np.int64)
    m = parts.verts[sock[in_mouth]]
    box = np.array([[mouth[:, 0].min(), m[:, 1].min(), m[:, 2].min()],
                    [mouth[:, 0].max(), m[:, 1].max(), c[2] - SIDE_DEPTH_CM]])
    return side, float(c[1]), box


def point_sides(points: np.ndarray, y_c: float, box: np.ndarray) -> np.ndarray:
    """(N,) int64: +1 / -1 for points (N, 3) cm in the template's frame inside the mouth's cavity (``box`` (2, 3))
    and more than ``SIDE_MARGIN_CM`` above / below the lip contact y_c (``mouth_sides``); with ``CAVITY_BAND``,
    ``BAND`` for those inside it within that margin of the contact; else 0."""
    inside = ((points >= box[0]) & (points <= box[1])).all(axis=1)
    y = points[:, 1] - y_c
    off = np.abs(y) > SIDE_MARGIN_CM
    band = BAND if CAVITY_BAND else 0
    return np.where(inside, np.where(off, np.sign(y), band), 0).astype(np.int64)


def band_share(y: np.ndarray, y_c: float) -> np.ndarray:
    """(N,) in 0..1: the upper side's share in the socket motion of cavity points at heights y (N,) cm (template
    frame) on the contact band (within ``SIDE_MARGIN_CM`` of y_c): 0 at the band's bottom, 1 at its top, so the
    motion runs on from the floor's below it to the palate's above it."""
    return np.clip((np.asarray(y, np.float64) - y_c + SIDE_MARGIN_CM) / (2.0 * SIDE_MARGIN_CM), 0.0, 1.0)


def socket_keys(parts: InnerParts, tpl_verts: np.ndarray, points: np.ndarray, registered, scale: float,
                rot: np.ndarray, shift: np.ndarray, anchors: np.ndarray | None = None, reach: float = np.inf,
                sides=None, key_rot: np.ndarray | None = None, band: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """ICT's mouth and eye sockets' deltas on face vertices the face template does not reach (a mouth bag or eye
    socket modelled joined to the lips or lids, behind ICT's inner lip and lid rings).

    points (N, 3) cm in the face's frame; the registration as in ``inner_keys``; reach: only the points within
    this distance (cm, template frame) of ICT's sockets. Each such point takes the inverse-square-distance mean
    of its ``SOCKET_NEIGHBOURS`` nearest socket vertices' deltas (soft tissue: no piece vote), scaled by the
    similarity and rotated by ``key_rot`` (None: ``rot``). sides: optional (``mouth_sides``'s side, y_c, box): a
    point in the mouth's cavity on one side of the mouth (``point_sides``) reads only that side's socket vertices,
    above or below it (heights weighted ``SIDE_Y_WEIGHT``): a mouth bag's roof stays with the palate at jawOpen,
    its floor turns with the jaw's. band: optional (N,) bool, the points allowed the contact band's mix
    (``band_share``: both sides' socket motion, by height); the others on the band read as off the cavity (None:
    none).
    Returns (rows (R,) int64 the points within reach, keys (K, R, 3) float32 cm in the face's frame, dist (R,) cm
    from each to the nearest socket vertex it reads (template frame; heights weighted on a side), side (R,) int64
    each point's side (+1, -1, ``BAND`` or 0; 0 without ``sides``))."""
    points = np.asarray(points, np.float64)
    sock = np.flatnonzero(parts.kind == SOCKET)
    if not len(points) or not len(sock):
        return (np.zeros(0, np.int64), np.zeros((len(parts.modes), 0, 3), np.float32), np.zeros(0),
                np.zeros(0, np.int64))
    grid = PointGrid(parts.verts[sock])
    # first by the similarity alone (cheap): the registration's offsets are far below OFFSET_BOUND_CM; a box
    # around the sockets before the exact search (far queries make the grid search compare with every point)
    margin = reach + OFFSET_BOUND_CM
    q_sim, inside = _in_box(points, parts.verts[sock], margin, scale, rot, shift)
    box = np.flatnonzero(inside)
    _, d2 = grid.knn(q_sim[box], 1)
    cand = box[np.sqrt(d2[:, 0]) < margin]
    q = to_template_frame(points[cand], tpl_verts, registered, scale, rot, shift, anchors)
    k = min(SOCKET_NEIGHBOURS, len(sock))
    side = np.zeros(len(cand), np.int64) if sides is None else point_sides(q, sides[1], sides[2])
    if band is not None:                 # the band's blend only where the caller allows it (deep in a bag)
        side[(side == BAND) & ~np.asarray(band, bool)[cand]] = 0
    else:
        side[side == BAND] = 0
    idx, d2 = np.zeros((len(cand), k), np.int64), np.zeros((len(cand), k))
    squash = np.array([1.0, SIDE_Y_WEIGHT, 1.0])
    grids = {}

    def side_knn(s, pick):
        # a point in the mouth's cavity reads its side's socket (the roof the palate, the floor the jaw's floor)
        # above or below it: heights count SIDE_Y_WEIGHT as much as depth and width
        allowed = np.flatnonzero(sides[0] == s)
        if s not in grids:
            grids[s] = PointGrid(parts.verts[sock[allowed]] * squash)
        i, dd = grids[s].knn(q[pick] * squash, k)
        return allowed[i], dd
    for s in np.unique(side):
        pick = np.flatnonzero(side == s)
        if s == 0:
            idx[pick], d2[pick] = grid.knn(q[pick], k)
        elif s != BAND:
            idx[pick], d2[pick] = side_knn(s, pick)
    # on the contact band: both sides read, mixed by height (``band_share``); the distance mixed alike
    mixed = np.flatnonzero(side == BAND)
    up = band_share(q[mixed, 1], sides[1]) if len(mixed) else np.zeros(0)
    read = {}
    if len(mixed):
        read = {+1: side_knn(+1, mixed), -1: side_knn(-1, mixed)}
        d2[mixed] = (up[:, None] * np.sqrt(read[+1][1]) + (1.0 - up[:, None]) * np.sqrt(read[-1][1])) ** 2
    keep = np.flatnonzero(np.sqrt(d2[:, 0]) < reach)
    at = np.full(len(cand), -1, np.int64)
    at[mixed] = np.arange(len(mixed))

    def mean_deltas(ii, dd):
        w = normalize_rows(1.0 / (dd + 1e-6))
        out = np.zeros((len(parts.modes), len(ii), 3))
        for j in range(ii.shape[1]):                     # one neighbour at a time: no (K, R, k, 3) temporary
            out += w[None, :, j, None] * parts.modes[:, sock[ii[:, j]]]
        return out
    deltas = mean_deltas(idx[keep], d2[keep])
    on_band = np.flatnonzero(side[keep] == BAND)
    if len(on_band):
        b = at[keep[on_band]]
        u = up[b][None, :, None]
        deltas[:, on_band] = (u * mean_deltas(read[+1][0][b], read[+1][1][b])
                              + (1.0 - u) * mean_deltas(read[-1][0][b], read[-1][1][b]))
    rows, d2, side = cand[keep], d2[keep], side[keep]
    keys = scale * (deltas @ (rot if key_rot is None else key_rot).T)
    return rows, keys.astype(np.float32), np.sqrt(d2[:, 0]), side


def offset_anchors(tpl) -> np.ndarray:
    """(M,) bool: the face template's vertices whose registration offsets carry points into its frame
    (``to_template_frame``): all but the lips' and lids' interior behind their margins, which are pulled
    wherever a mouth bag or socket of the face lies and do not say where the teeth went (measured on ICT's head
    with its mouth socket: teeth mapped 1.1 cm off with them, 0.3 cm without)."""
    anchors = np.ones(len(tpl.verts), bool)
    for _rim, interior in tpl.margins:
        anchors[interior] = False
    return anchors


def deep_in_mouth(pts: np.ndarray, faces: np.ndarray, candidates: np.ndarray, box: np.ndarray, lining: float,
                  margin: float, scale: float, rot: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """(N,) bool: the face's vertices (pts (N, 3) cm, faces (F, 3)) among ``candidates`` (N,) bool that lie within
    ``margin`` cm of the mouth's cavity ``box`` (2, 3) (template frame, by the similarity (scale, rot, shift) alone;
    ``OFFSET_BOUND_CM`` covers every point the registration's offsets may carry into the box)
    and deeper behind the face's frontmost surface (``mesh.depth_behind_front``) than ``lining`` cm (the
    template's lip lining's reach, ``FaceTemplate.mouth_lining_depth``) times the scale: a bag's walls, not lips."""
    deep = np.zeros(len(pts), bool)
    _, region = _in_box(pts, box, margin, scale, rot, shift)
    rows = np.flatnonzero(region & candidates)
    if len(rows):
        deep[rows] = depth_behind_front(pts, faces, pts[rows]) > lining * scale
    return deep


def fill_sockets(parts: InnerParts, tpl, keys: np.ndarray, pts: np.ndarray, dist: np.ndarray, registered,
                 scale: float, rot: np.ndarray, shift: np.ndarray, sides: bool = True,
                 key_rot: np.ndarray | None = None, key_gain: np.ndarray | None = None,
                 faces: np.ndarray | None = None) -> np.ndarray:
    """Face vertices nearer ICT's mouth or eye sockets than the registered template (a mouth bag joined to the
    lips, behind the template's inner lip rings) take the sockets' deltas (``socket_keys``) in the share
    w = d_tpl^2 / (d_tpl^2 + d_socket^2), faded out toward ``SOCKET_REACH_CM`` from the sockets.

    With ``sides``, each side of the mouth reads its own socket (``mouth_sides``): a bag's roof the palate, its
    floor the jaw's floor; and a face vertex inside the mouth's cavity (``point_sides``: no template vertex lies
    there, so it is a bag's wall) takes its side's socket motion whole, from up to ``SIDE_REACH_CM`` away
    (fading over the second half): its closest template point says nothing (a low-poly bag's roof took ICT's
    lip interior's and lip corners' motion and swung down with the jaw, 0.4-0.9 cm).

    tpl: the ICT ``FaceTemplate``; keys (K, N, 3) float32 cm the template's keys on the face; pts (N, 3) the face
    (cm); dist (N,) cm from each to the registered template (inf beyond its reach: left as they are); the
    registration (and key_rot) as in ``inner_keys``; key_gain: optional (K,) factor of each key (the template's
    keys' on a far narrower mouth: ``template_keys.slit_key_gains``); faces: optional (F, 3) the face's triangles:
    with them (and ``CAVITY_ON_TEMPLATE``), a vertex the registration put on the template but lying deeper behind
    the face's front than the template's lip lining reaches behind its own (a deep bag the lining was pulled over)
    is read as one off it; in the cavity it then takes its side's socket motion, as its neighbours off the template
    do (VRoid's bag floor moved 3.4 cm beside 1.7 cm: a ridge when the jaw opened). Returns keys, updated in
    place."""
    # beyond the template's reach (inf: the skull, the neck) nothing is read: a bag's back 3 cm behind the lips
    # moves little (ICT's: 0.1 cm at jawOpen)
    on_tpl = dist <= SOCKET_MIN_CM
    mouth = mouth_sides(parts, tpl) if sides else None
    reach = max(SOCKET_REACH_CM, SIDE_REACH_CM) if sides else SOCKET_REACH_CM
    deep = np.zeros(len(pts), bool)         # deeper behind the face's front than the template's lip lining reaches
    lining = tpl.mouth_lining_depth if (sides and faces is not None) else None
    if lining is not None and (CAVITY_ON_TEMPLATE or CAVITY_BAND):
        deep = deep_in_mouth(pts, faces, np.isfinite(dist), mouth[2], lining, OFFSET_BOUND_CM, scale, rot, shift)
    near = np.flatnonzero((~on_tpl | (deep & CAVITY_ON_TEMPLATE)) & np.isfinite(dist))
    rows, sk, d_sock, side = socket_keys(parts, tpl.verts, pts[near], registered, scale, rot, shift,
                                         offset_anchors(tpl), reach, mouth, key_rot, band=deep[near])
    if not len(rows):
        return keys
    near = near[rows]
    d_tpl = dist[near]
    w = d_tpl ** 2 / (d_tpl ** 2 + d_sock ** 2 + 1e-12) * np.clip((SOCKET_REACH_CM - d_sock) / SOCKET_REACH_CM, 0, 1)
    if sides:
        inside = side != 0
        w = np.where(inside, np.clip(2.0 * (SIDE_REACH_CM - d_sock) / SIDE_REACH_CM, 0, 1), w)
        w[on_tpl[near] & ~inside] = 0.0      # on the template, outside the cavity: the template's motion
    w = w.astype(np.float32)[None, :, None]
    if key_gain is not None:
        sk = sk * np.asarray(key_gain, np.float32)[:, None, None]
    keys[:, near] = (1.0 - w) * keys[:, near] + w * sk
    return keys


# the turn of each eyeLook key: (side, axis (canonical), sign); +X is the face's left, +Y up, +Z forward
EYE_LOOKS = {"eyeLookUp": (0, -1.0), "eyeLookDown": (0, 1.0), "eyeLookIn": (1, -1.0), "eyeLookOut": (1, 1.0)}


def sphere_centre(points: np.ndarray) -> np.ndarray:
    """(3,) the centre of the sphere fitted to points (n, 3) by linear least squares (an eyeball, or the front cap
    of one); their mean when they are too few or flat."""
    p = np.asarray(points, np.float64)
    if len(p) < 4:
        return p.mean(axis=0)
    a = np.c_[2.0 * p, np.ones(len(p))]
    sol, *_ = np.linalg.lstsq(a, (p * p).sum(axis=1), rcond=None)
    centre = sol[:3]
    spread = np.linalg.norm(p - p.mean(axis=0), axis=1).max()
    return centre if np.linalg.norm(centre - p.mean(axis=0)) < 2.0 * spread else p.mean(axis=0)


def eye_look_keys(points: np.ndarray, degrees: float = EYE_LOOK_DEG, centre=None) -> dict:
    """The eyeLook keys of an eyeball: {ICT key name: (n, 3) displacement} for points (n, 3) in a canonical frame
    (+Y up, +Z forward, +X the face's left): the eyeball turned about ``centre`` (3,) (None: its fitted sphere's) by
    ``degrees``, up and down about X, in (toward the nose) and out about Y, as its side's eyeLookUp/Down/In/Out (a left
    eye: its centre at +X). A key moves the points linearly to the turned pose, as an artist's blendshape does (Ready
    Player Me's eyes: 23.5 degrees every way)."""
    p = np.asarray(points, np.float64)
    c = sphere_centre(p) if centre is None else np.asarray(centre, np.float64)
    side = "L" if c[0] > 0 else "R"
    out = {}
    for name, (axis, sign) in EYE_LOOKS.items():
        a = np.radians(degrees) * sign * ((1.0 if side == "L" else -1.0) if axis == 1 else 1.0)
        cs, sn = np.cos(a), np.sin(a)
        turn = np.array([[1, 0, 0], [0, cs, -sn], [0, sn, cs]]) if axis == 0 else \
            np.array([[cs, 0, sn], [0, 1, 0], [-sn, 0, cs]])
        out[f"{name}_{side}"] = (p - c) @ turn.T + c - p
    return out
