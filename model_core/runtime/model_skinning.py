"""The Model's skinning encoder and identity encoder on a prepared mesh: region probabilities (the proxy's logits
interpolated to every vertex, or painted weights renormalised), skinning weights, the identity code z_ID, and the
identity offsets of ``id_offset`` models.

Part of ``Model`` (``model_common.py``); uses no other part.
"""
from __future__ import annotations

import numpy as np

from .layers import interpolate, softmax
from .mesh import normalize_rows
from .model_common import F32, ModelPart, check_finite, one_blas_thread
from .prepared_mesh import PreparedMesh


class Skinning(ModelPart):
    """``skinning``, ``identity``, ``identity_offsets`` and the cached per-mesh encoder outputs behind them."""

    @one_blas_thread
    def identity(self, pm: PreparedMesh) -> np.ndarray:
        """Identity code z_ID (Z,) float32 of a prepared neutral mesh (z_ID[:100] ~ ICT identity coefficients)."""
        self._check_pm(pm)
        z = self._cached(pm, "z_id", lambda: check_finite(self.net.identity(pm.feats_n, pm.op), "identity encoder"))
        return z.copy()

    def identity_offsets(self, pm: PreparedMesh) -> np.ndarray | None:
        """Predicted identity offsets (Nf, 3) float32 of the face island's vertices (``pm.face_index`` order), in
        decoder-frame units, for ``id_offset`` models (None otherwise): the decoder reads ``a * canon + b -
        offset`` (``decoder_frame``), a point of the generic ICT head."""
        self._check_pm(pm)
        off = self._id_offsets(pm)
        return None if off is None else off.copy()

    def _skin_proxy(self, pm: PreparedMesh) -> np.ndarray:
        """Skinning encoder outputs on the proxy (P, R [+ 3]) float32 (cached; logits, then identity offsets)."""
        return self._cached(pm, "skin_proxy", lambda: self.net.skinning_proxy_outputs(pm.feats_n, pm.op))

    def _probs(self, pm: PreparedMesh) -> np.ndarray:
        """Model region probabilities (N, R) float32 (face rows from the face's k-NN, others from theirs)."""
        def run():
            lp = self._skin_proxy(pm)[:, :self.config.n_regions]             # (P, R)
            out = np.empty((pm.n_verts, self.config.n_regions), F32)
            out[pm.face_index] = softmax(interpolate(lp, pm.knn_idx, pm.knn_w))
            if len(pm.other_index):
                out[pm.other_index] = softmax(interpolate(lp, pm.other_knn_idx, pm.other_knn_w))
            return check_finite(out, "skinning encoder")
        return self._cached(pm, "probs", run)

    def _region_share(self, pm: PreparedMesh, regions) -> np.ndarray | None:
        """(Nf,) float32: each face-island vertex's model probability summed over ``regions`` (names; those the
        model has), or None when the model has none of them."""
        names = list(self.region_names)
        idx = [names.index(r) for r in regions if r in names]
        return self._probs(pm)[pm.face_index][:, idx].sum(axis=1) if idx else None

    def _resolve_probs(self, pm: PreparedMesh, override) -> np.ndarray:
        model = self._probs(pm)
        if override is None:
            return model
        p = np.asarray(override, dtype=np.float64)
        r = self.config.n_regions
        if p.shape != (pm.n_verts, r):
            raise ValueError(f"probs must have shape ({pm.n_verts}, {r}) (vertices x regions), got {p.shape}")
        if not np.isfinite(p).all():
            raise ValueError("probs contains NaN or infinite values")
        if (p < 0).any():
            raise ValueError("probs must be non-negative region weights (rows are renormalised)")
        return normalize_rows(p, model).astype(F32)

    @one_blas_thread
    def skinning(self, pm: PreparedMesh, override_probs=None) -> tuple[np.ndarray, np.ndarray]:
        """Per-vertex facial skinning.

        Args:
            pm: prepared neutral mesh (N vertices).
            override_probs: optional (N, R) user-painted region weights (>= 0); rows are renormalised to sum
                to 1; rows summing to 0 keep the model's probabilities.
        Returns:
            (probs (N, R) float32, rows sum to 1, region order ``region_names``;
             weights (N, Z) float32 skinning weights w, the local code of a vertex being w * z_GE).
        """
        self._check_pm(pm)
        probs = self._resolve_probs(pm, override_probs)
        weights = check_finite(self.net.skin_weights(probs), "skinning MLP")
        return probs.copy(), weights

    def _id_offsets(self, pm: PreparedMesh) -> np.ndarray | None:
        """Predicted identity offsets (Nf, 3) float32 of the face island in decoder-frame units (``id_offset``
        models; None otherwise): the decoder reads a * canon + b - offset, a point of the generic head."""
        cfg = self.config
        if not cfg.id_offset:
            return None
        return self._cached(pm, "id_offsets", lambda: check_finite(
            interpolate(self._skin_proxy(pm)[:, cfg.n_regions:], pm.knn_idx, pm.knn_w) / F32(cfg.offset_scale),
            "identity offsets"))
