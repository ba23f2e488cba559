"""Two independent computations at once: the first in a second thread, the second in the caller's (numpy only).

Why: the transfer prepares two heads (the source and the target) that do not depend on each other, and most of a
``Model.prepare`` is numpy work that releases the GIL (the proxy's dense ``eigh``, the nearest-neighbour tables).
On two cores the pair takes 0.38 s instead of 0.64 s (ICT's 11k-vertex head and a 10k remesh of another identity;
``benchmarks/bench_transfer.py``'s speed case), with the same prepared meshes bit for bit: each thread runs its
BLAS single-threaded (``blas.single_threaded`` counts its users across threads), so no result depends on the
other thread.
"""
from __future__ import annotations

import threading

__all__ = ["both"]


def both(first, second):
    """``(first(), second())``, ``first`` run in a second thread while ``second`` runs in this one.

    Args: first, second: callables without arguments, independent of each other (nothing one writes is read by the
    other). Returns: the tuple of their results. Raises: the exception ``first`` raised, else ``second``'s (each is
    waited for: no thread is left running when this returns or raises).
    """
    out = {}

    def run():
        try:
            out["value"] = first()
        except BaseException as exc:          # handed to the caller below
            out["error"] = exc

    worker = threading.Thread(target=run, name="nfs-both", daemon=True)
    worker.start()
    second_value, second_error = None, None
    try:
        second_value = second()
    except BaseException as exc:              # raised below, after the first's (waited for either way)
        second_error = exc
    worker.join()
    if "error" in out:
        raise out["error"]
    if second_error is not None:
        raise second_error
    return out["value"], second_value
