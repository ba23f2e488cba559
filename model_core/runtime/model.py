"""The numpy inference API of the neural face skinning model (no torch, no scipy; runs inside stock Blender).

Typical use::

    model = Model.load()                                   # model_core/weights/nfs_v5.npz (+ .json)
    tgt = model.prepare(verts, faces, up="Z", forward="-Y")  # a Blender mesh (metres, Z up, -Y forward)
    names, deltas = model.facs_basis(tgt, names="arkit")   # (52,), (52, N, 3) shape-key deltas, metres
    src = model.prepare(src_neutral, src_faces)
    z = model.expression(src_posed, src)                   # (128,), z[:53] = ICT FACS weights
    posed = model.decode(tgt, z)                           # (N, 3) target posed positions, metres

Frames and units: every input is in the caller's frame (``up``/``forward`` axis names as in ``frames.py``) and
units; every output position / displacement is in that same frame and units. The network itself works in
the canonical frame of the mesh's face island (see ``frames.canonical_normalization``).

Islands: the largest connected piece of the mesh by surface area (vertices welded by exact position, so split
UV seams or a triangle soup stay one piece, with normals smoothed across the splits) is the face; the encoders and the normalisation see only it. Other pieces (eyeballs, teeth, loose vertices, and
vertices used only by zero-area faces) either follow the face (``other_islands="follow"``: their displacement
is the face's displacement averaged onto the proxy and interpolated with their k nearest proxy vertices'
inverse-square-distance weights; their region probabilities likewise from the proxy's logits) or stay static
(``"static"``: zero displacement).

Every output is checked: a non-finite value raises RuntimeError instead of being returned.

``Model`` is this front (weights, region colours, the prepared-mesh cache) composed of one part per concern:
``model_prepare.py`` (validation, islands, frames, proxy, the cache; ``PreparedMesh`` in ``prepared_mesh.py``),
``model_skinning.py`` (skinning and identity encoders), ``model_decoder.py`` (decoder frame, streamed decoding),
``model_keys.py`` (FACS keys: decoder, template, auto), ``model_pieces.py`` (teeth, eyeballs, lashes on the
template path) and ``model_fit.py`` (the inverse rig, retarget); what
they share is in ``model_common.py``.
"""
from __future__ import annotations

import colorsys
from collections import OrderedDict

import numpy as np

from .inner_parts import EYE_LOOK_DEG
from .layers import Network
from .model_common import F32
from .model_decoder import Decoding
from .model_fit import FIT_SPARSITY, InverseRig
from .model_keys import FacsKeys
from .model_pieces import Pieces
from .model_prepare import Preparation
from .model_skinning import Skinning
from .weights import Weights, load_weights

__all__ = ["Model"]


def _palette(n: int) -> np.ndarray:
    """n distinct colours (golden-ratio hues), (n, 3) float32 in 0..1."""
    return np.array([colorsys.hsv_to_rgb((0.13 + i * 0.618034) % 1.0, 0.55 + 0.3 * (i % 2), 0.95 - 0.2 * (i % 3 == 2))
                     for i in range(n)], dtype=F32).reshape(n, 3)


class Model(Preparation, Skinning, Decoding, FacsKeys, Pieces, InverseRig):
    """The trained model (numpy). Build with ``Model.load(path)``.

    Attributes:
        config: ``ModelConfig``; region_names: R names; region_colors: (R, 3) float32 in 0..1;
        expression_names: the 53 ICT FACS names (meaning of z_GE[:53]); weights: the loaded ``Weights``.
        max_vertices: prepare() refuses bigger meshes (default 300_000).
        cache_size: prepared meshes kept (LRU by content hash).
        decode_rows: vertex rows per decoder chunk (x batch size), bounding memory (~rows * 256 * 4 bytes
            per activation).
        fit_sparsity: mu of the sparsity penalty of ``expression(method='fit')`` (0 = plain bounded least
            squares); chosen on held-out identities by ``benchmarks/tune_fit_sparsity.py``, see docs/model.md.
        keys: how ``facs_basis`` (and so the inverse rig's basis) makes a mesh's FACS keys: 'decoder' (the
            learned decoder's one-hot decodes; the API default) or 'template' (ICT's keys carried by dense
            correspondence, ``runtime/template_keys.py``; what the CLI's ``facs`` and the add-on's Generate
            FACS Shape Keys use by default; docs/model.md, *Keys on real characters*). Painted region weights
            (``probs``) always use the decoder.
        blas_single_thread: run numpy's OpenBLAS on 1 thread inside each call (default True; the runtime's
            small eigh / solves / products are 2-40x slower with threads on a loaded machine,
            ``benchmarks/bench_blas_threads.py``); False leaves BLAS threads as they are.
        eye_turn_deg: how far an eyeball piece turns in its side's eyeLook keys on the template path (degrees;
            default ``inner_parts.EYE_LOOK_DEG``; 0: it stays, as ICT's own do, e.g. for eyes turned by bones).
    """

    max_vertices: int = 300_000
    max_vertices_hint: str = "raise Model.max_vertices"     # how the refusal says to lift the limit (CLI: the flag)
    cache_size: int = 4
    decode_rows: int = 16384
    fit_sparsity: float = FIT_SPARSITY
    keys: str = "decoder"
    blas_single_thread: bool = True
    eye_turn_deg: float = EYE_LOOK_DEG

    def __init__(self, weights: Weights):
        self.weights = weights
        self.config = weights.config
        self.net = Network(weights.arrays, weights.config)
        self.region_names = list(weights.region_names)
        self.expression_names = list(weights.expression_names)
        self.region_colors = self._region_colors(self.region_names)
        self._prepared: OrderedDict = OrderedDict()
        self._hits = 0
        self._misses = 0
        self._token = object()   # keys this model's entries in a PreparedMesh's cache

    @classmethod
    def load(cls, path=None) -> "Model":
        """Load weights: ``path`` = the .npz, the .json or their stem; None = ``model_core/weights/nfs_v5.npz``.

        Raises:
            FileNotFoundError: missing file (the message names the path and what to do).
            ValueError: corrupt/truncated files, wrong format version, mismatched arrays (see ``weights.load_weights``).
        """
        return cls(load_weights(path))

    def __repr__(self) -> str:
        c = self.config
        return (f"Model({self.weights.npz_path}, R={c.n_regions}, Z={c.z_dim}, enc {c.enc_width}x{c.enc_blocks}, "
                f"dec {c.dec_width}x{c.dec_layers})")

    @staticmethod
    def _region_colors(names) -> np.ndarray:
        out = _palette(len(names))
        try:
            from . import regions as _regions
            known = {str(n): np.asarray(c, dtype=np.float64)
                     for n, c in zip(getattr(_regions, "REGION_NAMES", []), getattr(_regions, "REGION_COLORS", []))}
        except ImportError:
            known = {}
        for i, n in enumerate(names):
            if n in known and known[n].shape == (3,):
                c = known[n]
                out[i] = c / 255.0 if c.max() > 1.0 else c
        return np.clip(out, 0.0, 1.0).astype(F32)
