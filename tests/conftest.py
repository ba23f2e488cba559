"""Shared pytest fixtures for nfs_blender.

* ``addon_zip`` (session): the extension zip, built once per session by ``build_addon.build`` into a
  temporary folder (own checks only; Blender's validator is exercised by tests/test_build_addon.py).
* ``HAS_TORCH`` / ``torch_available``: whether torch is importable in this venv (.venv/py311 has it,
  .venv/py313 does not). ``scripts/test.sh`` never collects torch tests where torch is missing; when
  someone does, they are skipped with a reason instead of failing on import.
  Test files that import torch at module level (``import torch``, ``from torch ...``,
  ``torch = pytest.importorskip("torch")``) are not collected at all where torch is missing; the
  terminal summary names them.
* ``HAS_BPY`` / ``bpy_available``: whether the ``bpy`` module is installed in this venv.
* ``repo_root``: the repository root (Path).
* ``ict`` (session): the ICT-FaceKit model, ``model_core.dataset.ict.load_ict()`` ($NFS_ICT_DIR or
  ../shared/data/ict_facekit).

Imports: ``model_core`` as installed (``pip install -e .``, which .ci/setup_env.sh runs in each venv, or
``PYTHONPATH``); ``nfs_blender`` and ``build_addon`` from the working directory, so run pytest as
``python -m pytest`` from the repository root (scripts/test.sh does); the helpers in ``tests/`` through pytest's
own rootdir insertion. Blender subprocesses get the repository root and ``tests/`` on ``PYTHONPATH``
(tests/blender_harness.py).
"""
from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_BPY = importlib.util.find_spec("bpy") is not None


_MODULE_LEVEL_TORCH = re.compile(r'^(import torch\b|from torch\b|torch\s*=\s*pytest\.importorskip\(\s*["\']torch)', re.M)
_not_collected: list[str] = []


def pytest_ignore_collect(collection_path, config):
    p = Path(collection_path)
    if HAS_TORCH or p.suffix != ".py" or not p.name.startswith("test_"):
        return None
    try:
        text = p.read_text(encoding="utf-8")
    except OSError:
        return None
    if _MODULE_LEVEL_TORCH.search(text):
        _not_collected.append(p.name)
        return True
    return None


def pytest_terminal_summary(terminalreporter):
    if _not_collected:
        terminalreporter.write_line(
            f"not collected (need torch, missing in {sys.executable}): {', '.join(sorted(set(_not_collected)))}")


def pytest_collection_modifyitems(config, items):
    skip_torch = pytest.mark.skip(reason=f"torch is not installed in {sys.executable}; torch tests run in .venv/py311")
    skip_bpy = pytest.mark.skip(reason=f"bpy is not installed in {sys.executable}; run with .venv/py311 or .venv/py313")
    for item in items:
        if not HAS_TORCH and "torch" in item.keywords:
            item.add_marker(skip_torch)
        if not HAS_BPY and "blender" in item.keywords:
            item.add_marker(skip_bpy)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def torch_available() -> bool:
    return HAS_TORCH


@pytest.fixture(scope="session")
def bpy_available() -> bool:
    return HAS_BPY


@pytest.fixture(scope="session")
def addon_zip(tmp_path_factory) -> Path:
    """Path of nfs_blender-<version>.zip built from the working tree (once per test session)."""
    import build_addon

    out = tmp_path_factory.mktemp("addon_dist")
    try:
        return build_addon.build(out, blender_python=None, verbose=False)
    except build_addon.BuildError as ex:
        pytest.fail(f"building the add-on zip failed:\n{ex}", pytrace=False)


@pytest.fixture(scope="session")
def ict():
    """The ICT-FaceKit model (``model_core.dataset.ict.load_ict()``; $NFS_ICT_DIR or ../shared/data/ict_facekit)."""
    from model_core.dataset.ict import load_ict
    return load_ict()


@pytest.fixture(scope="session")
def dev_heads():
    """The dev heads of ../shared/data/real_faces (evaluation only) by the first word of their names:
    {'iphonemocap': ..., 'rocketbox': ..., 'rokoko': ...} (``real_eval.load_real_heads``)."""
    from model_core.evaluation.real_eval import load_real_heads
    real = Path(__file__).resolve().parents[2] / "shared" / "data" / "real_faces"
    if not real.is_dir():
        pytest.fail(f"{real} is missing: the dev heads come with the project's shared data")
    return {h.name.split("_")[0]: h for h in load_real_heads(real)}
