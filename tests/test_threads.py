"""runtime.threads.both: two independent computations at once (the transfer's two heads prepared together)."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from model_core.runtime import Model
from model_core.runtime.threads import both


def test_both_returns_both_results_and_runs_the_first_in_another_thread():
    names = both(lambda: threading.current_thread().name, lambda: threading.current_thread().name)
    assert names[1] == threading.current_thread().name and names[0] != names[1]
    assert both(lambda: 1, lambda: "two") == (1, "two")


def test_both_raises_the_first_error_and_leaves_no_thread_running():
    done = []

    def slow_fail():
        done.append("first")
        raise ValueError("first failed")

    def second():
        done.append("second")
        raise KeyError("second failed")
    before = threading.active_count()
    with pytest.raises(ValueError, match="first failed"):
        both(slow_fail, second)
    assert sorted(done) == ["first", "second"] and threading.active_count() == before
    with pytest.raises(KeyError):
        both(lambda: 1, second)


def test_two_heads_prepared_at_once_are_the_same_bit_for_bit():
    # MakeHuman's head (tests/data, CC0) and a sheared, smaller copy: prepared in two threads, every array of the
    # prepared meshes (the proxy's eigenvectors from LAPACK included) equals the one-at-a-time result
    d = np.load(Path(__file__).resolve().parent / "data" / "makehuman_head.npz")
    v, f = d["verts"].astype(np.float64), d["faces"]
    w = v @ np.array([[0.9, 0.05, 0.0], [0.0, 0.95, 0.0], [0.0, 0.0, 0.9]])
    model = Model.load()
    one = [model.prepare(v, f, "Y", "Z"), model.prepare(w, f, "Y", "Z")]
    model.clear_cache()
    two = both(lambda: model.prepare(v, f, "Y", "Z"), lambda: model.prepare(w, f, "Y", "Z"))
    assert all(a is not b for a, b in zip(one, two))           # prepared again, not read from the cache
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a.proxy.evecs, b.proxy.evecs)
        np.testing.assert_array_equal(a.verts, b.verts)
        np.testing.assert_array_equal(model.template_frame(a)[0], model.template_frame(b)[0])
