"""nfs_blender/background.py without Blender: a computation in a worker thread yields its progress to the job's
generator, returns its result, re-raises its error in the caller, and stops at its next report when the
generator is closed (Esc)."""
import threading
import time

import pytest

from nfs_blender import background


def _drive(gen):
    """Run a ``background.run`` generator to the end: (yielded (fraction, text) list, return value)."""
    seen = []
    while True:
        try:
            seen.append(next(gen))
        except StopIteration as stop:
            return seen, stop.value


def test_progress_and_result():
    def compute(report):
        for i in range(4):
            report(i / 4, f"step {i}")
            time.sleep(0.03)
        return 42

    seen, value = _drive(background.run(compute, 0.2, 0.6, poll_s=0.01))
    assert value == 42
    fracs = [f for f, _t in seen]
    assert fracs and min(fracs) >= 0.2 and max(fracs) <= 0.6 and max(fracs) > 0.3
    assert fracs == sorted(fracs) and any(t.startswith("step") for _f, t in seen)


def test_error_reaches_the_caller():
    def compute(report):
        report(0.5, "half")
        raise ValueError("bad mesh")

    with pytest.raises(ValueError, match="bad mesh"):
        _drive(background.run(compute, poll_s=0.01))


def test_close_cancels_the_worker():
    state = {"reports": 0, "cancelled": False}

    def compute(report):
        try:
            while True:
                report(0.1, "working")
                state["reports"] += 1
                time.sleep(0.01)
        except background.Cancelled:
            state["cancelled"] = True
            raise

    gen = background.run(compute, poll_s=0.01)
    next(gen)
    gen.close()  # what Esc does to the job's generator
    assert state["cancelled"] and state["reports"] >= 1
    assert not any(t.name == "nfs-worker" and t.is_alive() for t in threading.enumerate())
