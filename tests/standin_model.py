"""A stand-in for ``model_core.runtime.Model`` (no weights needed), for the add-on tests that count its calls or
make it fail (robustness matrix, fuzz, the installed extension); the other add-on tests run the real runtime with the
committed weights (tests/addon_testlib.py).

Same interface as the runtime: ``prepare``, ``skinning`` (with ``override_probs``), ``region_names``,
``region_colors``, ``facs_basis_iter``, ``expression``, ``decode``. Its FACS basis is linear and geometric:
each ICT expression moves the vertices near a landmark (eyes, brows, mouth corners ...) placed in the mesh's
bounding box along a fixed direction (jawOpen moves everything below the mouth down). ``expression`` solves
least squares against its own basis, so a pose made from the basis is recovered exactly. ``decode`` adds a
small non-linear jaw term so that a corrective (decode minus the linear blend) is not zero.

Like the runtime, painted region weights are not stored: ``skinning(pm, override_probs=...)`` returns them
renormalised, and ``facs_basis_iter``/``decode`` take them as ``probs=``; ``expression`` takes one frame (N, 3)
or a batch (B, N, 3).

Frames: inputs are in the caller's frame (``up``/``forward`` axes, any units); displacements come back in the
same frame and units.
"""
from __future__ import annotations

import numpy as np

from model_core.runtime import facs_names as fn
from model_core.runtime.mesh import normalize_rows

REGIONS = ("forehead", "brow_L", "brow_R", "eye_L", "eye_R", "nose", "cheek_L", "cheek_R", "mouth", "jaw",
           "neck", "scalp")
# region centres in bounding-box coordinates u in [0, 1]^3: x toward the face's left, y up, z forward
_REGION_CENTRES = np.array([
    [0.50, 0.85, 0.85], [0.65, 0.72, 0.95], [0.35, 0.72, 0.95], [0.66, 0.64, 0.95], [0.34, 0.64, 0.95],
    [0.50, 0.52, 1.00], [0.72, 0.48, 0.85], [0.28, 0.48, 0.85], [0.50, 0.36, 0.95], [0.50, 0.24, 0.85],
    [0.50, 0.08, 0.40], [0.50, 0.80, 0.20]])
_COLORS = np.array([[0.9, 0.9, 0.3], [0.9, 0.5, 0.1], [0.9, 0.3, 0.1], [0.2, 0.6, 0.9], [0.1, 0.4, 0.9],
                    [0.9, 0.2, 0.6], [0.3, 0.9, 0.4], [0.2, 0.8, 0.3], [0.9, 0.1, 0.1], [0.6, 0.2, 0.9],
                    [0.5, 0.5, 0.5], [0.8, 0.8, 0.8]], dtype=np.float32)
_AXES = {"X": (1, 0, 0), "-X": (-1, 0, 0), "Y": (0, 1, 0), "-Y": (0, -1, 0), "Z": (0, 0, 1), "-Z": (0, 0, -1)}

_GROUP_Y = {"brow": 0.72, "eye": 0.64, "cheek": 0.48, "nose": 0.55, "mouth": 0.36, "jaw": 0.28}
_REGION_OF_GROUP = {"brow": ("brow_L", "brow_R", "forehead"), "eye": ("eye_L", "eye_R", "nose"),
                    "cheek": ("cheek_L", "cheek_R", "nose"), "nose": ("nose", "nose", "nose"),
                    "mouth": ("mouth", "mouth", "mouth"), "jaw": ("jaw", "jaw", "jaw")}


def _direction(name: str) -> np.ndarray:
    low = name.lower()
    if any(w in low for w in ("down", "blink", "frown", "lower", "close")):
        d = (0, -1, 0)
    elif any(w in low for w in ("up", "wide", "sneer", "shrug", "squint")):
        d = (0, 1, 0)
    elif any(w in low for w in ("pucker", "funnel", "forward", "puff", "roll")):
        d = (0, 0, 1)
    elif "left" in low or "out_l" in low or "in_r" in low:
        d = (1, 0, 0)
    elif "right" in low or "out_r" in low or "in_l" in low:
        d = (-1, 0, 0)
    elif any(w in low for w in ("smile", "stretch", "dimple")):
        d = (1, 0.6, 0) if low.endswith("_l") else (-1, 0.6, 0)
    else:
        d = (0, 0, -1)
    d = np.asarray(d, dtype=np.float64)
    return d / np.linalg.norm(d)


class PreparedMesh:
    """A mesh prepared by the stand-in: verts (N, 3) float64 caller frame, faces (F, 3) int32, rotation R (3, 3)
    caller -> canonical (rows), box coordinates u (N, 3), size (caller units)."""

    def __init__(self, verts, faces, rot):
        self.verts, self.faces, self.rot = verts, faces, rot
        c = verts @ rot.T
        lo, hi = c.min(axis=0), c.max(axis=0)
        self.u = (c - lo) / np.where(hi - lo > 0, hi - lo, 1.0)
        self.size = float(hi[1] - lo[1])
        self._basis = None
        self._pinv = None


class StandinModel:
    region_names = list(REGIONS)
    region_colors = _COLORS
    calls: dict

    def __init__(self):
        self.calls = {"prepare": 0, "skinning": 0, "expression": 0, "decode": 0, "basis": 0}
        self.batches = []    # sizes of the batched decode calls
        self._w = np.random.default_rng(0).standard_normal((len(REGIONS), 128)).astype(np.float32)

    # ------------------------------------------------------------------ interface
    def prepare(self, verts, faces, up="Z", forward="-Y", **_kw):
        self.calls["prepare"] += 1
        v = np.asarray(verts, dtype=np.float64)
        f = np.asarray(faces)
        if v.ndim != 2 or v.shape[1] != 3 or v.shape[0] < 3 or not np.isfinite(v).all():
            raise ValueError(f"verts must be a finite (N, 3) array with N >= 3, got {v.shape}")
        if f.ndim != 2 or f.shape[1] != 3 or f.shape[0] == 0 or f.min() < 0 or f.max() >= v.shape[0]:
            raise ValueError("faces must be (F, 3) vertex indices into verts")
        u_ax, f_ax = np.asarray(_AXES[up.upper()], float), np.asarray(_AXES[forward.upper()], float)
        rot = np.stack([np.cross(u_ax, f_ax), u_ax, f_ax])
        return PreparedMesh(v, f.astype(np.int32), rot)

    def _probs(self, pm):
        d2 = ((pm.u[:, None, :] - _REGION_CENTRES[None]) ** 2).sum(-1)
        logits = -d2 / (2 * 0.12 ** 2)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return normalize_rows(p)

    def _resolve(self, pm, override):
        model = self._probs(pm)
        if override is None:
            return model
        p = np.asarray(override, dtype=np.float64)
        if p.shape != model.shape or (p < 0).any() or not np.isfinite(p).all():
            raise ValueError(f"probs must be non-negative, finite, shape {model.shape}; got {p.shape}")
        return normalize_rows(p, model)

    def skinning(self, pm, override_probs=None):
        self.calls["skinning"] += 1
        probs = self._resolve(pm, override_probs)
        return probs.astype(np.float32), (probs @ self._w).astype(np.float32)

    def basis(self, pm, probs=None) -> np.ndarray:
        """(53, N, 3) ICT displacements in the caller's frame and units (``probs``: painted region weights)."""
        if probs is None and pm._basis is not None:
            return pm._basis
        u = pm.u
        painted = probs is not None
        probs = self._resolve(pm, probs)
        out = np.zeros((fn.N_ICT, u.shape[0], 3))
        amp = 0.03 * pm.size
        for k, name in enumerate(fn.ICT_NAMES):
            group = next(g for g in _GROUP_Y if name.startswith(g))
            side = fn.side_of(name)
            x = {"L": 0.66, "R": 0.34, "": 0.5}[side]
            if name == "jawOpen":  # everything below the mouth opens down, more the lower it is
                below = np.clip((0.36 - u[:, 1]) / 0.36, 0, None) * (u[:, 2] > 0.45)
                d_c = below[:, None] * np.array([0.0, -1.0, -0.3]) * 2 * amp
            else:
                # every expression gets its own centre offset and width: a linearly independent basis
                centre = np.array([x + 0.04 * np.cos(2.3 * k), _GROUP_Y[group] + 0.04 * np.sin(1.7 * k), 0.95])
                g = np.exp(-((u - centre) ** 2).sum(axis=1) / (2 * (0.06 + 0.015 * (k % 4)) ** 2))
                d_c = g[:, None] * _direction(name)[None] * amp
            reg = REGIONS.index(_REGION_OF_GROUP[group][{"L": 0, "R": 1, "": 2}[side]])
            d_c = d_c * (0.5 + probs[:, reg])[:, None]
            out[k] = d_c @ pm.rot  # canonical axes -> caller axes
        if not painted:
            pm._basis = out
        return out

    def facs_basis_iter(self, pm, names="ict", probs=None, keys=None):  # one basis whatever the key source
        self.calls["basis"] += 1
        b = self.basis(pm, probs)
        if names == "ict":
            for k, name in enumerate(fn.ICT_NAMES):
                yield k, name, b[k].copy()
        elif names == "arkit":
            for j, name in enumerate(fn.ARKIT_NAMES):
                src = fn.ARKIT_SOURCES[j]
                yield j, name, (b[list(src)].sum(axis=0) if src else np.zeros_like(b[0]))
        else:
            raise ValueError(f"names must be 'ict' or 'arkit', got {names!r}")

    def template_face_keys(self, pm, progress=None):  # one basis whatever the key source: nothing to prepare
        if progress is not None:
            progress(1, 1)

    auto_face_keys = template_face_keys

    def expression(self, posed_verts, pm, sparsity=None, keys=None):  # no sparsity to set, one basis
        self.calls["expression"] += 1
        posed = np.asarray(posed_verts, dtype=np.float64)
        single = posed.ndim == 2
        posed = posed[None] if single else posed
        if posed.shape[1:] != pm.verts.shape:
            raise ValueError(f"posed_verts must be {pm.verts.shape} or (B, ...), got {np.shape(posed_verts)}")
        if pm._pinv is None:
            a = self.basis(pm).reshape(fn.N_ICT, -1).T
            pm._pinv = np.linalg.pinv(a)
        z = np.zeros((posed.shape[0], 128), dtype=np.float32)
        z[:, : fn.N_ICT] = (posed - pm.verts).reshape(posed.shape[0], -1) @ pm._pinv.T
        return z[0] if single else z

    def decode(self, pm, z_ge, probs=None):
        self.calls["decode"] += 1
        zz = np.asarray(z_ge, dtype=np.float64)
        if zz.ndim == 2:                                     # a batch of codes (B, Z) -> (B, N, 3)
            self.calls["decode"] -= 1
            self.batches.append(len(zz))
            return np.stack([self.decode(pm, row, probs) for row in zz])
        z = zz.ravel()
        b = self.basis(pm, probs)
        jaw = fn.ICT_INDEX["jawOpen"]
        return pm.verts + np.tensordot(z[: fn.N_ICT], b, axes=1) + 0.5 * z[jaw] ** 2 * b[jaw]
