"""Derive the region (muscle-group) label of every vertex of ICT-FaceKit's full-head crop (numpy only).

``make_labels(ict)`` -> (labels (11248,) int64 region indices of ``regions.REGION_NAMES``, info). The command
``python scripts/make_region_labels.py`` writes them to ``model_core/data/ict_regions.npz`` (the file
``regions.load_ict_labels`` reads) and draws ``docs/regions.png``.

How the labels are made (ICT frame: cm, +Y up, face toward +Z, +X = the character's left):

1. Only the left half (x >= 0) is labelled by rules; the right half is its mirror image: every vertex
   gets a mirror vertex (nearest neighbour of (-x, y, z) on the generic neutral) and a right-side
   vertex takes the mirror region of its mirror vertex's label.
2. Rules, all anchored on the 68 Multi-PIE landmarks (``vertex_indices.json``) and the FACS modes:
   - ear: the auricle is the part of the side of the head that has more skin behind it along +X
     (two layers: the ear flap over the skull), plus the concha, i.e. what lies inside the
     outline of that flap seen from the side.
   - neck: below the lower border of the mandible (a line from under the chin to below the ear lobe);
     at the bottom, where the neck flares into the shoulders, the front is ``clavicle``; the back of
     the neck (behind the ear line) is ``back_of_neck``, the rest ``platysma``.
   - scalp: behind the ear (azimuth around the head's vertical axis) or over the crown is ``back_of_head``.
   - above the brows: ``temporalis`` laterally, ``procerus`` in the glabella, ``forehead`` elsewhere.
   - lips: inside the outer lip contour (landmarks 48-59) seen from the front.
   - nose: between the nasal root and the subnasale, within the nose's width.
   - orbicularis_oris: a ring around the lips (subnasale to the chin crease) where mouthPucker/Funnel/
     Roll/Press move the skin.
   - temporalis below the brows and masseter: lateral, where the eye shapes (temple) or cheekSquint/
     mouthSmile and jawOpen (masseter) move the skin little.
   - everything else on the face goes to the region whose FACS expressions move it most
     (motion magnitude normalised by each shape's peak; eyeBlink/eyeWide/eyeLook/eyeSquint -> eye,
     browOuterUp/browInnerUp -> forehead (the brows), noseSneer/mouthUpperUp -> levator_labii,
     cheekSquint/mouthSmile/cheekPuff -> zygomaticus, jawOpen/mouthShrugLower/mouthLowerDown -> jaw),
     each region only inside a landmark-anchored window.
3. Labels are smoothed by majority vote over 1-ring neighbourhoods and small islands are merged
   into their neighbours, so each region is contiguous; then the mirror step is applied again.

ICT data is read only through ``model_core.dataset.ict.load_ict()``.
"""
from __future__ import annotations

import numpy as np

from ..runtime.mesh import edge_components, point_in_polygon, unique_edges
from ..runtime.regions import MIRROR, REGION_NAMES
from .ict import CROPS

N_FULL = CROPS["full"][0]
R = {n: i for i, n in enumerate(REGION_NAMES)}
MIDLINE_BAND = 0.05  # cm: |x| below this counts as the midline (central regions only)


# ----------------------------------------------------------------------------- mesh helpers

def mirror_map(verts: np.ndarray, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Mirror vertex of every vertex: nearest neighbour of (-x, y, z). Returns (index (N,), distance (N,) cm)."""
    v = np.asarray(verts, np.float64)
    q = v * np.array([-1.0, 1.0, 1.0])
    sq = (v ** 2).sum(1)
    idx = np.empty(len(v), np.int64)
    dist = np.empty(len(v))
    for s in range(0, len(v), chunk):
        qq = q[s:s + chunk]
        d2 = (qq ** 2).sum(1)[:, None] + sq[None, :] - 2.0 * qq @ v.T
        j = np.argmin(d2, axis=1)
        idx[s:s + chunk] = j
        dist[s:s + chunk] = np.sqrt(np.maximum(d2[np.arange(len(j)), j], 0.0))
    return idx, dist


def neighbour_counts(labels: np.ndarray, edges: np.ndarray, n_labels: int, self_weight: float = 1.0) -> np.ndarray:
    """(N, n_labels) count of each label over a vertex's 1-ring (plus itself with ``self_weight``); -1 ignored."""
    n = len(labels)
    cnt = np.zeros((n, n_labels))
    a, b = edges[:, 0], edges[:, 1]
    ok = labels[b] >= 0
    np.add.at(cnt, (a[ok], labels[b[ok]]), 1.0)
    ok = labels[a] >= 0
    np.add.at(cnt, (b[ok], labels[a[ok]]), 1.0)
    me = labels >= 0
    cnt[np.nonzero(me)[0], labels[me]] += self_weight
    return cnt


def fill_unassigned(labels: np.ndarray, edges: np.ndarray, n_labels: int) -> np.ndarray:
    """Grow assigned labels into vertices labelled -1 (majority of assigned neighbours), until none is left."""
    lab = labels.copy()
    for _ in range(10000):
        todo = lab < 0
        if not todo.any():
            return lab
        cnt = neighbour_counts(lab, edges, n_labels, self_weight=0.0)
        grow = todo & (cnt.sum(1) > 0)
        if not grow.any():
            raise RuntimeError(f"{int(todo.sum())} vertices are not connected to any labelled vertex")
        lab[grow] = np.argmax(cnt[grow], axis=1)
    raise RuntimeError("label growth did not finish")


def majority_smooth(labels: np.ndarray, edges: np.ndarray, n_labels: int, iters: int,
                    frozen: np.ndarray | None = None) -> np.ndarray:
    """Replace each label by the majority over its 1-ring (itself counted 1.5 so ties keep it); ``frozen`` stay."""
    lab = labels.copy()
    for _ in range(iters):
        cnt = neighbour_counts(lab, edges, n_labels, self_weight=1.5)
        new = np.argmax(cnt, axis=1)
        if frozen is not None:
            new[frozen] = lab[frozen]
        if np.array_equal(new, lab):
            break
        lab = new
    return lab


def components_of_labels(labels: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Connected component id of each vertex in the graph of edges joining equal labels, (N,) int64."""
    same = labels[edges[:, 0]] == labels[edges[:, 1]]
    return edge_components(len(labels), edges[same])


def merge_islands(labels: np.ndarray, edges: np.ndarray, n_labels: int, keep: np.ndarray | None = None) -> np.ndarray:
    """Keep, per label, its largest connected piece (or every piece holding a ``keep`` vertex); the other
    pieces are relabelled from their neighbours."""
    lab = labels.copy()
    comp = components_of_labels(lab, edges)
    size = np.bincount(comp, minlength=len(lab))
    drop = np.zeros(len(lab), bool)
    for r in range(n_labels):
        mine = np.nonzero(lab == r)[0]
        if mine.size == 0:
            continue
        roots = comp[mine]
        best = roots[np.argmax(size[roots])]
        keep_roots = {best}
        if keep is not None:
            keep_roots |= set(np.unique(roots[keep[mine]]).tolist())
        drop[mine[~np.isin(roots, list(keep_roots))]] = True
    lab[drop] = -1
    return fill_unassigned(lab, edges, n_labels)


def symmetrize(labels: np.ndarray, mirror: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Right half (x < -band) := mirror region (``MIRROR``) of the label of each vertex's mirror vertex."""
    lab = labels.copy()
    right = x < -MIDLINE_BAND
    lab[right] = MIRROR[labels[mirror[right]]]
    return lab


# ----------------------------------------------------------------------------- geometry helpers

def convex_hull(pts: np.ndarray) -> np.ndarray:
    """2-D convex hull (Andrew's monotone chain), counter-clockwise vertices (K, 2)."""
    p = np.unique(np.asarray(pts, np.float64), axis=0)
    if len(p) < 3:
        return p

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower, upper = [], []
    for q in p:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], q) <= 0:
            lower.pop()
        lower.append(q)
    for q in p[::-1]:
        while len(upper) >= 2 and cross(upper[-2], upper[-1], q) <= 0:
            upper.pop()
        upper.append(q)
    return np.asarray(lower[:-1] + upper[:-1])


def interp_line(xq: np.ndarray, xs, ys) -> np.ndarray:
    """Piecewise-linear y(x) through knots (xs ascending), held constant outside."""
    return np.interp(xq, np.asarray(xs, float), np.asarray(ys, float))


def largest_component(mask: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The largest edge-connected piece of a vertex mask (N,) bool."""
    if not mask.any():
        return mask.copy()
    # outside the mask every vertex gets its own label, so components never cross the mask's border
    comp = components_of_labels(np.where(mask, -1, np.arange(len(mask))), edges)
    best = np.bincount(comp[mask]).argmax()
    return mask & (comp == best)


def detect_ear_left(v: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Vertices (mask) of the left auricle (+X side).

    The auricle is a flap standing off the skull: along +X a vertex of the flap has skin deeper than itself
    at the same (y, z) (the skull, or the flap's other face); the skull itself has nothing deeper on that side.
    The concha (bowl) has no second layer, so whatever is seen from +X inside the flap's side outline is added.
    """
    x, y, z = v.T
    # window: the side of the head at the height of the eyes/nose, behind the cheek (generous)
    cand = np.nonzero((x > 4.0) & (y > -6) & (y < 7) & (z > -6) & (z < 4))[0]
    p = v[cand]
    r, gap = 0.45, 0.35
    deeper = np.zeros(len(cand), bool)
    shallower = np.zeros(len(cand), bool)
    for s in range(0, len(cand), 512):
        q = p[s:s + 512]
        d2 = ((q[:, None, 1:] - p[None, :, 1:]) ** 2).sum(-1)
        near = d2 < r * r
        dx = p[None, :, 0] - q[:, None, 0]
        deeper[s:s + 512] = (near & (dx < -gap)).any(1)
        shallower[s:s + 512] = (near & (dx > gap)).any(1)
    flap = np.zeros(len(v), bool)
    flap[cand[deeper]] = True
    flap = largest_component(flap, edges)
    hull = convex_hull(v[flap][:, [2, 1]])
    inside = np.zeros(len(v), bool)
    inside[cand] = point_in_polygon(p[:, [2, 1]], hull) & ~shallower
    ear = flap | inside
    return largest_component(ear, edges)


# ----------------------------------------------------------------------------- the rules

class Facs:
    """Normalised motion magnitude of FACS shapes: |delta_k(v)| / max_v |delta_k(v)|, (N,) per name."""

    def __init__(self, model, n: int):
        self.names = list(model.expression_names)
        mag = np.linalg.norm(model.expression_modes[:, :n].astype(np.float64), axis=2)
        self.mag = mag / np.maximum(mag.max(axis=1, keepdims=True), 1e-12)

    def __call__(self, *names: str) -> np.ndarray:
        return np.max([self.mag[self.names.index(n)] for n in names], axis=0)


def label_left_half(model, v: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, dict]:
    """Labels (N,) for the left half and the midline (x >= -band); right-half entries are placeholders."""
    n = len(v)
    x, y, z = v.T
    lm = model.landmarks
    if lm.shape != (68,):
        raise ValueError("ICT landmarks (vertex_indices.json idx_to_landmark_verts) are needed, 68 of them")
    L = model.neutral[lm].astype(np.float64)
    facs = Facs(model, n)
    lab = np.full(n, -1, np.int64)
    info = {}

    # --- anchors (left side = +X landmarks)
    eye_c = L[42:48].mean(0)                       # left eye centre
    eye_half_w = 0.5 * (L[45, 0] - L[42, 0])
    brow = L[22:27]                                # left brow, medial -> lateral
    chin = L[8]
    mouth_corner = L[54]
    ear = detect_ear_left(v, edges) & (x > 0)
    ear_pts = v[ear]
    ear_c = ear_pts.mean(0)
    ear_zmin = ear_pts[:, 2].min()
    ear_ymin = ear_pts[:, 1].min()
    info["ear_centre_cm"] = np.round(ear_c, 2).tolist()
    # azimuth around the head's vertical axis through the ear centre: 0 = straight ahead, 90 = the ear
    az = np.degrees(np.arctan2(np.abs(x), z - ear_c[2]))
    # elevation seen from the centre of the skull (between the ears, at eye height)
    head_c = np.array([0.0, eye_c[1], ear_c[2]])
    el = np.degrees(np.arctan2(y - head_c[1], np.hypot(x, z - head_c[2])))

    # --- 1. ears
    lab[ear] = R["ear_L"]

    # --- 2. neck: below the mandible's lower border (side profile line z -> y), behind: below the nape
    jaw_z = [ear_zmin - 1.0, ear_c[2] + 1.5, L[12, 2], chin[2] - 1.2, chin[2] + 2.0]
    jaw_y = [ear_ymin - 1.0, ear_ymin - 2.5, L[12, 1] - 1.8, chin[1] - 0.9, chin[1] - 0.9]
    neck_top = interp_line(z, jaw_z, jaw_y)
    neck = (y < neck_top) & ~ear
    # the neck axis (centre of the cross-section a little below the jaw), for front/back splits
    ring = neck & (np.abs(y - (chin[1] - 3.0)) < 0.5)
    neck_c = np.array([0.0, 0.0, 0.5 * (v[ring, 2].min() + v[ring, 2].max())])
    neck_az = np.degrees(np.arctan2(np.abs(x), z - neck_c[2]))
    shoulder_y = chin[1] - 5.0                     # where the neck starts to flare into the shoulders
    # back of the neck: behind the ear line; at the shoulders also their top (trapezius)
    nape = neck_az > np.where(y < shoulder_y, 75.0, 98.0)
    lab[neck & nape] = R["back_of_neck"]
    lab[neck & ~nape & (y < shoulder_y)] = R["clavicle"]
    lab[neck & ~nape & (y >= shoulder_y)] = R["platysma"]

    head = (lab < 0)
    # --- 3. scalp behind the ears / over the crown
    back = head & ((az > 94) | (el > 52))
    lab[back] = R["back_of_head"]

    # --- 4. above the brows
    brow_y = interp_line(np.abs(x), brow[:, 0], brow[:, 1])
    above_brow = head & ~back & (y > brow_y + 0.15)
    temple_az = np.degrees(np.arctan2(brow[-1, 0], brow[-1, 2] - ear_c[2])) + 8.0
    info["temple_azimuth_deg"] = round(float(temple_az), 1)
    lab[above_brow & (az > temple_az)] = R["temporalis_L"]
    glabella = (np.abs(x) < 0.5 * (L[22, 0] - L[21, 0]) + 0.05) & (y < brow_y + 1.6)
    lab[above_brow & (az <= temple_az) & glabella] = R["procerus"]
    lab[above_brow & (az <= temple_az) & ~glabella] = R["forehead"]

    # --- 5. the face below the brows
    face = head & ~back & (lab < 0)
    eye_motion = facs("eyeBlink_L", "eyeWide_L", "eyeLookUp_L", "eyeLookDown_L", "eyeLookIn_L", "eyeLookOut_L",
                      "eyeSquint_L")
    cheek_motion = facs("cheekSquint_L", "mouthSmile_L")
    jaw_motion = facs("jawOpen")
    # the temple continues down to the zygomatic arch (about the lower lid's height), lateral of where the
    # eye and cheek expressions move the skin
    arch_y = L[46, 1] - 0.6
    temple = face & (az > temple_az) & (y > arch_y) & (eye_motion < 0.1) & (cheek_motion < 0.3)
    lab[temple] = R["temporalis_L"]
    face = face & ~temple
    # lips: inside the outer contour seen from the front, on the front of the face
    # (the contour pushed out by 1.5 mm so that the vermilion border itself, where the landmarks sit, is lips)
    lips_poly = L[48:60, :2]
    rel = lips_poly - lips_poly.mean(0)
    lips_poly = lips_poly + 0.15 * rel / np.linalg.norm(rel, axis=1, keepdims=True)
    in_lips = np.zeros(n, bool)
    sel = face & (z > mouth_corner[2] - 2.5)
    in_lips[sel] = point_in_polygon(v[sel, :2], lips_poly)
    lab[in_lips] = R["lips"]
    face = face & ~in_lips
    # nose: between the nasal root and the subnasale, narrow at the bridge, as wide as the alae at the base
    nose_y_top = L[28, 1] + 0.3
    nose_y_bot = L[33, 1] - 0.25
    half_w = interp_line(y, [nose_y_bot, L[31, 1] + 0.4, L[30, 1], L[29, 1], nose_y_top],
                         [L[35, 0] + 0.4, L[35, 0] + 0.55, L[35, 0] + 0.45, 0.95, 0.8])
    nose = face & (y > nose_y_bot) & (y < nose_y_top) & (np.abs(x) < half_w) & (z > L[35, 2] - 1.2)
    lab[nose] = R["nose"]
    face = face & ~nose
    # procerus continues down the nasal root between the eyes
    root = face & (np.abs(x) < 0.9) & (y >= nose_y_top) & (y < brow_y + 0.15)
    lab[root] = R["procerus"]
    face = face & ~root

    # orbicularis oris: the skin ring around the lips (subnasale to the chin crease, a little past the
    # corners), where the lip-shaping expressions (pucker, funnel, rolls, press) move the skin
    mc = L[48:60, :2].mean(0)
    ring_a = L[54, 0] - mc[0] + 1.0
    ring_up = L[33, 1] - mc[1] - 0.1
    ring_dn = mc[1] - L[57, 1] + 1.3
    ry = np.where(y > mc[1], ring_up, ring_dn)
    in_ring = np.hypot((x - mc[0]) / ring_a, (y - mc[1]) / ry) < 1.0
    lip_facs = facs("mouthPucker", "mouthFunnel", "mouthRollUpper", "mouthRollLower", "mouthPress_L")
    oris = face & in_ring & (z > mouth_corner[2] - 2.5) & (lip_facs > 0.15)
    lab[oris] = R["orbicularis_oris"]
    face = face & ~oris
    info["orbicularis_ring_cm"] = (round(float(ring_a), 2), round(float(ring_up), 2), round(float(ring_dn), 2))
    # masseter: the side of the lower face, lateral of the cheek prominence, below the zygomatic arch
    # (lateral of the cheek, i.e. where cheekSquint/mouthSmile move the skin less than 30% of their peak,
    # and of the chin, where jawOpen moves it less than 30%)
    masseter = face & (y <= arch_y) & (cheek_motion < 0.3) & ((az > 55.0) | ((az > 35.0) & (jaw_motion < 0.3)))
    lab[masseter] = R["masseter_L"]
    face = face & ~masseter

    # FACS competition for the rest of the face: the region whose expressions move a vertex most
    # (each shape's motion normalised by its own maximum), each region inside its landmark window
    brow_band = (y > eye_c[1] + 0.8) & (np.abs(x) < brow[-1, 0] + 0.6)
    d_eye = np.hypot((np.abs(x) - eye_c[0]) / (eye_half_w + 1.6), (y - eye_c[1]) / 1.9)
    groups = {
        "eye_L": (facs("eyeBlink_L", "eyeWide_L", "eyeLookUp_L", "eyeLookDown_L", "eyeLookIn_L", "eyeLookOut_L",
                       "eyeSquint_L"), (d_eye < 1.0) | brow_band),
        # the brows themselves go to the forehead (frontalis) where the brow raisers move them more than the
        # eye shapes do, to the eye region (orbicularis oculi) otherwise
        "forehead": (facs("browOuterUp_L", "browInnerUp_L"), brow_band),
        "levator_labii_L": (facs("noseSneer_L", "mouthUpperUp_L"), (y > mouth_corner[1]) & (y < eye_c[1] - 0.8)),
        "zygomaticus_L": (facs("cheekSquint_L", "mouthSmile_L", "cheekPuff_L"),
                          (y > mouth_corner[1] - 1.0) & (y < eye_c[1])),
        "jaw": (facs("jawOpen", "mouthShrugLower", "mouthLowerDown_L"), y < mouth_corner[1] + 0.3),
    }
    names = list(groups)
    score = np.stack([np.where(g, s, -1.0) for s, g in groups.values()], axis=1)
    best = np.argmax(score, axis=1)
    ok = face & (score.max(1) > 0.02)
    lab[ok] = np.array([R[k] for k in names])[best[ok]]
    left = x >= -MIDLINE_BAND
    info["left_half_by_facs"] = int((ok & left).sum())
    info["left_half_filled_from_neighbours"] = int((lab[left] < 0).sum())
    return lab, info


def make_labels(model) -> tuple[np.ndarray, dict]:
    """The full pipeline; returns (labels (11248,) int64, info dict of numbers for the report)."""
    v = model.neutral[:N_FULL].astype(np.float64)
    faces = model.crop_faces("full")
    edges = unique_edges(faces)
    mirror, mdist = mirror_map(v)
    x = v[:, 0]
    lab, info = label_left_half(model, v, edges)
    info["mirror_max_dist_cm"] = float(mdist.max())
    info["mirror_mean_dist_cm"] = float(mdist.mean())
    lab = symmetrize(lab, mirror, x)
    lab = fill_unassigned(lab, edges, len(REGION_NAMES))
    for _ in range(3):
        lab = majority_smooth(lab, edges, len(REGION_NAMES), iters=3)
        lab = symmetrize(lab, mirror, x)
        lab = merge_islands(lab, edges, len(REGION_NAMES))
        lab = symmetrize(lab, mirror, x)
    info["mirror"] = mirror
    return lab, info
