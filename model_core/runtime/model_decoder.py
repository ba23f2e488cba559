"""The Model's decoder on a prepared mesh: its input frame (``decoder_frame``: the face-core similarity, minus the
identity offsets), the per-mesh part cached below ``_CACHE_BYTES`` or streamed in chunks of ``decode_rows``
vertices, codes -> canonical face displacements, and the map back to every vertex in the caller's frame and units
(other islands following the face through the proxy).

Part of ``Model`` (``model_common.py``); uses ``Skinning`` (``model_skinning.py``: probabilities, z_ID, identity
offsets) and ``Preparation._face_areas`` (``model_prepare.py``).
"""
from __future__ import annotations

import numpy as np

from . import frames
from .model_common import F32, ModelPart, check_finite, one_blas_thread
from .prepared_mesh import PreparedMesh

_CACHE_BYTES = 64 << 20       # per-mesh arrays (decoder base, skinning weights) are cached up to this size


class Decoding(ModelPart):
    """``decoder_frame``, ``decode``, ``decode_displacements`` and the streamed decoder passes behind them."""

    @one_blas_thread
    def decoder_frame(self, pm: PreparedMesh) -> tuple[float, np.ndarray]:
        """(a, b (3,)): the decoder reads a * canon + b and its displacements are divided by a (cached).

        ``dec_frame='face'``: the similarity taking the face island's face core (config ``face_core`` regions,
        weighted by the model's own region probabilities, never painted ones, and by vertex area) onto the
        reference centroid and size ``face_ref``, so a face mask and a whole head decode a face point alike.
        ``'mesh'`` (or no face core found): (1, 0)."""
        self._check_pm(pm)
        cfg = self.config

        def run():
            if cfg.dec_frame != "face":
                return 1.0, np.zeros(3)
            probs = self._probs(pm)[pm.face_index].astype(np.float64)
            return frames.decoder_frame(pm.canon, probs[:, list(cfg.face_core)].sum(axis=1) * self._face_areas(pm),
                              cfg.face_ref)
        a, b = self._cached(pm, "dec_frame", run)
        return a, b.copy()

    def _dec_pos(self, pm: PreparedMesh) -> np.ndarray:
        """Decoder input positions (Nf, 3) of the face island: a * canon + b (see ``decoder_frame``), minus the
        identity offsets of ``id_offset`` models."""
        def run():
            a, b = self.decoder_frame(pm)
            pos = pm.canon if a == 1.0 and not b.any() else pm.canon * a + b
            off = self._id_offsets(pm)
            return pos if off is None else pos - off
        return self._cached(pm, "dec_pos", run)

    def _base_rest(self, pm: PreparedMesh, s: int, e: int) -> tuple[np.ndarray, np.ndarray]:
        """Decoder per-mesh part (``dec.base``: (e-s, H), or (e-s, 3, Z) for the bilinear decoder) and zero-code
        output (e-s, 3) of face vertices s..e."""
        dec = self.net.decoder
        nf = len(pm.face_index)
        pos = self._dec_pos(pm)
        if nf * dec.base_width * 4 <= _CACHE_BYTES:
            def run():
                base = dec.base(pos, pm.normals, self.identity(pm))
                rest = np.concatenate([dec.rest(base[i:i + self.decode_rows])
                                       for i in range(0, nf, self.decode_rows)])
                return base, rest
            base, rest = self._cached(pm, "dec_base", run)
            return base[s:e], rest[s:e]
        return self._base_chunk(pm, s, e)          # too big to keep: computed per chunk (base once, rest from it)

    def _base_chunk(self, pm: PreparedMesh, s: int, e: int) -> tuple[np.ndarray, np.ndarray]:
        """Decoder per-mesh part and zero-code output of face vertices s..e, computed now and not cached (the
        streamed path of meshes whose whole per-mesh part exceeds ``_CACHE_BYTES``)."""
        dec = self.net.decoder
        base = dec.base(self._dec_pos(pm)[s:e], pm.normals[s:e], self.identity(pm))
        return base, dec.rest(base)

    def _displace(self, pm: PreparedMesh, base, rest, code) -> np.ndarray:
        """Canonical displacements (B, n, 3) float32: the decoder's (``dec.displace``), out of its frame (/ a)."""
        d = self.net.decoder.displace(base, rest, code)
        a, _ = self.decoder_frame(pm)
        return d if a == 1.0 else d / F32(a)

    def _face_weights(self, pm: PreparedMesh, probs_face: np.ndarray | None, s: int, e: int) -> np.ndarray:
        """Skinning weights w (e-s, Z) of face vertices s..e (cached for the model's own probabilities)."""
        if probs_face is not None:
            return self.net.skin_weights(probs_face[s:e])
        nf = len(pm.face_index)
        if nf * self.config.z_dim * 4 <= _CACHE_BYTES:
            w = self._cached(pm, "w_face", lambda: self.net.skin_weights(self._probs(pm)[pm.face_index]))
            return w[s:e]
        return self.net.skin_weights(self._probs(pm)[pm.face_index[s:e]])

    def _decode_face(self, pm: PreparedMesh, z: np.ndarray, probs) -> np.ndarray:
        """Canonical displacements (B, Nf, 3) float32 of the face island for codes z (B, Z)."""
        dec = self.net.decoder
        nf = len(pm.face_index)
        out = np.zeros((z.shape[0], nf, 3), F32)
        live = np.flatnonzero(np.any(z != 0, axis=1))    # a zero code gives exactly zero motion
        if not len(live):
            return out
        zl = z[live]
        pf = None if probs is None else self._resolve_probs(pm, probs)[pm.face_index]
        step = max(64, self.decode_rows // len(live))
        for s in range(0, nf, step):
            e = min(nf, s + step)
            base, rest = self._base_rest(pm, s, e)
            w = self._face_weights(pm, pf, s, e)
            out[live, s:e] = self._displace(pm, base, rest, dec.code_part(w, zl))
        return out

    def _to_caller(self, pm: PreparedMesh, disp_face: np.ndarray, dtype) -> np.ndarray:
        """Canonical face displacements (B, Nf, 3) -> caller-frame displacements of all vertices (B, N, 3).

        Face vertices at one place (split at a UV seam, or two halves never merged: ``PreparedMesh.face_weld``)
        move as one, by their mean: each side of a split is filled and unfolded on its own, and the mesh tore
        there (the hand-made dev head's midline opened up to 10.97 mm below the lip, in mouthSmileRight)."""
        nz = pm.normalization
        if pm.face_weld is not None:
            disp_face = seam_mean(disp_face, pm.face_weld)
        out = np.zeros((disp_face.shape[0], pm.n_verts, 3), dtype)
        out[:, pm.face_index] = nz.invert_vectors(disp_face)
        if len(pm.other_index) and pm.other_islands == "follow":
            w = pm.other_knn_w.astype(np.float64)[..., None]
            if pm.other_follow is not None:                      # far pieces (a floor, a second head) stay put
                w = w * pm.other_follow.astype(np.float64)[:, None, None]
            for b in range(disp_face.shape[0]):
                dp = pm.proxy.to_proxy(disp_face[b].astype(np.float64))                 # (P, 3)
                out[b, pm.other_index] = nz.invert_vectors((dp[pm.other_knn_idx] * w).sum(axis=1))
        return out

    def _codes(self, z_ge) -> tuple[np.ndarray, bool]:
        z = np.asarray(z_ge)
        single = z.ndim == 1
        if single:
            z = z[None]
        if z.ndim != 2 or z.shape[1] != self.config.z_dim:
            raise ValueError(f"z_ge must have shape ({self.config.z_dim},) or (B, {self.config.z_dim}), got {np.shape(z_ge)}")
        if not np.issubdtype(z.dtype, np.number):
            raise ValueError(f"z_ge must be numeric, got dtype {z.dtype}")
        z = z.astype(F32)
        if not np.isfinite(z).all():
            raise ValueError("z_ge contains NaN or infinite values")
        return z, single

    @one_blas_thread
    def decode_displacements(self, pm: PreparedMesh, z_ge, *, probs=None) -> np.ndarray:
        """Displacements of the prepared mesh for expression code(s).

        Args:
            pm: prepared target mesh (N vertices).
            z_ge: (Z,) or (B, Z) expression code(s) (e.g. from ``expression``); an all-zero code gives exactly 0.
            probs: optional (N, R) painted region weights replacing the model's skinning (see ``skinning``).
        Returns:
            (N, 3) or (B, N, 3) float64 displacements in the caller's frame and units. Decoded in chunks of
            vertices (``decode_rows``), so memory stays bounded for big meshes.
        """
        self._check_pm(pm)
        z, single = self._codes(z_ge)
        d = check_finite(self._to_caller(pm, self._decode_face(pm, z, probs), np.float64), "decoder")
        return d[0] if single else d

    def decode(self, pm: PreparedMesh, z_ge, *, probs=None) -> np.ndarray:
        """Posed positions (N, 3) or (B, N, 3) float64 = neutral + ``decode_displacements`` (caller frame/units)."""
        d = self.decode_displacements(pm, z_ge, probs=probs)
        return d + pm.verts


def seam_mean(disp: np.ndarray, group: np.ndarray) -> np.ndarray:
    """disp (B, M, 3) with every row replaced by the mean of its ``group`` (M,) int64 (0..G-1): (B, M, 3), disp's
    dtype (sums in float64)."""
    n = int(group.max()) + 1
    cnt = np.bincount(group, minlength=n).astype(np.float64)
    out = np.empty_like(disp)
    for b in range(disp.shape[0]):
        for c in range(3):
            out[b, :, c] = (np.bincount(group, disp[b, :, c].astype(np.float64), n) / cnt)[group]
    return out
