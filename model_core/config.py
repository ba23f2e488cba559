"""Architecture configuration shared by the torch model and the numpy runtime (json round-trip)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

FORMAT_VERSION = 4  # 2: bilinear pooling in the global encoders; 3: Fourier features in the decoder; 4: dec_mode
DEC_MODES = ("bilinear", "mlp")


@dataclass
class ModelConfig:
    """Sizes of the neural face skinning model.

    n_regions: R, facial regions of the skinning encoder (len(regions.REGION_NAMES)).
    z_dim: size of z_ID and z_GE (128; z_ID[:100] = ICT identity coeffs, z_GE[:53] = ICT FACS weights).
    enc_width / enc_blocks: width and number of diffusion blocks of each encoder.
    k_eig / proxy_target / knn: proxy operator (see proxy.py).
    skin_hidden: hidden width of the bias-free skinning MLP (R -> skin_hidden -> z_dim).
    dec_width / dec_layers: decoder MLP hidden width and number of hidden layers.
    dec_fourier: F, octaves of sin/cos features of the canonical position fed to the decoder
        (sin, cos of 2^k pi x for k < F: 6F extra inputs) against the spectral bias of coordinate MLPs.
    dec_mode: 'bilinear' - the decoder MLP maps (position, normal, Fourier features, z_ID) to a per-vertex
        (3, Z) matrix and the displacement is that matrix times the local code w * z_GE (linear in the code,
        like the ICT model the data come from); 'mlp' - the local code is concatenated into the MLP's input
        (the paper's layout; configs saved before this field existed are 'mlp'). See docs/model.md.
    disp_scale: decoder output / disp_scale = displacement in canonical units.
    expr_feat_scale: factor on canonical displacements fed to the expression encoder.
    """
    n_regions: int = 20
    z_dim: int = 128
    enc_width: int = 64
    enc_blocks: int = 4
    k_eig: int = 96
    proxy_target: int = 1000
    knn: int = 4
    skin_hidden: int = 128
    dec_width: int = 256
    dec_layers: int = 4
    dec_fourier: int = 7
    dec_mode: str = "bilinear"
    disp_scale: float = 20.0
    expr_feat_scale: float = 20.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        d = dict(d)
        d.setdefault("dec_mode", "mlp")   # written before the field existed
        if d["dec_mode"] not in DEC_MODES:
            raise ValueError(f"unknown decoder mode {d['dec_mode']!r} (known: {', '.join(DEC_MODES)})")
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config keys {sorted(unknown)}: weights from a newer version?")
        return cls(**d)
