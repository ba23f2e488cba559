"""A small model configuration with random weights, for tests that need a runtime ``Model`` but not the trained
weights (fast to build and run; the numbers it produces mean nothing). Importable by pytest tests and by the
scripts they run in headless Blender (``tests/`` is on their ``PYTHONPATH``)."""
from __future__ import annotations

from model_core.runtime.config import ModelConfig
from model_core.runtime import random_weights, save_weights

SMALL = ModelConfig(n_regions=22, enc_width=16, enc_blocks=2, k_eig=32, proxy_target=400, dec_width=48,
                    dec_layers=2, skin_hidden=24)


def small_weights(seed: int, cfg: ModelConfig = SMALL) -> dict:
    """Random weights of ``cfg`` (state-dict name -> float32 array) whose decoded motion is visible: decoder
    gain 2, expression code gain 60 (``runtime.random_weights``)."""
    return random_weights(cfg, seed, dec_gain=2.0, code_gain=60.0)


def save_small_weights(stem, seed: int, cfg: ModelConfig = SMALL):
    """``small_weights(seed, cfg)`` written to ``<stem>.npz`` + ``<stem>.json``; returns (npz path, json path)."""
    return save_weights(stem, small_weights(seed, cfg), config=cfg)
