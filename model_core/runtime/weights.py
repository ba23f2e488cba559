"""Loading, validating and writing the runtime's weights files (numpy only).

Format (written only by ``save_weights``; ``model_core.training.export.export_model`` calls it for a torch checkpoint):

- ``<stem>.npz``: every parameter of ``network.FaceSkinningNet`` as a float32 array under its torch
  state-dict name (e.g. ``dec_rest.layers.0.weight``, shape (out, in) like ``torch.nn.Linear``).
- ``<stem>.json``: ``format_version`` (int, ``config.FORMAT_VERSION`` or one of ``READ_VERSIONS``), ``config`` (the
  ``ModelConfig`` fields), ``region_names`` (R strings), ``expression_names`` (the 53 ICT FACS names, ICT
  order), optionally ``weights_sha256`` (hex digest of the npz bytes; checked when present) and training
  provenance.

``expected_shapes(cfg)`` is the single list of arrays a model of config ``cfg`` has; loading rejects
missing, extra or mis-shaped arrays. ``random_weights`` + ``save_weights`` write an untrained model in the
same format (tests, benchmarks, smoke runs before trained weights exist).
"""
from __future__ import annotations

import hashlib
import json
import math
import zipfile
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .config import FORMAT_VERSION, ModelConfig
from .facs_names import ICT_NAMES

__all__ = ["Weights", "DEFAULT_WEIGHTS", "HEAD_HIDDEN", "IN_NEUTRAL", "IN_EXPRESSION", "BIL_NEUTRAL",
           "BIL_EXPRESSION", "resolve_paths",
           "expected_shapes", "load_weights", "random_weights", "save_weights", "default_meta"]

DEFAULT_WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "nfs_v5.npz"
READ_VERSIONS = (4, 5, FORMAT_VERSION)  # 5 and 6 only added optional config fields (dec_frame absent = 'mesh',
#                                         id_offset absent = False)
# Fixed layer sizes of the architecture (not in ModelConfig), used by network.py (torch), layers.py (numpy) and
# expected_shapes below.
HEAD_HIDDEN = 256   # hidden width of the global encoders' heads (GlobalEncoder)
IN_NEUTRAL = 6      # neutral proxy features: canonical position, unit normal
IN_EXPRESSION = 9   # + scaled canonical displacement
BIL_NEUTRAL = (0, 3)     # feature columns of the identity encoder's bilinear pooling factor: canonical position
BIL_EXPRESSION = (6, 9)  # of the expression encoder: scaled displacement


@dataclass
class Weights:
    """A validated weights file.

    Attributes:
        arrays: state-dict name -> C-contiguous float32 array (shapes as ``expected_shapes(config)``).
        config: the architecture.
        region_names: R region names (R = config.n_regions).
        expression_names: the 53 ICT FACS names (ICT order) = meaning of z_GE[:53].
        meta: the whole json dict.
        npz_path, json_path: where they were read from.
    """
    arrays: dict
    config: ModelConfig
    region_names: list
    expression_names: list
    meta: dict = field(repr=False)
    npz_path: Path | None = None
    json_path: Path | None = None


def resolve_paths(path=None) -> tuple[Path, Path]:
    """(npz, json) for a weights path given as the .npz, the .json, or the stem without extension.

    ``None`` means the add-on's bundled ``model_core/weights/nfs_v5.npz``.
    """
    p = Path(DEFAULT_WEIGHTS if path is None else path).expanduser()
    if p.suffix.lower() in (".npz", ".json"):
        stem = p.with_suffix("")
    else:
        stem = p
    return stem.with_name(stem.name + ".npz"), stem.with_name(stem.name + ".json")


# ------------------------------------------------------------------------------------------ shapes
def _mlp_shapes(prefix: str, sizes: list[int], bias: bool = True) -> dict:
    out = {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        out[f"{prefix}.layers.{i}.weight"] = (b, a)
        if bias:
            out[f"{prefix}.layers.{i}.bias"] = (b,)
    return out


def _diffusion_encoder_shapes(prefix: str, c_in: int, width: int, blocks: int, c_out: int) -> dict:
    out = {f"{prefix}.lin_in.weight": (width, c_in), f"{prefix}.lin_in.bias": (width,)}
    for i in range(blocks):
        out[f"{prefix}.blocks.{i}.log_t"] = (width,)
        out.update(_mlp_shapes(f"{prefix}.blocks.{i}.mlp", [2 * width, width, width]))
    out[f"{prefix}.lin_out.weight"] = (c_out, width)
    out[f"{prefix}.lin_out.bias"] = (c_out,)
    return out


def expected_shapes(cfg: ModelConfig) -> dict:
    """Every array of a ``FaceSkinningNet(cfg)``: state-dict name -> shape tuple (insertion order = torch's)."""
    w, nb = cfg.enc_width, cfg.enc_blocks
    out = {}
    for name, c_in in (("identity_encoder", IN_NEUTRAL), ("expression_encoder", IN_EXPRESSION)):
        out.update(_diffusion_encoder_shapes(f"{name}.enc", c_in, w, nb, w))
        out.update(_mlp_shapes(f"{name}.head", [4 * w, HEAD_HIDDEN, cfg.z_dim]))  # mean + bilinear pooling
    out.update(_diffusion_encoder_shapes("skinning_encoder", IN_NEUTRAL, w, nb,
                                         cfg.n_regions + (3 if cfg.id_offset else 0)))  # + identity offset
    out.update(_mlp_shapes("skin_mlp", [cfg.n_regions, cfg.skin_hidden, cfg.z_dim], bias=False))
    out["dec_geo.weight"] = (cfg.dec_width, 6 + 6 * cfg.dec_fourier)
    out["dec_geo.bias"] = (cfg.dec_width,)
    bilinear = cfg.dec_mode == "bilinear"
    if not bilinear:
        out["dec_code.weight"] = (cfg.dec_width, cfg.z_dim)
    out["dec_id.weight"] = (cfg.dec_width, cfg.z_dim)
    out.update(_mlp_shapes("dec_rest", [cfg.dec_width] * (cfg.dec_layers + 1) + [3 * cfg.z_dim if bilinear else 3]))
    return out


# ------------------------------------------------------------------------------------------ loading
def _check_config(cfg_dict, where: Path) -> ModelConfig:
    if not isinstance(cfg_dict, dict):
        raise ValueError(f"{where}: 'config' must be an object of ModelConfig fields; re-export the weights")
    try:
        cfg = ModelConfig.from_dict(cfg_dict)
    except (TypeError, ValueError) as ex:
        raise ValueError(f"{where}: bad 'config' ({ex}); re-export the weights") from None
    for name in ("n_regions", "z_dim", "enc_width", "enc_blocks", "k_eig", "proxy_target", "knn",
                 "skin_hidden", "dec_width", "dec_layers"):
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{where}: config.{name} must be a positive integer, got {v!r}; the file is damaged: "
                             f"re-export the weights (python -m model_core.training.export) or reinstall the add-on")
    for name in ("disp_scale", "expr_feat_scale", "offset_scale"):
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise ValueError(f"{where}: config.{name} must be a positive number, got {v!r}; the file is damaged: "
                             f"re-export the weights (python -m model_core.training.export) or reinstall the add-on")
    if cfg.z_dim < len(ICT_NAMES):
        raise ValueError(f"{where}: config.z_dim={cfg.z_dim} is smaller than the {len(ICT_NAMES)} FACS weights")
    return cfg


def _read_meta(json_path: Path) -> dict:
    try:
        meta = json.loads(json_path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as ex:
        raise ValueError(f"{json_path}: not valid JSON ({ex}); the file is truncated or corrupt: "
                         f"re-export or re-download the weights") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{json_path}: expected a JSON object, got {type(meta).__name__}; re-export the weights")
    for key in ("format_version", "config", "region_names", "expression_names"):
        if key not in meta:
            raise ValueError(f"{json_path}: missing key {key!r}; the file is not an nfs weights description "
                             f"(re-export with `python -m model_core.training.export`)")
    version = meta["format_version"]
    if version not in READ_VERSIONS or isinstance(version, bool):
        older = ", ".join(map(str, READ_VERSIONS[:-1]))
        raise ValueError(f"{json_path}: weights format version {version!r}, but this runtime reads version "
                         f"{FORMAT_VERSION} (or {older}); re-export the weights with this version of model_core "
                         f"(or install the add-on version that matches the weights)")
    return meta


def _read_npz(npz_path: Path) -> dict:
    try:
        with np.load(npz_path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError) as ex:
        raise ValueError(f"{npz_path}: not a readable .npz weights file ({type(ex).__name__}: {ex}); "
                         f"the file is truncated or corrupt: re-export or re-download the weights") from None
    return arrays


def load_weights(path=None) -> Weights:
    """Load and validate a weights file pair.

    Args:
        path: the .npz, the .json, or their common stem; None = bundled ``model_core/weights/nfs_v5.npz``.
    Returns:
        ``Weights`` with float32 arrays matching ``expected_shapes(config)`` exactly.
    Raises:
        FileNotFoundError: the .npz or the .json is missing (the message names the path and what to do).
        ValueError: truncated/corrupt files, a wrong ``format_version`` (both versions named), checksum
            mismatch, inconsistent names, or missing / extra / mis-shaped / non-finite arrays.
    """
    npz_path, json_path = resolve_paths(path)
    for p, what in ((npz_path, "weights"), (json_path, "weights description")):
        if not p.is_file():
            hint = ("the add-on ships without trained weights in this build: train and export them with "
                    "`python -m model_core.training.export training_runs/w2/checkpoint.pt model_core/weights/nfs_v5`"
                    if path is None else
                    "pass the path of an exported .npz (its .json must lie beside it with the same name), "
                    "or export one with `python -m model_core.training.export <checkpoint.pt> <stem>`")
            raise FileNotFoundError(f"model {what} not found: {p}; {hint}")
    meta = _read_meta(json_path)
    cfg = _check_config(meta["config"], json_path)
    region_names = meta["region_names"]
    if (not isinstance(region_names, list) or len(region_names) != cfg.n_regions
            or not all(isinstance(n, str) for n in region_names)):
        raise ValueError(f"{json_path}: 'region_names' must be a list of {cfg.n_regions} strings "
                         f"(config.n_regions), got {region_names!r:.200}")
    expr_names = meta["expression_names"]
    if list(expr_names) != list(ICT_NAMES):
        raise ValueError(f"{json_path}: 'expression_names' must be the {len(ICT_NAMES)} ICT FACS names in ICT "
                         f"order (model_core.runtime.facs_names.ICT_NAMES); re-export the weights")
    digest = meta.get("weights_sha256")
    if digest is not None:
        actual = hashlib.sha256(npz_path.read_bytes()).hexdigest()
        if actual != digest:
            raise ValueError(f"{npz_path}: checksum {actual[:12]}... does not match {json_path.name} "
                             f"({str(digest)[:12]}...); the npz is corrupt or belongs to other weights: "
                             f"re-export or re-download both files together")
    raw = _read_npz(npz_path)
    want = expected_shapes(cfg)
    missing = [k for k in want if k not in raw]
    extra = [k for k in raw if k not in want]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} arrays (e.g. {missing[:3]})")
        if extra:
            parts.append(f"{len(extra)} unexpected arrays (e.g. {extra[:3]})")
        raise ValueError(f"{npz_path}: {' and '.join(parts)} for the config in {json_path.name}; the weights do "
                         f"not match their description: re-export both files together")
    arrays = {}
    for k, shape in want.items():
        a = raw[k]
        if tuple(a.shape) != tuple(shape):
            raise ValueError(f"{npz_path}: array {k!r} has shape {tuple(a.shape)}, the config in {json_path.name} "
                             f"needs {tuple(shape)}; re-export both files together")
        if not np.issubdtype(a.dtype, np.floating):
            raise ValueError(f"{npz_path}: array {k!r} has dtype {a.dtype}, expected float32; the file is damaged: "
                             f"re-export the weights (python -m model_core.training.export) or reinstall the add-on")
        a = np.ascontiguousarray(a, dtype=np.float32)
        if not np.isfinite(a).all():
            raise ValueError(f"{npz_path}: array {k!r} holds NaN or infinite values; the training diverged or "
                             f"the file is corrupt")
        arrays[k] = a
    return Weights(arrays=arrays, config=cfg, region_names=[str(n) for n in region_names],
                   expression_names=list(expr_names), meta=meta, npz_path=npz_path, json_path=json_path)


# ------------------------------------------------------------------------------------------ writing
def random_weights(cfg: ModelConfig, seed: int = 0, *, gain: float = 1.0, dec_gain: float = 1.0,
                   code_gain: float = 1.0) -> dict:
    """Random weights of an untrained model, initialised like ``torch.nn.Linear`` (no torch needed).

    Args:
        cfg: architecture.
        seed: numpy seed.
        gain: factor on every linear layer's weight (U(-1/sqrt(fan_in), 1/sqrt(fan_in)) * gain).
        dec_gain: extra factor on the decoder's weights (``dec_*``), so that untrained displacements are not
            vanishingly small (tests).
        code_gain: extra factor on the decoder's code path: ``dec_code`` (mlp decoder) or the output layer of
            ``dec_rest`` (bilinear decoder, whose output is linear in the code).
    Returns:
        state-dict name -> float32 array, shapes ``expected_shapes(cfg)``; ``log_t`` as the torch init
        (linspace(log 1e-4, log 0.3, width)).
    """
    rng = np.random.default_rng(seed)
    shapes = expected_shapes(cfg)
    out = {}
    for k, shape in shapes.items():
        if k.endswith("log_t"):
            out[k] = np.linspace(math.log(1e-4), math.log(3e-1), shape[0]).astype(np.float32)
            continue
        base = k.rsplit(".", 1)[0]
        fan_in = shapes[base + ".weight"][1]
        bound = 1.0 / math.sqrt(fan_in)
        g = gain * (dec_gain if k.startswith("dec_") else 1.0)
        scale = g if k.endswith("weight") else 1.0
        out[k] = (rng.uniform(-bound, bound, size=shape) * scale).astype(np.float32)
    if cfg.dec_mode == "bilinear":
        last = f"dec_rest.layers.{cfg.dec_layers}"
        out[f"{last}.weight"] *= np.float32(code_gain)
        out[f"{last}.bias"] *= np.float32(code_gain)
    else:
        out["dec_code.weight"] *= np.float32(code_gain)
    return out


def default_meta(cfg: ModelConfig, region_names=None) -> dict:
    """The json fields ``save_weights`` writes for ``cfg`` (region names from ``model_core.runtime.regions`` when it has
    ``cfg.n_regions`` of them, else ``region_00`` ...)."""
    if region_names is None:
        try:
            from . import regions as _regions
            names = list(getattr(_regions, "REGION_NAMES", []))
        except ImportError:
            names = []
        region_names = names if len(names) == cfg.n_regions else [f"region_{i:02d}" for i in range(cfg.n_regions)]
    return {"format_version": FORMAT_VERSION, "config": asdict(cfg), "region_names": list(region_names),
            "expression_names": list(ICT_NAMES)}


def save_weights(stem, arrays: dict, meta: dict | None = None, *, config: ModelConfig | None = None) -> tuple[Path, Path]:
    """Write ``<stem>.npz`` (float32 arrays, compressed) and ``<stem>.json``; returns both paths.

    Args:
        stem: output path without extension (an .npz/.json suffix is stripped).
        arrays: state-dict name -> array.
        meta: json fields; missing ``format_version`` / ``config`` / ``region_names`` / ``expression_names``
            are filled from ``default_meta(config)``; ``weights_sha256`` is always recomputed.
        config: the ModelConfig (required unless ``meta['config']`` is given).
    """
    meta = dict(meta or {})
    if config is None:
        if "config" not in meta:
            raise ValueError("save_weights needs config= or meta['config']")
        config = ModelConfig.from_dict(meta["config"])
    full = default_meta(config, meta.get("region_names"))
    full.update(meta)
    full["config"] = asdict(config) if isinstance(config, ModelConfig) else config
    npz_path, json_path = resolve_paths(stem)
    npz_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(npz_path, **{k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()})
    full["weights_sha256"] = hashlib.sha256(npz_path.read_bytes()).hexdigest()
    json_path.write_text(json.dumps(full, indent=2))
    return npz_path, json_path
