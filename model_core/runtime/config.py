"""Architecture configuration shared by the torch model and the numpy runtime (json round-trip)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields

from .regions import REGION_NAMES

FORMAT_VERSION = 6  # 2: bilinear pooling in the global encoders; 3: Fourier features in the decoder; 4: dec_mode;
#                     5: dec_frame; 6: id_offset
DEC_MODES = ("bilinear", "mlp")
DEC_FRAMES = ("mesh", "face")
# the central face: regions that every training crop (ICT full head, face, narrow face) and a face mask of
# 10.5 cm radius around the nose tip contain whole, for every identity (tests/test_decoder_frame.py measures it),
# as indices into regions.REGION_NAMES. (nfs_v3 used 11 regions, with zygomaticus and jaw, which a face mask cuts;
# its weights keep their own face_core and face_ref.)
FACE_CORE_NAMES = ("procerus", "eye_L", "eye_R", "nose", "levator_labii_L", "levator_labii_R", "orbicularis_oris",
                   "lips")
FACE_CORE = tuple(REGION_NAMES.index(n) for n in FACE_CORE_NAMES)
# the generic ICT full head's face-core centroid (3) and sqrt(area) (1) in its canonical frame (true labels;
# tests/test_decoder_frame.py recomputes it from ICT-FaceKit): on that head the frame is the identity
FACE_REF = (0.00001, 0.02894, 0.22211, 0.27576)


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
    dec_frame: 'mesh' - the decoder reads canonical positions (centroid and sqrt(area) of the whole mesh);
        'face' - it reads a * x + b, the similarity that takes the mesh's face core (``face_core`` regions,
        weighted by the skinning encoder's probabilities) onto ``face_ref``, and its displacements are divided
        by a: the same face point gets the same decoder input whatever the crop (whole head or face mask).
        Configs saved before this field existed are 'mesh'.
    face_core: region indices of the face core; face_ref: its reference centroid (3) and size (1).
    id_offset: (needs dec_frame 'face') the skinning encoder also predicts each vertex's identity offset
        (3 extra output channels, divided by ``offset_scale``): the vertex in its face frame minus the same
        point of the generic ICT head in the generic head's face frame (decoder-frame units). The decoder
        then reads a * x + b - offset, a point of the generic head: the ICT FACS deltas do not depend on the
        identity, so it learns one field per FACS shape instead of one per identity. Configs saved before this
        field existed have none (False).
    offset_scale: encoder output / offset_scale = identity offset in decoder-frame units.
    disp_scale: decoder output / disp_scale = displacement in canonical units.
    expr_feat_scale: factor on canonical displacements fed to the expression encoder.
    """
    n_regions: int = len(REGION_NAMES)  # 22
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
    dec_frame: str = "mesh"
    face_core: list = field(default_factory=lambda: list(FACE_CORE))
    face_ref: list = field(default_factory=lambda: list(FACE_REF))
    id_offset: bool = False
    offset_scale: float = 30.0
    disp_scale: float = 20.0
    expr_feat_scale: float = 20.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        d = dict(d)
        d.setdefault("dec_mode", "mlp")   # written before the field existed
        d.setdefault("dec_frame", "mesh")
        if d["dec_mode"] not in DEC_MODES:
            raise ValueError(f"unknown decoder mode {d['dec_mode']!r} (known: {', '.join(DEC_MODES)})")
        if d["dec_frame"] not in DEC_FRAMES:
            raise ValueError(f"unknown decoder frame {d['dec_frame']!r} (known: {', '.join(DEC_FRAMES)})")
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config keys {sorted(unknown)}: weights from a newer version?")
        cfg = cls(**d)
        if not isinstance(cfg.id_offset, bool):
            raise ValueError(f"id_offset must be true or false, got {cfg.id_offset!r}")
        if cfg.id_offset and cfg.dec_frame != "face":
            raise ValueError("id_offset needs dec_frame 'face' (the offsets are in the face frame's units)")
        if cfg.dec_frame == "face" and (len(cfg.face_ref) != 4 or not cfg.face_core
                                        or max(cfg.face_core) >= cfg.n_regions or min(cfg.face_core) < 0):
            raise ValueError(f"face frame needs 4 face_ref numbers and face_core region indices below n_regions "
                             f"({cfg.n_regions}); got face_ref={cfg.face_ref}, face_core={cfg.face_core}")
        return cfg
