"""The neural face skinning network (torch, training side).

Every operation here has a line-for-line numpy twin in ``runtime/layers.py``; the parity test runs
both on the same meshes. Shapes: P proxy vertices, N full-mesh vertices, B expressions, C encoder
width, K eigenpairs, R regions, Z = z_dim (128).

- ``DiffusionEncoder``: linear in -> ``enc_blocks`` x [spectral diffusion with a learned time per channel,
  MLP on (x, diffused x), residual] -> linear out. Runs on the proxy (see proxy.py).
- identity encoder: neutral proxy features (position, normal) -> mean and bilinear (features x position)
  mass-weighted pooling -> MLP -> z_ID (Z).
- expression encoder: (position, normal, scaled displacement) -> mean and bilinear (features x displacement)
  pooling -> MLP -> z_GE (Z).
- skinning encoder: per-proxy-vertex logits (R), interpolated to the full mesh with the proxy's k-NN weights;
  with ``id_offset`` also 3 channels of identity offset (``skinning_outputs``): where each vertex sits relative
  to the same point of the generic ICT head (decoder-frame units).
- skinning MLP: bias-free, region probabilities (R) -> w (Z); local code = w * z_GE.
- decoder, ``dec_mode='bilinear'`` (default): MLP on [position 3, normal 3, Fourier features 6F] + z_ID ->
  a per-vertex matrix G (3, Z); displacement = G (w * z_GE) / disp_scale (linear in the local code).
- decoder, ``dec_mode='mlp'``: MLP on [position 3, normal 3, Fourier features of the position 6F, local code Z,
  z_ID Z]; the displacement is
  (D(x, n, w*z, z_ID) - D(x, n, 0, z_ID)) / disp_scale.
  Either way a zero expression code gives exactly zero motion.
- decoder frame, ``dec_frame='face'``: ``decoder_frame`` gives (a, b) from the skinning probabilities (detached);
  the decoder reads a * x + b and its displacement is divided by a (``decode_in_frame``), so the same face
  point is decoded the same way whatever the crop. ``dec_frame='mesh'``: a = 1, b = 0.
  With ``id_offset`` the decoder reads a * x + b - offset, the identity offset (decoder-frame units) taking
  the vertex to the same point of the generic head in its own face frame.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..runtime.config import ModelConfig
from ..runtime.weights import BIL_EXPRESSION, BIL_NEUTRAL, HEAD_HIDDEN, IN_EXPRESSION, IN_NEUTRAL


def silu(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(x)


def fourier(pos: torch.Tensor, octaves: int) -> torch.Tensor:
    """(N, 3) -> (N, 6 * octaves): [sin(2^k pi x), cos(2^k pi x)] for k < octaves, grouped by octave."""
    if octaves == 0:
        return pos[:, :0]
    f = 2.0 ** torch.arange(octaves, dtype=pos.dtype, device=pos.device) * math.pi   # (F,)
    a = pos[:, None, :] * f[None, :, None]                                           # (N, F, 3)
    return torch.cat([torch.sin(a), torch.cos(a)], dim=-1).reshape(pos.shape[0], -1)


class MLP(nn.Module):
    """Linear layers with SiLU between them (none after the last)."""

    def __init__(self, sizes: list[int], bias: bool = True):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b, bias=bias) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = silu(x)
        return x


class DiffusionBlock(nn.Module):
    """x (B, P, C) -> x + MLP([x, diffuse_t(x)]), diffusion time t_c = exp(log_t_c) per channel."""

    def __init__(self, width: int):
        super().__init__()
        self.log_t = nn.Parameter(torch.linspace(math.log(1e-4), math.log(3e-1), width))
        self.mlp = MLP([2 * width, width, width])

    def forward(self, x, evals, evecs, mass):
        spec = torch.einsum("pk,bpc->bkc", evecs, x * mass[None, :, None])
        spec = spec * torch.exp(-evals[:, None] * torch.exp(self.log_t)[None, :])[None]
        xd = torch.einsum("pk,bkc->bpc", evecs, spec)
        return x + self.mlp(torch.cat([x, xd], dim=-1))


class DiffusionEncoder(nn.Module):
    """Per-vertex features (B, P, c_in) -> (B, P, c_out) on a proxy operator."""

    def __init__(self, c_in: int, width: int, blocks: int, c_out: int):
        super().__init__()
        self.lin_in = nn.Linear(c_in, width)
        self.blocks = nn.ModuleList(DiffusionBlock(width) for _ in range(blocks))
        self.lin_out = nn.Linear(width, c_out)

    def forward(self, x, evals, evecs, mass):
        x = self.lin_in(x)
        for b in self.blocks:
            x = b(x, evals, evecs, mass)
        return self.lin_out(x)


class GlobalEncoder(nn.Module):
    """Per-vertex diffusion features f (B, P, C) and a per-vertex 3-vector b (B, P, 3) taken from the input
    channels ``bil`` -> [mass-weighted mean of f, mass-weighted mean of f (x) b] (B, 4C) -> MLP -> (B, Z).

    The bilinear term makes the linear part of the inverse problem exact to represent: ICT identity
    coefficients and FACS weights are linear in positions / displacements, sum_v a(x_v) . b_v, with kernels
    a(x) that the diffusion features learn.
    """

    def __init__(self, c_in: int, cfg: ModelConfig, bil: tuple[int, int]):
        super().__init__()
        self.bil = bil
        self.enc = DiffusionEncoder(c_in, cfg.enc_width, cfg.enc_blocks, cfg.enc_width)
        self.head = MLP([4 * cfg.enc_width, HEAD_HIDDEN, cfg.z_dim])

    def forward(self, x, evals, evecs, mass):
        f = self.enc(x, evals, evecs, mass)
        m = mass / mass.sum()
        b = x[..., self.bil[0]:self.bil[1]]
        mean = torch.einsum("p,bpc->bc", m, f)
        bil = torch.einsum("p,bpc,bpd->bcd", m, f, b).reshape(f.shape[0], -1)
        return self.head(torch.cat([mean, bil], dim=-1))


class FaceSkinningNet(nn.Module):
    """The whole model; see the module docstring for the data flow."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        z = cfg.z_dim
        self.identity_encoder = GlobalEncoder(IN_NEUTRAL, cfg, BIL_NEUTRAL)
        self.expression_encoder = GlobalEncoder(IN_EXPRESSION, cfg, BIL_EXPRESSION)
        self.skinning_encoder = DiffusionEncoder(IN_NEUTRAL, cfg.enc_width, cfg.enc_blocks,
                                                 cfg.n_regions + (3 if cfg.id_offset else 0))
        self.skin_mlp = MLP([cfg.n_regions, cfg.skin_hidden, z], bias=False)
        self.dec_geo = nn.Linear(6 + 6 * cfg.dec_fourier, cfg.dec_width)  # position, normal, Fourier features
        self.bilinear = cfg.dec_mode == "bilinear"
        if not self.bilinear:
            self.dec_code = nn.Linear(z, cfg.dec_width, bias=False)  # local code
        self.dec_id = nn.Linear(z, cfg.dec_width, bias=False)    # z_ID
        self.dec_rest = MLP([cfg.dec_width] * (cfg.dec_layers + 1) + [3 * z if self.bilinear else 3])
        core = torch.zeros(cfg.n_regions)
        core[list(cfg.face_core)] = 1.0
        self.register_buffer("face_core_mask", core, persistent=False)   # (R,), not a weight

    # --- encoders -------------------------------------------------------------------------
    def identity(self, feats, op):
        """feats (P, 6) neutral proxy features -> z_ID (Z,)."""
        return self.identity_encoder(feats[None], *op)[0]

    def expression(self, feats, op):
        """feats (B, P, 9) -> z_GE (B, Z)."""
        return self.expression_encoder(feats, *op)

    def skinning_outputs(self, feats, op, knn_idx, knn_w):
        """feats (P, 6) -> (logits (N, R), identity offsets (N, 3) in decoder-frame units or None without
        ``id_offset``) at full vertices via k-NN weights (N, k)."""
        lp = self.skinning_encoder(feats[None], *op)[0]
        out = (lp[knn_idx] * knn_w[..., None]).sum(dim=1)
        r = self.cfg.n_regions
        if not self.cfg.id_offset:
            return out, None
        return out[:, :r], out[:, r:] / self.cfg.offset_scale

    def skinning_logits(self, feats, op, knn_idx, knn_w):
        """feats (P, 6) -> logits (N, R) at full vertices via k-NN weights (N, k)."""
        return self.skinning_outputs(feats, op, knn_idx, knn_w)[0]

    def skin_weights(self, probs):
        """Region probabilities (N, R) -> per-vertex skinning weights w (N, Z)."""
        return self.skin_mlp(probs)

    # --- decoder --------------------------------------------------------------------------
    def decoder_frame(self, pos, probs, vert_area):
        """The decoder's frame: (a scalar tensor, b (3,)) with decoder input a * pos + b.

        Args: pos (N, 3) canonical neutral positions of the whole mesh; probs (N, R) region probabilities;
        vert_area (N,) canonical vertex areas (summing to 1). 'face': the similarity taking the face core's
        probability-weighted centroid and sqrt(area) onto ``cfg.face_ref`` (computed without gradient);
        'mesh': (1, 0).
        """
        one = torch.ones((), dtype=pos.dtype, device=pos.device)
        if self.cfg.dec_frame != "face":
            return one, torch.zeros(3, dtype=pos.dtype, device=pos.device)
        with torch.no_grad():
            m = (probs * self.face_core_mask.to(probs.dtype)).sum(-1) * vert_area          # (N,)
            tot = m.sum()
            if not bool(tot > 1e-6):      # no face core found: keep the mesh frame
                return one, torch.zeros(3, dtype=pos.dtype, device=pos.device)
            c = (m[:, None] * pos).sum(0) / tot
            ref = torch.as_tensor(self.cfg.face_ref, dtype=pos.dtype, device=pos.device)
            a = ref[3] / tot.sqrt()
            return a, ref[:3] - a * c

    def decode_in_frame(self, frame, pos, nrm, w, z_ge, z_id, shift=None):
        """``decode`` in the decoder frame ``frame`` = (a, b) from ``decoder_frame``: canonical displacements
        (B, N, 3) of canonical positions pos (N, 3); the decoder reads a * pos + b - shift (shift (N, 3): the
        identity offsets of ``id_offset`` models, or None)."""
        a, b = frame
        x = pos * a + b
        return self.decode(x if shift is None else x - shift, nrm, w, z_ge, z_id) / a

    def decode(self, pos, nrm, w, z_ge, z_id):
        """Displacements (B, N, 3) in canonical units.

        Args: pos, nrm (N, 3) canonical neutral positions / unit normals; w (N, Z); z_ge (B, Z); z_id (Z,).
        """
        base = self.dec_geo(torch.cat([pos, nrm, fourier(pos, self.cfg.dec_fourier)], dim=-1)) \
            + self.dec_id(z_id)[None]                                                  # (N, H)
        if self.bilinear:
            g = self.dec_rest(silu(base)).reshape(pos.shape[0], 3, -1) * w[:, None, :]  # (N, 3, Z): G diag(w)
            # one (3N, Z) x (Z, B) product; G (w * z) = (G diag(w)) z
            out = (g.reshape(-1, g.shape[-1]) @ z_ge.T).reshape(pos.shape[0], 3, -1)    # (N, 3, B)
            return out.permute(2, 0, 1) / self.cfg.disp_scale
        code = self.dec_code(w[None] * z_ge[:, None, :])                              # (B, N, H)
        moved = self.dec_rest(silu(base[None] + code))
        rest = self.dec_rest(silu(base))[None]
        return (moved - rest) / self.cfg.disp_scale
