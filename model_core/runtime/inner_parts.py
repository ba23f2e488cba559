"""The pieces inside a face: teeth, gums and tongue, eyeballs, mouth and eye sockets, lashes (numpy only; runs
inside Blender).

Game and film heads often carry these as separate pieces in the same object. They do not move with the skin
next to them: a smile stretches the lips, not the teeth; jawOpen carries the lower teeth with the jaw; a blink
leaves the eyeball where it is. Following the nearest skin (what the other pieces do: ``prepared_mesh``, and on
the template path ``FacsKeys._skin_followers``) drags the teeth 4 mm with the lips (ICT ground truth,
``tests/test_inner_parts.py``).

ICT-FaceKit models these pieces too, with their own deltas for the 53 keys (``model_core/data/
ict_inner_parts.npz``: ICT's generic neutral of every part after the skin, cm, MIT, see NOTICE). Once
``template_keys`` has registered ICT's face template onto the face, a vertex of another piece is brought into the
template's rest frame through that registration (``to_template_frame``: the registration's offset near it
removed, then the similarity undone). A piece whose vertices lie closer to ICT's inner parts than to its face
surface takes the inner parts' deltas, rotated and scaled by the similarity (``inner_keys``), unless it lands on
ICT's lashes, eye occlusion or lacrimal fluid for ``LID_SHARE`` of its vertices: then it follows the skin of the
lids it sits on (the lids' keys close the face's own eye; ICT's lashes would not). Each vertex takes the motion
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
from .mesh import argmin_per_group, normalize_rows

INNER_PATH = Path(__file__).resolve().parent.parent / "data" / "ict_inner_parts.npz"
OFFSET_NEIGHBOURS = 8     # registered template vertices whose offsets carry a point into the template's frame
INNER_REACH_CM = 1.5      # a piece is inside the face when its vertices lie (median) within this of ICT's parts
LID_SHARE = 0.25          # a piece this much of which lands on ICT's lashes / eye occlusion follows the lids' skin
                          # (ICT's teeth and eyeballs: at most 3 %; an eye-occlusion strip lying on the eyeball
                          # 45 %: a lid piece left still shows, an eyeball dragged 1 mm hides under the lid)
VOTE_NEIGHBOURS = 64      # a vertex moves as the ICT piece most of its this many nearest fellow vertices land on


@dataclass
class InnerParts:
    """ICT's inner parts: verts (M, 3) cm (generic neutral), modes (K, M, 3) float32 deltas (cm, the template's
    key order), piece (M,) int64 connected piece of ICT's mesh each vertex belongs to, follows (M,) bool the
    pieces that sit on the lids and follow the skin (lashes, eye occlusion, lacrimal fluid)."""
    verts: np.ndarray
    modes: np.ndarray
    piece: np.ndarray
    follows: np.ndarray

    @classmethod
    def load(cls, path=None) -> "InnerParts":
        path = Path(path or INNER_PATH)
        if not path.is_file():
            raise FileNotFoundError(f"inner-parts data {path} is missing; reinstall the add-on (or run "
                                    f"scripts/make_template_asset.py in a checkout)")
        d = np.load(path)
        return cls(d["verts"].astype(np.float64), d["modes"].astype(np.float32), d["piece"].astype(np.int64),
                   d["follows"].astype(bool))

    def grid(self) -> PointGrid:
        if not hasattr(self, "_grid"):
            self._grid = PointGrid(self.verts)
        return self._grid


_DEFAULT: list = []


def default_inner_parts() -> InnerParts:
    """The shipped inner parts (``INNER_PATH``), loaded once."""
    if not _DEFAULT:
        _DEFAULT.append(InnerParts.load())
    return _DEFAULT[0]


def to_template_frame(points: np.ndarray, tpl_verts: np.ndarray, registered: np.ndarray, scale: float,
                      rot: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Points near a registered face brought into the template's rest frame.

    points (N, 3) cm in the face's frame; tpl_verts (M, 3) the template at rest; registered (M, 3) where the
    registration put them (the face's frame); the similarity ``scale * rot @ x + shift`` it started from. Each
    point moves back by the inverse-distance mean of its ``OFFSET_NEIGHBOURS`` nearest registered vertices'
    offsets (registered - similarity image), then the similarity is undone. Returns (N, 3) float64 cm."""
    points = np.asarray(points, np.float64)
    if not len(points):
        return np.zeros((0, 3))
    offset = registered - (scale * tpl_verts @ rot.T + shift)                     # (M, 3)
    idx, d2 = PointGrid(registered).knn(points, min(OFFSET_NEIGHBOURS, len(registered)))
    w = normalize_rows(1.0 / (d2 + 1e-6))
    back = points - np.einsum("nk,nkc->nc", w, offset[idx])
    return (back - shift) @ rot / scale


def inner_keys(parts: InnerParts, tpl_verts: np.ndarray, points: np.ndarray, labels: np.ndarray, registered,
               scale: float, rot: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ICT's inner-part deltas on the pieces of a face that lie inside it.

    parts: ``InnerParts``; tpl_verts (M, 3) the face template at rest (cm); points (N, 3) the vertices of the
    pieces that are not the face surface, cm in the face's frame; labels (N,) their piece; registered, scale,
    rot, shift: the template's registration (``TemplateMatch``). Returns (rows (R,) int64 indices into points of
    the vertices that take inner-part motion, keys (K, R, 3) float32 cm in the face's frame)."""
    points = np.asarray(points, np.float64)
    labels = np.asarray(labels, np.int64)
    if len(points) != len(labels):
        raise ValueError(f"inner_keys: {len(points)} points but {len(labels)} piece labels")
    if not len(points):
        return np.zeros(0, np.int64), np.zeros((len(parts.modes), 0, 3), np.float32)
    q = to_template_frame(points, tpl_verts, registered, scale, rot, shift)
    near, d2_in = parts.grid().knn(q, 1)
    _, d2_skin = PointGrid(tpl_verts).knn(q, 1)
    d_in, d_skin = np.sqrt(d2_in[:, 0]), np.sqrt(d2_skin[:, 0])
    near = near[:, 0]
    rows, src = [], []
    order = np.argsort(labels, kind="stable")
    starts = np.flatnonzero(np.r_[True, labels[order][1:] != labels[order][:-1]])
    for sel in np.split(order, starts[1:]):             # each piece's vertices (hair cards: thousands of pieces)
        on_skin = np.median(d_in[sel]) > min(INNER_REACH_CM, np.median(d_skin[sel]))
        if on_skin or parts.follows[near[sel]].mean() > LID_SHARE:
            continue                        # on the skin (brows, a beard), on the lids (lashes) or far away: follows
        rows.append(sel)
        src.append(_piece_sources(parts, q[sel], parts.piece[near[sel]]))
    if not rows:
        return np.zeros(0, np.int64), np.zeros((len(parts.modes), 0, 3), np.float32)
    rows, src = np.concatenate(rows), np.concatenate(src)
    keys = scale * (parts.modes[:, src].astype(np.float64) @ rot.T)
    return rows, keys.astype(np.float32)


def _piece_sources(parts: InnerParts, q: np.ndarray, vote: np.ndarray) -> np.ndarray:
    """For the vertices of one piece, q (n, 3) in the template's frame and vote (n,) the ICT piece each lands
    closest to: (n,) int64 the inner-part vertex each takes its motion from (its nearest on the ICT piece most of
    its ``VOTE_NEIGHBOURS`` nearest fellow vertices vote for)."""
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
        on = np.flatnonzero(parts.piece == p)
        sel = np.flatnonzero(chosen == p)
        src[sel] = on[PointGrid(parts.verts[on]).knn(q[sel], 1)[0][:, 0]]
    return src
