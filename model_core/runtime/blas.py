"""Run numpy's OpenBLAS single-threaded inside the runtime's calls, without environment variables (numpy only).

Why: Blender 5.x ships numpy 2.x with a threaded OpenBLAS and an add-on cannot set ``OPENBLAS_NUM_THREADS``
before numpy loads. The runtime's linear algebra is small (a dense ~1-2k ``eigh`` per prepared mesh, thousands
of 53 x 53 solves in the inverse rig's box QP, (B, 3N) x (3N, 53) products): with the default threads on a
loaded 2-core machine ``eigh(1000)`` took 2.4 s instead of 0.19 s and 1000 fitted frames 3.7 s instead of 1.5 s
(``benchmarks/bench_blas_threads.py`` measures both ways in one run).

How: OpenBLAS exports ``openblas_set_num_threads`` / ``openblas_get_num_threads`` (numpy 1.x wheels:
``openblas_*64_``; numpy 2.x wheels: ``scipy_openblas_*64_``). ``single_threaded()`` looks the pair up once in
the OpenBLAS library numpy has loaded, sets 1 thread on entry and restores the previous count on exit (nested and
re-entrant calls from several Python threads share one count). Where no OpenBLAS is found (MKL, Accelerate, a
numpy built without BLAS) it does nothing; ``info()`` says which case applies.
"""
from __future__ import annotations

import ctypes
import glob
import os
import sys
import threading
from contextlib import contextmanager

import numpy as np

__all__ = ["single_threaded", "info", "get_threads", "set_threads"]

_SYMBOLS = (("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
            ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
            ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
            ("openblas_get_num_threads", "openblas_set_num_threads"))
_lock = threading.Lock()
_state = {"found": None, "depth": 0, "saved": None}


def _candidates() -> list[str]:
    """Paths of the OpenBLAS libraries numpy may have loaded: the ones mapped into this process (Linux), then
    the ones shipped inside the numpy wheel (numpy.libs on Linux/Windows, numpy/.dylibs on macOS)."""
    paths = []
    try:
        with open("/proc/self/maps") as fh:
            for line in fh:
                p = line.rsplit(None, 1)[-1]
                if "openblas" in os.path.basename(p).lower() and p not in paths:
                    paths.append(p)
    except OSError:
        pass
    root = os.path.dirname(np.__file__)
    for pat in (os.path.join(os.path.dirname(root), "numpy.libs", "*openblas*"),
                os.path.join(root, ".dylibs", "*openblas*"), os.path.join(root, "_core", "*openblas*")):
        paths += [p for p in sorted(glob.glob(pat)) if p not in paths]
    return paths


def _find():
    """(get, set, library path) of numpy's OpenBLAS thread control, or None (looked up once)."""
    if _state["found"] is None:
        _state["found"] = False
        for path in _candidates():
            try:
                lib = ctypes.CDLL(path, mode=getattr(os, "RTLD_NOLOAD", 0) | ctypes.RTLD_GLOBAL) \
                    if sys.platform.startswith("linux") else ctypes.CDLL(path)
            except OSError:
                continue
            for get_name, set_name in _SYMBOLS:
                get_fn, set_fn = getattr(lib, get_name, None), getattr(lib, set_name, None)
                if get_fn is not None and set_fn is not None:
                    get_fn.restype, get_fn.argtypes = ctypes.c_int, []
                    set_fn.restype, set_fn.argtypes = None, [ctypes.c_int]
                    _state["found"] = (get_fn, set_fn, path)
                    break
            if _state["found"]:
                break
    return _state["found"] or None


def info() -> str:
    """One line: which BLAS thread control the runtime uses."""
    f = _find()
    if not f:
        return "no OpenBLAS thread control found: BLAS threads left as they are"
    return f"OpenBLAS {os.path.basename(f[2])}: {f[0]()} thread(s) now; the runtime's calls run with 1"


def get_threads() -> int | None:
    """OpenBLAS's current thread count, or None without OpenBLAS."""
    f = _find()
    return int(f[0]()) if f else None


def set_threads(n: int) -> None:
    """Set OpenBLAS's thread count (n >= 1); no-op without OpenBLAS."""
    f = _find()
    if f:
        f[1](max(1, int(n)))


@contextmanager
def single_threaded(enabled: bool = True):
    """Run the block with 1 OpenBLAS thread and restore the previous count after it (``enabled=False``: leave
    BLAS as it is)."""
    f = _find() if enabled else None
    if not f:
        yield
        return
    with _lock:
        if _state["depth"] == 0:
            _state["saved"] = int(f[0]())
            if _state["saved"] != 1:
                f[1](1)
        _state["depth"] += 1
    try:
        yield
    finally:
        with _lock:
            _state["depth"] -= 1
            if _state["depth"] == 0 and _state["saved"] not in (None, 1):
                f[1](_state["saved"])
