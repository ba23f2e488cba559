"""Numpy twins of ``model_core/training/network.py`` (float32), built from a validated state dict.

Each class mirrors the torch module of the same name operation for operation; ``tests/test_runtime_parity.py``
runs both on the same inputs. Shapes: P proxy vertices, N full-mesh vertices, B batch (expressions), C
encoder width, K eigenpairs, R regions, Z = z_dim (128), H decoder width. Everything is float32; arrays
handed in are converted once.
"""
from __future__ import annotations

import numpy as np

from .config import ModelConfig
from .weights import BIL_EXPRESSION, BIL_NEUTRAL

__all__ = ["silu", "Linear", "MLP", "DiffusionBlock", "DiffusionEncoder", "GlobalEncoder", "Decoder", "Network"]

F32 = np.float32


def silu(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """x * sigmoid(x), elementwise (any shape, float32). Written as x / (1 + exp(-x)) without overflow warnings;
    ``out`` may be ``x`` itself (in place)."""
    t = np.negative(x)
    with np.errstate(over="ignore"):
        np.exp(t, out=t)
    t += 1.0
    return np.divide(x, t, out=t if out is None else out)


def fourier(pos: np.ndarray, octaves: int) -> np.ndarray:
    """(N, 3) float32 -> (N, 6 * octaves): [sin(2^k pi x), cos(2^k pi x)] for k < octaves (``network.fourier``)."""
    f = (2.0 ** np.arange(octaves, dtype=F32) * F32(np.pi)).astype(F32)
    a = pos[:, None, :] * f[None, :, None]
    return np.concatenate([np.sin(a), np.cos(a)], axis=-1).reshape(pos.shape[0], -1).astype(F32, copy=False)


class Linear:
    """y = x @ W.T + b for x (..., in) -> (..., out); W (out, in) as in torch, stored transposed."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray | None = None):
        self.wt = np.ascontiguousarray(np.asarray(weight, dtype=F32).T)   # (in, out)
        self.b = None if bias is None else np.asarray(bias, dtype=F32)
        self.n_in, self.n_out = self.wt.shape

    def __call__(self, x: np.ndarray) -> np.ndarray:
        shape = x.shape
        y = np.matmul(x.reshape(-1, shape[-1]), self.wt)
        if self.b is not None:
            y += self.b
        return y.reshape(shape[:-1] + (self.n_out,))


class MLP:
    """Linear layers with SiLU between them (none after the last); ``network.MLP``."""

    def __init__(self, sd: dict, prefix: str, n_layers: int, bias: bool = True):
        self.layers = [Linear(sd[f"{prefix}.layers.{i}.weight"], sd[f"{prefix}.layers.{i}.bias"] if bias else None)
                       for i in range(n_layers)]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < last:
                x = silu(x, out=x)
        return x


class DiffusionBlock:
    """x (B, P, C) -> x + MLP([x, diffuse_t(x)]); diffusion time t_c = exp(log_t_c) per channel."""

    def __init__(self, sd: dict, prefix: str):
        self.log_t = np.asarray(sd[f"{prefix}.log_t"], dtype=F32)
        self.mlp = MLP(sd, f"{prefix}.mlp", 2)

    def __call__(self, x: np.ndarray, evals: np.ndarray, evecs: np.ndarray, mass: np.ndarray) -> np.ndarray:
        # spec (B, K, C) = evecs^T (x * mass); decay by exp(-lambda_k t_c); back to vertices
        spec = np.matmul(evecs.T, x * mass[None, :, None])
        spec *= np.exp(-evals[:, None] * np.exp(self.log_t)[None, :])[None]
        xd = np.matmul(evecs, spec)
        return x + self.mlp(np.concatenate([x, xd], axis=-1))


class DiffusionEncoder:
    """Per-vertex features (B, P, c_in) -> (B, P, c_out) on a proxy operator (evals (K,), evecs (P, K), mass (P,))."""

    def __init__(self, sd: dict, prefix: str, blocks: int):
        self.lin_in = Linear(sd[f"{prefix}.lin_in.weight"], sd[f"{prefix}.lin_in.bias"])
        self.blocks = [DiffusionBlock(sd, f"{prefix}.blocks.{i}") for i in range(blocks)]
        self.lin_out = Linear(sd[f"{prefix}.lin_out.weight"], sd[f"{prefix}.lin_out.bias"])

    def __call__(self, x, evals, evecs, mass):
        x = self.lin_in(x)
        for b in self.blocks:
            x = b(x, evals, evecs, mass)
        return self.lin_out(x)


class GlobalEncoder:
    """Per-vertex diffusion features f (B, P, C) and b = x[..., bil] (B, P, 3) -> [mean f, mean f (x) b]
    (mass-weighted, (B, 4C)) -> MLP -> (B, Z); ``network.GlobalEncoder``."""

    def __init__(self, sd: dict, prefix: str, cfg: ModelConfig, bil: tuple[int, int]):
        self.enc = DiffusionEncoder(sd, f"{prefix}.enc", cfg.enc_blocks)
        self.head = MLP(sd, f"{prefix}.head", 2)
        self.bil = bil

    def __call__(self, x, evals, evecs, mass):
        f = self.enc(x, evals, evecs, mass)
        m = mass / mass.sum()
        b = x[..., self.bil[0]:self.bil[1]]
        mean = np.einsum("p,bpc->bc", m, f)
        bil = np.einsum("bpc,bpd->bcd", f * m[None, :, None], b).reshape(f.shape[0], -1)
        return self.head(np.concatenate([mean, bil], axis=-1).astype(F32, copy=False))


class _DecoderParts:
    """What both decoder layouts share: the geometry / identity input layer (``dec_geo``, ``dec_id``), the MLP
    ``dec_rest`` and the whole-decode call; subclasses define base / rest / code_part / code_onehot / displace."""

    def __init__(self, sd: dict, cfg: ModelConfig):
        self.geo = Linear(sd["dec_geo.weight"], sd["dec_geo.bias"])
        self.fourier = cfg.dec_fourier
        self.id = Linear(sd["dec_id.weight"])
        self.rest_mlp = MLP(sd, "dec_rest", cfg.dec_layers + 1)
        self.disp_scale = F32(cfg.disp_scale)
        self.width = cfg.dec_width

    def pre(self, pos: np.ndarray, nrm: np.ndarray, z_id: np.ndarray) -> np.ndarray:
        """pos, nrm (N, 3) canonical positions / unit normals, z_id (Z,) -> dec_geo([x, n, fourier(x)]) + dec_id(z_ID)
        (N, H) float32."""
        pos = np.asarray(pos, F32)
        x = np.concatenate([pos, np.asarray(nrm, F32), fourier(pos, self.fourier)], axis=-1)
        return self.geo(x) + self.id(np.asarray(z_id, F32)[None])

    def displace_onehot(self, base: np.ndarray, rest: np.ndarray, w: np.ndarray, idx: list[int]) -> np.ndarray:
        """Displacements (N, 3) of the code with 1 at the indices ``idx`` and 0 elsewhere (FACS basis shapes):
        ``displace(base, rest, code_onehot(w, idx)[None])[0]``."""
        return self.displace(base, rest, self.code_onehot(w, idx)[None])[0]

    def __call__(self, pos, nrm, w, z_ge, z_id) -> np.ndarray:
        """Whole decode like ``FaceSkinningNet.decode``: pos, nrm (N, 3), w (N, Z), z_ge (B, Z), z_id (Z,) -> (B, N, 3)."""
        base = self.base(pos, nrm, z_id)
        return self.displace(base, self.rest(base), self.code_part(np.asarray(w, F32), np.asarray(z_ge, F32)))


class Decoder(_DecoderParts):
    """The displacement decoder with its first layer split into geometry / local code / identity parts
    (``dec_mode='mlp'``).

    displacement = (D(x, n, w*z, z_ID) - D(x, n, 0, z_ID)) / disp_scale with
    D = dec_rest(silu(base + code)), base = dec_geo([x, n, fourier(x)]) + dec_id(z_ID) (N, H), code = dec_code(w * z) (B, N, H).
    """

    def __init__(self, sd: dict, cfg: ModelConfig):
        super().__init__(sd, cfg)
        self.code = Linear(sd["dec_code.weight"])
        self.code_cols = np.ascontiguousarray(self.code.wt)     # (Z, H): row k = W_code[:, k]
        self.base_width = cfg.dec_width                         # floats per vertex of ``base``

    def base(self, pos: np.ndarray, nrm: np.ndarray, z_id: np.ndarray) -> np.ndarray:
        """pos, nrm (N, 3) canonical positions / unit normals, z_id (Z,) -> base pre-activation (N, H)."""
        return self.pre(pos, nrm, z_id)

    def rest(self, base: np.ndarray) -> np.ndarray:
        """D at zero code: (N, H) -> (N, 3)."""
        return self.rest_mlp(silu(base))

    def code_part(self, w: np.ndarray, z_ge: np.ndarray) -> np.ndarray:
        """w (N, Z), z_ge (B, Z) -> dec_code(w * z_ge) (B, N, H)."""
        return self.code(w[None] * z_ge[:, None, :])

    def code_onehot(self, w: np.ndarray, idx: list[int]) -> np.ndarray:
        """``code_part`` of the code with 1 at the indices ``idx`` and 0 elsewhere, for w (N, Z) -> (N, H):
        sum over k in idx of w[:, k] (outer) W_code[:, k] (no (N, Z) product needed)."""
        code = np.multiply.outer(w[:, idx[0]], self.code_cols[idx[0]])
        for k in idx[1:]:
            code += np.multiply.outer(w[:, k], self.code_cols[k])
        return code

    def displace(self, base: np.ndarray, rest: np.ndarray, code: np.ndarray) -> np.ndarray:
        """base (N, H), rest (N, 3), code (B, N, H) -> displacements (B, N, 3), canonical units."""
        h = code + base[None]
        moved = self.rest_mlp(silu(h, out=h))
        moved -= rest[None]
        moved /= self.disp_scale
        return moved


class BilinearDecoder(_DecoderParts):
    """The decoder linear in the local code (``dec_mode='bilinear'``), with the same interface as ``Decoder``.

    G = dec_rest(silu(dec_geo([x, n, fourier(x)]) + dec_id(z_ID))) reshaped (N, 3, Z);
    displacement = G (w * z) / disp_scale. ``base`` is G itself (the per-mesh part), ``rest`` is zero.
    """

    def __init__(self, sd: dict, cfg: ModelConfig):
        super().__init__(sd, cfg)
        self.z_dim = cfg.z_dim
        self.base_width = 3 * cfg.z_dim                         # floats per vertex of ``base``

    def base(self, pos: np.ndarray, nrm: np.ndarray, z_id: np.ndarray) -> np.ndarray:
        """pos, nrm (N, 3) canonical positions / unit normals, z_id (Z,) -> G (N, 3, Z) float32."""
        h = self.pre(pos, nrm, z_id)
        return self.rest_mlp(silu(h, out=h)).reshape(len(h), 3, self.z_dim)

    def rest(self, base: np.ndarray) -> np.ndarray:
        """Zero code, zero motion: (N, 3, Z) -> zeros (N, 3)."""
        return np.zeros((base.shape[0], 3), F32)

    def code_part(self, w: np.ndarray, z_ge: np.ndarray) -> np.ndarray:
        """w (N, Z), z_ge (B, Z) -> local codes w * z_ge (B, N, Z)."""
        return w[None] * z_ge[:, None, :]

    def code_onehot(self, w: np.ndarray, idx: list[int]) -> np.ndarray:
        """Local code (N, Z) of the code with 1 at the indices ``idx``."""
        code = np.zeros_like(w)
        code[:, idx] = w[:, idx]
        return code

    def displace_onehot(self, base: np.ndarray, rest: np.ndarray, w: np.ndarray, idx: list[int]) -> np.ndarray:
        """G (N, 3, Z), w (N, Z), one-hot indices -> (N, 3): sum over k in idx of G[:, :, k] w[:, k] / disp_scale
        (the columns of G the code selects; no (N, Z) code, no batched matmul)."""
        out = base[:, :, idx[0]] * w[:, idx[0], None]
        for k in idx[1:]:
            out += base[:, :, k] * w[:, k, None]
        out /= self.disp_scale
        return out

    def displace(self, base: np.ndarray, rest: np.ndarray, code: np.ndarray) -> np.ndarray:
        """G (N, 3, Z), rest (unused: zero), local codes (B, N, Z) -> displacements (B, N, 3), canonical units."""
        out = np.matmul(base, np.ascontiguousarray(code.transpose(1, 2, 0)))      # (N, 3, B)
        out = np.ascontiguousarray(out.transpose(2, 0, 1))
        out /= self.disp_scale
        return out


class Network:
    """The whole model (numpy twin of ``FaceSkinningNet``); inputs are float32 proxy features and operators."""

    def __init__(self, sd: dict, cfg: ModelConfig):
        self.cfg = cfg
        self.identity_encoder = GlobalEncoder(sd, "identity_encoder", cfg, BIL_NEUTRAL)
        self.expression_encoder = GlobalEncoder(sd, "expression_encoder", cfg, BIL_EXPRESSION)
        self.skinning_encoder = DiffusionEncoder(sd, "skinning_encoder", cfg.enc_blocks)
        self.skin_mlp = MLP(sd, "skin_mlp", 2, bias=False)
        self.decoder = BilinearDecoder(sd, cfg) if cfg.dec_mode == "bilinear" else Decoder(sd, cfg)

    def identity(self, feats: np.ndarray, op: tuple) -> np.ndarray:
        """feats (P, 6) neutral proxy features, op = (evals (K,), evecs (P, K), mass (P,)) -> z_ID (Z,)."""
        return self.identity_encoder(feats[None], *op)[0]

    def expression(self, feats: np.ndarray, op: tuple) -> np.ndarray:
        """feats (B, P, 9) -> z_GE (B, Z)."""
        return self.expression_encoder(feats, *op)

    def skinning_proxy_outputs(self, feats: np.ndarray, op: tuple) -> np.ndarray:
        """feats (P, 6) -> per-proxy-vertex skinning encoder outputs (P, R), or (P, R + 3) with ``id_offset``
        (region logits, then identity offsets times ``offset_scale``)."""
        return self.skinning_encoder(feats[None], *op)[0]

    def skinning_proxy_logits(self, feats: np.ndarray, op: tuple) -> np.ndarray:
        """feats (P, 6) -> per-proxy-vertex region logits (P, R)."""
        return self.skinning_proxy_outputs(feats, op)[:, :self.cfg.n_regions]

    def skinning_logits(self, feats, op, knn_idx, knn_w) -> np.ndarray:
        """feats (P, 6) -> logits (N, R) at full vertices via k-NN weights (N, k) (``FaceSkinningNet.skinning_logits``)."""
        lp = self.skinning_proxy_logits(feats, op)
        return interpolate(lp, knn_idx, knn_w)

    def skin_weights(self, probs: np.ndarray) -> np.ndarray:
        """Region probabilities (N, R) -> per-vertex skinning weights w (N, Z)."""
        return self.skin_mlp(np.asarray(probs, F32))


def interpolate(values: np.ndarray, knn_idx: np.ndarray, knn_w: np.ndarray) -> np.ndarray:
    """(values[knn_idx] * knn_w[..., None]).sum(1): per-proxy values (P, C) -> (N, C), float32."""
    return (values[knn_idx] * np.asarray(knn_w, F32)[..., None]).sum(axis=1)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row softmax of (N, R) float32 logits."""
    e = logits - logits.max(axis=1, keepdims=True)
    np.exp(e, out=e)
    e /= e.sum(axis=1, keepdims=True)
    return e
