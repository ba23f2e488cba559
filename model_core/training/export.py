"""Export a torch checkpoint to the runtime's weights format: ``<name>.npz`` + ``<name>.json``.

``python -m model_core.training.export training_runs/w2/checkpoint.pt model_core/weights/nfs_v5``

The npz holds every parameter of ``network.FaceSkinningNet`` as float32 under its state-dict name;
the json holds the format version, the ModelConfig, region and FACS names and training provenance.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ..runtime.weights import save_weights


def export_model(model, out_stem: str | Path, *, extra: dict | None = None) -> tuple[Path, Path]:
    """Write ``out_stem.npz`` and ``out_stem.json`` for a ``FaceSkinningNet`` with the runtime's own writer
    (``runtime.weights.save_weights``); ``extra``: more json fields (e.g. training provenance). Returns both
    paths."""
    arrays = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    return save_weights(out_stem, arrays, extra, config=model.cfg)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m model_core.training.export", description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint")
    p.add_argument("out_stem", help="output path without extension, e.g. model_core/weights/nfs_v5")
    a = p.parse_args(argv)
    import torch
    from .train import load_model
    model = load_model(a.checkpoint)
    state = torch.load(a.checkpoint, map_location="cpu", weights_only=False)["state"]
    npz, js = export_model(model, a.out_stem, extra={"training": state})
    print(f"wrote {npz} ({npz.stat().st_size / 1e6:.2f} MB) and {js}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
