"""What the parts of ``Model`` share (``model.py`` composes them): the float32 dtype of the network's arrays, the
output check, the per-call BLAS guard, and ``ModelPart``, the base of every part (per-mesh cache, argument check).

A part is a mixin: its methods use the attributes ``Model.__init__`` sets (``weights``, ``config``, ``net``,
``region_names``, ``expression_names``) and ``Model``'s class settings (``decode_rows``, ``keys``,
``fit_sparsity``, ``blas_single_thread``, ...), and may call the other parts' methods (each part's docstring
says which).
"""
from __future__ import annotations

import functools

import numpy as np

from . import blas
from .prepared_mesh import PreparedMesh

F32 = np.float32


def one_blas_thread(fn):
    """Run a Model method with numpy's OpenBLAS on 1 thread (``Model.blas_single_thread``; see ``blas.py``)."""
    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        with blas.single_threaded(self.blas_single_thread):
            return fn(self, *args, **kwargs)
    return wrapper


def check_finite(a: np.ndarray, what: str) -> np.ndarray:
    """``a`` itself when every value is finite; RuntimeError naming ``what`` (the step that made it) otherwise."""
    if not np.isfinite(a).all():
        raise RuntimeError(f"{what} produced non-finite values (NaN/inf); the weights may be corrupt or the mesh "
                           f"extreme (check its scale and degenerate faces)")
    return a


class ModelPart:
    """Base of the Model's parts: per-mesh results cached on the ``PreparedMesh`` and the argument check."""

    def _cached(self, pm: PreparedMesh, name: str, fn):
        """``fn()`` computed once per (model, mesh) and kept in ``pm._cache`` under ``name``."""
        k = (self._token, name)
        if k not in pm._cache:
            pm._cache[k] = fn()
        return pm._cache[k]

    def _check_pm(self, pm, what="mesh"):
        """ValueError unless ``pm`` is a ``PreparedMesh`` (``what``: the argument's name in the message)."""
        if not isinstance(pm, PreparedMesh):
            raise ValueError(f"{what} must be a PreparedMesh from Model.prepare(), got {type(pm).__name__}")
