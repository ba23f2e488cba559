"""Carry a character's own shape keys onto another head of any topology (numpy only; runs inside Blender).

The source head plays the part the ICT template plays in ``template_keys``: both heads are brought into ICT's
frame by the model's face-core frame; the source takes the target's proportions by an affine map (similarity
ICP, then affine ICP, stretches clipped: ``proportion_map``), and its keys follow that map's linear part (the
global form of carrying a key's deformation in local frames); the source is registered onto the target
(``template_keys`` with the source in the template's place: similarity ICP, then the non-rigid two-way
closest-point registration of ``correspond.register`` with point-to-plane pulls (``PLANE``: closest points drag a
head ~1 cm along the surface where the proportions differ), eye and mouth openings pulling on each other's rims),
and every target vertex takes the source keys at its closest point on the registered source, rotated and scaled
by the similarity. When the source has a key that opens the mouth (named jawOpen, or dropping the chin furthest:
``mouth_opening_key``), its lip contact is found the same way as the template's (``template_keys.mouth_ambiguity``)
and filled along the target's own edges. Last, the triangles a carried key
turns over are relaxed (``unflip.unflip_keys``), except where the source's own key turns its triangles over
(``source_folds``: lips pressed through each other). A key the source keeps mirror-symmetric (jawOpen on a
mirror-modelled head) is made so on a mirror-symmetric target (``_mirror_consistent``). The target's teeth, tongue
and eyeballs take the source's
own pieces' motion (``_piece_keys``, as ``inner_parts`` carries ICT's); its lashes and brows follow the carried
keys at their nearest face vertices (``Model.follow_skin``).

Two meshes of one topology (characters made from one base mesh) skip all of this: vertex i of the source is vertex
i of the target, and the keys are carried vertex for vertex (``same_topology``, ``SAME_TOPOLOGY``); the same
triangles with their vertices numbered otherwise are put in the target's order first (``renumber``, ``RENUMBERED``).
A target that is a piece of the source's surface (a mask cut from it) is fitted from its own side too
(``template_keys.reverse_pose``), and its vertices that coincide with source vertices take their keys exactly
(``_coincident_keys``).

Keys may have any names (FACS or not); units follow each mesh (a key in the source's units comes out in the
target's).
"""
from __future__ import annotations

import numpy as np

from . import blas
from .correspond import PointGrid, Surface, harmonic_fill_rows, interpolate, pose_gap, similarity_icp, umeyama
from .facs_names import ICT_INDEX, match_source_names, mirror_name
from .mesh import depth_behind_front, face_areas, face_normals, keep_unturned, median_edge, point_in_polygon
from .renumber import renumbering
from .same_topology import is_same_topology, same_topology_keys
from . import template_keys as tk
from .template_keys import (FaceTemplate, default_template, eye_pocket, face_loops, loop_shape, mouth_ambiguity,
                             template_keys)
from .unflip import unflip_keys


AFFINE_STRETCH = (0.8, 1.25)   # that map's stretches (over the similarity) are clipped to this range
AFFINE_POINTS = 1500   # at most this many source points fit it
AFFINE_ITERS = 20      # affine ICP steps
AFFINE_TURN = 20.0     # the similarity it starts from: the ICP from scale 1, or where both heads' ICT poses put the
                       # source when the ICP's turns more than this (degrees) or scales 1.5x from it
                       # (``template_keys.START_LOG_SCALE``): the ICP shrank MakeHuman onto Face Cap to 0.40, turned
                       # 36 degrees, and every key came out ~0 (cosine 0.002; docs/model.md, session 31); the
                       # poses (~0.3 s a head) are computed for every proportion map
CUTS = False            # the similarity ICPs pair on the target's cut too (template_keys(cuts=)): the source is a head
                        # of its own, often cut like the target; with cuts, a warped copy 11.9 -> 13.4 % (docs/model.md)
EYES_FROM_ICT = True    # a source with closed eyes gets its lid margins as openings (``_virtual_eyes``)
POCKET_EYES = True      # ... for a target whose eyes are pockets too (``template_keys.eye_pocket``), not only loops
SOCKET_DEPTH = 4.0      # ... with what lies inside the margin's outline up to this many of its radii behind it
HIDDEN_LIDS = True      # ... and, for a target whose eye is cut open at its margin, the layers behind its lids
                        # (``_behind_lids``: MakeHuman's pocket lining met the hand-made head's lids: torn blinks)
MATCH_REACH = 2.5       # a target loop meets a source opening within 2.5 of its radii (``match_openings``; ICT's: 1)
PLANE = 0.9            # share of the registration's closest-point pulls along the target's normal (point-to-plane)
SYMMETRIC = False       # put the source's mirror plane on the target's (``symmetry.symmetric_pose``): measured and
                        # not better (docs/model.md, *Mirror planes*): the six artist pairs 6.110 -> 6.095 summed,
                        # ICT's Voronoi case 18.3 -> 19.0 %, the unwarped dev copy 5.6 -> 6.1 %, +0.2 s
MIRROR_KEYS = True      # keys the source keeps mirror-symmetric stay so on a symmetric target (``_mirror_consistent``)
MIRROR_CONTACT = 0.15       # ... but at the target's lip contact (mouth ambiguity from here up: template_keys.AMBIGUITY's
                            # lower end), where a mirror point lands on either lip
MIRROR_EXACT = 0.01         # ... unless its mirror point lands within this share of the median edge (a mirror partner)
MIRROR_SOURCE_MAX = 0.05    # ... a sideless key is symmetric on the source (modelled so) when it misses its mirror image by
                            # less than this share of its motion
LIP_SIDES = False       # template_keys(lip_sides=): the generated keys' lip sides; measured for the transfer (bench_transfer
                        # --quick) and not used: ICT A -> B decimated 19.6 -> 18.4 %, the dev copies 6.0 / 11.7 / 43.9 ->
                        # 5.3 / 11.2 / 43.9 %, but hand-made -> Rocketbox 110.6 -> 111.6 %, Rocketbox -> hand-made
                        # 95.9 % / 0.51 -> 96.8 % / 0.46 (docs/model.md, *Lip sides*). Again with SLIT on (session 16): ICT
                        # 19.6 / 18.3 / 18.7 -> 18.4 / 18.1 / 17.3 %, the six pairs summed the same (604.8 -> 604.7 points),
                        # Rocketbox -> hand-made's cosine 0.56 -> 0.50, Rokoko -> Rocketbox 5 -> 8 turned triangles
START_FROM_ICT = True   # the similarity fit is run again from where both heads' ICT poses (``Model.ict_pose``) put the
                        # source, the better-fitting kept (``similarity_pose(start=)``, ``template_keys.START_ALWAYS``)
SLIT = True             # template_keys(slit=): the source's mouth fit onto the target's closed slit (bench_transfer, same
                        # run): hand-made -> Rokoko 85.6 -> 83.9 %, Rocketbox -> hand-made 95.8 -> 93.4 %, Rokoko -> hand-made
                        # 114.5 -> 113.0 %, Rokoko -> Rocketbox 128.9 -> 128.4 %, the rest the same; rendered, jawOpen parts
                        # the hand-made head's lips (Rokoko's) and opens Rokoko's mouth without tearing it (the hand-made
                        # head's). Off until session 16: the mirror step turned 8 triangles at Rocketbox's slit
                        # (``_mirror_consistent`` now keeps them as carried)
MARGIN_SMOOTH = 2       # template_keys(smooth_lips=): a target lip margin cut open smoothed along itself, 2 passes
                        # (Ready Player Me -> ARKit mask's funnel hung teeth from the upper lip; on the generated keys
                        # the low-poly hand-made head's lost 0.3 points: the transfer's only)
SAME_TOPOLOGY = True    # two meshes of one topology (one vertex count, the same edges) match vertex for vertex
                        # (``same_topology``), unless landmarks say otherwise
RENUMBERED = True       # ... also the same triangles with their vertices numbered otherwise (``renumber``)
SAME_FACE = True        # two heads whose face islands are one topology (numbered alike or not) but whose other pieces
                        # differ (lashes, teeth or eyes added or left out) carry the face island's keys vertex for
                        # vertex; the other pieces take the registration's as before (``_same_face_keys``)
REVERSE = True          # the similarity also fitted from the target's side (``template_keys.reverse_pose``)
LIMIT_STEEP = False     # template_keys(limit_steep=): off here. On (session 24): the 56 transfers 4836.8 -> 4837.6
                        # points, six pairs' mouth keys fold alike, ICT A -> B 0.1 point better, the speed case 0.7 s
                        # slower (docs/model.md, *Squeezed features*)
RELAX_FOLDS = False     # template_keys(unfold=): off here (an artist's key may fold its lips by design); measured in
                        # docs/model.md, *Crumples*
COINCIDENT = 0.05       # a target vertex this near a source vertex (share of the median edge) takes its keys
COINCIDENT_NEAR = 0.1   # ... once the similarity is fitted on the pairs this near, when this share of the target's
COINCIDENT_SHARE = 0.5  # vertices has one (``_coincident_keys``: one surface)
JAW_PIECES = True       # a source without pieces: the target's teeth, tongue, eyeballs move as a jaw (``_jaw_pieces``)
UNFLIP = True          # relax the triangles a carried key turns over where the source's key does not (``unflip``)
LANDMARK_REACH = 0.05   # a landmark may lie at most this share of the face's extent off the face's vertices
JAW_DROP_CM = 0.05      # a key named otherwise is the mouth-opening key when it drops the chin this far (mean, ICT
                        # cm) or more and further than any other key (``mouth_opening_key``)


def chin_box() -> tuple[np.ndarray, np.ndarray]:
    """(lo (3,), hi (3,)) ICT cm: the box around the template's chin and lower lip, the narrow-face vertices below
    its lip contact that its jawOpen moves more than half as far as it moves any, 0.5 cm of margin all round;
    computed once."""
    tpl = default_template()
    if not hasattr(tpl, "_chin_box"):
        jaw = np.linalg.norm(tpl.modes[tpl.jaw, :tpl.narrow], axis=1)
        v = tpl.verts[:tpl.narrow]
        below = v[:, 1] < tpl.verts[tpl.ambiguity > 0.5, 1].min()
        chin = v[(jaw > 0.5 * jaw.max()) & below]
        tpl._chin_box = (chin.min(axis=0) - 0.5, chin.max(axis=0) + 0.5)
    return tpl._chin_box


def mouth_opening_key(keys_cm: np.ndarray, src: np.ndarray, names=None) -> int | None:
    """The index of the source key that opens the mouth, or None: the key named jawOpen in any spelling the add-on
    reads FACS names in (``facs_names.match_source_names``: any case and separator, a namespace prefix), else the
    key that drops the source's chin furthest (its mean downward motion over the
    source vertices in ``chin_box``), when that is ``JAW_DROP_CM`` or more: a source whose keys have other names
    (visemes, a rig's own names: "AA", "MouthOpen", "Key 12") still has its lip contact found and filled
    (``mouth_ambiguity``) and its lips parted to meet a target's parted ones (``FaceTemplate.jaw``); found by name
    only, such a source's keys stretched 48-63 triangles of jawOpen 3x on a dev head where named ones stretched
    0-23 (docs/model.md). keys_cm (K, N, 3) and src (N, 3): the source's face keys and vertices in ICT cm, in
    the template's frame (``Model.template_frame``); names: None or K names."""
    facs = match_source_names(names or [])
    named = [i for i, n in enumerate(names or []) if ICT_INDEX["jawOpen"] in facs.get(str(n), ())]
    if named:
        return named[0]
    lo, hi = chin_box()
    chin = ((src >= lo) & (src <= hi)).all(axis=1)
    if not len(keys_cm) or not chin.any():
        return None
    drop = -np.asarray(keys_cm, np.float64)[:, chin, 1].mean(axis=1)
    best = int(np.argmax(drop))
    return best if drop[best] >= JAW_DROP_CM else None


def _landmark_points(pm, points, which: str) -> tuple[np.ndarray, np.ndarray]:
    """Landmark ``points`` in the caller's frame, checked (finite, on the face): (points (L, 3) float64, (L,)
    indices of the nearest face-island vertices, into ``pm.face_index``)."""
    p = np.asarray(points, np.float64).reshape(-1, 3) if np.size(points) else np.zeros((0, 3))
    if not np.isfinite(p).all():
        raise ValueError(f"the {which} landmarks contain NaN or infinite values")
    if not len(p):
        return p, np.zeros(0, np.int64)
    face = pm.verts[pm.face_index]
    idx, d2 = PointGrid(face).knn(p, 1)
    far = np.sqrt(d2[:, 0]) > LANDMARK_REACH * float(np.ptp(face, axis=0).max())
    if far.any():
        raise ValueError(f"{which} landmark {int(np.argmax(far)) + 1} lies off the {which}'s face; place it on the "
                         f"face's surface")
    return p, idx[:, 0]


def affine_icp(src: np.ndarray, dst: np.ndarray, dst_faces: np.ndarray, iters: int = 20, trim: float = 0.85):
    """(A (3, 3), b (3,)): the affine map with ``src @ A.T + b`` on the surface (dst, dst_faces): trimmed ICP
    from the identity (the two are already roughly aligned), each step the least-squares affine fit of the
    ``trim`` share of closest pairs."""
    surf = Surface(dst, dst_faces)
    A, b = np.eye(3), np.zeros(3)
    X = np.concatenate([src, np.ones((len(src), 1))], axis=1)
    for _ in range(iters):
        f, bc, d2 = surf.closest(src @ A.T + b, exact=False)
        fin = np.isfinite(d2)
        if fin.sum() < 12:
            break
        keep = fin & (d2 <= np.quantile(d2[fin], trim))
        q = interpolate(dst, dst_faces, f[keep], bc[keep])
        M = np.linalg.lstsq(X[keep], q, rcond=None)[0]
        A2, b2 = M[:3].T, M[3]
        done = np.abs(A2 - A).max() < 1e-6 and np.abs(b2 - b).max() < 1e-5
        A, b = A2, b2
        if done:
            break
    return A, b


def _trimmed_rms(points: np.ndarray, surf: Surface, trim: float = 0.85) -> float:
    """RMS distance of the ``trim`` share of ``points`` closest to the surface."""
    d2 = surf.closest(points, exact=False)[2]
    d2 = np.sort(d2[np.isfinite(d2)])[:int(trim * len(points))]
    return float(np.sqrt(d2.mean())) if len(d2) else np.inf


def proportion_map(src: np.ndarray, tgt: np.ndarray, tgt_faces: np.ndarray, piece: bool = False,
                   src_faces: np.ndarray | None = None, init=None) -> tuple[np.ndarray, np.ndarray]:
    """(L (3, 3), t (3,)): the affine map ``src @ L.T + t`` that puts the source head (points (N, 3)) on the target's
    surface: a similarity ICP (nose tip on nose tip first), then an affine ICP from it, both on at most
    ``AFFINE_POINTS`` source points; the affine part's stretches are clipped to ``AFFINE_STRETCH`` about the
    points' centre (a full head fitted onto a face mask is not squashed flat). The identity (the heads as the
    face-core frames put them) is kept when the map does not bring the points closer to the target surface, or
    mirrors them. With ``piece`` (a target smaller than the source, maybe a piece of it; needs the source's
    ``src_faces`` (F, 3)) the map is fitted the other way (the target onto the source, inverted) and judged by the
    target's distance to the source, or a whole head shrinks into its own front half. init: optional (s, R (3, 3),
    t (3,)), where the heads' ICT poses put the source on the target (the transfer's ``start``): the similarity
    starts there instead when the ICP's lies more than ``AFFINE_TURN`` degrees or 1.5x in scale from it."""
    if piece and src_faces is not None:
        if init is not None:
            s, R, t = init
            init = (1.0 / s, R.T, -R.T @ t / s)
        lin, shift = _affine_fit(tgt, src, src_faces, init)
        inv = np.linalg.inv(lin)
        return inv, -inv @ shift
    return _affine_fit(src, tgt, tgt_faces, init)


def _affine_fit(src: np.ndarray, tgt: np.ndarray, tgt_faces: np.ndarray, init=None) -> tuple[np.ndarray, np.ndarray]:
    """``proportion_map``'s fit of the points src (N, 3) onto the surface (tgt, tgt_faces): (L, t)."""
    pts = src[::max(1, len(src) // AFFINE_POINTS)]
    surf = Surface(tgt, tgt_faces)
    s0, R0, t0 = similarity_icp(pts, tgt, tgt_faces, init_scale=1.0)
    if init is not None:
        scale_gap, turn = pose_gap((s0, R0, t0), init)
        if turn > AFFINE_TURN or scale_gap > tk.START_LOG_SCALE:
            s0, R0, t0 = init       # the ICP from scale 1 stopped in another basin: the heads' ICT poses
    moved = pts @ (s0 * R0).T + t0
    A, b = affine_icp(moved, tgt, tgt_faces, iters=AFFINE_ITERS)
    if np.linalg.det(A) <= 0:
        A, b = np.eye(3), np.zeros(3)
    u, sv, vt = np.linalg.svd(A)
    clipped = (u * np.clip(sv, *AFFINE_STRETCH)) @ vt
    b = b + (A - clipped) @ moved.mean(axis=0)
    lin, shift = clipped @ (s0 * R0), clipped @ t0 + b
    if _trimmed_rms(pts @ lin.T + shift, surf) >= _trimmed_rms(pts, surf):
        return np.eye(3), np.zeros(3)
    return lin, shift


def _moving_pieces(source_pm, target_pm) -> tuple[np.ndarray, np.ndarray]:
    """(near (Mo,) bool over ``source_pm.other_index``: the source's pieces near its face, moving or not (the upper
    teeth and the eyeballs stay: so do the target's); rows (R,) of ``target_pm.other_index`` that follow the face,
    empty when the source has no such piece): the pieces ``_piece_keys`` carries from the source onto the target."""
    near = np.ones(len(source_pm.other_index), bool) if source_pm.other_follow is None else source_pm.other_follow > 0
    rows = target_pm.following
    return near, (rows if near.any() else np.zeros(0, np.int64))


def _piece_keys(model, source_pm, keys: np.ndarray, target_pm, source: FaceTemplate, match, affine=None):
    """The source's pieces other than its face (teeth, tongue, eyeballs) carried onto the target's pieces that lie
    inside its face, as ``inner_parts.inner_keys`` carries ICT's: through the registration's frame map, each target
    vertex takes the motion of the source piece most of its neighbours land on (a closed target piece, such as an
    eyeball, not that of the source's pieces that only ride on its skin: ``_skin_followers``).

    keys (K, Ns, 3) the source's keys, caller frame; source: the source face as a ``FaceTemplate`` (ICT cm), match:
    its registration onto the target (``TemplateMatch``); affine: the proportion map (lin (3, 3), shift (3,)) or
    None. Returns (rows (R,) int64 into ``target_pm.other_index``, keys (K, R, 3) float64 ICT cm in the target's
    frame); empty when either head has no such pieces or the target's other pieces stay still (then they follow the
    target's face, as ``prepare`` says)."""
    from .inner_parts import RIGID, InnerParts, inner_keys, offset_anchors
    from .mesh import closed_components, connected_components
    none = np.zeros(0, np.int64), np.zeros((len(keys), 0, 3))
    near, tgt_rows = _moving_pieces(source_pm, target_pm)
    if not len(tgt_rows):
        return none
    src_idx = source_pm.other_index[near]
    src_pts, k_src = model.template_frame(source_pm, source_pm.verts[src_idx])
    src_keys = np.stack([source_pm.normalization.apply_vectors(k) for k in keys[:, src_idx]]) * k_src
    if affine is not None:
        src_pts, src_keys = src_pts @ affine[0].T + affine[1], src_keys @ affine[0].T
    labels = connected_components(source_pm.n_verts, source_pm.faces)[src_idx]
    inner = ~_skin_followers(source_pm, keys, src_idx, labels)
    tgt_idx = target_pm.other_index[tgt_rows]
    tgt_pts, _ = model.template_frame(target_pm, target_pm.verts[tgt_idx])
    every = connected_components(target_pm.n_verts, target_pm.faces)
    tgt_labels = every[tgt_idx]
    tgt_closed = closed_components(every, target_pm.faces)[tgt_labels]
    rows, out = [], []
    # a closed piece of the target (an eyeball, a tooth) does not take the motion of a source piece that only
    # follows the skin (lashes, brows): MakeHuman's lash cards lie over its eyeballs, and an ICT eyeball landing on
    # them followed the lids (0.85 cm in a blink); one that meets no other source piece moves as a jaw
    # (``_jaw_pieces``)
    for want, have in ((tgt_closed, inner), (~tgt_closed, np.ones(len(src_idx), bool))):
        if not want.any() or not have.any():
            continue
        parts = InnerParts(src_pts[have], src_keys[:, have].astype(np.float32), labels[have],
                           np.full(int(have.sum()), RIGID), source.jaw)
        r, o = inner_keys(parts, source.verts, tgt_pts[want], tgt_labels[want], match.registered, match.scale,
                          match.rot, match.shift, offset_anchors(source), match.key_rot, match.key_gain)
        rows.append(np.flatnonzero(want)[r])
        out.append(o)
    if not rows:
        return none
    return tgt_rows[np.concatenate(rows)], np.concatenate(out, axis=1).astype(np.float64)


INNER_HIDDEN = 0.25     # an open piece at least this share hidden behind the face from the front may be a tooth row


def _inner_candidates(pm, rows: np.ndarray) -> bool:
    """Whether any of the pieces of ``rows`` (rows of ``pm.other_index``) may lie inside the face, as teeth, a tongue
    or eyeballs do: a closed piece, or one at least ``INNER_HIDDEN`` hidden behind the face island from the front
    (MakeHuman's teeth rows 0.94-1.0, its eyeballs 0.67, ICT's 0.56; its lash cards 0.08). Lashes, brows and hair
    alone then skip the target's own ICT registration that ``_jaw_pieces`` would run for nothing (MakeHuman's head
    with its lashes: transfer 5.8 -> 2.9 s)."""
    from .mesh import closed_components, connected_components
    rows = np.asarray(rows, np.int64)
    if not len(rows):
        return False
    every = connected_components(pm.n_verts, pm.faces)
    idx = pm.other_index[rows]
    labels = every[idx]
    if closed_components(every, pm.faces)[labels].any():
        return True
    pts = pm.normalization.apply(pm.verts[idx].astype(np.float64))
    hidden = depth_behind_front(pm.canon, pm.face_faces, pts) > 0.0
    u, inv = np.unique(labels, return_inverse=True)
    share = np.bincount(inv, hidden, len(u)) / np.bincount(inv, minlength=len(u))
    return bool((share >= INNER_HIDDEN).any())


FOLLOWER_RESIDUAL = 0.2  # a source piece moving within this share of its motion as its nearest face vertices do


def _skin_followers(source_pm, keys: np.ndarray, src_idx: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(M,) bool over ``src_idx`` (M,) source vertices of other pieces (their pieces ``labels`` (M,)): the pieces
    that move, and move as the face vertices nearest them do in every key (summed over the keys, the difference
    under ``FOLLOWER_RESIDUAL`` of their own motion): lashes and brows riding on the skin, not teeth or eyeballs,
    whose motion is their own. keys (K, Ns, 3) the source's keys."""
    from .nearest import knn
    face = source_pm.face_index
    near = face[knn(source_pm.verts[src_idx], source_pm.verts[face], 1)[0][:, 0]]
    own = np.linalg.norm(keys[:, src_idx], axis=2).sum(axis=0)                       # (M,) summed over keys
    diff = np.linalg.norm(keys[:, src_idx] - keys[:, near], axis=2).sum(axis=0)
    n = int(labels.max()) + 1 if len(labels) else 0
    own_p, diff_p = np.bincount(labels, own, n), np.bincount(labels, diff, n)
    moving = own_p > 1e-9 * max(float(own_p.max(initial=0.0)), 1e-300)
    follower = moving & (diff_p <= FOLLOWER_RESIDUAL * own_p)
    return follower[labels]


def _jaw_pieces(model, source_pm, target_pm, canon: np.ndarray, out: np.ndarray, progress=None,
                taken=()) -> None:
    """With ``JAW_PIECES``: the target's teeth, tongue and eyeballs that took no source piece's motion (rows of
    ``target_pm.other_index`` not in ``taken``: the source has no pieces, or none near them, as a target's eyeballs
    behind its lids) move as a jaw does for each carried key (``jaw_pieces.jaw_piece_keys``), written into ``out``
    (K, N, 3) caller frame; canon (K, Nf, 3) the carried keys of the target's face island, canonical; progress as
    ``transfer_keys``'."""
    if not JAW_PIECES or not _inner_candidates(target_pm, np.setdiff1d(target_pm.following, taken)):
        return
    from .jaw_pieces import jaw_piece_keys
    rows, keys = jaw_piece_keys(model, target_pm, canon, progress)
    free = ~np.isin(rows, taken)
    if free.any():
        out[:, target_pm.other_index[rows[free]]] = target_pm.normalization.invert_vectors(keys[:, free])


def source_folds(source_pm, keys: np.ndarray, match, target_pm):
    """A function k -> (F,) bool over the target's triangles: those key k may turn over because the source's own
    key turns its triangles there (lips pressed through each other, a lid passing its rim): at least two corners
    match onto a corner of a source triangle the source key turns over. keys (K, Ns, 3) in the source's frame."""
    sv = source_pm.verts[source_pm.face_index]
    sf = source_pm.face_faces
    n0 = face_normals(sv, sf, normalize=False)
    hit = np.flatnonzero(match.reach > 0)
    corners = sf[match.face[hit]]                                   # (M, 3) source corners of each match

    def allowed(k: int) -> np.ndarray:
        p = sv + keys[k, source_pm.face_index]
        turned = (np.cross(p[sf[:, 1]] - p[sf[:, 0]], p[sf[:, 2]] - p[sf[:, 0]]) * n0).sum(axis=1) < 0
        if not turned.any():
            return np.zeros(len(target_pm.faces), bool)
        near = np.zeros(len(sv), bool)
        near[sf[turned].ravel()] = True
        flag = np.zeros(target_pm.n_verts, bool)
        flag[target_pm.face_index[hit]] = near[corners].any(axis=1)
        return flag[target_pm.faces].sum(axis=1) >= 2
    return allowed


def _virtual_eyes(model, source_pm, source: FaceTemplate, target_pm, affine=None, progress=None) -> None:
    """A source whose eyes are closed surfaces (lids joined to the eyeball, no boundary loop) gets each eye's lid
    margin as an opening of its own: the source vertices nearest ICT's lid margin where the source's own ICT
    registration put it (``Model._template_match``), with the vertices inside it (the eyeball's front) as the
    rim's interior, and for a target eye cut open at its margin also those behind the lids (``_behind_lids``, with
    ``HIDDEN_LIDS``: a pocket's lining, which the registration would pull onto the target's lids). A target with
    its eyes cut open at the margin then meets the source's margin, as it meets a source opening
    (``template_keys.match_openings``); without it the target's lids landed on the eyeball and the lid keys came out
    sheared. Adds them to ``source`` (``FaceTemplate.add_opening``). ``progress``: the
    transfer's callback(done, total), called through that registration too (so Esc stops it)."""
    from .nearest import knn
    ict = default_template()
    need = [eye for eye in (0, 1) if not _has_eye_loop(model, source_pm, eye)
            and (_has_eye_loop(model, target_pm, eye) or (POCKET_EYES and _has_eye_pocket(model, target_pm, eye)))]
    if not need:        # the usual case: no ICT registration of the source (~1.5 s)
        return
    match = model._template_match(source_pm, progress)[1]
    reg = match.registered
    if affine is not None:
        reg = reg @ affine[0].T + affine[1]
    src = source.verts
    shapes = [loop_shape(src[o]) for o in source.openings]
    for eye in need:                                    # ICT's template: openings 0, 1 are the eyes
        margin = reg[ict.rims[eye][0]]
        mc = margin.mean(axis=0)                        # the rim's vertices in order around it (seen from the front)
        margin = margin[np.argsort(np.arctan2(margin[:, 1] - mc[1], margin[:, 0] - mc[0]))]
        idx = np.unique(knn(margin, src, 1)[0][:, 0])
        c, r = loop_shape(src[idx])
        if any(np.linalg.norm(c0 - c) < max(r, r0) for c0, r0 in shapes):
            continue                                    # the source has an opening there
        # the eyeball's front and the socket behind it: inside the margin's outline seen from the front, from
        # 2 radii before it to ``SOCKET_DEPTH`` radii behind (a low-poly closed eye may have no vertex but the
        # socket's, 1.3 cm behind: Rocketbox's right eye lost its only one to a bound of 2 radii when the template
        # sat 0.5 mm across, and the target's lid then landed on it: blink 26 -> 100 %), not the margin itself
        near_z = (src[:, 2] > c[2] - SOCKET_DEPTH * r) & (src[:, 2] < c[2] + 2.0 * r)
        inside = point_in_polygon(src[:, :2], margin[:, :2]) & near_z
        if HIDDEN_LIDS and _has_eye_loop(model, target_pm, eye):
            inside |= _behind_lids(src, source.faces, c, r, near_z)
        inside[idx] = False
        source.add_opening(idx, np.flatnonzero(inside))


def _behind_lids(src: np.ndarray, faces: np.ndarray, c: np.ndarray, r: float, near_z: np.ndarray) -> np.ndarray:
    """(N,) bool: the source vertices src (N, 3) (ICT cm, +Z forward; faces (F, 3)) within ``POCKET_REACH`` radii r
    of an eye's margin centre c (3,) across, among ``near_z``, that lie more than ``POCKET_HIDDEN`` radii behind the
    source's frontmost surface at their (x, y) (``mesh.depth_behind_front``): the layers a closed eye's lids cover
    (their backs, the pocket's lining under them), outside the margin's outline seen from the front."""
    out = np.zeros(len(src), bool)
    cand = np.flatnonzero(near_z & (np.linalg.norm(src[:, :2] - c[:2], axis=1) < tk.POCKET_REACH * r))
    if len(cand):
        out[cand[depth_behind_front(src, faces, src[cand]) > tk.POCKET_HIDDEN * r]] = True
    return out


def _mirror_consistent(keys: np.ndarray, src_keys: np.ndarray, src: np.ndarray, src_faces: np.ndarray,
                       tgt: np.ndarray, tgt_faces: np.ndarray, names: list, contact: np.ndarray | None = None
                       ) -> np.ndarray:
    """Carried keys made mirror-symmetric on a mirror-symmetric target where the source's own are.

    The registration is not mirror-equivariant: a symmetric source's jawOpen carried onto a symmetric target
    opened lopsided (hand-made -> Rocketbox: the two sides' lower lip 17 mm apart). Where both heads have a mirror
    plane (``symmetry.symmetry_plane``, trimmed RMS within ``symmetry.RMS_MAX``) and a sideless key
    (``facs_names.mirror_name`` gives it back unchanged) misses its own mirror image on the source by less than
    ``MIRROR_SOURCE_MAX`` of its motion, the target's key becomes the mean of itself and its mirror image
    (``symmetry.mirrored_field``), but for the corners of a triangle the mean turns over where the key did not
    (``mesh.keep_unturned``). Sided keys are left as carried. keys (K, Nt, 3), src_keys (K, Ns, 3): cm in the
    template frame on tgt (Nt, 3) and src (Ns, 3); names (K,). contact: optional (Nt,) bool, the target's lip
    contact (``MIRROR_CONTACT``): there the upper and lower lip may lie a fraction of a millimetre apart, and a
    mirror point that misses the mesh (more than ``MIRROR_EXACT`` of its median edge: no mirror partner, as on
    a mesh not modelled symmetric) lands on either lip; such vertices keep their own motion plus the harmonic fill
    (``harmonic_fill_rows``) of the change made around them. Returns keys (a new array where any changed)."""
    from .symmetry import RMS_MAX, mirror_map, mirrored_field, symmetry_plane

    def mirror(pts, faces, partners=False):
        """(A field on this head -> its mirror image, with ``partners`` (N,) bool the vertices with a mirror
        partner, else None), or (None, None) when the head has no mirror plane."""
        surf = Surface(pts, faces)
        plane = symmetry_plane(pts, faces, surf)
        if plane[2] > RMS_MAX:
            return None, None
        mapping = mirror_map(pts, faces, plane, surf)
        return (lambda field: mirrored_field(field.astype(np.float64), faces, mapping, plane[0]),
                mapping[2] <= MIRROR_EXACT * median_edge(pts, faces) if partners else None)

    sideless = [k for k, n in enumerate(names) if mirror_name(n) == n]
    on_src = mirror(src, src_faces)[0] if sideless else None
    if on_src is None:
        return keys
    symmetric = []
    for k in sideless:
        a = src_keys[k].astype(np.float64)
        mag = np.linalg.norm(a, axis=1).mean()
        if mag > 0 and np.linalg.norm(a - on_src(a), axis=1).mean() <= MIRROR_SOURCE_MAX * mag:
            symmetric.append(k)
    on_tgt, paired = mirror(tgt, tgt_faces, partners=True) if symmetric else (None, None)   # only when a key needs it
    if on_tgt is None:
        return keys
    out = keys.copy()
    change = np.stack([0.5 * (on_tgt(keys[k]) - keys[k]) for k in symmetric], axis=1)     # (Nt, S, 3)
    unsure = np.zeros(len(tgt), bool) if contact is None else contact & ~paired
    if unsure.any() and not unsure.all():
        flat = change.reshape(len(change), -1)
        rows, filled = harmonic_fill_rows(tgt_faces, lambda idx: flat[idx], ~unsure)
        flat[rows] = filled
    # the mean of a key and its mirror image turns no triangle over that the key did not: at Rocketbox's closed slit
    # a vertex's mirror partner lies on the other lip's side of the fold (Rokoko -> Rocketbox's jawOpen with the
    # slit fit: 1 -> 8 turned, which the unflip did not relax)
    n0 = face_normals(tgt, tgt_faces, normalize=False)
    for i, k in enumerate(symmetric):
        out[k] = keep_unturned(keys[k] + change[:, i], keys[k].astype(np.float64), tgt, tgt_faces, n0)
    return out.astype(keys.dtype)


def _coincident_keys(out_cm: np.ndarray, cm: np.ndarray, src: np.ndarray, tgt: np.ndarray, tgt_faces: np.ndarray,
                     match) -> None:
    """Target vertices that coincide with a source vertex take that vertex's keys exactly (one surface: a mask cut
    from a head, a head with a piece deleted). The registration's similarity places the source; where at least
    ``COINCIDENT_SHARE`` of the target's vertices lie within ``COINCIDENT_NEAR`` of its median edge of a source
    vertex, the similarity is fitted again on those pairs (``correspond.umeyama``) and a vertex within
    ``COINCIDENT`` of the median edge of its source vertex takes that vertex's keys, turned and scaled by it.
    out_cm (K, Nt, 3) changed in place; cm (K, Ns, 3) the source's keys, src (Ns, 3) / tgt (Nt, 3) the heads (ICT
    cm), match the registration's ``TemplateMatch``."""
    grid = PointGrid(match.scale * src @ match.rot.T + match.shift)
    idx, d2 = grid.knn(tgt, 1)
    edge = median_edge(tgt, tgt_faces)
    near = np.sqrt(d2[:, 0]) < COINCIDENT_NEAR * edge
    if near.mean() < COINCIDENT_SHARE:
        return
    s, R, t = umeyama(src[idx[near, 0]], tgt[near])
    idx, d2 = PointGrid(s * src @ R.T + t).knn(tgt, 1)
    on = np.sqrt(d2[:, 0]) < COINCIDENT * edge
    out_cm[:, on] = (s * cm[:, idx[on, 0]] @ R.T).astype(out_cm.dtype)


def _has_eye_pocket(model, pm, eye: int) -> bool:
    """Whether a prepared head's eye ``eye`` (0, 1: ICT's template's openings) is a pocket (``eye_pocket``: lids run
    on into a recess, no boundary loop) where ICT's lid margin lies in the face-core frame (``Model.template_frame``);
    cached per (model, mesh)."""
    def pockets():
        pts = model.template_frame(pm)[0]
        ict = default_template()
        return [eye_pocket(pts, pm.face_faces, *loop_shape(ict.verts[ict.rims[e][0]])) is not None for e in (0, 1)]
    return model._cached(pm, "eye_pockets", pockets)[eye]


def _has_eye_loop(model, pm, eye: int) -> bool:
    """Whether a prepared head has a boundary loop where ICT's eye ``eye`` is (0, 1: its template's openings), in the
    face-core frame (``Model.template_frame``): centre within 3 cm of ICT's lid margin's across, up and in depth
    (a hole in the back of the head or an ear is no eye), radius 0.3-3x the margin's. The loops' shapes are cached
    per (model, mesh)."""
    def shapes():
        return face_loops(model.template_frame(pm)[0], pm.face_faces)[1]
    ict = default_template()
    c0, r0 = loop_shape(ict.verts[ict.rims[eye][0]])
    return any(np.abs(c - c0).max() < 3.0 and 0.3 * r0 < r < 3.0 * r0
               for c, r in model._cached(pm, "loop_shapes", shapes))


def vertex_order(src_faces: np.ndarray, n_src: int, tgt_faces: np.ndarray, n_tgt: int, landmarks=None,
                 src_verts=None, tgt_verts=None) -> np.ndarray | None:
    """The source vertex of each target vertex (N,) int64 when ``transfer_keys`` matches two meshes vertex for
    vertex, else None: ``SAME_TOPOLOGY`` and no landmarks (they ask for the registration), and one topology as
    numbered (``same_topology.is_same_topology``: 0..N-1) or, with ``RENUMBERED``, the same triangles numbered
    otherwise (``renumber.renumbering``). src_faces, tgt_faces (F, 3) triangles, n_src, n_tgt vertex counts,
    landmarks as ``transfer_keys`` takes them; src_verts, tgt_verts optional (N, 3) rest positions (they tell
    twin pieces, such as two eyeballs, apart)."""
    if not SAME_TOPOLOGY or (landmarks is not None and np.size(landmarks[0])):
        return None
    if is_same_topology(src_faces, n_src, tgt_faces, n_tgt):
        return np.arange(int(n_tgt))
    if RENUMBERED and int(n_src) == int(n_tgt):
        return renumbering(src_faces, tgt_faces, int(n_tgt), src_verts, tgt_verts)
    return None


def vertex_for_vertex(src_faces: np.ndarray, n_src: int, tgt_faces: np.ndarray, n_tgt: int, landmarks=None,
                      src_verts=None, tgt_verts=None) -> bool:
    """Whether ``transfer_keys`` matches two meshes vertex for vertex (``vertex_order``): src_faces, tgt_faces
    (F, 3) triangles, n_src, n_tgt vertex counts, landmarks as ``transfer_keys`` takes them, src_verts, tgt_verts
    optional rest positions (give them to decide as ``transfer_keys`` does for a renumbered mesh)."""
    return vertex_order(src_faces, n_src, tgt_faces, n_tgt, landmarks, src_verts, tgt_verts) is not None


def transfer_keys(model, source_pm, source_keys, target_pm, names=None, progress=None,
                  return_correspondence: bool = False, landmarks=None, proportions: bool = False):
    """The source's shape keys carried onto the target.

    Args:
        model: a runtime ``Model`` (its skinning gives each head's face-core frame).
        source_pm, target_pm: prepared source and target heads (``Model.prepare``; any topology, units, crop).
        source_keys: (K, Ns, 3) displacements of the source's vertices, in the source's frame and units.
        names: optional K key names; a key named jawOpen (any spelling) marks the source's lip contact (without
            one, the key that drops the chin furthest: ``mouth_opening_key``).
        progress: optional callback(done, total) during the registration (then during the target's own ICT
            registration when its teeth and eyeballs move as a jaw: ``_jaw_pieces``).
        return_correspondence: also return where each target vertex landed on the source.
        landmarks: optional (source points (L, 3), target points (L, 3)), each in its head's frame and units:
            points that must correspond (e.g. placed by the user where the automatic match is wrong); each
            source point is snapped to the source's nearest face vertex, a target point is used as it is.
        proportions: first give the source the target's proportions by an affine map (``proportion_map``) and
            carry the keys by its linear part: better where the heads differ by a stretch (a warped copy: 11.9 ->
            8.5 % at half the warp, 46.1 -> 29.3 % at the full one; a face mask 18.7 -> 17.2 %), worse between
            ICT identities on full heads (18.3 -> 20.7 %, 18.0 -> 21.2 %) and on two of the six artist pairs
            (docs/model.md); off by default. Two meshes of one topology (``SAME_TOPOLOGY``, no landmarks) are
            matched vertex for vertex instead, the keys carried by the similarity or, with proportions, by each
            vertex's own linear map (``same_topology.same_topology_keys``).
    Returns:
        (K, Nt, 3) float32 displacements of the target's vertices, in the target's frame and units (the target's
        pieces inside its face, such as teeth and eyeballs, take the source's pieces' motion when the source has
        pieces: ``_piece_keys``; other pieces follow the carried keys at their nearest face vertices, or stay,
        as ``prepare``'s ``other_islands`` says: ``Model.follow_skin``);
        with return_correspondence, also (Nt, 3) float64: each target vertex's matched point on the source at
        rest, in the source's frame and units; NaN for vertices outside the target's face island or out of
        the registration's reach (they take no motion from it).
    Raises:
        ValueError: keys of the wrong shape, NaN/inf values; landmarks of the wrong shape or off the face.
    """
    # one BLAS thread, as in the Model's own calls: the registration's discrete choices follow round-off
    with blas.single_threaded(getattr(model, "blas_single_thread", True)):
        return _transfer_keys(model, source_pm, source_keys, target_pm, names=names, progress=progress,
                              return_correspondence=return_correspondence, landmarks=landmarks,
                              proportions=proportions)


def _transfer_keys(model, source_pm, source_keys, target_pm, names=None, progress=None,
                   return_correspondence: bool = False, landmarks=None, proportions: bool = False):
    """``transfer_keys`` without the BLAS thread guard."""
    keys = np.asarray(source_keys, np.float64)
    if keys.ndim != 3 or keys.shape[1:] != (source_pm.n_verts, 3):
        raise ValueError(f"source_keys must have shape (K, {source_pm.n_verts}, 3) for this source, got "
                         f"{keys.shape}")
    if not np.isfinite(keys).all():
        raise ValueError("source_keys contain NaN or infinite values")
    if names is not None and len(names) != len(keys):
        raise ValueError(f"{len(names)} names for {len(keys)} keys")
    order = vertex_order(source_pm.faces, source_pm.n_verts, target_pm.faces, target_pm.n_verts, landmarks,
                         source_pm.verts, target_pm.verts)
    if order is not None:
        src_v = np.asarray(source_pm.verts, np.float64)[order]
        out = same_topology_keys(src_v, keys[:, order], target_pm.verts, target_pm.faces, proportions)
        if progress is not None:
            progress(1, 1)
        if return_correspondence:
            return out.astype(np.float32), src_v
        return out.astype(np.float32)
    face = _same_face_keys(source_pm, keys, target_pm, proportions, landmarks)
    if face is not None and not len(_moving_pieces(source_pm, target_pm)[1]):
        # the face islands one topology and no source piece to carry onto a target piece: nothing is registered
        canon = np.stack([target_pm.normalization.apply_vectors(k) for k in face[0]]).astype(np.float32)
        out = _whole_keys(model, target_pm, canon, face)
        _jaw_pieces(model, source_pm, target_pm, canon, out, progress)
        if progress is not None:
            progress(1, 1)
        return (out, _face_correspondence(source_pm, target_pm, face)) if return_correspondence else out
    tpl = default_template()
    src, k_src = model.template_frame(source_pm)
    tgt, k_tgt = model.template_frame(target_pm)
    # the source's keys in ICT cm: the caller's frame -> canonical (rotation, / size) -> cm
    nz = source_pm.normalization
    face_keys = keys[:, source_pm.face_index]
    cm = np.stack([nz.apply_vectors(k) for k in face_keys]) * k_src
    jaw = mouth_opening_key(cm, src, names)
    # a target smaller than the source (a mask, maybe cut from it): the similarity and the proportion map are
    # fitted from its side too (``template_keys.reverse_pose``, ``proportion_map``)
    smaller = bool(face_areas(tgt, target_pm.face_faces).sum()
                   < tk.REVERSE_AREA * face_areas(src, source_pm.face_faces).sum())
    def start():
        # where the two heads' ICT poses put the source on the target: x -> ICT -> target,
        # s_t R_t (R_s^T (x - t_s) / s_s) + t_t
        s_s, R_s, t_s = model.ict_pose(source_pm)
        s_t, R_t, t_t = model.ict_pose(target_pm)
        s0, R0 = s_t / s_s, R_t @ R_s.T
        return s0, R0, t_t - s0 * R0 @ t_s
    if proportions:
        # proportions: the source takes the target's by an affine map (a wider face, a longer chin), so the
        # registration starts with the features near each other; the keys follow its linear part
        lin, shift = proportion_map(src, tgt, target_pm.face_faces, smaller, source_pm.face_faces,
                                    init=start())
        src = src @ lin.T + shift
        cm = cm @ lin.T
    amb = mouth_ambiguity(src, cm[jaw]) if jaw is not None else np.zeros(len(src))
    source = FaceTemplate(src, source_pm.face_faces, cm.astype(np.float32), amb, len(src), tpl.gen_center,
                          tpl.gen_size, jaw)
    if EYES_FROM_ICT:
        _virtual_eyes(model, source_pm, source, target_pm, (lin, shift) if proportions else None, progress)
    pairs = None
    if landmarks is not None:
        _, src_idx = _landmark_points(source_pm, landmarks[0], "source")     # snapped to the source's vertices
        tgt_pts, _ = _landmark_points(target_pm, landmarks[1], "target")     # used as they are
        pairs = (src_idx, model.template_frame(target_pm, tgt_pts)[0])
        if len(pairs[0]) != len(pairs[1]):
            raise ValueError(f"{len(pairs[0])} source landmarks for {len(pairs[1])} target landmarks; give them "
                             f"in pairs")
    out_cm, match = template_keys(source, tgt, target_pm.face_faces, progress=progress, return_match=True,
                                  landmarks=pairs, plane=PLANE, cuts=CUTS,
                                  match_reach=MATCH_REACH, symmetric=SYMMETRIC, lip_sides=LIP_SIDES, slit=SLIT,
                                  start=start if START_FROM_ICT and not proportions else None,
                                  smooth_lips=MARGIN_SMOOTH, reverse=REVERSE and smaller, limit_steep=LIMIT_STEEP,
                                  unfold=RELAX_FOLDS)
    if MIRROR_KEYS and names is not None:
        out_cm = _mirror_consistent(out_cm, cm, src, source_pm.face_faces, tgt, target_pm.face_faces, list(names),
                                    match.ambiguity >= MIRROR_CONTACT)
    if COINCIDENT:
        _coincident_keys(out_cm, cm, src, tgt, target_pm.face_faces, match)
    if face is not None:        # the face island vertex for vertex: its keys in ICT cm, the target's frame
        out_cm = np.stack([target_pm.normalization.apply_vectors(k) for k in face[0]]) * k_tgt
    canon = (out_cm / k_tgt).astype(np.float32)
    out = _whole_keys(model, target_pm, canon, face)
    rows, piece_keys = _piece_keys(model, source_pm, keys, target_pm, source, match,
                                   (lin, shift) if proportions else None)
    if len(rows):          # the target's teeth, tongue, eyeballs: the source's own pieces' motion
        out[:, target_pm.other_index[rows]] = target_pm.normalization.invert_vectors(piece_keys / k_tgt)
    # ... or, where the source has none (or none near them), a jaw's
    _jaw_pieces(model, source_pm, target_pm, canon, out, progress, taken=rows)
    if UNFLIP and face is None:     # (the face island's keys are the source's own: nothing to relax)
        out, _ = unflip_keys(out, target_pm.verts, target_pm.faces,
                             allowed=source_folds(source_pm, keys, match, target_pm))
    if not return_correspondence:
        return out
    if face is not None:
        return out, _face_correspondence(source_pm, target_pm, face)
    corr = np.full((target_pm.n_verts, 3), np.nan)
    on_src = interpolate(source_pm.verts[source_pm.face_index], source_pm.face_faces, match.face, match.bary)
    corr[target_pm.face_index] = np.where(match.reach[:, None] > 0, on_src, np.nan)
    return out, corr


def _whole_keys(model, target_pm, canon: np.ndarray, face=None) -> np.ndarray:
    """(K, N, 3) float32 caller-frame keys of the whole target from its face island's canonical keys canon (K, Nf,
    3): pieces that follow the face take its motion (``Model._to_caller``), lashes and brows the keys at their
    nearest face vertices (``Model.follow_skin``); with ``face`` (``_same_face_keys``) the face island takes its
    keys as they are (``_to_caller`` would move a split seam's sides by their mean)."""
    out = model._to_caller(target_pm, canon, np.float64).astype(np.float32)
    if face is not None:
        out[:, target_pm.face_index] = face[0]
    for k in range(len(out)):
        model.follow_skin(target_pm, canon[k], out[k])
    return out


def _face_correspondence(source_pm, target_pm, face) -> np.ndarray:
    """(N, 3) each target face-island vertex's source vertex at rest (source frame) from ``_same_face_keys``'s
    order; NaN elsewhere."""
    corr = np.full((target_pm.n_verts, 3), np.nan)
    corr[target_pm.face_index] = np.asarray(source_pm.verts, np.float64)[source_pm.face_index[face[1]]]
    return corr


def face_order(source_pm, target_pm, landmarks=None) -> np.ndarray | None:
    """(Nf,) int64: the source face-island vertex of each target face-island vertex when ``transfer_keys`` carries
    the face island vertex for vertex (``SAME_FACE``: the two prepared heads' face islands one topology, numbered
    alike or not, ``vertex_order``; no landmarks), else None. Heads of one topology as a whole are matched whole
    first (``vertex_order`` on the meshes)."""
    if not SAME_FACE or (landmarks is not None and np.size(landmarks[0])):
        return None
    fs, ft = source_pm.face_index, target_pm.face_index
    if len(fs) != len(ft) or len(source_pm.face_faces) != len(target_pm.face_faces):
        return None
    return vertex_order(source_pm.face_faces, len(fs), target_pm.face_faces, len(ft), None,
                        np.asarray(source_pm.verts, np.float64)[fs], np.asarray(target_pm.verts, np.float64)[ft])


def _same_face_keys(source_pm, keys: np.ndarray, target_pm, proportions: bool, landmarks=None):
    """(face keys (K, Nf, 3) float64 in the target's frame and units, order (Nf,) int64) when ``face_order`` has
    one, else None: the source's keys on its face island carried vertex for vertex (``same_topology_keys``, the
    similarity of the islands or, with proportions, each vertex's own map); order[i] is the source face-island
    vertex of target face-island vertex i. keys (K, Ns, 3) the source's keys, its frame."""
    order = face_order(source_pm, target_pm, landmarks)
    if order is None:
        return None
    fs = source_pm.face_index
    sv = np.asarray(source_pm.verts, np.float64)[fs]
    tv = np.asarray(target_pm.verts, np.float64)[target_pm.face_index]
    face = same_topology_keys(sv[order], np.asarray(keys, np.float64)[:, fs[order]], tv, target_pm.face_faces,
                              proportions)
    return face, order

