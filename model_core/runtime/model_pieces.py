"""The Model's other pieces on the template path (``keys='auto'`` or ``'template'``): teeth, tongue and eyeballs take
ICT's inner parts' motion through the template's registration (``template_inner_keys``, ``inner_parts.py``); lashes,
brows and the other pieces near the face follow the face's own keys at their nearest face vertices
(``follow_skin``). ``FacsKeys._basis_deltas`` writes both into every key, the transfer (``transfer.py``) the
followers; elsewhere (the decoder's keys, painted regions) the pieces follow the proxy's average of the face
(``Decoding._to_caller``).

Part of ``Model`` (``model_common.py``); uses ``FacsKeys._template_match`` (``model_keys.py``).
"""
from __future__ import annotations

import numpy as np

from .facs_names import ICT_NAMES
from .model_common import F32, ModelPart, check_finite, one_blas_thread
from .prepared_mesh import PreparedMesh

SKIN_FOLLOW_K = 3               # another piece's vertex follows this many nearest face vertices


class Pieces(ModelPart):
    """``template_inner_keys``, ``follow_skin`` and its cached map ``_skin_followers``."""

    @one_blas_thread
    def template_inner_keys(self, pm: PreparedMesh) -> tuple[np.ndarray, np.ndarray]:
        """ICT's own deltas on the pieces inside the face (teeth, tongue, eyeballs: ``inner_parts.py``),
        through the template's registration: (rows (R,) int64 indices into ``pm.other_index``, keys (53, R, 3)
        float32 canonical displacements), cached per mesh. Empty when the mesh has no such pieces or its other
        pieces stay static."""
        self._check_pm(pm)

        def run():
            from .inner_parts import TOUCH_EDGES, default_inner_parts, inner_keys, offset_anchors
            from .correspond import PointGrid
            from .mesh import boundary_vertices, closed_components, connected_components, median_edge
            from .template_keys import default_template
            none = np.zeros(0, np.int64), np.zeros((len(ICT_NAMES), 0, 3), F32)
            moving = pm.following
            if not len(moving):
                return none
            tpl = default_template()
            match = self._template_match(pm)[1]
            pts, cm = self.template_frame(pm, pm.verts[pm.other_index[moving]])
            every = connected_components(pm.n_verts, pm.faces)
            labels = every[pm.other_index[moving]]
            boundary = boundary_vertices(pm.faces, pm.n_verts)
            closed = closed_components(every, pm.faces, boundary)[labels]
            # a piece's rim on the face: a mouth bag or socket made apart, not a tooth row that lands on ICT's socket
            rim = pm.other_index[moving][boundary[pm.other_index[moving]]]
            touches = np.zeros(every.max() + 1, bool)
            if len(rim):        # along its rim (median): a tooth row right behind the lips touches them here and there
                at = pm.normalization.apply(pm.verts[rim].astype(np.float64))
                d = np.sqrt(PointGrid(pm.canon).knn(at, 1)[1][:, 0])
                reach = TOUCH_EDGES * median_edge(pm.canon, pm.face_faces)
                order = np.argsort(every[rim], kind="stable")       # each piece's rim vertices together
                pieces, starts = np.unique(every[rim][order], return_index=True)
                for piece, part in zip(pieces, np.split(d[order], starts[1:])):
                    touches[piece] = np.median(part) < reach
            touching = touches[labels]
            # the template's lips and lids behind their margins are pulled wherever a mouth bag or socket of the
            # face lies: their offsets do not say where the teeth went (measured: 1.1 cm off with them, 0.3 without)
            parts = default_inner_parts()
            rows, keys, src = inner_keys(parts, tpl.verts, pts, labels, match.registered, match.scale, match.rot,
                                         match.shift, offset_anchors(tpl), match.key_rot, match.key_gain, closed,
                                         touching, return_sources=True)
            keys /= F32(cm)
            self._turn_eyeballs(pm, moving[rows], labels[rows], parts.eyeballs()[src], keys, self.eye_turn_deg)
            return moving[rows], check_finite(keys, "inner-part keys")
        return self._cached(pm, ("inner_keys", float(self.eye_turn_deg)), run)

    @staticmethod
    def _turn_eyeballs(pm: PreparedMesh, rows: np.ndarray, labels: np.ndarray, on_eye: np.ndarray,
                       keys: np.ndarray, degrees: float) -> None:
        """Add the eyeLook keys' turn by ``degrees`` (``inner_parts.eye_look_keys``; ``Model.eye_turn_deg``) to the
        pieces that take ICT's eyeballs' motion (most of their vertices: ``on_eye`` (R,) bool): rows (R,) into
        ``pm.other_index``, labels (R,) their pieces, keys (53, R, 3) canonical, changed in place. ICT turns its eyes
        outside its keys (they stay in every key); an ARKit rig's eyes turn with its eyeLook keys, and Live Link's
        gaze drives those."""
        from .inner_parts import eye_look_keys, sphere_centre
        if not degrees or not on_eye.any():
            return
        pts = pm.normalization.apply(pm.verts[pm.other_index[rows]].astype(np.float64))
        eyes = [np.flatnonzero(labels == piece) for piece in np.unique(labels[on_eye])]
        eyes = [sel for sel in eyes if on_eye[sel].mean() > 0.5]
        for left in (True, False):
            # an eye made of several shells (sclera, cornea) turns about one centre: its largest shell's
            shells = [sel for sel in eyes if (pts[sel, 0].mean() > 0) == left]
            if not shells:
                continue
            largest = max(shells, key=lambda sel: np.ptp(pts[sel], axis=0).max())
            centre = sphere_centre(pts[largest])
            for sel in shells:
                for name, d in eye_look_keys(pts[sel], degrees, centre=centre).items():
                    keys[ICT_NAMES.index(name), sel] += d.astype(F32)

    def _skin_followers(self, pm: PreparedMesh):
        """The other pieces' vertices that follow the skin on the template path (all that move; the inner parts'
        are written over them): (rows (R,) into ``pm.other_index``, idx (R, k) face-island vertices, w (R, k)
        float64 inverse-square-distance weights times the piece's follow share), cached per mesh. Their nearest
        face vertices' own keys, not the proxy's average (which halves a lash's blink: the lid is thinner than a
        proxy cell)."""
        def run():
            from .correspond import PointGrid
            from .mesh import normalize_rows
            rows = pm.following
            follow = np.ones(len(pm.other_index), F32) if pm.other_follow is None else pm.other_follow
            if not len(rows):
                return np.zeros(0, np.int64), np.zeros((0, 1), np.int64), np.zeros((0, 1))
            pts = pm.normalization.apply(pm.verts[pm.other_index[rows]].astype(np.float64))
            idx, d2 = PointGrid(pm.canon).knn(pts, min(SKIN_FOLLOW_K, len(pm.canon)))
            w = normalize_rows(1.0 / (d2 + 1e-8))
            return rows, idx, w * follow[rows, None].astype(np.float64)
        return self._cached(pm, "skin_followers", run)

    def follow_skin(self, pm: PreparedMesh, face_disp: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Write the other pieces' motion that follows the skin (``_skin_followers``) into ``out`` (N, 3) caller
        frame, from ``face_disp`` (Nf, 3) canonical displacements of the face island; returns ``out``."""
        rows, idx, w = self._skin_followers(pm)
        if len(rows):
            d = np.einsum("rk,rkc->rc", w, np.asarray(face_disp, np.float64)[idx])
            out[pm.other_index[rows]] = pm.normalization.invert_vectors(d)
        return out
