"""The Model's inverse rig: ``expression`` reads posed frames back as an expression code, either by the exact sparse
bounded least-squares fit onto the mesh's own FACS basis (``boxqp.box_qp``; the fit system cached per mesh and key
source) or by the expression encoder, each frame's rigid head motion taken out first (``head_motion.py``);
``retarget`` = the inverse rig on a source + decoding on a target.

Part of ``Model`` (``model_common.py``); uses ``FacsKeys.facs_basis`` (``model_keys.py``),
``Preparation._face_areas`` (``model_prepare.py``), ``Skinning._region_share`` (``model_skinning.py``) and
``Decoding.decode`` (``model_decoder.py``).
"""
from __future__ import annotations

import numpy as np

from .boxqp import box_qp
from .facs_names import ICT_NAMES
from .head_motion import remove_head_motion, stable_weights
from .model_common import F32, ModelPart, check_finite, one_blas_thread
from .prepared_mesh import PreparedMesh
from .proxy import expression_features

FIT_SPARSITY = 0.005         # default mu of the fitted inverse rig (benchmarks/tune_fit_sparsity.py)
FIT_OFF_REGIONS = ("back_of_head", "back_of_neck", "ear_L", "ear_R", "clavicle", "platysma")
                             # regions the fit does not read (weight 1 - their probability): they carry no FACS
                             # information of their own and are where the keys (and artists) differ most
FIT_MIN_SHARE = 0.25         # ... unless that would leave under this share of the face island's area
HEAD_OFF_REGIONS = ("back_of_neck", "clavicle", "platysma")   # regions that do not turn with the head rigidly


class Cancelled(Exception):
    """Raised by ``Model.retarget`` when its ``progress`` callback returns False."""


class InverseRig(ModelPart):
    """``expression`` (fit or encoder), the cached fit systems, and ``retarget``."""

    @one_blas_thread
    def expression(self, posed_verts, neutral_pm: PreparedMesh, *, batch: int = 64, method: str = "fit",
                   sparsity: float | None = None, keys: str | None = None, remove_head: bool = True) -> np.ndarray:
        """Expression code z_GE of posed frame(s) of a prepared neutral mesh.

        Args:
            posed_verts: (N, 3) or (B, N, 3) posed positions, same vertex order, frame and units as the neutral
                given to ``prepare``.
            neutral_pm: the prepared neutral (its operator and FACS fit system are cached: per frame only the
                fit, or the displacement features and the expression encoder, run).
            batch: frames encoded together.
            method: 'encoder' - the expression encoder's output as it is (the paper's inverse rig);
                'fit' (default) - the exact least-squares fit (area-weighted over the face, not the neck, ears
                or back of head: ``_fit_area``), bounded to [0, 1] and sparse, of the frame's displacement onto
                this mesh's own decoded FACS basis (``facs_basis``, computed once per mesh and cached); [53:] is
                0, so decoding the code reproduces the fitted FACS combination. The fit is convex and does not
                run the encoder. See docs/model.md.
            sparsity: 'fit' only: mu of the penalty that keeps keys at 0 unless they explain enough of the
                motion (relative to an average key); None = ``fit_sparsity`` (0.005); 0 = plain least squares.
            keys: 'fit' only: the FACS basis fitted onto, as ``facs_basis``'s ``keys`` ('decoder' or
                'template'; None = ``self.keys``). On an artist-rigged source the template's keys are the
                closer basis (docs/model.md, *Geometry-path bake*).
            remove_head: first move each frame back by its rigid head motion (``head_motion.remove_head_motion``,
                weighted to the vertices no FACS key of this basis moves far, off the neck): a turning or
                nodding head is not read as expression. False: the frames as they are.
        Returns:
            (Z,) float32 for one frame, (B, Z) for several; [:53] = ICT FACS weights in ICT order
            ('encoder': raw outputs, trained towards 0..1, not clipped); [53:] = the generic expression residual.
        Raises:
            ValueError: wrong shape or NaN/inf positions, unknown method.
        """
        if method not in ("fit", "encoder"):
            raise ValueError(f"method must be 'fit' or 'encoder', got {method!r}")
        mu = self.fit_sparsity if sparsity is None else sparsity
        if not (isinstance(mu, (int, float, np.floating)) and np.isfinite(mu) and 0.0 <= mu <= 10.0):
            raise ValueError(f"sparsity must be a number in [0, 10], got {sparsity!r}")
        pm = neutral_pm
        self._check_pm(pm, "neutral_pm")
        p = np.asarray(posed_verts)
        single = p.ndim == 2
        if single:
            p = p[None]
        if p.ndim != 3 or p.shape[1:] != (pm.n_verts, 3):
            raise ValueError(f"posed_verts must have shape ({pm.n_verts}, 3) or (B, {pm.n_verts}, 3) like the "
                             f"neutral mesh, got {np.shape(posed_verts)}")
        if not np.issubdtype(p.dtype, np.number):
            raise ValueError(f"posed_verts must be numeric, got dtype {p.dtype}")
        out = np.zeros((p.shape[0], self.config.z_dim), F32)
        nv = pm.verts[pm.face_index]
        for s in range(0, p.shape[0], max(1, batch)):
            chunk = np.asarray(p[s:s + batch, pm.face_index], dtype=np.float64)
            if not np.isfinite(chunk).all():
                raise ValueError("posed_verts contains NaN or infinite coordinates")
            if remove_head:
                chunk = remove_head_motion(chunk, nv, self._head_weights(pm, keys))
            if method == "fit":
                w = self._fit_weights(pm, chunk - nv[None], float(mu), keys)
                out[s:s + batch, :w.shape[1]] = w                       # [53:] stays 0
                continue
            disp = pm.normalization.apply_vectors(chunk - nv[None])
            feats = np.ascontiguousarray(expression_features(pm.proxy, disp, self.config.expr_feat_scale), dtype=F32)
            out[s:s + batch] = self.net.expression(feats, pm.op)
        check_finite(out, "expression encoder")
        return out[0] if single else out

    def _head_weights(self, pm: PreparedMesh, keys: str | None = None) -> np.ndarray:
        """(Nf,) the face island's weights in the rigid head-motion fit (``head_motion.stable_weights``): its area,
        down-weighted where a FACS key of the basis (``keys``, as the fit's) moves it and on the
        ``HEAD_OFF_REGIONS``; cached per mesh and key source."""
        keys = self.keys if keys is None else keys

        def run():
            _, basis = self.facs_basis(pm, "ict", keys=keys)                           # (53, N, 3) float32
            motion = np.zeros(len(pm.face_index))
            for k in range(len(basis)):                                  # one key at a time: no (53, Nf) copy
                np.maximum(motion, np.linalg.norm(basis[k, pm.face_index], axis=1), out=motion)
            return stable_weights(motion, self._face_areas(pm), self._region_share(pm, HEAD_OFF_REGIONS))
        return self._cached(pm, f"head_weights_{keys}", run)

    def _fit_area(self, pm: PreparedMesh) -> np.ndarray:
        """(Nf,) the fit's weight per face-island vertex: its canonical area times 1 - its probability of the
        ``FIT_OFF_REGIONS`` (neck, ears, back of head, clavicle), the plain area where that would leave under
        ``FIT_MIN_SHARE`` of the island's area (a mesh that is mostly neck)."""
        area = self._face_areas(pm)
        off = self._region_share(pm, FIT_OFF_REGIONS)
        if off is None:
            return area
        w = area * np.clip(1.0 - off, 0.0, 1.0)
        return w if w.sum() >= FIT_MIN_SHARE * area.sum() else area

    def _fit_system(self, pm: PreparedMesh, keys: str | None = None):
        """Normal equations of the weighted least-squares fit onto the mesh's FACS basis (cached): (A (53, 3 Nf)
        basis rows weighted by ``_fit_area``, G (53, 53) = A B^T with a tiny ridge)."""
        def run():
            _, basis = self.facs_basis(pm, "ict", keys=keys)                           # (53, N, 3) float32
            k, nf = len(basis), len(pm.face_index)
            area = self._fit_area(pm)                                                  # (Nf,)
            a = np.empty((k, nf, 3))
            g = np.zeros((k, k))
            for s in range(0, nf, self.decode_rows):                 # float64 copies one chunk at a time
                e = min(nf, s + self.decode_rows)
                b = basis[:, pm.face_index[s:e]].astype(np.float64)                    # (53, n, 3)
                a[:, s:e] = b * area[s:e, None]
                g += a[:, s:e].reshape(k, -1) @ b.reshape(k, -1).T
            del basis
            g += np.eye(k) * (1e-6 * np.trace(g) / k + 1e-30)
            return a.reshape(k, -1), g
        keys = self.keys if keys is None else keys
        return self._cached(pm, f"fit_system_{keys}", run)

    def _fit_weights(self, pm: PreparedMesh, disp: np.ndarray, mu: float, keys: str | None = None) -> np.ndarray:
        """FACS weights (B, 53) float64 of frames: the exact minimiser (``boxqp.box_qp``) of
        |B^T w - disp|_area^2 + 2 mu mean_k(G_kk) sum_k w_k over 0 <= w <= 1, then, for mu > 0, the same fit
        without the penalty on the keys it left active (relaxed lasso: the penalty picks the support, the
        refit removes its shrinkage).

        disp: (B, Nf, 3) caller-frame displacements of the face island."""
        a, g = self._fit_system(pm, keys)
        h = disp.reshape(len(disp), -1) @ a.T                                             # (B, 53)
        w = box_qp(g, h - mu * np.diag(g).mean())
        if mu > 0:
            w = box_qp(g, h, allowed=w > 0, start=w > 0)
        return w

    @one_blas_thread
    def retarget(self, source_frames, source_neutral_pm: PreparedMesh, target_pm: PreparedMesh, *,
                 positions: bool = False, progress=None, batch: int = 32) -> dict:
        """Clone an animation from a source mesh onto a target mesh (the source's expression only: its head's turns
        and nods are taken out first, ``expression``'s ``remove_head``).

        Args:
            source_frames: (T, N_s, 3) posed source positions (same frame/units as the source neutral).
            source_neutral_pm: prepared source neutral (N_s vertices).
            target_pm: prepared target neutral (N_t vertices).
            positions: also decode the target's posed positions.
            progress: optional callable ``progress(done, total)`` called after each batch (total = T, or 2 T
                when positions are decoded); returning False stops and raises ``Cancelled``.
            batch: frames per encoder/decoder batch.
        Returns:
            dict with 'facs' (T, 53) float32 ICT FACS weights, 'z_ge' (T, Z) float32 codes, and with
            ``positions=True`` 'positions' (T, N_t, 3) float64 target positions (target's frame and units).
        """
        self._check_pm(source_neutral_pm, "source_neutral_pm")
        self._check_pm(target_pm, "target_pm")
        frames = np.asarray(source_frames)
        if frames.ndim != 3 or frames.shape[1:] != (source_neutral_pm.n_verts, 3):
            raise ValueError(f"source_frames must have shape (T, {source_neutral_pm.n_verts}, 3), got {frames.shape}")
        t = frames.shape[0]
        total = 2 * t if positions else t
        batch = max(1, int(batch))

        def tick(done):
            if progress is not None and progress(done, total) is False:
                raise Cancelled("retarget cancelled")

        z = np.empty((t, self.config.z_dim), F32)
        for s in range(0, t, batch):
            z[s:s + batch] = self.expression(frames[s:s + batch], source_neutral_pm, batch=batch)
            tick(min(t, s + batch))
        out = {"facs": z[:, :len(ICT_NAMES)].copy(), "z_ge": z}
        if positions:
            pos = np.empty((t, target_pm.n_verts, 3))
            for s in range(0, t, batch):
                pos[s:s + batch] = self.decode(target_pm, z[s:s + batch])
                tick(t + min(t, s + batch))
            out["positions"] = pos
        return out
