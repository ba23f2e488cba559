"""ICT-style FACS keys carried onto any face by dense correspondence (numpy only; runs inside Blender).

The learned decoder reads positions, so on a face whose proportions lie outside ICT's identity space its
fields land a few millimetres off the lip line and the lids: jaws that do not open, blinks that close a
third of the way (docs/model.md, *Keys on real characters*). This module finds the features instead:

1. the ICT face template (``model_core/data/ict_face_template.npz``: ICT-FaceKit's generic face crop, its 53
   expression deltas and a per-vertex *mouth ambiguity*, MIT, see NOTICE) starts where the
   model's own face-core frame puts it (``Model.decoder_frame``); a similarity ICP refines it, nose tip first;
   where the face's lips are modelled apart, the template's are parted as far along its jawOpen, and its mouth
   moved onto the face's opening between the lips (``mouth_pose``, ``shift_mouth``);
2. ``correspond.register`` moves the template non-rigidly onto the face (two-way closest points, Laplacian stiffness falling over a schedule, the face's
   eye and mouth openings pulling on the template's rims when it has them: ``match_openings``);
3. every face vertex takes the ICT deltas at its closest point on the registered template (rotated and
   scaled by the similarity); vertices further than ``FALLOFF_CM`` from it fade to no motion;
4. near the lip contact a point on the upper lip and one on the lower lip are millimetres apart but move
   centimetres apart; there the closest point cannot tell them apart, so those vertices take (or blend into)
   the harmonic interpolation of their neighbours along the face's own edges (``correspond.harmonic_fill``):
   the lips follow the face's topology, not proximity;
5. where a key then turns a triangle over at the lip contact (a lower lip swinging back past a mouth bag that
   stays), those guessed vertices re-choose among their neighbours' motions (``unfold_contact``).

Units: the template and every length here are ICT centimetres (the face is brought into ICT's frame first).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .back_shift import back_shift, shift_back
from .correspond import (PointGrid, Surface, carry_deltas, harmonic_fill_rows, interpolate, pose_gap, register,
                         similarity_icp)
from .facs_names import ICT_NAMES
from .mesh import (boundary_loops, concat_ranges, depth_behind_front, edge_components, face_areas, face_normals,
                   front_hits, keep_unturned, turned_over, unique_edges, vertex_normals, vertex_rings)
from .frames import partial_upright
from .key_gradients import limit_gradients
from .nearest import knn
from .proxy import knn_weights
from .symmetry import symmetric_pose
from .unflip import relax_folds

TEMPLATE_PATH = Path(__file__).resolve().parent.parent / "data" / "ict_face_template.npz"
SCHEDULE = (10.0, 3.0, 1.0)     # Laplacian stiffness per registration stage
INNER = 2                       # closest-point updates per stage
ICP_REACH_CM = 1.0              # the similarity ICPs pair a point with the face within 1 cm whatever its density
                                # (``similarity_icp(reach=)``): about what the closest-point grid reaches on ICT's
                                # own 11k head; on a 57k face it reached 2 mm and the fit drifted (docs/model.md)
ICP_ACCELERATE = False          # similarity_icp(accelerate=): converges in the same 30 + 10 steps (a head and its
                                # mirror image fit alike: Rocketbox yaw -1.98 / +2.74 -> -0.18 / -0.14 degrees), but
                                # the converged fit's keys lose on the dev heads (Rocketbox jawOpen cosine 0.78 ->
                                # 0.69) and on ICT's truth (a 2.5x caricature 37.3 -> 43.1 %): off (docs/model.md)
KEYS_UPRIGHT = True             # keys are carried in the face's upright frame: the similarity's turn without its
                                # pitch (``frames.upright_rotation``; ICT's held-out template keys 16.7 -> 14.5 % on an
                                # identity the fit pitched 5.9 degrees: docs/model.md, *Keys in the head's upright
                                # frame*)
SAME_SURFACE_CM = (0.02, 0.05)  # ... unless the template lies on the face within 0.2 mm (median; all of the pitch
                                # kept, none from 0.5 mm): the same surface, whose fitted pitch is the two heads'
                                # relative pose (Face Cap's head and the ARKit mask: 0.07-0.1 mm, 7 degrees), not their
                                # shapes' difference (ICT's template on ICT's identities 0.65-1.1 mm, one ICT identity
                                # on another 1.5-2.2 mm, the dev pairs 1.4-4.4 mm)
SAME_SURFACE_CONTACT = False    # ... and there the lip contact is not blended (the mouth ambiguity times 1 - the share;
                                # off: on a head whose lips touch exactly, round-off then picks the lip, docs/model.md)
SYMMETRY = True                 # the template's mirror plane is put on the face's (``symmetry.symmetric_pose``): a
                                # symmetric face gets mirror-symmetric keys (the ICPs leave up to 1.3 degrees of yaw)
RETRY_BELOW = 0.8               # a similarity fit leaving fewer of the template's narrow points within FIT_CM of the
RETRY_MARGIN = 0.1              # face is run again from ``retry_scale`` and the retry kept when it puts this many more
FIT_CM = 0.3                    # there (ICT's faces 0.90-0.95, the dev heads 0.75-0.80; a start the skinning misread,
                                # 0.54-0.67: ICT's head with its sockets joined, whose face core read them as lips)
SCALE_SEARCH_BELOW = 0.6       # a fit leaving fewer of the narrow points within FIT_CM (a face mask cut inside the
SCALE_STARTS = (0.8, 0.9, 1.1, 1.25)  # template's narrow face: its scale is barely constrained, shares 0.35-0.54 from
                                # 0.8-1.25x starts) is run from these scales too and the fit whose median distance
                                # is least kept (Rokoko cut to 8 cm: mean cosine 0.835 -> 0.854; docs/model.md)
START_ALWAYS = True             # a fit leaving under START_BELOW of the template near the face is run again from a
START_BELOW = 0.8               # given start (the transfer's: where both heads' ICT poses put the source) unless the
START_SAME = (0.05, 3.0)        # start lies in its basin (within START_SAME: log-scale, degrees), and the one leaving
                                # more of it near the face kept: Rokoko onto an ICT face crop fitted from scale 1 at
                                # 0.97 (share 0.51; the poses say 1.33), its jawOpen tore the nose; from the poses 1.29
                                # (0.76). 90 artist/ICT pairs' mean error 83.30 -> 82.70 %, cosine 0.620 -> 0.634;
                                # without START_SAME 82.84 % (retries from the same basin flipped keys by noise: a warped
                                # copy 27.5 -> 37.1 %); every fit (START_BELOW above 1) 82.85 % (docs/model.md, session 31)
START_LOG_SCALE = 0.4           # off: only a poor fit (share under SCALE_SEARCH_BELOW) this far (1.5x) in scale from
                                # the start is run again from it (on pairs fitted right the two differ 1.0-1.4x, on
                                # those whose keys came out ~0 2.8-4x)
CUT_LOOP_CM = 20.0              # an open border this long is a cut (a mask's edge, the neck), not an eye or mouth
                                # opening (ICT's mouth opening: ~11 cm round, an eye ~8 cm)
CUT_RADIUS_CM = 4.0             # ... and this wide (RMS radius; ICT's mouth 1.6 cm, its outer border 11.6 cm)
CUT_AREA_MAX = 1 / 3            # ... unless its triangles hold more than this share of the face's area
REG_SKIP_CUTS = True            # the registration's template -> face pulls skip a cut as the ICPs do (``dst_skip=``):
                                # on a tight mask the template's jaw side was pulled onto the cut, 2 cm off the mask's
                                # edge, whose vertices faded and flapped in jawOpen (docs/model.md)
BACK_SHIFT = True               # the template behind the face moved onto the face's sides first (``back_shift``)
FALLOFF_CM = (1.0, 3.0)         # full motion within 1 cm of the registered template, none beyond 3 cm
AMBIGUITY = (0.15, 0.3)         # mouth ambiguity from which a vertex blends into, and above which it takes,
                                # the harmonic fill of its neighbours
LIP_SIDE_COS = 0.8              # a face vertex at the lip contact whose normal's Y is beyond +-0.8 lies on a lip's
                                # top or underside, and takes the template's lip facing the same way
                                # (``choose_lip_sides``; 0.5: the same mean errors within 0.2 points, the hand-made
                                # head's lip gap 99 -> 88 % of the artist's, Rocketbox's jawOpen 4 more stretched)
LIP_SIDE_REACH_CM = 0.3         # ... when that lip lies this near


MAX_RIM_RINGS = 12              # how deep behind an opening its rim (the first forward-facing ring) is looked for
SIDE_LOOP_NZ = 0.0              # an eye loop facing sideways (normal z from BACKWARD_LOOP_NZ to this) with its first
                                # ring facing forward has its margin one ring out (``FaceTemplate.side_rims``)
SIDE_RIMS = True                # ... which a socket eye meets (``side_rimmed``)
SIDE_SEAL = True                # ... and a face's eye cut open at its margin is sealed as far as that margin closes,
                                # its keys not scaled (``close_openings(unscaled=)``)
BACKWARD_LOOP_NZ = -0.3         # a face opening whose rim's mean normal points further back than this is a
                                # socket (an eye or mouth interior): it meets the template's own opening
AMBIGUITY_RADIUS_CM = 0.6       # how far apart two points may be and still be confused by a closest point
LIMIT_GRADIENTS = True          # keys no steeper than the template's where the match squeezes it (``key_gradients``;
                                # docs/model.md, *Squeezed features*)
KEEP_AMBIGUITY = 0.05           # ... but not where the lips meet (mouth ambiguity from this: from 0.15, a Face Cap
                                # jawOpen triangle turned over at a mouth corner)
EYE_KEEP_CM = 1.0               # ... nor on the lids (matched within this of an eye's rim): ``close_openings`` sets them
ORPHANS = True                  # a face vertex on the template's interior hidden behind an eye's rim the face met
ORPHAN_CM = 0.5                 # (within 5 mm of it, nearer it than the visible surface and beyond FALLOFF_CM[0] of
                                # that: a pocket's lining, a lid's inner fold) takes the harmonic fill of the motion
                                # around it, not the fading visible surface's (``eye_orphans``; a MakeHuman head's
                                # pocket stood still under the lids: crumpled blinks)
ORPHAN_OPENING = 0.5            # an eye: an opening at least half its rim's radius (ICT's eyes 1.1; a source's sliver
                                # between anime lips 0.1-0.2, its rim the lips around it)
FRONT_ORPHANS = True            # ... and so does a face vertex the front sees whose closest point lies inside the
FRONT_DEPTH_CM = 0.3            # template's mouth: 3 mm behind the template's frontmost surface there
FRONT_SEEN_CM = 0.05            # (the face vertex within 0.5 mm of its own), within 1.5 mouth half-widths of the
FRONT_REACH = 1.5               # template's lip contact (``front_orphans``)
UNFOLD_AMBIGUITY = 0.05         # mouth ambiguity from which a vertex's motion may be re-chosen where a key folds
UNFOLD_ALL_MAX_VERTS = 60000    # above this many face vertices only jawOpen is unfolded away from the lip contact
UNFOLD_ROUNDS = 12              # sweeps re-choosing the lip-contact vertices of triangles a key turns over
RELAX_FOLDS = True              # relax the edges a key folds over 90 degrees (``unflip.relax_folds``): Rokoko's
                                # eyeLookDown, mouthLeft, jawOpen, MakeHuman's jawOpen (docs/model.md, *Crumples*)
RELAX_FOLDS_MAX_VERTS = 20000   # ... on faces up to this many vertices (ICT's head at 45k: +1.4 s, 179k: +7.7 s; a
                                # dense face's folds are a few small triangles)


def mouth_ambiguity(verts: np.ndarray, jaw: np.ndarray, radius: float = AMBIGUITY_RADIUS_CM) -> np.ndarray:
    """(N,) in 0..1: the largest difference of the jawOpen delta between a vertex and any of its 24 nearest
    vertices within ``radius``, over jawOpen's largest motion (1 at the lip contact, where the upper and lower
    lip touch but move apart; ~0 elsewhere). verts (N, 3) cm, jaw (N, 3) cm."""
    # cells as wide as the radius: every neighbour within it is in the 27 cells around a vertex, so the
    # inexact query (no brute-force fallback) finds them all; idx -1 = fewer than 24 points there
    idx, d2 = PointGrid(verts, cell=radius).knn(verts, 24, exact=False)
    ok = idx >= 0
    idx = np.where(ok, idx, np.arange(len(verts))[:, None])
    near = ok & (np.sqrt(d2) <= radius)         # d2: the squares of the differences summed as norm sums them
    diff = np.linalg.norm(jaw[idx] - jaw[:, None], axis=2) * near
    return diff.max(axis=1) / max(float(np.linalg.norm(jaw, axis=1).max()), 1e-30)


def forward_ring(ring: np.ndarray, vn: np.ndarray) -> int | None:
    """The first ring around an opening, at least one hop out (ring (N,): ``vertex_rings``' hops from it, -1 beyond),
    whose vertices' mean normal (vn (N, 3)) faces forward (+Z): a socket's rim (the lid margin, the lip contact);
    None when no ring within ``MAX_RIM_RINGS`` does."""
    return next((r for r in range(1, MAX_RIM_RINGS + 1) if (ring == r).any() and vn[ring == r, 2].mean() > 0), None)


def _rim_split(ring: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
    """(the vertices of ring r, those of the rings inside it): ring (N,) each vertex's ring number, -1 beyond."""
    return np.flatnonzero(ring == r), np.flatnonzero((ring >= 0) & (ring < r))


@dataclass
class FaceTemplate:
    """verts (N, 3) float64 cm; faces (F, 3) int64; modes (53, N, 3) float32 cm (ICT order); ambiguity (N,)
    in 0..1; narrow: the first ``narrow`` vertices are ICT's narrow face (used for the similarity ICP);
    gen_center (3,), gen_size: ICT's generic full head's canonical normalisation (cm); jaw: the index of the
    jawOpen mode (the template's lips are parted along it to meet a face modelled with parted lips:
    ``mouth_pose``), None when there is none; virtual_openings: the indices into ``openings`` of those added by
    ``add_opening`` (no boundary loop of the template's own)."""
    verts: np.ndarray
    faces: np.ndarray
    modes: np.ndarray
    ambiguity: np.ndarray
    narrow: int
    gen_center: np.ndarray
    gen_size: float
    jaw: int | None = None
    virtual_openings: frozenset = frozenset()

    @property
    def openings(self) -> list:
        """The template's eye and mouth openings: its boundary loops but its cuts (``is_cut_loop``: ICT's outer
        border, a source head's neck or mask edge; a head closed all round has none), (L_i,) vertex indices,
        shortest first."""
        if not hasattr(self, "_openings"):
            self._openings = [lp for lp in sorted(boundary_loops(self.faces), key=len)
                              if not is_cut_loop(self.verts[lp])]
        return self._openings

    @property
    def on_cut(self) -> np.ndarray:
        """(N,) bool: the template's vertices on a triangle at its own cut (``border_faces``): ICT's narrow face has
        none; a source head's neck ring does (the similarity ICPs let them pair on the face's cut)."""
        if not hasattr(self, "_on_cut"):
            on = np.zeros(len(self.verts), bool)
            cut = border_faces(self.verts, self.faces)
            if cut is not None:
                on[self.faces[cut].ravel()] = True
            self._on_cut = on
        return self._on_cut

    @property
    def rims(self) -> list:
        """Per opening (same order as ``openings``): (rim (R,) vertex indices, interior (I,) vertex indices).

        ICT's eye and mouth openings are cut deep inside the sockets: behind the visible lid margin the lids
        fold back over the eyeball (2 rings), behind the lips the mouth's inner surface runs ~8 rings. A game
        mesh's opening is usually cut at the margin itself. The *rim* is the first ring of vertices around the
        opening whose mean normal faces forward (+Z): the lid margin, the lip contact; the interior is the
        rings between it and the opening. An opening that does not face back (mean normal z above
        ``BACKWARD_LOOP_NZ``: a margin cut open, as on a game mesh used as a transfer source) is its own rim."""
        if not hasattr(self, "_rims"):
            vn = vertex_normals(self.verts, self.faces)
            out, margins = [], []
            for opening in self.openings:
                ring = vertex_rings(len(self.verts), self.faces, opening, MAX_RIM_RINGS)
                rim_r = 0
                if vn[opening, 2].mean() < BACKWARD_LOOP_NZ:   # a socket: its rim is further out
                    rim_r = forward_ring(ring, vn) or 0
                margins.append(_rim_split(ring, rim_r))
                ext = np.ptp(self.verts[ring == rim_r], axis=0)
                if ext[1] < 0.2 * ext[0]:
                    rim_r = 0       # lips in contact: ICT's mouth has no open rim to meet (measured: no better)
                out.append(_rim_split(ring, rim_r))
            self._rims, self._margins = out, margins
        return self._rims

    @property
    def side_rims(self) -> dict:
        """{opening number: (rim (R,), interior (I,) vertex indices)} for the eye openings (not the one jawOpen opens)
        whose loop faces sideways (mean normal z from ``BACKWARD_LOOP_NZ`` to ``SIDE_LOOP_NZ``) inside a first ring
        that faces forward: a low-poly eye cut a ring behind its lid margin (the hand-made head's: loop z -0.01, its
        first ring +0.24). ``rims`` keeps such a loop as its own rim: a face cut open at its margin meets it there,
        its keys sealed as far as this margin closes (``SIDE_SEAL``); a socket eye meets this margin
        (``side_rimmed``)."""
        if not hasattr(self, "_side_rims"):
            vn = vertex_normals(self.verts, self.faces)
            out = {}
            for i, opening in enumerate(self.openings):
                nz = float(vn[opening, 2].mean())
                if not BACKWARD_LOOP_NZ <= nz < SIDE_LOOP_NZ or opened_by_jaw(self, opening):
                    continue
                ring = vertex_rings(len(self.verts), self.faces, opening, 1)
                if forward_ring(ring, vn) == 1:
                    out[i] = _rim_split(ring, 1)
            self._side_rims = out
        return self._side_rims

    def add_opening(self, rim: np.ndarray, interior: np.ndarray) -> None:
        """One more opening that is no boundary loop (a closed eye's lid margin: ``transfer._virtual_eyes``): rim
        (R,) and interior (I,) vertex indices; it is its own rim and margin. The keys judged on the rims
        (``lid_keys``) are judged again."""
        self.rims
        self.virtual_openings = self.virtual_openings | {len(self.openings)}
        self._openings = self.openings + [rim]
        self._rims = self._rims + [(rim, interior)]
        self._margins = self._margins + [(rim, interior)]
        self.__dict__.pop("_lid_keys", None)

    @property
    def margins(self) -> list:
        """Like ``rims``, but the lips' margin stays the mouth's rim even where the lips touch: what a face with
        parted lips cut open at the margin meets once the template's lips are parted too (``mouth_pose``)."""
        self.rims
        return self._margins

    def _eyes(self) -> list:
        """[(rim (R,) vertex indices, closure (K,) ``opening_closure`` of each key)] of the ``rims`` that are not the
        mouth's (not the one jawOpen opens by ``CLOSURE_MIN`` or more), rims with no height left out: the eyes, and a
        closed eye's lid margin added by ``add_opening``."""
        out = []
        for rim, _ in self.rims:
            c = opening_closure(self.verts[rim], self.modes[:, rim].astype(np.float64))
            if c is not None and (self.jaw is None or abs(c[self.jaw]) < CLOSURE_MIN):    # not the mouth
                out.append((rim, c))
        return out

    @property
    def eye_rims(self) -> list:
        """The eyes' rims: (R,) vertex indices each (``_eyes``)."""
        return [rim for rim, _ in self._eyes()]

    @property
    def lid_keys(self) -> np.ndarray:
        """(K,) bool: the keys that close or open one of the template's eyes by at least ``CLOSURE_MIN`` of its
        height (``opening_closure`` on each rim but the mouth's, the one jawOpen opens): blinks, squints, wide eyes."""
        if not hasattr(self, "_lid_keys"):
            out = np.zeros(len(self.modes), bool)
            for _, c in self._eyes():
                out |= np.abs(c) >= CLOSURE_MIN
            self._lid_keys = out
        return self._lid_keys

    @property
    def mouth_inside(self) -> np.ndarray | None:
        """(N,) bool: the template's vertices inside its mouth (``front_orphans``): more than ``FRONT_DEPTH_CM``
        behind its frontmost surface at their (x, y) (``mesh.front_hits``), within ``FRONT_REACH`` mouth
        half-widths (across and up) of its lip contact; None without a lip contact (fewer than 4 vertices above
        ``MOUTH_CONTACT``)."""
        if not hasattr(self, "_mouth_inside"):
            contact = self.ambiguity > MOUTH_CONTACT
            inside = None
            if contact.sum() >= 4:
                c = self.verts[contact].mean(axis=0)
                half = 0.5 * float(np.ptp(self.verts[contact, 0]))
                front = np.nan_to_num(front_hits(self.verts, self.faces, self.verts[:, :2]), nan=-np.inf)
                inside = (self.verts[:, 2] < front - FRONT_DEPTH_CM) & \
                    (np.linalg.norm((self.verts - c)[:, :2], axis=1) < FRONT_REACH * half)
            self._mouth_inside = inside
        return self._mouth_inside

    @property
    def mouth_lining_depth(self) -> float | None:
        """How far (cm) the template's lip lining (its mouth margin's interior: the lowest of ``margins``) reaches
        behind its frontmost surface at its deepest (``mesh.depth_behind_front``: 1.03 cm on ICT's); None without
        margins."""
        if not hasattr(self, "_lining_depth"):
            depth = None
            if self.margins:
                rim, interior = min(self.margins, key=lambda m: self.verts[m[0], 1].mean())
                depth = float(depth_behind_front(self.verts, self.faces, self.verts[interior]).max())
            self._lining_depth = depth
        return self._lining_depth

    @classmethod
    def load(cls, path=None) -> "FaceTemplate":
        with open_asset(path or TEMPLATE_PATH, "face template") as d:
            return cls(d["verts"].astype(np.float64), d["faces"].astype(np.int64), d["modes"].astype(np.float32),
                       d["ambiguity"].astype(np.float64), int(d["narrow"]), d["gen_center"].astype(np.float64),
                       float(d["gen_size"]), ICT_NAMES.index("jawOpen"))


_DEFAULT: list = []


def open_asset(path, what: str):
    """A shipped data file (``model_core/data/*.npz``, made by scripts/make_template_asset.py), opened lazily:
    ``np.load``'s NpzFile (arrays read when indexed; usable in ``with``). FileNotFoundError naming ``what`` when
    it is missing."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} is missing; reinstall the add-on (or run "
                                f"scripts/make_template_asset.py in a checkout)")
    return np.load(path)


def default_template() -> FaceTemplate:
    """The shipped template (``TEMPLATE_PATH``), loaded once."""
    if not _DEFAULT:
        _DEFAULT.append(FaceTemplate.load())
    return _DEFAULT[0]


def loop_shape(p: np.ndarray) -> tuple[np.ndarray, float]:
    """(centre (3,), RMS radius) of points p (P, 3): an opening's place and size."""
    c = p.mean(axis=0)
    return c, float(np.sqrt(((p - c) ** 2).sum(1).mean()))


def is_cut_loop(p: np.ndarray) -> bool:
    """Whether a boundary loop (its vertices in order, (P, 3) ICT cm) is a cut (a mask's edge, the neck), not an eye
    or mouth opening: at least ``CUT_LOOP_CM`` round and ``CUT_RADIUS_CM`` wide (RMS radius). A stylised mouth
    cut open at its wavy lip line can be as long (Rokoko's: 23.9 cm round, 2.6 cm wide)."""
    return bool(np.linalg.norm(p - np.roll(p, -1, axis=0), axis=1).sum() >= CUT_LOOP_CM
                and loop_shape(p)[1] >= CUT_RADIUS_CM)


def face_loops(pts: np.ndarray, faces: np.ndarray) -> tuple[list, list]:
    """A face's boundary loops of at least 4 vertices ([(L_i,) vertex indices]) and their ``loop_shape``s, pts
    (N, 3), faces (F, 3): the candidates for its eye and mouth openings."""
    loops = [lp for lp in boundary_loops(faces) if len(lp) >= 4]
    return loops, [loop_shape(pts[lp]) for lp in loops]


EYE_INSIDE = True               # an eye also meets a face loop it lies inside (``match_openings``)
LOOP_RADII = (0.4, 3.0)         # a face loop meets a template opening only at 0.4-3x its radius


def loop_meets(d: float, lim: float, r0: float, r: float) -> bool:
    """Whether a face loop of RMS radius r whose centre lies d from a template opening's (radius r0) meets it:
    d below ``lim`` and r within ``LOOP_RADII`` of r0 (``match_openings``, ``pocket_openings``)."""
    return d < lim and LOOP_RADII[0] * r0 < r < LOOP_RADII[1] * r0


def match_openings(tpl: FaceTemplate, x0: np.ndarray, pts: np.ndarray, faces: np.ndarray,
                   reach: float = 1.0) -> list:
    """The face's eye and mouth openings (boundary loops) that match the template's.

    A face loop matches a template opening (aligned by the similarity: ``x0``) when its centre lies within
    ``reach`` times the opening's radius of the opening's centre and its radius is 0.4-3x the opening's; the
    closest match wins, each face loop serves one opening. An eye also matches a face loop it lies inside (its
    centre within the loop's own radius): a stylised eye much larger than ICT's, set lower and further out (an
    anime face's: centres 1.4 cm apart, radius 1.85 cm against the template's 1.13) is scaled to by
    ``scale_openings`` only once it is met. The mouth keeps the stricter reach: ``mouth_pose`` and
    ``fit_mouth_slit`` move the template's lips onto a face's lip line first, and a wavy lip line well off it
    (Rokoko's) is left to the registration. Meshes with closed eyes or mouth simply have no loop there.
    Returns [(template opening number, face loop (P,) vertex indices, forward)]: ``forward`` when the loop's
    surroundings face forward (a lid margin or lip line cut open, as game meshes have; mean normal z above
    ``BACKWARD_LOOP_NZ``), not back (a socket)."""
    loops, shapes = face_loops(pts, faces)
    vn = vertex_normals(pts, faces)
    out, used = [], set()
    for i, opening in enumerate(tpl.openings):
        c0, r0 = loop_shape(x0[opening])
        mouth = opened_by_jaw(tpl, opening)
        best, best_d = None, np.inf
        for j, (c, r) in enumerate(shapes):
            d = float(np.linalg.norm(c - c0))
            lim = max(reach * r0, r) if EYE_INSIDE and not mouth else reach * r0
            if j not in used and loop_meets(d, lim, r0, r) and d < best_d:
                best, best_d = j, d
        if best is not None:
            used.add(best)
            out.append((i, loops[best], bool(vn[loops[best], 2].mean() >= BACKWARD_LOOP_NZ)))
    return out


POCKETS = True                  # an eye the face has no boundary loop for is looked for as a pocket (``eye_pocket``)
POCKET_REACH = 2.5              # the surface around an eye: face vertices within 2.5 template rim radii of its centre
POCKET_HIDDEN = 0.05            # a vertex this many rim radii behind the frontmost surface at its (x, y) is hidden
POCKET_DEPTH = 0.4              # a vertex this many rim radii behind that surface (a robust quadratic fit) is deep
POCKET_SEED = 1.2               # the pocket grows from within 1.2 rim radii of the centre (across)
POCKET_GROW = 0.5               # ... a recess through the vertices at least half as deep as its deepest (the fit's
                                # misses beside the nose, 0.25-0.31 of a radius on Rocketbox, are not the recess)
POCKET_BACK = -0.3              # ... and through the vertices around it facing back (``_back_walls``; None: not)
POCKET_BACK_RINGS = 3


def eye_pocket(pts: np.ndarray, faces: np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray | None:
    """The lid margin of an eye modelled as a closed pocket (lids joined to a recessed eyeball or a socket, no
    boundary loop): (L,) vertex indices around it, or None.

    pts (N, 3) cm (+Y up, +Z forward), faces (F, 3); centre (3,) and radius: the template's eye rim where the
    similarity put it. Inside the eye is what the lids hide from the front: the vertices within ``POCKET_REACH``
    radii that lie more than ``POCKET_HIDDEN`` radii behind the frontmost surface at their (x, y) (a socket behind
    the lids, the lids' inner folds), grown from the one hidden deepest within ``POCKET_SEED`` radii of the centre
    across. A low-poly pocket hides nothing (its walls run straight back to the socket's floor, Rocketbox's a
    single vertex 1.3 cm behind); there it is the vertices more than ``POCKET_DEPTH`` radii behind the surface
    around the eye (a quadratic z(x, y) fitted to the vertices within reach, refitted without those far behind
    it), grown from the deepest one within the seed's reach through those at least ``POCKET_GROW`` as deep. The
    margin is the outer boundary of the triangles touching the inside: the first ring the front sees, once the lids'
    backs it can see through an opening without an eyeball are taken in (``_back_walls``); of several such loops the
    frontmost."""
    d = pts - centre
    near = np.flatnonzero(np.linalg.norm(d, axis=1) < POCKET_REACH * radius)
    if len(near) < 10:
        return None
    close = np.zeros(len(pts), bool)
    close[near] = True
    local = faces[close[faces].any(axis=1)]
    behind = np.zeros(len(pts))
    behind[near] = depth_behind_front(pts, local, pts[near])
    across = np.linalg.norm(d[:, :2], axis=1)
    inside = behind > POCKET_HIDDEN * radius
    seeds = np.flatnonzero(inside & (across < POCKET_SEED * radius))
    if len(seeds):
        seed = seeds[np.argmax(behind[seeds])]
    else:
        q = d[near]
        A = np.stack([np.ones(len(q)), q[:, 0], q[:, 1], q[:, 0] ** 2, q[:, 0] * q[:, 1], q[:, 1] ** 2], axis=1)
        keep = np.ones(len(q), bool)
        for _ in range(5):
            res = q[:, 2] - A @ np.linalg.lstsq(A[keep], q[keep, 2], rcond=None)[0]
            keep = res > -0.5 * POCKET_DEPTH * radius
        depth = np.zeros(len(pts))
        depth[near] = -res
        seeds = np.flatnonzero((depth > POCKET_DEPTH * radius) & (across < POCKET_SEED * radius))
        if not len(seeds):
            return None
        seed = seeds[np.argmax(depth[seeds])]
        inside = depth > max(POCKET_DEPTH * radius, POCKET_GROW * depth[seed])
    # the inside lies within reach, so its edges and the triangles around it are all among the local triangles
    e = unique_edges(local)
    e = e[inside[e[:, 0]] & inside[e[:, 1]]]
    lab = edge_components(len(pts), e)
    pocket = lab == lab[seed]
    if POCKET_BACK is not None:
        pocket = _back_walls(pts, local, pocket, close)
    loops = boundary_loops(local[pocket[local].any(axis=1)])
    # the margin: the frontmost loop (a socket running out of reach leaves a loop deep behind it too)
    return max(loops, key=lambda lp: float(pts[lp, 2].mean())) if loops else None


def _back_walls(pts: np.ndarray, local: np.ndarray, pocket: np.ndarray, close: np.ndarray) -> np.ndarray:
    """``pocket`` (N,) bool grown through the vertices within reach (``close``) whose normal faces back (Z below
    ``POCKET_BACK``, the sign taken from the surface around: a mesh wound inside out reads alike), ring by ring up
    to ``POCKET_BACK_RINGS``: a lid's back, which the front sees through an eye whose eyeball is another piece."""
    nz = vertex_normals(pts, local)[:, 2]
    front = close & ~pocket
    if np.median(nz[front]) < 0.0:
        nz = -nz
    back = close & (nz < POCKET_BACK)
    e = unique_edges(local)
    pocket = pocket.copy()
    for _ in range(POCKET_BACK_RINGS):
        add = np.zeros(len(pts), bool)
        add[e[pocket[e[:, 0]], 1]] = True
        add[e[pocket[e[:, 1]], 0]] = True
        add &= back & ~pocket
        if not add.any():
            break
        pocket |= add
    return pocket


def pocket_openings(tpl: "FaceTemplate", x0: np.ndarray, pts: np.ndarray, faces: np.ndarray, matched: list,
                    reach: float = 1.0) -> list:
    """``match_openings``-style pairs [(template opening number, margin (L,), True)] for the template's eyes
    (rims with an interior) that ``matched`` has no face loop for and the face has a pocket at (``eye_pocket``),
    kept under ``match_openings``' bounds (centre within ``reach`` rim radii, radius 0.4-3x)."""
    done = {i for i, _, _ in matched}
    out = []
    for i, (rim, interior) in enumerate(tpl.rims):
        if i in done or not len(interior):
            continue
        c0, r0 = loop_shape(x0[rim])
        loop = eye_pocket(pts, faces, c0, r0)
        if loop is None:
            continue
        c, r = loop_shape(pts[loop])
        if loop_meets(float(np.linalg.norm(c - c0)), reach * r0, r0, r):
            out.append((i, loop, True))
    return out


def opening_curves(tpl: FaceTemplate, pts: np.ndarray, matched: list, rims: list | None = None,
                   faces: np.ndarray | None = None) -> tuple[list, np.ndarray]:
    """Registration curves of the ``match_openings`` pairs, and the template vertices the face has nothing for.

    A forward loop meets the template's rim (``FaceTemplate.rims``) and the template's interior behind that rim
    is hidden; a loop facing back meets the template's opening. With the face's ``faces`` (F, 3) given and
    ``LIP_ARCS`` on, the lips of a forward mouth loop (cut open at the lip contact) meet lip by lip
    (``mouth_arcs``): the template's upper lip the face loop's upper arc, its lower lip the lower arc (two open
    curves); with ``EYE_ARCS``, a forward eye loop meets the template's own rim lid by lid alike (``eye_arcs``).
    Returns ([(template vertex indices, face polyline (P, 3)[, closed])], hidden (N,) bool). rims: the template's
    rims to meet (default ``tpl.rims``)."""
    rims = tpl.rims if rims is None else rims
    hidden = np.zeros(len(tpl.verts), bool)
    curves = []
    for i, loop, forward in matched:
        rim, interior = rims[i]
        if forward:
            hidden[interior] = True
        ti = rim if forward else tpl.openings[i]
        arcs = mouth_arcs(tpl, ti, pts, faces, loop) if LIP_ARCS and forward and faces is not None else None
        if arcs is None and EYE_ARCS and forward and faces is not None and not opened_by_jaw(tpl, ti) \
                and i not in tpl.virtual_openings:
            arcs = eye_arcs(tpl, ti, pts, loop)
        if arcs is None:
            curves.append((ti, pts[loop]))
        else:
            curves += [(t_arc, pts[f_arc], False) for t_arc, f_arc in arcs]
    return curves, hidden


LIP_ARCS = True                 # a face's mouth loop meets the template's lips lip by lip (``mouth_arcs``)
EYE_ARCS = True                 # ... and an eye's loop its rim lid by lid (``eye_arcs``; a rim the template cuts open
                                # itself, not a closed eye's margin added by ``FaceTemplate.add_opening``)
LIP_ARC_OPEN_CM = 0.2           # ... where the template's jawOpen opens that curve by at least this much (the mouth)


def opened_by_jaw(tpl: FaceTemplate, idx: np.ndarray) -> bool:
    """Whether the template's jawOpen (``tpl.jaw``) drops some of the vertices idx (I,) by ``LIP_ARC_OPEN_CM``: the
    mouth's opening or rim, not an eye's."""
    return tpl.jaw is not None and -float(tpl.modes[tpl.jaw, idx, 1].min()) >= LIP_ARC_OPEN_CM


def mouth_arcs(tpl: FaceTemplate, ti: np.ndarray, pts: np.ndarray, faces: np.ndarray, loop: np.ndarray):
    """The lips of a mouth opening paired lip by lip: [(template upper-lip vertices, face upper arc), (lower,
    lower)], or None for a curve that is no mouth or a loop whose lips cannot be told apart.

    A face's lips cut open at a slit a millimetre or two tall (an avatar's lips overlapping at the contact: the
    upper lip's edge hangs below the lower lip's top) give a loop whose nearest point to a template vertex may
    lie on the other lip; pulled to the whole loop, the template's lower lip took the face's upper edge (a
    Ready Player Me head's largest piece split along its UV seams, its lips cut at one: 57 % of the template's
    lip-loop vertices) and jawOpen left the lower lip's top behind as a torn curtain. The template's curve ti (T,)
    is the mouth when its jawOpen (``tpl.jaw``) opens it by ``LIP_ARC_OPEN_CM``; its lower lip is the vertices
    that drop at least half as far as the most. The face's loop (L,) (ordered, pts (N, 3) cm, faces (F, 3)) is
    split into its upper and lower arcs by ``loop_arcs``."""
    if len(loop) < 6 or not opened_by_jaw(tpl, ti):
        return None
    dy = tpl.modes[tpl.jaw, ti, 1].astype(np.float64)
    lower = dy <= 0.5 * dy.min()
    if lower.all() or not lower.any():
        return None
    split = loop_arcs(pts, faces, loop)
    if split is None:
        return None
    return [(ti[~lower], split[0]), (ti[lower], split[1])]


def eye_arcs(tpl: FaceTemplate, ti: np.ndarray, pts: np.ndarray, loop: np.ndarray):
    """An eye's rim and the face's eye loop paired lid by lid: [(template upper-lid rim vertices, face upper arc),
    (lower, lower)] (open curves), or None where either has fewer than 6 vertices.

    Pulled to the whole loop, every rim vertex meets the loop's nearest point: a template eye set a few
    millimetres low on the face's (the ARKit mask's on the hand-made head, 6 mm) had its upper rim pulled onto
    the face's lower lid, both lids closed onto it, and the blink moved the face's lower lid down instead of its
    upper lid (cosine 0.04 with the artist's). The template's rim ti (T,) is split at its mean height in its rest
    shape, the face's loop (L,) (ordered; pts (N, 3) cm, +Y up) at its corners (least and greatest X), the arc
    lying higher (mean Y between the corners) its upper lid; both arcs keep the corners."""
    if len(loop) < 6 or len(ti) < 6:
        return None
    y = tpl.verts[ti, 1]
    upper = y >= y.mean()
    if upper.sum() < 2 or (~upper).sum() < 2:
        return None
    arcs = corner_arcs(pts, loop)
    if min(len(arc) for arc in arcs) < 3:
        return None
    arcs.sort(key=lambda arc: -float(pts[arc[1:-1], 1].mean()))
    return [(ti[upper], arcs[0]), (ti[~upper], arcs[1])]


def corner_arcs(pts: np.ndarray, loop: np.ndarray) -> list:
    """A loop (L,) (ordered; pts (N, 3), X across) split at its corners (least and greatest X) into its two arcs,
    each running from one corner to the other, both corners included."""
    a, b = int(np.argmin(pts[loop, 0])), int(np.argmax(pts[loop, 0]))
    n = len(loop)
    return [loop[(a + np.arange((b - a) % n + 1)) % n], loop[(b + np.arange((a - b) % n + 1)) % n]]


def loop_arcs(pts: np.ndarray, faces: np.ndarray, loop: np.ndarray):
    """A mouth loop (L,) (ordered; pts (N, 3) cm +Y up, faces (F, 3)) split at its corners (``corner_arcs``)
    into (upper arc, lower arc), each with both corners, or None where the two cannot be told apart: the upper arc
    is the one whose neighbours off the loop lie above it (the upper lip's body is above its edge, the lower lip's
    below, however the edges overlap)."""
    arcs = corner_arcs(pts, loop)
    e = unique_edges(faces)
    on = np.zeros(len(pts), bool)
    on[loop] = True
    keep = on[e[:, 0]] != on[e[:, 1]]                  # edges from the loop to the surface off it
    lv, ov = np.where(on[e[keep, 0]], e[keep, 0], e[keep, 1]), np.where(on[e[keep, 0]], e[keep, 1], e[keep, 0])
    rise = np.zeros(len(pts))
    cnt = np.zeros(len(pts))
    np.add.at(rise, lv, pts[ov, 1] - pts[lv, 1])
    np.add.at(cnt, lv, 1.0)
    side = [float(rise[arc[1:-1]].sum() / max(cnt[arc[1:-1]].sum(), 1.0)) for arc in arcs]
    if not (max(side) > 0.0 > min(side)):
        return None
    return (arcs[0], arcs[1]) if side[0] > side[1] else (arcs[1], arcs[0])


LOOP_LIP_SIDES = True           # a face's open mouth the template has no opening for takes each lip arc's closest
                                # points on the template's lip of that side (``loop_lip_sides``)
LOOP_LIP_REACH_CM = 0.5         # ... a loop whose vertices lie this near the registered lip contact (median)
LOOP_LIP_RINGS = 3              # ... and the lip contact's vertices within this many rings of a lip's arc


def lip_margin_loop(x: np.ndarray, ambiguity: np.ndarray, pts: np.ndarray, faces: np.ndarray, used=()
                    ) -> np.ndarray | None:
    """The face's lips' margin where they are cut open: its forward loop (not a mouth's deep opening,
    ``BACKWARD_LOOP_NZ``; no cut) nearest the registered lip contact (the vertices of the registered template x
    (M, 3) with ``ambiguity`` (M,) at least ``MOUTH_CONTACT``), its median distance within ``LOOP_LIP_REACH_CM`` and
    sharing no vertex with the ``used`` loops; (L,) vertex indices into pts (N, 3), or None."""
    contact = ambiguity >= MOUTH_CONTACT
    if contact.sum() < 4:
        return None
    taken = np.zeros(len(pts), bool)
    for lp in used:
        taken[lp] = True
    grid = PointGrid(x[contact])
    vn = vertex_normals(pts, faces)
    best, best_d = None, LOOP_LIP_REACH_CM
    for lp in face_loops(pts, faces)[0]:
        if (taken[lp].any() or is_cut_loop(pts[lp])
                or vn[lp, 2].mean() < BACKWARD_LOOP_NZ):          # a mouth's deep opening is no lip margin
            continue
        d = float(np.median(np.sqrt(grid.knn(pts[lp], 1)[1][:, 0])))
        if d < best_d:
            best, best_d = lp, d
    return best


def smooth_margin(keys: np.ndarray, arcs, rounds: int) -> np.ndarray:
    """Each lip's margin made smooth along itself: ``rounds`` passes of (1, 2, 1) / 4 along each arc (keys (K, N, 3)
    changed in place on the arcs' inner vertices; the corners, where the lips meet, kept). A margin cut open reads
    its closest points off a source whose lips are shaped otherwise, and alternate vertices of it may land on the
    lip's front and just behind its edge: a funnel then hangs teeth from the lip (Ready Player Me -> ARKit mask)."""
    for arc in arcs:
        if len(arc) < 3:
            continue
        for _ in range(rounds):
            k = keys[:, arc].astype(np.float64)
            keys[:, arc[1:-1]] = (0.25 * (k[:, :-2] + 2.0 * k[:, 1:-1] + k[:, 2:])).astype(keys.dtype)
    return keys


def loop_lip_sides(x: np.ndarray, tpl_faces: np.ndarray, ambiguity: np.ndarray, jaw_dy: np.ndarray, pts: np.ndarray,
                   faces: np.ndarray, used: list, f: np.ndarray, b: np.ndarray, amb: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closest points on a face's open lips chosen lip by lip where the template's lips are closed.

    A face whose lips are cut open at their margin (a face mask, Face Cap's head, an avatar welded) met by a
    template whose lips touch (a transfer's source with closed lips: the MakeHuman, Rocketbox, hand-made heads) has
    no opening to meet (``match_openings``), so each of its margin vertices took the nearer of the two touching lips:
    upper-lip edge vertices took the lower lip's motion, one in two, and jawOpen opened the mouth with a zigzag of
    teeth hanging from the upper lip. The face's forward loop (``BACKWARD_LOOP_NZ``) nearest the registered lip
    contact (the vertices of x (M, 3) with ``ambiguity`` (M,) at least ``MOUTH_CONTACT``; median within
    ``LOOP_LIP_REACH_CM``), sharing no vertex with the ``used`` loops, is split into its lips (``loop_arcs``), the
    template's triangles (tpl_faces (T, 3)) into those that drop with the jaw (their jawOpen drop, jaw_dy (M,)
    averaged, at least half the contact's largest: the lower lip and chin) and the rest; each arc (and the
    ambiguous vertices within ``LOOP_LIP_RINGS`` of it, nearer it than the other) takes its closest points among
    the rest (the upper lip) or the dropping ones (the lower), its ambiguity 0. f (N,) int64 indices into
    tpl_faces, b (N, 3), amb (N,): the closest points as found; returns copies."""
    contact = ambiguity >= MOUTH_CONTACT
    best = lip_margin_loop(x, ambiguity, pts, faces, used)
    if best is None:
        return f, b, amb
    split = loop_arcs(pts, faces, best)
    if split is None:
        return f, b, amb
    low = jaw_dy[tpl_faces].mean(axis=1) <= 0.5 * float(jaw_dy[contact].min())     # the jaw's side of the mouth
    if low.all() or not low.any():
        return f, b, amb
    # each lip: its arc without the corners, and the lip contact's vertices a few rings from it, nearer it than
    # the other arc (a lip's inner side curling into the mouth behind its edge)
    rings = [vertex_rings(len(pts), faces, arc[1:-1], LOOP_LIP_RINGS) for arc in split]
    near = amb >= AMBIGUITY[0]
    f, b, amb = f.copy(), b.copy(), amb.copy()
    for side, keep in ((0, np.flatnonzero(~low)), (1, np.flatnonzero(low))):
        mine, other = rings[side], rings[1 - side]
        q = np.flatnonzero((mine == 0) | (near & (mine > 0) & ((other < 0) | (mine < other))))
        if not len(q):
            continue
        f2, b2, _ = Surface(x, tpl_faces[keep]).closest(pts[q])
        f[q], b[q], amb[q] = keep[f2], b2, 0.0
    return f, b, amb


SCALE_REACH = (1.0, 3.5)        # an eye's template scaled whole within 1 rim radius of its centre, not beyond 3.5
SCALE_RANGE = (0.7, 2.5)        # the range of that scale


def scale_openings(tpl: FaceTemplate, x0: np.ndarray, pts: np.ndarray, matched: list, rims: list | None = None
                   ) -> np.ndarray:
    """The aligned template (N, 3) cm with each eye grown (or shrunk) to the size of the face's eye opening.

    Where the face's opening is cut at its lid margin and the template's is a socket (``FaceTemplate.rims``
    with an interior), the template's lids, creases and brow around the rim take the face's proportions before
    the registration: the template is scaled about the rim's centre by the ratio of the two openings' RMS radii
    (clipped to ``SCALE_RANGE``) and moved onto the face opening's centre, whole within ``SCALE_REACH[0]`` rim
    radii, fading out by ``[1]``. Without it a large stylised eye meets ICT's lid only along its margin and the
    rest of its lid takes the motion of ICT's crease and brow. The registration's stiffness then keeps these
    proportions (it is measured against the scaled template). rims: the template's rims (default ``tpl.rims``)."""
    rims = tpl.rims if rims is None else rims
    x = np.array(x0, np.float64, copy=True)
    for i, loop, forward in matched:
        rim, interior = rims[i]
        if not forward or not len(interior):
            continue
        ct, rt = loop_shape(x0[rim])
        cf, rf = loop_shape(pts[loop])
        k = float(np.clip(rf / max(rt, 1e-12), *SCALE_RANGE))
        r1, r2 = SCALE_REACH[0] * rt, SCALE_REACH[1] * rt
        w = np.clip((r2 - np.linalg.norm(x0 - ct, axis=1)) / (r2 - r1), 0.0, 1.0)
        x += w[:, None] * (cf + k * (x0 - ct) - x0)
    return x


TUNNEL_RIMS = True              # an eye the face opens deep in a socket is scaled to and closed at its lid margin
                                # (``tunnel_rims``), as one cut open there ...
TUNNEL_SIZE = 1.1               # ... when its margin is at least this much larger or smaller than the template's


def tunnel_rims(tpl: FaceTemplate, x0: np.ndarray, pts: np.ndarray, faces: np.ndarray, matched: list,
                rims: list | None = None, any_size: frozenset = frozenset()) -> list:
    """``matched`` with each eye the face opens deep in a socket (a loop facing back, as ICT's own eyes and an ICT-like
    head's) given as its rim instead: (template opening number, the face's first ring of vertices around the loop
    whose mean normal faces forward (+Z, within ``MAX_RIM_RINGS``): the lid margin, True). ``scale_openings`` and
    ``close_openings`` then meet that margin as on an eye cut open there: without it an eye larger than ICT's (a
    stylised warp of ICT's face, eyes 1.2-1.5x) kept the template's lid size and its blink stopped half-way (closure
    0.51 of the eye's height, ICT's own 0.96). Only where the face's margin (RMS radius) differs from the template's
    rim aligned by the similarity (x0 (M, 3)) by ``TUNNEL_SIZE`` or more: an eye of the template's size is met as
    before (ICT's own head keeps ICT's blink, which leaves 4-7 % of the eye open, and a transfer between ICT-like
    heads its registration). Loops facing forward, the mouth (the opening jawOpen opens) and openings the template
    has no socket for (its own rim: a game-mesh transfer source) are kept as they are. pts (N, 3), faces (F, 3): the
    face; matched: ``match_openings``' list; rims: the template's rims (default ``tpl.rims``); any_size: the openings
    met at the margin whatever its size (``side_rimmed``'s: their registration meets loop to loop, not margins)."""
    rims = tpl.rims if rims is None else rims
    out, vn = [], None
    for i, loop, forward in matched:
        if forward or opened_by_jaw(tpl, tpl.openings[i]) or not len(rims[i][1]):
            out.append((i, loop, forward))
            continue
        if vn is None:
            vn = vertex_normals(pts, faces)
        ring = vertex_rings(len(pts), faces, loop, MAX_RIM_RINGS)
        rim_r = forward_ring(ring, vn)
        rim = np.flatnonzero(ring == rim_r) if rim_r is not None else None
        size = loop_shape(pts[rim])[1] / max(loop_shape(x0[rims[i][0]])[1], 1e-12) if rim is not None else 1.0
        met = rim is not None and (i in any_size or max(size, 1.0 / max(size, 1e-12)) >= TUNNEL_SIZE)
        out.append((i, rim, True) if met else (i, loop, forward))
    return out


MARGIN_LOOPS = True             # a socket eye met by a rim cut open at its margin meets the face's lid margin instead
                                # (``margin_loops``: the transfer from a game head onto an ICT-like head)
MARGIN_VIRTUAL = True           # ... and so does one met by a closed eye's lid margin (``FaceTemplate.add_opening``: a
                                # pocket source's), its pocket hidden behind it


def ordered_ring(pts: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """The vertices ring (R,) of a ring around an opening (any order; pts (N, 3) cm, +Z forward) in order around
    it: by their angle about its centre seen from the front."""
    p = pts[ring] - pts[ring].mean(axis=0)
    return ring[np.argsort(np.arctan2(p[:, 1], p[:, 0]), kind="stable")]


def margin_loops(tpl: FaceTemplate, x0: np.ndarray, pts: np.ndarray, faces: np.ndarray, matched: list) -> list:
    """``matched`` with each eye loop of the face that faces back (a socket, as an ICT-like head's: its loop lies
    deep behind the lids) met by a template rim that is a margin (no interior, its surroundings facing forward as
    ``forward_ring`` reads a margin: a game head's eye cut open at its lid margin, the transfer's source; with
    ``MARGIN_VIRTUAL`` also a closed eye's lid margin, ``FaceTemplate.add_opening``, whose pocket is then hidden as
    a forward loop hides a rim's interior) given as the face's lid margin instead: (template opening number, the
    first forward-facing ring around the loop in order (``forward_ring``, ``ordered_ring``), True). Met at the deep
    loop, the source's margin was pulled toward a curve behind the target's lids and the lids between took whatever
    lay nearest (VRoid onto a held-out ICT face: its eye 1.7 cm lower than the target's after the similarity, the
    target's lower lid read VRoid's upper lid and dropped 1.9 cm in the blink; MakeHuman's pocket lining, which its
    blink moves, tore the ICT face's lids into shards). ``close_openings`` then only scales such an eye's keys down
    (``down_only``). x0 (M, 3) the template aligned by the similarity; pts (N, 3), faces (F, 3) the face. Returns
    the new list; an entry changed is a new tuple (the others the same objects)."""
    out, vn, tn = [], None, None
    for entry in matched:
        i, loop, forward = entry
        rim, interior = tpl.rims[i]
        virtual = i in tpl.virtual_openings     # a closed eye's margin: its interior is the pocket behind it
        if forward or opened_by_jaw(tpl, tpl.openings[i]) or (virtual and not MARGIN_VIRTUAL) or \
                (len(interior) and not virtual) or (SIDE_RIMS and i in tpl.side_rims):
            out.append(entry)
            continue
        if tn is None:
            tn, vn = vertex_normals(x0, tpl.faces), vertex_normals(pts, faces)
        if tn[rim, 2].mean() <= 0.0:    # no margin seen from the front (a socket, or the hand-made head's loop
            out.append(entry)           # facing sideways inside its lids): loop meets loop
            continue
        ring = vertex_rings(len(pts), faces, loop, MAX_RIM_RINGS)
        r = forward_ring(ring, vn)
        if r is None or (ring == r).sum() < 6:
            out.append(entry)
            continue
        out.append((i, ordered_ring(pts, np.flatnonzero(ring == r)), True))
    return out


def side_rimmed(tpl: FaceTemplate, rims: list, openings: frozenset) -> list:
    """The template's rims (a list like ``rims``) with each of ``openings`` (eyes whose loop faces sideways,
    ``FaceTemplate.side_rims``) given its margin one ring out. Its own loop is no margin: the hand-made head's blink
    closes it 18 % and its first ring 109 %. Where a face loop facing back (a socket, as an ICT-like head's) meets
    such an eye, the registration, ``tunnel_rims`` and ``close_openings`` read this margin: met loop to loop and
    never closed at the margin (``tunnel_rims`` closes only at a rim with an interior), the blink onto an ICT face
    stopped at 55-58 % of the lid travel (19-20 % on the other). ``template_keys`` closes those at the face's margin
    whatever its size (``tunnel_rims``' any_size), leaves them unsealed (sealed, the ring the socket's margin is read
    from crumpled: the hand-made blink onto the two ICT faces turned 17 triangles against 4) and does not unfold
    them (``UNFOLD_LIDS`` pinched the upper lid into spikes; left alone the lids tuck as a blink's do, 5-8 triangles
    against ICT's own 14-21). A face cut open at its margin still meets the loop, and only ``close_openings`` reads
    this margin there (``SIDE_SEAL``): met margin to margin and scaled, the jagged lid the coarse ring carries was
    spread into spikes (onto Rokoko's face: docs/model.md)."""
    side = tpl.side_rims
    return [side[i] if i in openings else r for i, r in enumerate(rims)]


UNFOLD_LIDS = True              # relax the triangles a lid key turns over beside the eye (its scaled motion crumples the
                                # corners: Rokoko's blink 47 -> 23 turned, the artist's 15), the margins kept as sealed
SOCKET_SIDES = True             # each side of the mouth reads its own socket (``inner_parts.fill_sockets``)
CLOSURE_MIN = 0.15              # a key that closes (or opens) an opening by at least this share of its height
CLOSURE_SCALE = (0.5, 3.0)      # the range of the correction
SEAL_CLOSURE = 0.8              # a lid key closing the template's rim this far (a blink: ICT's 93 %) leaves no slit
                                # on a face's eye cut open at the margin (``seal_lids``)
CLOSURE_ACROSS = True           # the correction scales the motion across the eye (Y, Z), not the lids' sideways slide
                                # (scaled whole, VRoid's lower lid slid 5-7 mm toward the nose)
STRETCH_LIDS = True             # a blink scaled up also spreads its upper-lid motion as far (``stretch_lids``): VRoid's
                                # blink 73.7 -> 59.7 %, Rokoko's 54.6 -> 44.1 %, Ready Player Me's 61.7 -> 66.5 %
STRETCH_CORNER = 0.25           # ... whole between the corners, eased to none this share of the eye's width beyond
CLOSURE_COLUMNS = True          # a blink's correction set column by column across the eye (``column_gains``)
COLUMN_GAP = 0.3                # ... in the columns at least this share of the eye's largest height
COLUMN_SPAN = (0.1, 0.9)        # ... read across this span of the eye's width (held beyond: the corners' closures vary
COLUMN_SIGMA = 0.1              # steeply), each place a Gaussian mean of the columns within about this share of it
CLOSURE_REACH = (2.0, 3.5)      # the correction is whole within 2 opening radii of its centre, none beyond 3.5


def opening_closure(rim: np.ndarray, disp: np.ndarray, central: float = 0.6):
    """How much each key closes an eye-like opening: (K,) share of the rim's height, or None.

    rim (R, 3) the opening's rim (any order; +Y up, X across); disp (K, R, 3) the keys' motion of those
    vertices. The central ``central`` share of the width is used: each upper-rim vertex pairs with the lower-rim
    vertex nearest across; closure = the vertical gap the key takes away over the gap at rest (1: closed;
    negative: opened). None when the rim has no height there (e.g. lips in contact)."""
    c = rim.mean(axis=0)
    x = rim[:, 0]
    sel = np.abs(x - 0.5 * (x.min() + x.max())) <= 0.5 * central * np.ptp(x)
    up = np.flatnonzero(sel & (rim[:, 1] >= c[1]))
    dn = np.flatnonzero(sel & (rim[:, 1] < c[1]))
    if not len(up) or not len(dn):
        return None
    pair = dn[np.argmin(np.abs(rim[up, 0][:, None] - rim[dn, 0][None]), axis=1)]
    gap = float((rim[up, 1] - rim[pair, 1]).sum())
    if gap <= 0.2 * np.ptp(x) * len(up):
        return None
    return -(disp[:, up, 1] - disp[:, pair, 1]).sum(axis=1) / gap


def closure_reach(pts: np.ndarray, loop: np.ndarray) -> np.ndarray:
    """(N,) how fully ``close_openings``' correction of the opening loop (L,) reaches each point of pts (N, 3): 1
    within ``CLOSURE_REACH[0]`` of the loop's radii of its centre, fading to 0 by ``CLOSURE_REACH[1]``."""
    c, r = loop_shape(pts[loop])
    r1, r2 = CLOSURE_REACH[0] * r, CLOSURE_REACH[1] * r
    return np.clip((r2 - np.linalg.norm(pts - c, axis=1)) / (r2 - r1), 0.0, 1.0)


def close_openings(tpl: FaceTemplate, keys: np.ndarray, pts: np.ndarray, matched: list, rims: list | None = None,
                   rest: np.ndarray | None = None, faces: np.ndarray | None = None,
                   down_only: frozenset = frozenset(), unsealed: frozenset = frozenset(),
                   unscaled: frozenset = frozenset()) -> np.ndarray:
    """Scale the keys that close (or open) an eye so they close the face's opening as far as the template's.

    ICT's blink brings the lid margin down 91 % of ICT's eye height; carried to a face with larger (stylised)
    eyes by closest points it keeps ICT's centimetres and stops half-way. For every opening the face meets at
    its rim (``match_openings``, forward), each key whose template closure is at least ``CLOSURE_MIN`` is
    scaled near that opening (within ``CLOSURE_REACH`` radii, fading) by template closure / face closure,
    clipped to ``CLOSURE_SCALE`` (its motion across the eye, Y and Z, with ``CLOSURE_ACROSS``); a key that closes
    the template's rim at least ``SEAL_CLOSURE`` (a blink) is scaled so column by column across the eye
    (``column_gains``, with ``CLOSURE_COLUMNS``) and then leaves no slit (``seal_lids``). keys (K, N, 3) cm
    on pts (N, 3) cm, modified in place and returned. rims: the template's rims (default ``tpl.rims``); rest
    (N_t, 3): the template's rest shape (default ``tpl.verts``; its posed shape where its lips were parted); faces
    (F, 3): the face's triangles, for a blink scaled up to spread as far (``stretch_lids``; None: not spread).
    down_only: the template openings (numbers) whose keys are only scaled down (never up, and sealed only then): a
    socket eye met at its lid margin by a rim cut open there (``margin_loops``): a lid carried past the rim's own
    closure is an overshoot (VRoid's and Rokoko's blinks onto an ICT face: 2.2x and 1.8x), but a margin left open
    is the face's own convention (ICT's blink leaves 4-7 % of its margin; closed whole and sealed, its lid crumpled
    above). unsealed: the openings never sealed (``side_rimmed``'s). unscaled: the openings whose keys keep their
    carried size and are only sealed (where ``want`` says the template's margin shuts): a face's eye cut open at its
    margin meeting a template loop seen side-on (``FaceTemplate.side_rims``: ``rims`` then holds the margin one ring
    out). Read at the loop itself the hand-made blink asked a closure of 0.18 and was scaled down to a lid travel of
    3-18 %; scaled up to the margin's 1.09 the jagged lid the coarse ring carries was spread into spikes."""
    rims = tpl.rims if rims is None else rims
    rest = tpl.verts if rest is None else rest
    for i, loop, forward in matched:
        if not forward:
            continue
        rim = rims[i][0]
        want = opening_closure(rest[rim], tpl.modes[:, rim].astype(np.float64))
        got = opening_closure(pts[loop], keys[:, loop].astype(np.float64))
        if want is None or got is None:
            continue
        w = closure_reach(pts, loop)
        near = np.flatnonzero(w > 0)                                 # elsewhere the factor is 1
        for k in np.flatnonzero((np.abs(want) >= CLOSURE_MIN) & (want * got > 0) & (np.abs(got) >= 0.05)):
            if i in unscaled:
                if want[k] >= SEAL_CLOSURE and tpl.lid_keys[k]:
                    seal_lids(keys[k], pts, loop, near)
                continue
            q = float(np.clip(want[k] / got[k], *CLOSURE_SCALE))
            if i in down_only and q >= 1.0:
                continue
            if CLOSURE_COLUMNS and want[k] >= SEAL_CLOSURE and tpl.lid_keys[k]:
                q = column_gains(pts[loop], keys[k, loop].astype(np.float64), rest[rim],
                                 tpl.modes[k, rim].astype(np.float64), pts[near, 0], q)
            if i in down_only:
                q = np.minimum(q, 1.0)
            gain = (1.0 + (q - 1.0) * w[near])[:, None].astype(keys.dtype)
            if CLOSURE_ACROSS:
                keys[k, near, 1:] *= gain
            else:
                keys[k, near] *= gain
            if want[k] >= SEAL_CLOSURE and tpl.lid_keys[k]:
                if STRETCH_LIDS and np.max(q) > 1.0 and faces is not None:
                    stretch_lids(keys[k], pts, loop, near, 1.0 + (q - 1.0) * w[near], faces)
                if i not in unsealed:
                    seal_lids(keys[k], pts, loop, near)
    return keys


def column_closure(p: np.ndarray, disp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """How far a key closes an eye-like opening column by column: (u (U,), closure (U,), ok (U,) bool) for each
    upper-margin vertex of the loop p (L, 3) (+Y up, X across), ordered along X, with disp (L, 3) the key's motion of
    the loop: u its place across the eye (0 at the smaller X's corner, 1 at the other), closure the share of the rest
    gap to the lower-margin vertex nearest across (X) that the key takes away, ok where that gap is at least
    ``COLUMN_GAP`` of the largest (the corners' closures say little). None for a loop without two margins."""
    up, lo = margin_arcs(p)
    if len(up) < 3 or len(lo) < 2:
        return None
    pair = lo[np.argmin(np.abs(p[up, 0][:, None] - p[lo, 0][None]), axis=1)]
    gap = p[up, 1] - p[pair, 1]
    ok = gap >= COLUMN_GAP * max(float(gap.max()), 1e-12)
    closure = -(disp[up, 1] - disp[pair, 1]) / np.where(ok, gap, 1.0)
    x = p[up, 0]
    return (x - x[0]) / max(float(x[-1] - x[0]), 1e-12), closure, ok


def column_gains(p: np.ndarray, disp: np.ndarray, rim: np.ndarray, rim_disp: np.ndarray, x: np.ndarray,
                 q: float) -> np.ndarray:
    """(M,) the closure correction of a blink column by column across the eye, at X positions x (M,).

    One factor for the whole eye (``close_openings``' q) closes it on average only: where the registration put the
    template's lid unevenly on the face's eye (Ready Player Me's: the raw blink shuts the outer half and leaves the
    inner half open), the outer half then passed the lower lid and dragged the skin above the outer corner down as
    a sheet, a vertical fold. Here the face's loop p (L, 3) (the key's motion disp (L, 3)) is scaled to close as far
    as the template's rim (rim (R, 3), its motion rim_disp (R, 3)) closes at the same place across the eye: both
    closures (``column_closure``) are read as Gaussian means (``COLUMN_SIGMA``) at 9 places over ``COLUMN_SPAN`` of
    the width (smooth, and away from the corners, where the closure falls steeply), their ratio clipped to
    ``CLOSURE_SCALE`` and interpolated at x (held beyond the span). q: the whole-eye factor, returned (as an (M,)
    array) where either loop has no column to read."""
    face, tpl = column_closure(p, disp), column_closure(rim, rim_disp)
    if face is None or tpl is None or not face[2].any() or not tpl[2].any():
        return np.full(len(x), q)
    grid = np.linspace(*COLUMN_SPAN, 9)

    def profile(u, closure, ok):     # Gaussian-weighted mean closure of the columns read, at each grid place
        w = np.exp(-0.5 * ((grid[:, None] - u[ok][None]) / COLUMN_SIGMA) ** 2)
        return (w * closure[ok][None]).sum(1) / np.maximum(w.sum(1), 1e-300)
    got, want = profile(*face), profile(*tpl)
    f = np.clip(want / np.maximum(got, want / CLOSURE_SCALE[1]), *CLOSURE_SCALE)
    up = margin_arcs(p)[0]
    x0, x1 = p[up[0], 0], p[up[-1], 0]
    return np.interp((x - x0) / max(float(x1 - x0), 1e-12), grid, f)


def margin_arcs(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(upper, lower): indices into an eye opening's loop p (L, 3) (+Y up, X across) of its vertices at or above its
    mean height (the upper margin) and below it (the lower margin), each ordered along X."""
    upper = p[:, 1] >= p.mean(axis=0)[1]
    up, lo = np.flatnonzero(upper), np.flatnonzero(~upper)
    return up[np.argsort(p[up, 0])], lo[np.argsort(p[lo, 0])]


def stretch_lids(key: np.ndarray, pts: np.ndarray, loop: np.ndarray, near: np.ndarray, stretch: np.ndarray,
                 faces: np.ndarray) -> np.ndarray:
    """Spread a blink's upper-lid motion away from the margin as far as ``close_openings`` scaled its amplitude.

    Scaled alone, the template's lid motion keeps its extent: on an eye taller than the template's (VRoid's 2.2x,
    Rokoko's 1.7x) the band between margin and crease stretches by the scale and the lid above stays put (a thin,
    faceted sheet). Here a front-facing vertex h above the upper margin (in its column, X) takes the key found
    h / s above the margin, s its ``stretch`` between the corners, eased to 1 within ``STRETCH_CORNER`` of the
    eye's width beyond them (the margin there taken at the corner's height): the lid's motion profile stretched as
    much as its amplitude, so the strain across the lid stays the template's. The key is read at that point from
    its 4 nearest lid vertices in the front view (inverse square distance). Eased inside the corners instead, the
    stretched middle met the unstretched corners along a ridge (VRoid's blink).

    key (N, 3) cm on pts (N, 3) cm (+Y up, +Z forward), changed in place and returned; loop (L,) the opening's
    vertices; near (M,) the vertices the correction reaches; stretch (M,) >= 1 their scale; faces (F, 3)."""
    p = pts[loop]
    up = margin_arcs(p)[0]
    if len(up) < 2:
        return key
    x0, x1 = p[up[0], 0], p[up[-1], 0]
    q = pts[near]
    h = q[:, 1] - np.interp(q[:, 0], p[up, 0], p[up, 1])              # height above the upper margin
    beyond = np.maximum(np.maximum(x0 - q[:, 0], q[:, 0] - x1), 0.0)       # how far beyond a corner (X)
    t = np.clip(1.0 - beyond / (STRETCH_CORNER * max(x1 - x0, 1e-12)), 0.0, 1.0)
    s = 1.0 + (np.asarray(stretch, np.float64) - 1.0) * t * t * (3.0 - 2.0 * t)
    lid = (h >= 0.0) & (t > 0.0) & (vertex_normals(pts, faces)[near, 2] > 0.0)
    move = np.flatnonzero(lid & (h > 0.0) & (s > 1.0 + 1e-6))
    pool = np.flatnonzero(lid)
    if not len(move) or len(pool) < 4:
        return key
    flat = np.zeros((len(q), 3))
    flat[:, :2] = q[:, :2]
    at = flat[move].copy()
    at[:, 1] -= h[move] * (1.0 - 1.0 / s[move])
    idx, wt = knn_weights(at, flat[pool], 4)
    key[near[move]] = np.einsum("mk,mkc->mc", wt, key[near[pool]][idx].astype(np.float64)).astype(key.dtype)
    return key


def near_eyes(tpl: FaceTemplate, at: np.ndarray) -> np.ndarray:
    """(M,) bool: the template points at (M, 3) (cm, the template's frame) within ``EYE_KEEP_CM`` of one of its eyes'
    rims (``FaceTemplate.eye_rims``): the lids, whose motion ``close_openings`` sets."""
    rims = tpl.eye_rims
    if not rims or not len(at):
        return np.zeros(len(at), bool)
    return knn(at, tpl.verts[np.concatenate(rims)], 1)[1][:, 0] <= EYE_KEEP_CM ** 2


def seal_lids(key: np.ndarray, pts: np.ndarray, loop: np.ndarray, near: np.ndarray) -> np.ndarray:
    """Close the slit a blink leaves on an eye cut open at its margin: wherever the key leaves an upper-margin
    vertex above the lower margin (as the key moves that one, at the vertex's own place across, X), the vertex is
    moved onto it (Y and Z), and the upper lid between the corners follows in the share of the margin's drop it
    makes in the key. Where the lid passes the lower margin nothing changes (the fold ICT's blink makes there).
    Scaling (``close_openings``) shuts an eye on average only: an upper lid shaped unlike the face's lower margin
    stays open in places (Rokoko's blink: up to 2.1 mm open beside 3.2 mm through).

    key (N, 3) float cm on pts (N, 3) cm, changed in place and returned; loop (L,) the opening's vertices; near (M,)
    the vertices the correction may reach (``CLOSURE_REACH``)."""
    p = pts[loop]
    up, lo = margin_arcs(p)
    if len(up) < 2 or len(lo) < 2:
        return key
    moved = p + key[loop]
    shut = np.stack([np.interp(p[up, 0], p[lo, 0], moved[lo, a]) for a in (1, 2)], axis=1)   # (U, 2): Y, Z
    delta = (shut - moved[up][:, 1:]) * (shut[:, :1] < moved[up][:, 1:2])   # only where the margin stays above
    drop = -key[loop[up], 1]                                  # how far the key brings each upper-margin vertex down
    # the upper lid: above the lower margin at rest, brought down by the key
    q = pts[near]
    # (between the corners: beyond them, and near them where the margin hardly moves, a share of its motion says
    # nothing)
    above = (q[:, 1] > np.interp(q[:, 0], p[lo, 0], p[lo, 1])) & (q[:, 0] > p[up[0], 0]) & (q[:, 0] < p[up[-1], 0])
    ref = np.maximum(np.interp(q[:, 0], p[up, 0], drop), 0.5 * max(float(drop.max()), 1e-9))
    share = np.clip(np.where(above, -key[near, 1] / ref, 0.0), 0.0, 1.0)
    fix = np.stack([np.interp(q[:, 0], p[up, 0], delta[:, a]) for a in (0, 1)], axis=1) * share[:, None]
    key[near, 1:] += fix.astype(key.dtype)
    key[loop[up], 1:] = (moved[up][:, 1:] + delta - p[up][:, 1:]).astype(key.dtype)  # the margin itself on the lower one
    return key


GAP_WINDOW_CM = 3.0             # the lip gap is looked for within this height above and below the template's lip contact
GAP_STEP_CM = 0.025             # sampling step of the lip profile
GAP_DEPTH_CM = 0.6              # a profile sample this far behind the lips around it lies between them
GAP_JUMP_CM = 0.2               # ... when the profile steps back at least this far between two samples into it
LIP_FRONT_CM = 1.0              # a lip's front is its frontmost point within this height of the opening
GAP_COLUMNS = (-0.4, -0.2, 0.0, 0.2, 0.4)   # profile columns, as shares of the template's mouth half-width


def lip_profile(verts: np.ndarray, faces: np.ndarray, centre: np.ndarray, half_width: float
                ) -> tuple[float, np.ndarray]:
    """Where a face's lips part, read from the front, in its units (cm here): (gap, line).

    gap: the median over ``GAP_COLUMNS`` of the height of the dip in the face's front profile (``mesh.front_hits``,
    lines along Z) nearest ``centre`` (0 in a column without one); line (2,): the median height (Y) of the dips'
    middles and of the lips' fronts (Z), NaN unless most columns have a dip. A line with more than one hole under
    it (a mesh full of holes) is left out; with most left out, (0, NaN). A profile sample is in the dip when it lies ``GAP_DEPTH_CM``
    behind the lower of the frontmost points above and below it (or no surface lies under it, between surface
    above and below), and a dip counts only where the profile steps into it (``GAP_JUMP_CM`` between two samples,
    or a sample with no surface): closed lips leave only their crease, a full lower lip a fold above the chin
    that the profile slopes into; parted lips leave the mouth between them.
    verts (N, 3) +Y up, +Z forward; centre (3,) the expected lip contact; half_width the mouth's half-width."""
    ys = centre[1] + np.arange(-GAP_WINDOW_CM, GAP_WINDOW_CM + 1e-9, GAP_STEP_CM)
    xs = centre[0] + half_width * np.asarray(GAP_COLUMNS)
    tv = verts[faces]                                                       # (F, 3, 3)
    lo, hi = tv.min(axis=1), tv.max(axis=1)
    rows = (hi[:, 1] >= ys[0]) & (lo[:, 1] <= ys[-1])
    z = np.full((len(xs), len(ys)), np.nan)
    for i, x in enumerate(xs):      # only the triangles each profile line crosses
        tri = faces[rows & (lo[:, 0] <= x) & (hi[:, 0] >= x)]
        if len(tri):
            z[i] = front_hits(verts, tri, np.stack([np.full_like(ys, x), ys], axis=1))
    gaps, lines = [], []
    for prof in z:
        hit = np.flatnonzero(np.isfinite(prof))
        if len(hit) and np.count_nonzero(np.diff(hit) > 1) > 1:
            continue        # more than one hole under the line (a mesh with holes, not a mouth): no reading
        zf = np.where(np.isfinite(prof), prof, -np.inf)
        above = np.maximum.accumulate(zf[::-1])[::-1]        # frontmost at or above each sample
        below = np.maximum.accumulate(zf)
        level = np.minimum(above, below)
        with np.errstate(invalid="ignore"):                   # -inf - -inf above the first hit: not deep
            deep = np.isfinite(level) & (level - zf > GAP_DEPTH_CM)
        if not deep.any():
            gaps.append(0.0)
            continue
        # the run of deep samples nearest the expected contact, among those the profile steps into (a gap
        # between lips: the ray passes the lip's edge and hits the mouth far behind, or nothing), not a crease it
        # slopes into (the fold under a full lower lip: 0.95 cm tall, more than GAP_DEPTH_CM deep, on a
        # held-out ICT face)
        idx = np.flatnonzero(deep)
        runs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
        with np.errstate(invalid="ignore"):                   # -inf - -inf: no surface on either side, a hole
            step = np.nan_to_num(np.abs(np.diff(zf)), nan=np.inf)
        runs = [r for r in runs if not np.isfinite(zf[r]).all()
                or step[max(r[0] - 1, 0):r[-1] + 1].max(initial=0.0) > GAP_JUMP_CM]
        if not runs:
            gaps.append(0.0)
            continue
        dist = [0.0 if ys[r[0]] <= centre[1] <= ys[r[-1]] else min(abs(ys[r[0]] - centre[1]), abs(ys[r[-1]] - centre[1]))
                for r in runs]
        run = runs[int(np.argmin(dist))]
        gaps.append(len(run) * GAP_STEP_CM)
        reach = int(round(LIP_FRONT_CM / GAP_STEP_CM))         # the lips' fronts: the frontmost within reach
        front = 0.5 * (zf[run[-1] + 1:run[-1] + 1 + reach].max() + zf[max(run[0] - reach, 0):run[0]].max())
        lines.append((0.5 * (ys[run[0]] + ys[run[-1]]), front))
    if 2 * len(gaps) <= len(xs):
        return 0.0, np.full(2, np.nan)
    line = np.median(np.array(lines), axis=0) if 2 * len(lines) > len(xs) else np.full(2, np.nan)
    return float(np.median(gaps)), line


MOUTH_POSES = np.arange(0.0, 0.801, 0.05)   # jawOpen weights the template's lip gap is measured at
MOUTH_CONTACT = 0.5             # template vertices with a mouth ambiguity above this are its lip contact
MOUTH_CLOSED_CM = 0.1           # a face whose lips stand less than this further apart than the template's is closed


def mouth_pose(tpl: FaceTemplate, s: float, R: np.ndarray, t: np.ndarray, pts: np.ndarray,
               faces: np.ndarray) -> tuple[float, np.ndarray]:
    """How the template's mouth must stand to meet the face's: (jawOpen weight, shift (2,) cm along +Y, +Z).

    A face modelled with parted lips (game heads often are) met by ICT's closed lips registers the lower lip's
    top onto the upper lip's underside, and its mouth then does not open (a "curtain", docs/model.md). Posed
    along jawOpen the template meets the lips where they are; its keys are linear, so its deltas still hold.
    The gap is measured the same way on both (``lip_profile``, in the face's frame: the template placed by the
    similarity s R x + t, R (3, 3)); the weight is interpolated on ``MOUTH_POSES`` (0 when the face's gap is
    within ``MOUTH_CLOSED_CM`` of the closed template's). The shift is how far the middle of the face's opening
    between the lips lies above the posed template's, and the lips' fronts before them (0 where either has no
    opening seen from the front: a crease's depth and height say too little). pts (N, 3) ICT cm."""
    if tpl.jaw is None:
        return 0.0, np.zeros(2)
    contact = tpl.ambiguity > MOUTH_CONTACT
    if contact.sum() < 4:
        return 0.0, np.zeros(2)
    jaw = tpl.modes[tpl.jaw].astype(np.float64)
    x_con = s * tpl.verts[contact] @ R.T + t
    centre, half = x_con.mean(axis=0), 0.5 * float(np.ptp(x_con[:, 0]))
    face_gap, face_line = lip_profile(pts, faces, centre, half)
    if face_gap <= MOUTH_CLOSED_CM and not np.isfinite(face_line).all():
        return 0.0, np.zeros(2)         # closed, and no opening to meet: nothing to measure on the template

    def posed(w):
        return lip_profile(s * (tpl.verts + w * jaw) @ R.T + t, tpl.faces, centre, half)

    weight, (gap0, line) = 0.0, posed(0.0)
    if face_gap > gap0 + MOUTH_CLOSED_CM:
        prev_w, prev = 0.0, (gap0, line)
        for w in MOUTH_POSES[1:]:       # the template's gap grows with the weight: stop at the face's
            cur = posed(w)
            if cur[0] >= face_gap:
                weight = float(prev_w + (face_gap - prev[0]) / max(cur[0] - prev[0], 1e-12) * (w - prev_w))
                line = prev[1] + (weight - prev_w) / (w - prev_w) * (cur[1] - prev[1])
                break
            if cur[0] < prev[0]:        # the template's lips left the window: stop there
                weight, line = prev_w, prev[1]
                break
            prev_w, prev = float(w), cur
        else:
            weight, line = prev_w, prev[1]
    shift = face_line - line
    return weight, (shift if np.isfinite(shift).all() else np.zeros(2))


MOUTH_SHIFT_MIN_CM = 0.3        # lips closer than this are left to the registration (ICT faces: <= 0.19)
MOUTH_SHIFT_MAX_CM = 1.5        # a larger offset is not trusted (its length clipped)
MOUTH_SHIFT_REACH = (1.0, 2.0)  # the template moves whole within 1 mouth half-width of its lip contact, none beyond 2


def shift_mouth(tpl: FaceTemplate, x0: np.ndarray, shift) -> np.ndarray:
    """The aligned template (N, 3) cm with its mouth moved by ``shift`` (2,) cm along +Y, +Z (``mouth_pose``),
    whole near the lip contact, fading out (``MOUTH_SHIFT_REACH``, in the contact's half-widths, across X, Y);
    unchanged below ``MOUTH_SHIFT_MIN_CM``, clipped to ``MOUTH_SHIFT_MAX_CM``. The registration's stiffness then
    keeps the lips where they were put."""
    shift = np.asarray(shift, np.float64)
    size = float(np.linalg.norm(shift))
    if size < MOUTH_SHIFT_MIN_CM:
        return x0
    shift = shift * min(1.0, MOUTH_SHIFT_MAX_CM / size)
    con = x0[tpl.ambiguity > MOUTH_CONTACT]
    c, half = con.mean(axis=0), 0.5 * float(np.ptp(con[:, 0]))
    r1, r2 = MOUTH_SHIFT_REACH[0] * half, MOUTH_SHIFT_REACH[1] * half
    g = np.clip((r2 - np.linalg.norm((x0 - c)[:, :2], axis=1)) / (r2 - r1), 0.0, 1.0)
    x = np.array(x0, np.float64, copy=True)
    x[:, 1:] += (g * g * (3 - 2 * g))[:, None] * shift
    return x


SLIT_COS = 0.5                  # a closed mouth's slit (``lip_slit``): pairs of an up- and a down-facing vertex
SLIT_PAIR_CM = 0.3              # (normal Y beyond +-0.5) within 3 mm of each other, within 1.5 cm up or down and
SLIT_WINDOW_CM = (1.5, 1.5)     # 1.5 cm behind the template's lip contact; the widest row of them (heights no
SLIT_ROW_GAP_CM = 0.3           # more than 3 mm apart one to the next), at least 4 pairs
SLIT_MIN_PAIRS = 4
SLIT_SCALE = (0.6, 1.15)        # the template's mouth scaled to the slit's width within these (1.3: Rokoko's wide
                                # mouth got 3 jawOpen triangles turned at its corners; the caricatures 1 point better)
SLIT_MIN_LOG_SCALE = 0.14       # a slit within 3 mm (``MOUTH_SHIFT_MIN_CM``) and 15 % of the template's is left to
                                # the registration (the dev heads as modelled: 1-2 mm, 2-5 %)
SLIT_SHIFTED_MIN_LOG_SCALE = 0.35   # where the front profile already put the template's lips on the face's
                                # (``mouth_pose``), the slit only scales a mouth narrower than 0.7x the template's
                                # (an anime face's, 0.59x); the widths of one mouth read on ICT's remeshed and
                                # subdivided faces spread 0.75-0.97x
SLIT_REACH = (1.0, 2.0)         # the template's mouth moved whole within 1 half-width of its slit, none beyond 2
SLIT_KEYS = True                # the keys scaled with the template's mouth where the slit fit scales it far
SLIT_KEYS_MIN_LOG_SCALE = 0.35  # ... a mouth narrower than 0.7x (or wider than 1.42x) the template's by its slit (a
                                # subdivided ICT face's reads 0.75x: its keys scaled lost 5.7 points to the truth)
SLIT_KEYS_CENTRED = 0.1         # ... read on a slit whose centre lies within 0.1 of its width across from the
                                # template's (0.00-0.01 on the eight heads and ICT's narrowed mouths; the hand-made
                                # head's warped copy in bench_transfer read 2.3 of its 4.8 cm, 0.55 off)
SLIT_KEYS_POWER = 0.5           # ... by the square root of the fit's scale (on ICT faces whose mouth a warp made
                                # 0.55-0.8x, keys exact through the warp: power 0.3 / 0.5 / 0.7 / 1 summed 138.0 /
                                # 135.0 / 135.3 / 140.7 points over the four cases it scales, 149.3 unscaled)


def lip_slit(verts: np.ndarray, faces: np.ndarray, centre: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Where a closed mouth's lips, modelled as two sheets, meet: (centre (3,), width) in cm, or None.

    A lip's top faces up and the other lip's underside down, within millimetres of it along the slit (the
    hand-made and Rocketbox dev heads, Rokoko's lips cut open but touching, ICT's own face). The pairs: each
    vertex whose normal's Y exceeds ``SLIT_COS`` and its nearest vertex whose normal's Y is below -``SLIT_COS``,
    within ``SLIT_PAIR_CM``; their middles within ``SLIT_WINDOW_CM`` (up or down, behind) of ``centre`` (the
    expected lip contact). Sorted by height, the pairs fall into rows (a gap over ``SLIT_ROW_GAP_CM`` starts a
    new one: a nostril, the mouth's floor); the slit is the widest row, of at least ``SLIT_MIN_PAIRS``: its
    width is its extent across (X), its centre the middle of that extent across and the mean height and depth of
    its frontmost pairs (within ``SLIT_PAIR_CM`` of the front: not the inner sheets running into the mouth).
    verts (N, 3) +Y up, +Z forward, cm; faces (F, 3); centre (3,)."""
    vn = vertex_normals(verts, faces)
    rel = verts - centre
    near = (np.abs(rel[:, 1]) < SLIT_WINDOW_CM[0] + SLIT_PAIR_CM) & (rel[:, 2] > -SLIT_WINDOW_CM[1] - SLIT_PAIR_CM)
    up = np.flatnonzero(near & (vn[:, 1] > SLIT_COS))
    dn = np.flatnonzero(near & (vn[:, 1] < -SLIT_COS))
    if len(up) < SLIT_MIN_PAIRS or len(dn) < SLIT_MIN_PAIRS:
        return None
    j, d2 = PointGrid(verts[dn]).knn(verts[up], 1)
    mid = 0.5 * (verts[up] + verts[dn[j[:, 0]]])
    r = mid - centre
    mid = mid[(d2[:, 0] < SLIT_PAIR_CM ** 2) & (np.abs(r[:, 1]) < SLIT_WINDOW_CM[0]) & (r[:, 2] > -SLIT_WINDOW_CM[1])]
    if len(mid) < SLIT_MIN_PAIRS:
        return None
    mid = mid[np.argsort(mid[:, 1], kind="stable")]
    rows = np.split(mid, np.flatnonzero(np.diff(mid[:, 1]) > SLIT_ROW_GAP_CM) + 1)
    row = max(rows, key=lambda q: (float(np.ptp(q[:, 0])), len(q)))
    if len(row) < SLIT_MIN_PAIRS:
        return None
    front = row[row[:, 2] >= row[:, 2].max() - SLIT_PAIR_CM]
    c = np.array([0.5 * (row[:, 0].min() + row[:, 0].max()), front[:, 1].mean(), front[:, 2].mean()])
    return c, float(np.ptp(row[:, 0]))


def fit_mouth_slit(tpl: FaceTemplate, x0: np.ndarray, pts: np.ndarray, faces: np.ndarray,
                   min_log_scale: float | None = None, return_gain: bool = False):
    """The aligned template x0 (M, 3) cm with its mouth moved and scaled onto a closed mouth's slit.

    The similarity fits the template to the whole face; on a face whose mouth is smaller or set higher than its
    other features suggest (a stylised face: the dev heads given an anime-like shape had their template's lip
    contact 4-10 mm below the slit and 1.1-2.1x as wide), the lips land off the slit, and jawOpen drops the chin
    with the lips still together. Both slits are read alike (``lip_slit`` on the face pts (N, 3), faces (F, 3)
    and on x0, around the template's lip contact); the template's mouth is scaled by the widths' ratio (clipped
    to ``SLIT_SCALE``) about its slit and moved onto the face's, whole within ``SLIT_REACH[0]`` of the template
    slit's half-width, fading out by ``SLIT_REACH[1]`` (smoothstep); the move's length clipped to
    ``MOUTH_SHIFT_MAX_CM``. Unchanged when either has no slit, or when they lie within ``MOUTH_SHIFT_MIN_CM`` in
    height and ``SLIT_MIN_LOG_SCALE`` in width; with ``min_log_scale`` (a mouth already moved onto the face's lip
    line), unless the widths' log ratio is beyond it. With ``return_gain``, also the scale the fit gave the
    template about each vertex, (M,) 1 + g (k - 1) (g the fit's reach weight, k its scale), where the widths' log
    ratio is beyond ``SLIT_KEYS_MIN_LOG_SCALE`` (the keys follow it: ``slit_key_gains``), else None."""
    out, gain = _fitted_slit(tpl, x0, pts, faces, min_log_scale)
    return (out, gain) if return_gain else out


def _fitted_slit(tpl, x0, pts, faces, min_log_scale):
    """``fit_mouth_slit``'s (fitted x0, gain or None)."""
    contact = tpl.ambiguity > MOUTH_CONTACT
    if contact.sum() < 4:
        return x0, None
    centre = x0[contact].mean(axis=0)
    face, own = lip_slit(pts, faces, centre), lip_slit(x0, tpl.faces, centre)
    if face is None or own is None:
        return x0, None
    (cf, wf), (ct, wt) = face, own
    k = float(np.clip(wf / max(wt, 1e-9), *SLIT_SCALE))
    log_ratio = abs(np.log(wf / max(wt, 1e-9)))                       # the widths' (unclipped)
    if abs(cf[1] - ct[1]) < MOUTH_SHIFT_MIN_CM and abs(np.log(k)) < SLIT_MIN_LOG_SCALE:
        return x0, None                 # near enough: left to the registration
    if min_log_scale is not None and log_ratio < min_log_scale:
        return x0, None
    move = cf - ct
    move *= min(1.0, MOUTH_SHIFT_MAX_CM / max(float(np.linalg.norm(move)), 1e-12))   # a larger offset: not trusted
    r1, r2 = SLIT_REACH[0] * 0.5 * wt, SLIT_REACH[1] * 0.5 * wt
    g = np.clip((r2 - np.linalg.norm(x0 - ct, axis=1)) / (r2 - r1), 0.0, 1.0)
    g = g * g * (3 - 2 * g)
    # the keys follow a far other width read on a slit centred where the template's is (one read off-centre is
    # part of one, or another crease)
    far = log_ratio >= SLIT_KEYS_MIN_LOG_SCALE and abs(cf[0] - ct[0]) <= SLIT_KEYS_CENTRED * wf
    return x0 + g[:, None] * ((k - 1.0) * (x0 - ct) + move), (1.0 + g * (k - 1.0) if far else None)


def slit_key_gains(modes: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """(K,) the factor each of the template's keys modes (K, M, 3) takes on a face whose mouth the slit fit scaled
    far (``fit_mouth_slit``'s gain (M,)): the gain's mean over the template weighted by the key's motion, to the
    power ``SLIT_KEYS_POWER``. One factor per key keeps its shape; a mouth key takes the mouth's scale (ICT's 5 cm
    mouth's motion on an anime face's 3 cm one spread its smile over the cheek and opened funnels wider than the
    mouth), an eye key none."""
    mag = np.linalg.norm(np.asarray(modes, np.float64), axis=2)
    mean = (mag * np.asarray(gain, np.float64)[None]).sum(axis=1) / np.maximum(mag.sum(axis=1), 1e-12)
    return np.where(mag.sum(axis=1) > 0, mean, 1.0) ** SLIT_KEYS_POWER


LANDMARK_SIGMA_CM = 2.0         # reach of a landmark's warp (Gaussian radius)


def turned_triangles(keys: np.ndarray, pts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """The triangles (indices into faces (F, 3)) that any of the keys (K, N, 3) turns over (``mesh.turned_over``)
    at weight 1 on pts (N, 3)."""
    pts = np.asarray(pts, np.float64)
    n0 = face_normals(pts, faces, normalize=False)
    out = np.zeros(len(faces), bool)
    for d in keys:
        out |= turned_over(pts, faces, d, n0)
    return np.flatnonzero(out)


def _relax_turned(keys: np.ndarray, which: np.ndarray, pts: np.ndarray, faces: np.ndarray, free: np.ndarray,
                  keep=()) -> None:
    """``unfold_contact`` for keys ``which`` (K',) of keys (K, N, 3) (changed in place) on the vertices within two
    rings of a triangle one of them turns over, of those ``free`` (N,) bool, but the vertex lists in ``keep``."""
    if not len(which):
        return
    turned = turned_triangles(keys[which], pts, faces)
    if not len(turned):
        return
    ring = np.zeros(len(pts), bool)
    ring[faces[turned]] = True
    for _ in range(2):                                          # two rings out, by triangle adjacency
        ring[faces[ring[faces].any(axis=1)]] = True
    for idx in keep:
        ring[idx] = False
    keys[which] = unfold_contact(keys[which], pts, faces, ring & free)


def unfold_contact(keys: np.ndarray, pts: np.ndarray, faces: np.ndarray, free: np.ndarray,
                   rounds: int = UNFOLD_ROUNDS) -> np.ndarray:
    """Re-choose, key by key, the motion of lip-contact vertices of triangles the key turns over.

    Near the lip contact the closest point cannot tell the upper lip from the lower one, so those vertices'
    motion is a guess (the harmonic fill of their neighbours, ``template_keys`` step 4). Where a key turns a
    triangle over, each guessed vertex of it takes, among its own motion, each neighbour's motion and their
    mean, the one that turns the fewest of its triangles over (neighbours held; per sweep the vertices that
    improve and have no improving neighbour of lower index move; at most ``rounds`` sweeps). Vertices whose
    motion the template gives (not ``free``) never change, so blinks and every key away from the lips are
    untouched.

    Args: keys (K, N, 3) float32 displacements (cm); pts (N, 3) rest positions; faces (F, 3); free (N,) bool:
    the vertices whose motion was guessed. Returns (K, N, 3) float32 (a new array only where a key changed).
    Only the triangles around free vertices can change: the work runs on that sub-mesh, renumbered in order (the
    same sweeps as on the whole face), so its cost does not grow with the rest of the face."""
    free = np.asarray(free, bool)
    near = faces[free[faces].any(axis=1)]
    if not len(near):
        return keys
    loc = np.unique(near)
    part = keys[:, loc]
    done = _unfold_sub(part, pts[loc], np.searchsorted(loc, near), free[loc], rounds)
    if done is part:
        return keys
    out = keys.copy()
    out[:, loc] = done
    return out


def _unfold_sub(keys: np.ndarray, pts: np.ndarray, sub: np.ndarray, free: np.ndarray, rounds: int) -> np.ndarray:
    """``unfold_contact`` on a sub-mesh every triangle of which has a free vertex: keys (K, M, 3), pts (M, 3),
    sub (T, 3), free (M,). Returns keys itself where nothing changed, else a changed copy."""
    n0 = face_normals(pts, sub, normalize=False)
    e = unique_edges(sub)
    nbr = np.concatenate([e, e[:, ::-1]])
    nbr = nbr[free[nbr[:, 0]]]
    nbr = nbr[np.argsort(nbr[:, 0], kind="stable")]                  # (E, 2) free vertex -> neighbour, grouped
    fv, nb_start, deg = np.unique(nbr[:, 0], return_index=True, return_counts=True)
    vpos = np.full(len(pts), -1)
    vpos[fv] = np.arange(len(fv))
    corner = sub.ravel()
    order = np.argsort(corner, kind="stable")
    tri_start = np.searchsorted(corner[order], np.arange(len(pts) + 1))
    tri_of = order // 3                                               # triangles around a vertex: its CSR range

    def around(v):
        """(triangles around the vertices v (M,), the position in v of each one's vertex)."""
        cnt = tri_start[v + 1] - tri_start[v]
        return tri_of[concat_ranges(tri_start[v], cnt)], np.repeat(np.arange(len(v)), cnt)

    def flipped(p, t):
        """Which triangles t, with corner positions p (T, 3, 3), face against their rest normal."""
        return (np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]) * n0[t]).sum(axis=1) < 0

    everything = np.arange(len(sub))
    out = keys
    for k in range(len(keys)):
        d = keys[k].astype(np.float64)
        bad = flipped(pts[sub] + d[sub], everything)
        changed = False
        for _ in range(rounds):
            if not bad.any():
                break
            hv = np.unique(sub[bad])
            hv = hv[vpos[hv] >= 0]                                    # the guessed vertices at a turned triangle
            if not len(hv):
                break
            # options per vertex: its own motion, each neighbour's, their mean
            hp = vpos[hv]
            nb = nbr[concat_ranges(nb_start[hp], deg[hp]), 1]
            mean = np.add.reduceat(d[nb], np.concatenate([[0], np.cumsum(deg[hp])[:-1]]), axis=0) / deg[hp, None]
            n_opt = deg[hp] + 2
            opt_v = np.repeat(hv, n_opt)
            value = np.empty((len(opt_v), 3))
            first = np.concatenate([[0], np.cumsum(n_opt)[:-1]])
            value[first] = d[hv]
            value[concat_ranges(first + 1, deg[hp])] = d[nb]
            value[first + n_opt - 1] = mean
            # score every option on the triangles around its vertex, the other corners held
            t, o = around(opt_v)
            p = pts[sub[t]] + d[sub[t]]
            slot = (sub[t] == opt_v[o][:, None]).argmax(axis=1)
            p[np.arange(len(t)), slot] = pts[opt_v[o]] + value[o]
            score = np.bincount(o, weights=flipped(p, t), minlength=len(opt_v))
            rank = concat_ranges(np.zeros_like(n_opt), n_opt)
            ordr = np.lexsort((rank, score, opt_v))                   # ties: the lowest rank (own motion first)
            best = ordr[np.concatenate([[True], opt_v[ordr][1:] != opt_v[ordr][:-1]])]   # one per vertex, hv order
            move = score[best] < score[first]
            if not move.any():
                break
            mv = np.zeros(len(pts), bool)
            mv[hv[move]] = True
            # of two moving neighbours only the lower index moves this sweep
            mn = nbr[concat_ranges(nb_start[hp[move]], deg[hp[move]])]
            blocked = np.zeros(len(pts), bool)
            blocked[mn[mv[mn[:, 1]] & (mn[:, 1] < mn[:, 0]), 0]] = True
            go = move & ~blocked[hv]
            d[hv[go]] = value[best[go]]
            changed = True
            t, _ = around(hv[go])
            bad[t] = flipped(pts[sub[t]] + d[sub[t]], t)
        if changed:
            if out is keys:
                out = keys.copy()
            out[k] = d
    return out


def tail_factor(lengths: np.ndarray, share) -> np.ndarray:
    """The factor ``trim_tails`` scales a key's displacements by: lengths (..., N) of one key's displacements ->
    (..., N) in 0..1: 0 below tau = share x the largest length (along the last axis), 1 from 2 tau, smoothstep
    between (so the trimmed field stays continuous and its large motions exact). share: a float, or (N,) one per
    vertex."""
    tau = share * lengths.max(axis=-1, keepdims=True, initial=0.0)
    u = np.clip((lengths - tau) / np.maximum(tau, 1e-30), 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


TRIM_ROUNDS = 50                # rounds of giving the corners of triangles a trimmed key turns over their motion back
                                # (3 left Rocketbox's jawOpen with 2 turned at the lip's underside: the cascade took 5)


def trim_tails(keys: np.ndarray, share, pts: np.ndarray | None = None, faces: np.ndarray | None = None
               ) -> np.ndarray:
    """keys (K, N, 3) -> the same keys (in place) with each key's motion below ``share`` of its own largest faded
    out (``tail_factor``); share: a float, or (N,) one per vertex (a higher one on the ears: ``Model.
    template_face_keys``). With pts (N, 3) and faces (F, 3): a triangle the trimmed key turns over where the key
    did not (``mesh.turned_over``) gets its corners' motion back, round after round until none is left
    (at most ``TRIM_ROUNDS``).

    ICT's keys are scans: a brow raise moves the whole forehead and a smile the cheek up to the eye, a few per cent
    of the key's peak over a fifth to two fifths of the face. Artists' keys move what the key names (on the dev
    heads 1-8 % of the vertices above 5 % of the peak where ours move 13-43 %; docs/model.md, *Key tails*)."""
    share = share if np.isscalar(share) else np.asarray(share, np.float64)
    if not (np.all(share >= 0.0) and np.all(share < 1.0)) or np.shape(share) not in ((), (keys.shape[1],)):
        raise ValueError(f"trim_tails needs a share in [0, 1), one or one per vertex ({keys.shape[1]}); got "
                         f"{share if np.isscalar(share) else np.shape(share)}")
    if (pts is None) != (faces is None):
        raise ValueError("trim_tails needs both pts and faces (to keep triangles from turning over) or neither")
    n0 = None if faces is None else face_normals(np.asarray(pts, np.float64), faces, normalize=False)
    for k in range(len(keys)):
        d = keys[k]
        q = d.astype(np.float64) ** 2
        t = d * tail_factor(np.sqrt(q[:, 0] + q[:, 1] + q[:, 2]), share)[:, None].astype(keys.dtype)
        if n0 is not None:
            keep_unturned(t, d, pts, faces, n0, TRIM_ROUNDS)
        keys[k] = t
    return keys


def landmark_warp(x: np.ndarray, idx: np.ndarray, points: np.ndarray, sigma: float = LANDMARK_SIGMA_CM):
    """The template (N, 3) warped smoothly so that its vertices ``idx`` (L,) land on ``points`` (L, 3) (cm).

    A sum of Gaussians (radius ``sigma``) centred on the landmarks, with weights solved so that every landmark
    lands exactly: the landmarks move the template before the registration, which then keeps them (they
    are pulled like the rims) and fits the rest; a single pulled vertex could not move a region against the
    closest-point terms of its neighbours. With several landmarks the radius is at most their median
    nearest-neighbour spacing."""
    c = x[idx]
    if len(idx) > 1:     # dense landmarks: narrower Gaussians, so the solve stays well conditioned
        gap = np.linalg.norm(c[:, None] - c[None], axis=2) + np.diag(np.full(len(idx), np.inf))
        sigma = min(sigma, float(np.median(gap.min(axis=1))))
    phi = np.exp(-(np.linalg.norm(c[:, None] - c[None], axis=2) / sigma) ** 2)
    coef = np.linalg.lstsq(phi + 1e-9 * np.eye(len(idx)), points - c, rcond=None)[0]      # (L, 3)
    out = np.array(x, np.float64, copy=True)
    for s in range(0, len(x), 65536):
        d = np.linalg.norm(x[s:s + 65536, None] - c[None], axis=2)
        out[s:s + 65536] += np.exp(-(d / sigma) ** 2) @ coef
    return out


def border_faces(pts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(F,) bool: the face's triangles with a corner on a cut, an open border at least ``CUT_LOOP_CM`` long and
    ``CUT_RADIUS_CM`` wide (``is_cut_loop``: a face mask's edge, the neck; not an eye or mouth opening, however
    wavy), after split vertices and open seams are joined
    (``mesh_checks.weld_open_seams``: two halves never merged have no border between them). pts (N, 3) ICT cm,
    faces (F, 3). None when those triangles hold more than ``CUT_AREA_MAX`` of the area (holes everywhere: no cut
    to tell apart). The similarity ICPs make no pair there: the template's points beyond a tightly cut mask were
    pulled onto the cut (Rokoko's head cut to 8 cm around the nose: mean cosine 0.616, 0.775 without those pairs;
    docs/model.md). The openings keep their pairs: without them as well that mask reached 0.832, but a held-out
    ICT face with parted lips lost 1.4 points."""
    from .mesh_checks import label_firsts, seam_labels
    weld = seam_labels(pts, faces)
    first = label_firsts(weld)
    on = np.zeros(len(first), bool)
    for loop in boundary_loops(weld[faces]):
        if is_cut_loop(pts[first[loop]]):
            on[loop] = True
    cut = on[weld[faces]].any(axis=1)
    area = face_areas(pts, faces)
    return None if area[cut].sum() > CUT_AREA_MAX * area.sum() else cut


@dataclass
class TemplateMatch:
    """Where each face vertex landed on the template (``template_keys(..., return_match=True)``).

    face (N,) int64 template triangle and bary (N, 3) weights of its closest point on the registered template
    (so ``correspond.interpolate(tpl.verts, tpl.faces, face, bary)`` is that point on the template at rest);
    dist (N,) cm to it; reach (N,) in 0..1 the distance fade (0: the vertex takes no motion); scale, rot (3, 3),
    shift (3,): the similarity that put the template on the face (s R x + t); mouth_open: the template's jawOpen
    weight at rest and mouth_shift (2,) how far its mouth was moved (cm, along +Y, +Z; ``mouth_pose``: its lips
    met the face's); registered (M, 3): the template's vertices where the registration put them on the face (cm,
    the face's frame; ``inner_parts`` carries the pieces inside the face through it); ambiguity (N,) in 0..1: the
    mouth ambiguity at each closest point (the larger of the template's at rest and as posed: 1 at the lip
    contact, ``mouth_ambiguity``); key_rot (3, 3): the rotation the keys were carried with (``KEYS_UPRIGHT``: ``rot``
    without its pitch; None: ``rot``); key_gain (K,): the factor each key took on a far narrower mouth
    (``slit_key_gains``; the pieces inside the face take it too), None: 1."""
    face: np.ndarray
    bary: np.ndarray
    dist: np.ndarray
    reach: np.ndarray
    scale: float
    rot: np.ndarray
    shift: np.ndarray
    mouth_open: float = 0.0
    mouth_shift: np.ndarray = field(default_factory=lambda: np.zeros(2))
    registered: np.ndarray | None = None
    ambiguity: np.ndarray | None = None
    key_rot: np.ndarray | None = None
    key_gain: np.ndarray | None = None

    def rows(self, idx: np.ndarray) -> "TemplateMatch":
        """The match of face vertices ``idx`` (M,) int64 (e.g. each vertex of a seam-split face taking its weld
        group's): the per-vertex arrays indexed, the rest shared."""
        return replace(self, face=self.face[idx], bary=self.bary[idx], dist=self.dist[idx], reach=self.reach[idx],
                       ambiguity=None if self.ambiguity is None else self.ambiguity[idx])


def _fit_d2(tpl: FaceTemplate, s: float, R: np.ndarray, t: np.ndarray, surf: Surface) -> np.ndarray:
    """Squared distances (M,) (ICT cm², inf where the grid does not reach) from the template's narrow face (every
    other vertex), put on the face (``surf``) by the similarity (s, R (3, 3), t (3,)), to the face."""
    d2 = surf.closest(s * tpl.verts[:tpl.narrow:2] @ R.T + t, exact=False)[2]
    return np.where(np.isfinite(d2), d2, np.inf)


def fit_share(tpl: FaceTemplate, s: float, R: np.ndarray, t: np.ndarray, surf: Surface) -> float:
    """Share of the template's narrow face (every other vertex) that the similarity (s, R (3, 3), t (3,)) puts
    within ``FIT_CM`` of the face (``surf``, ICT cm), the distance taken in the template's own cm (/ s)."""
    return float((_fit_d2(tpl, s, R, t, surf) < (FIT_CM * s) ** 2).mean())


def fit_median(tpl: FaceTemplate, s: float, R: np.ndarray, t: np.ndarray, surf: Surface) -> float:
    """Median distance (the template's own cm, / s) from the template's narrow face (every other vertex), put on the
    face (``surf``) by the similarity (s, R (3, 3), t (3,)), to the face; points the grid does not reach count as
    infinitely far."""
    return float(np.median(np.sqrt(_fit_d2(tpl, s, R, t, surf)))) / s


def similarity_pose(tpl: FaceTemplate, pts: np.ndarray, faces: np.ndarray, surf: Surface, border=None, *,
                    retry_scale: float | None = None, scale_search: bool = False, start=None
                    ) -> tuple[float, np.ndarray, np.ndarray]:
    """The similarity (s, R (3, 3), t (3,)) that puts the template's narrow face on the face (pts (N, 3), faces
    (F, 3), its ``Surface`` surf; ICT cm): trimmed ICP from nose tip on nose tip at scale 1 (30 steps on every
    8th vertex, 10 on every other), making no pair on the face's cut ``border`` ((F,) bool, ``border_faces``;
    None: pairs everywhere) but from the template's own.

    A fit that leaves fewer than ``RETRY_BELOW`` of the template near the face (``fit_share``) is run again from
    scale ``retry_scale`` (when given and 5 % away from 1) and the retry kept when its share is ``RETRY_MARGIN``
    higher: a start the model's face-core frame got wrong (ICT's head with its mouth bag and eye sockets joined,
    read by nfs_v5 as lips and eyes: the frame's scale 0.69, the fit stuck at 0.73 with 54-67 % near the face;
    from the face's own canonical frame 90-95 %, the keys' error 52 -> 19 % and 33 -> 23 %: docs/model.md).
    With ``scale_search``, a fit still leaving fewer than ``SCALE_SEARCH_BELOW`` near the face (a face mask cut
    inside the template's narrow face, whose scale the ICP barely sees) is run again from the scales
    ``SCALE_STARTS`` and the fit with the least median distance (``fit_median``) kept. With ``start`` (a callable
    giving (s, R, t), called only then), a fit leaving fewer than ``START_BELOW`` near the face is run again from
    it, unless the two lie within ``START_SAME`` in scale and turn, and the retry kept when its share is higher
    (the transfer: where both heads' ICT poses put the source,
    ``Model.ict_pose``; with ``START_ALWAYS`` off, only a fit leaving fewer than ``SCALE_SEARCH_BELOW`` whose scale
    lies more than ``START_LOG_SCALE`` from the start's)."""
    own = tpl.on_cut[:tpl.narrow] if border is not None else np.zeros(tpl.narrow, bool)
    narrow = tpl.verts[:tpl.narrow]

    def fit(scale, init=None):
        s, R, t = similarity_icp(narrow[::8], pts, faces, init_scale=scale, init=init, iters=30, surface=surf,
                                 reach=ICP_REACH_CM, skip=border, exempt=own[::8],   # nose tip on nose tip
                                 accelerate=ICP_ACCELERATE)
        return similarity_icp(narrow[::2], pts, faces, init=(s, R, t), iters=10, surface=surf, reach=ICP_REACH_CM,
                              skip=border, exempt=own[::2], accelerate=ICP_ACCELERATE)
    pose = fit(1.0)
    share = fit_share(tpl, *pose, surf)
    if start is not None and ((START_ALWAYS and share < START_BELOW) or share < SCALE_SEARCH_BELOW):
        # a fit leaving much of the source off the face: fitted again from where the heads' own ICT poses put it
        # (the ICP from scale 1 stops in the wrong basin where the face-core frames disagree in scale; the poses
        # carry their own scale noise, so the fit that leaves more of the source near the face wins)
        guess = start()
        other_basin = False
        if guess is not None:
            scale_gap, turn = pose_gap(pose, guess)
            if START_ALWAYS:        # unless the start lies in the fit's own basin
                other_basin = scale_gap > START_SAME[0] or turn > START_SAME[1]
            else:
                other_basin = scale_gap > START_LOG_SCALE
        if other_basin:
            other = fit(float(guess[0]), init=guess)
            other_share = fit_share(tpl, *other, surf)
            if other_share > share:
                pose, share = other, other_share
    if share < RETRY_BELOW and retry_scale is not None and abs(np.log(float(retry_scale))) >= 0.05:
        other = fit(float(retry_scale))
        other_share = fit_share(tpl, *other, surf)
        if other_share > share + RETRY_MARGIN:
            pose, share = other, other_share
    if scale_search and share < SCALE_SEARCH_BELOW:
        poses = [pose] + [fit(k) for k in SCALE_STARTS]
        pose = min(poses, key=lambda p: fit_median(tpl, *p, surf))
    return pose


REVERSE_AREA = 0.8              # the reverse fit is for a face of less than this share of the template's area
REVERSE_POINTS = 1500           # ... on every k-th face vertex, at least this many
REVERSE_GAIN = 2.0              # ... and replaces the pose when it puts the face this many times nearer the template
REVERSE_ON_CM = 0.05            # (median) and within this (0.5 mm: on it, one surface; without this bound it shrank
                                # whole heads into masks between different heads, the 56 pairs 4841 -> 4866 points)


def reverse_pose(tpl: FaceTemplate, pts: np.ndarray, pose) -> tuple[float, np.ndarray, np.ndarray]:
    """The similarity fitted from the face's side, for a face that may be a piece of the template (a mask cut from
    the transfer's source head): fitted from the template's side (``similarity_pose``), the template's whole head
    was pulled into it, shrunk (the hand-made head onto its own front half: scale 0.68). The reverse fit: the face
    pts (N, 3) (``REVERSE_POINTS`` of them or more) fitted onto the template's surface by trimmed ICP, from the
    inverse of pose (s, R, t) and from the identity (where the two heads' frames put them), inverted; the fit that
    puts the face nearest the template (median) kept when that median is ``REVERSE_GAIN`` times smaller than with
    pose and under ``REVERSE_ON_CM``: the face lies on the template (a piece of it). Returns the pose kept."""
    s, R, t = pose
    tsurf = Surface(tpl.verts, tpl.faces)
    sub = pts[::max(1, len(pts) // REVERSE_POINTS)]

    def face_median(p):
        q = ((sub - p[2]) @ p[1]) / p[0]                 # the face in the template's frame
        d2 = tsurf.closest(q, exact=False)[2]
        return float(np.median(np.sqrt(np.where(np.isfinite(d2), d2, np.inf)))) * p[0]
    others = []
    # from the pose found, and from where the two frames put the heads (the identity: both in ICT's frame)
    for init in ((1.0 / s, R.T, -(R.T @ t) / s), (1.0, np.eye(3), np.zeros(3))):
        s2, R2, t2 = similarity_icp(sub, tpl.verts, tpl.faces, init=init, iters=30, surface=tsurf,
                                    reach=ICP_REACH_CM)
        others.append((1.0 / s2, R2.T, -(R2.T @ t2) / s2))
    d = [face_median(p) for p in others]
    i = int(np.argmin(d))
    return others[i] if d[i] < REVERSE_ON_CM and d[i] * REVERSE_GAIN < face_median(pose) else pose


def choose_lip_sides(x: np.ndarray, tpl_faces: np.ndarray, ambiguity: np.ndarray, pts: np.ndarray,
                     faces: np.ndarray, f: np.ndarray, b: np.ndarray, amb: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closest points at the lip contact chosen by the lip a face vertex lies on, not by distance alone.

    A face whose closed lips are modelled as two sheets (a slit, the lips' inner surfaces running into the mouth:
    low-poly game heads) has, at the contact, vertices a millimetre from both of the template's lips: their
    closest point picks either, and their mouth ambiguity hands them to the harmonic fill, which blends the
    two lips' motions across the slit, so jawOpen parts the lips by half (the hand-made dev head: 59 % of the
    artist's lip gap). A lip's top faces up and its underside down: a face vertex within the template's mouth
    ambiguity whose normal faces up (down) by ``LIP_SIDE_COS`` takes the closest point on the template's contact
    triangles facing the same way, when one lies within ``LIP_SIDE_REACH_CM``, and is no longer ambiguous.

    x (M, 3) the registered template and tpl_faces (T, 3) its (visible) triangles; ambiguity (M,) the template's
    mouth ambiguity as matched; pts (N, 3), faces (F, 3) the face (cm); f (N,) int64 indices into tpl_faces,
    b (N, 3) barycentrics of each face vertex's closest point and amb (N,) the mouth ambiguity there. Returns
    (f, b, amb): copies with the vertices given a side moved to their lip, their ambiguity 0."""
    cand = np.flatnonzero(amb >= AMBIGUITY[0])
    if not len(cand):
        return f, b, amb
    up = vertex_normals(pts, faces)[cand, 1]
    tpl_up = face_normals(x, tpl_faces)[:, 1]
    contact = (ambiguity[tpl_faces] >= AMBIGUITY[0]).any(axis=1)
    f, b, amb = f.copy(), b.copy(), amb.copy()
    for sign in (1.0, -1.0):
        tri = np.flatnonzero(contact & (sign * tpl_up > LIP_SIDE_COS))
        q = cand[sign * up > LIP_SIDE_COS]
        if not len(tri) or not len(q):
            continue
        f2, b2, d2 = Surface(x, tpl_faces[tri]).closest(pts[q])
        ok = d2 < LIP_SIDE_REACH_CM ** 2
        f[q[ok]], b[q[ok]], amb[q[ok]] = tri[f2[ok]], b2[ok], 0.0
    return f, b, amb


def eye_orphans(tpl: FaceTemplate, x: np.ndarray, pts: np.ndarray, matched: list, rims: list, d2: np.ndarray
                ) -> np.ndarray:
    """(N,) bool: the face vertices on an eye's interior the template hides (``ORPHANS``).

    Behind a rim the face met (``opening_curves``) the template's interior is hidden: it is not registered and no
    face vertex lands on it. A face that has an interior there after all (an eye pocket's lining, the lids' inner
    folds) then has vertices with no closest point within reach, which took no motion under the moving lids. These
    are the vertices beyond ``FALLOFF_CM[0]`` of the visible template (d2 (N,) cm^2) but within ``ORPHAN_CM`` of an
    eye's hidden interior on the registered template x (M, 3), and nearer it; an eye: a forward match whose
    opening is at least ``ORPHAN_OPENING`` of its rim's radius. pts (N, 3) ICT cm; matched, rims as in
    ``template_keys``."""
    out = np.zeros(len(pts), bool)
    eyes = np.zeros(len(tpl.verts), bool)
    for i, _, forward in matched:
        rim, interior = rims[i]
        if forward and loop_shape(tpl.verts[tpl.openings[i]])[1] >= ORPHAN_OPENING * loop_shape(tpl.verts[rim])[1]:
            eyes[interior] = True
    far = np.flatnonzero(d2 > FALLOFF_CM[0] ** 2)
    if not eyes.any() or not len(far):
        return out
    hid = np.flatnonzero(eyes[tpl.faces].any(axis=1))
    _, _, dh = Surface(x, tpl.faces[hid]).closest(pts[far], max_dist=ORPHAN_CM)
    out[far[dh < np.minimum(d2[far], ORPHAN_CM ** 2)]] = True
    return out


def front_orphans(tpl: FaceTemplate, pts: np.ndarray, faces: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """(N,) bool: the face vertices the front sees whose closest template triangle the front does not see, inside
    the template's mouth (``FRONT_ORPHANS``).

    A face's lip margin cut open, or its deep mouth corner, lies at its front; its closest point on a registered
    template whose mouth runs on inside (ICT's inner lips, a source head's mouth bag) may lie behind the
    template's lips, and the motion read there is the inside's (Rocketbox's mouth corners carried onto the ARKit
    face mask: the funnel tore the lips). Template vertices more than ``FRONT_DEPTH_CM`` behind the template's
    frontmost surface at their (x, y) (``mesh.front_hits``) within ``FRONT_REACH`` mouth half-widths (across and up)
    of its lip contact are its mouth's inside (``FaceTemplate.mouth_inside``, once per template); face vertices
    within ``FRONT_SEEN_CM`` of their own frontmost surface are seen. pts (N, 3) ICT cm, faces (F, 3), tri (N, 3)
    each vertex's closest template triangle (vertex indices). All False where the template has no lip contact."""
    inside = tpl.mouth_inside
    if inside is None:
        return np.zeros(len(pts), bool)
    seen = pts[:, 2] >= np.nan_to_num(front_hits(pts, faces, pts[:, :2]), nan=np.inf) - FRONT_SEEN_CM
    return seen & inside[tri].all(axis=1)


def template_keys(tpl: FaceTemplate, pts: np.ndarray, faces: np.ndarray, progress=None,
                  return_match: bool = False, landmarks=None, mouth_open=None, mouth_shift: bool = True,
                  sockets=None, plane: float = 0.0, cuts: bool = True, match_reach: float = 1.0,
                  symmetric: bool = True, retry_scale: float | None = None, scale_search: bool = False,
                  lip_sides: bool = True, slit: bool = True, start=None, smooth_lips: int = 0,
                  reverse: bool = False, limit_steep: bool | None = None, unfold: bool | None = None):
    """The template's keys (ICT's 53, or any source's) on a face surface brought into ICT's frame and units.

    Args: tpl: the template; pts (N, 3) the face's vertices in ICT cm (+Y up, +Z forward), roughly aligned
    (e.g. by the model's face-core frame); faces (F, 3); progress: optional callback(done, total);
    return_match: also return the ``TemplateMatch``; landmarks: optional (template vertex indices (L,), points
    (L, 3) on the face, ICT cm like ``pts``) that must meet (user-placed corrections; pulled like the rims).
    mouth_open: the template's jawOpen weight at rest (its lips parted to meet the face's); None: measured
    (``mouth_pose``); mouth_shift: move the template's mouth onto the face's lip line (``shift_mouth``);
    sockets: ICT's ``inner_parts.InnerParts`` (``tpl`` must be ICT's template): face vertices nearer ICT's mouth
    and eye sockets than the template (a mouth bag) take the sockets' motion (``inner_parts.fill_sockets``);
    plane: the registration's point-to-plane share (``correspond.register``; the transfer's ``PLANE``);
    cuts: the similarity ICPs make no pair on the face's cut (``border_faces``) but from the template's own;
    match_reach: how far a face loop may lie from a template opening and still meet it (``match_openings``);
    retry_scale: a second start for the similarity fit (the template's scale on ``pts``, e.g. where the face's own
    canonical frame would put it), tried only when the first fit is poor (``fit_share`` below ``RETRY_BELOW``) and
    kept when it fits ``RETRY_MARGIN`` better (``similarity_pose``); scale_search: a fit that leaves little of the
    template on the face is run from several scales (``similarity_pose``; the generated keys' path, not the
    transfer's);
    symmetric: put the template's mirror plane on the face's after the ICPs (``symmetry.symmetric_pose``; with
    ``SYMMETRY``); lip_sides: a face vertex on a lip's top or underside takes the template's lip facing the same way
    (``choose_lip_sides``), not the harmonic fill across the lip contact; slit: closed lips modelled as two
    sheets whose line the front profile does not see have the template's mouth moved and scaled onto their slit
    (``fit_mouth_slit``); start: a callable giving (s, R (3, 3), t (3,)), a second start for a poor similarity fit
    far from it in scale (``similarity_pose``; the transfer's: where the two heads' ICT poses put the source);
    smooth_lips: passes of smoothing along the face's lip margin where it is cut open (``smooth_margin``; the
    transfer's ``MARGIN_SMOOTH``); reverse: the similarity also fitted from the face's side (``reverse_pose``;
    the transfer's, ``transfer.REVERSE``, for a target smaller than the source: maybe a piece of it); limit_steep:
    keys no steeper than the template's where the match squeezes it (``key_gradients``; None: ``LIMIT_GRADIENTS``);
    unfold: the edges a key folds relaxed (``unflip.relax_folds``; None: ``RELAX_FOLDS``).
    Returns: (K, N, 3) float32 displacements in cm (ICT frame) [, TemplateMatch]."""
    pts = np.asarray(pts, np.float64)
    faces = np.asarray(faces, np.int64)
    surf = Surface(pts, faces)                  # the face's closest-point grid: built once, for the ICPs and register
    border = border_faces(pts, faces) if cuts else None
    pose = similarity_pose(tpl, pts, faces, surf, border, retry_scale=retry_scale, scale_search=scale_search,
                           start=start)
    if reverse:
        pose = reverse_pose(tpl, pts, pose)
    s, R, t = pose
    if SYMMETRY and symmetric:
        R, t = symmetric_pose(tpl, s, R, t, pts, faces, surf)
    fit_med = fit_median(tpl, s, R, t, surf) * s                                # cm on the face
    w_jaw, dy = mouth_pose(tpl, s, R, t, pts, faces)
    if mouth_open is not None:
        w_jaw = float(mouth_open)
    if w_jaw > 0.0:
        jaw = tpl.modes[tpl.jaw].astype(np.float64)
        posed = tpl.verts + w_jaw * jaw
        ambiguity = mouth_ambiguity(posed, jaw)
    else:
        posed, ambiguity = tpl.verts, tpl.ambiguity
    dy = dy if mouth_shift else np.zeros(2)
    x0 = shift_mouth(tpl, s * posed @ R.T + t, dy)
    modes, key_gain = tpl.modes, None
    if slit and w_jaw == 0.0:   # closed lips whose line the front profile could not see, or a mouth far narrower
        x0, gain = fit_mouth_slit(tpl, x0, pts, faces, SLIT_SHIFTED_MIN_LOG_SCALE if np.any(dy) else None,
                                  return_gain=True)
        if SLIT_KEYS and gain is not None:     # a far narrower mouth moves less (``slit_key_gains``)
            key_gain = slit_key_gains(tpl.modes, gain)
            modes = tpl.modes * key_gain[:, None, None].astype(np.float32)
    matched = match_openings(tpl, x0, pts, faces, match_reach)
    if POCKETS:
        matched += pocket_openings(tpl, x0, pts, faces, matched, match_reach)
    down_only = frozenset()
    if MARGIN_LOOPS:        # a socket eye met by a margin cut open: at the face's margin, its overshoot corrected
        margins = margin_loops(tpl, x0, pts, faces, matched)
        down_only = frozenset(b[0] for a, b in zip(matched, margins) if a is not b)     # the entries it changed
        matched = margins
    # parted, the template's lips have a margin a face cut open there can meet
    rims = tpl.margins if w_jaw > 0.0 else tpl.rims
    # an eye loop facing sideways inside its margin (``side_rimmed``): met by a socket, at that margin (unsealed); met
    # by a face's eye cut open at its margin, loop to loop, its keys sealed as far as that margin closes, not scaled
    side = tpl.side_rims if SIDE_RIMS else {}
    unsealed = frozenset(i for i, _, forward in matched if not forward and i in side)
    unscaled = frozenset(i for i, _, forward in matched if forward and i in side) if SIDE_SEAL else frozenset()
    close_rims = side_rimmed(tpl, rims, unsealed | unscaled)
    rims = side_rimmed(tpl, rims, unsealed)
    curves, hidden = opening_curves(tpl, pts, matched, rims, faces)
    # the openings met at their margins: a socket's at its rim (``tunnel_rims``); the registration's curves above
    # keep meeting the socket's loop
    closing = tunnel_rims(tpl, x0, pts, faces, matched, rims, unsealed) if TUNNEL_RIMS else matched
    x0 = scale_openings(tpl, x0, pts, closing, rims)
    if BACK_SHIFT:      # the sides and back, which the similarity does not fit, onto the face's (at its ears)
        movable = np.ones(len(x0), bool)
        for _, interior in tpl.rims:
            movable[interior] = False
        shift = back_shift(x0, tpl.verts, pts, faces, s, surf, border, movable)
        x0 = shift_back(x0, tpl.verts, shift, movable)
    pairs = None
    if landmarks is not None and len(landmarks[0]):
        pairs = (np.asarray(landmarks[0], np.int64), np.asarray(landmarks[1], np.float64).reshape(-1, 3))
        x0 = landmark_warp(x0, *pairs)
    x = register(x0, tpl.faces, pts, faces, schedule=SCHEDULE, inner=INNER, curves=curves, landmarks=pairs,
                 tpl_weight=(~hidden).astype(np.float64), progress=progress, plane=plane, dst_surface=surf,
                 dst_skip=border if REG_SKIP_CUTS else None)
    del surf                                    # its grids are not needed below, where the memory peaks
    lo, hi = FALLOFF_CM
    # the face has no interior behind a rim it meets there: its vertices may not land on the template's
    visible = np.flatnonzero(~hidden[tpl.faces].any(axis=1))
    f, b, d2 = Surface(x, tpl.faces[visible]).closest(pts, max_dist=hi)
    # vertices whose closest point says nothing of their motion take the fill of the motion around them
    orphan = eye_orphans(tpl, x, pts, matched, rims, d2) if ORPHANS else np.zeros(len(pts), bool)
    if FRONT_ORPHANS:
        orphan |= (d2 <= lo * lo) & front_orphans(tpl, pts, faces, tpl.faces[visible][f])
    # on the same surface (the similarity alone puts the template on the face, ``SAME_SURFACE_CM``) every closest
    # point is the face's own: no lip is mistaken for the other, nothing to blend at the contact
    lo_p, hi_p = SAME_SURFACE_CM
    surface = float(np.clip((hi_p - fit_med) / (hi_p - lo_p), 0.0, 1.0))     # 1: the face's own surface
    same = surface if SAME_SURFACE_CONTACT else 0.0
    amb = np.einsum("mj,mj->m", ambiguity[tpl.faces[visible][f]], b) * (1.0 - same)
    if lip_sides:
        f, b, amb = choose_lip_sides(x, tpl.faces[visible], ambiguity, pts, faces, f, b, amb)
    if LOOP_LIP_SIDES and tpl.jaw is not None:
        f, b, amb = loop_lip_sides(x, tpl.faces[visible], ambiguity, tpl.modes[tpl.jaw, :, 1].astype(np.float64),
                                   pts, faces, [lp for _, lp, _ in matched], f, b, amb)
    f = visible[f]
    tri = tpl.faces[f]
    fade = np.clip((hi - np.sqrt(d2)) / (hi - lo), 0.0, 1.0)
    R_keys = R
    if KEYS_UPRIGHT:    # the pitch kept only where the template is the face's own shape (``SAME_SURFACE_CM``)
        R_keys = partial_upright(R, surface)
    keys = carry_deltas(modes, tri, b, s, R_keys, fade)              # (53, N, 3) float32, ICT frame
    lo_a, hi_a = AMBIGUITY
    known = ((amb < lo_a) | (fade < 1.0)) & ~orphan
    if not known.all():
        unknown, filled = harmonic_fill_rows(faces, lambda rows: carry_deltas(modes, tri, b, s, R_keys, fade, rows),
                                             known)
        # between the two thresholds the closest-point value fades into the filled one, so a vertex whose
        # closest point slides across the lip contact does not jump
        beta = np.clip((amb[unknown] - lo_a) / (hi_a - lo_a), 0.0, 1.0)[:, None]
        beta[orphan[unknown]] = 1.0
        own = carry_deltas(modes, tri, b, s, R_keys, fade, unknown)
        keys[:, unknown] = ((1 - beta) * own + beta * filled).reshape(len(unknown), -1, 3).transpose(1, 0, 2)
    if LIMIT_GRADIENTS if limit_steep is None else limit_steep:   # no steeper than the template's where the match
                                                                   # squeezes it (``key_gradients``)
        at = interpolate(posed, tpl.faces, f, b)                         # each vertex's point on the template
        fixed = orphan | (amb >= KEEP_AMBIGUITY) | (fade < 1.0) | near_eyes(tpl, at)    # (covers ~known)
        keys = limit_gradients(keys, pts, faces, s * at, fixed)[0]
    if sockets is not None:
        from .inner_parts import fill_sockets
        fill_sockets(sockets, tpl, keys, pts, np.sqrt(d2), x, s, R, t, SOCKET_SIDES, key_rot=R_keys,
                     key_gain=key_gain, faces=faces)
    keys = close_openings(tpl, keys, pts, closing, close_rims, posed, faces, down_only, unsealed, unscaled)
    if smooth_lips:             # a lip margin cut open, smooth along itself (the transfer's)
        margin = lip_margin_loop(x, ambiguity, pts, faces)
        arcs = loop_arcs(pts, faces, margin) if margin is not None else None
        if arcs is not None:
            smooth_margin(keys, arcs, smooth_lips)
    # the lips' contact at rest marks the guessed vertices too: parted, the template's lips are told apart by
    # their closest points, but a face triangle spanning them still takes both lips' motions
    amb_rest = np.einsum("mj,mj->m", tpl.ambiguity[tri], b) * (1.0 - same) if ambiguity is not tpl.ambiguity else amb
    keys = unfold_contact(keys, pts, faces, (np.maximum(amb, amb_rest) >= UNFOLD_AMBIGUITY) & (fade >= 1.0))
    # then anywhere, for every key but those that close or open an eye (a closing lid folds by nature): the
    # vertices within two rings of a triangle some key turns over; on a dense face only jawOpen (the search
    # costs ~1 s per 100k vertices for the 41 keys, and a dense face's folds are small)
    rest = np.flatnonzero(~tpl.lid_keys)
    if len(pts) > UNFOLD_ALL_MAX_VERTS:
        rest = np.array([tpl.jaw] if tpl.jaw is not None else [], np.int64)
    _relax_turned(keys, rest, pts, faces, fade > 0.0)
    # the lid keys beside the eye, where their scaled motion crumples the corners; the openings' margins keep
    # their (sealed) motion
    if UNFOLD_LIDS and len(pts) <= UNFOLD_ALL_MAX_VERTS:
        # (not around the eyes met at a socket's margin ring, ``side_rimmed``'s: unsealed, the lids meet and tuck
        # as a blink's do, and re-chosen there the motions pinched the upper lid into spikes)
        free = fade > 0.0
        for i, lp, _ in closing:
            if i in unsealed:
                free &= closure_reach(pts, lp) <= 0.0
        _relax_turned(keys, np.flatnonzero(tpl.lid_keys), pts, faces, free, [lp for _, lp, _ in closing])
    if (RELAX_FOLDS if unfold is None else unfold) and len(pts) <= RELAX_FOLDS_MAX_VERTS:
        # last, the crumples a few triangles wide; the openings' margins and the unmoved vertices kept
        hold = fade <= 0.0
        for _, lp, _ in closing:
            hold[lp] = True
        keys = relax_folds(keys, pts, faces, hold)[0]
    if return_match:
        return keys, TemplateMatch(f, b, np.sqrt(d2), fade, float(s), R, t, w_jaw, dy, x, np.maximum(amb, amb_rest),
                                   R_keys, key_gain)
    return keys
