"""Running a long numpy computation in a worker thread while a ``JobOperator`` generator reports its progress.

The computation gets a ``report(fraction, text)`` callback; it records the latest progress for the generator and
raises ``Cancelled`` once the job was stopped (Esc, an error, the operator closed), so the worker ends at its next
report. The worker must not touch Blender data (``bpy`` is not thread-safe): read everything it needs before
starting it, write its result after it finished. Usage inside ``job``::

    result = yield from background.run(compute, first=0.2, last=0.95)
"""
from __future__ import annotations

import threading

POLL_S = 0.05  # how long the generator waits for the worker between two yields (seconds)


class Cancelled(Exception):
    """Raised inside the worker by ``report`` after the job was stopped."""


class Task:
    """One worker thread running ``fn(report)``; ``fraction`` (0..1) and ``text`` are its latest report."""

    def __init__(self, fn):
        self._fn = fn
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.fraction, self.text = 0.0, "starting"
        self._result, self._error = None, None
        self._thread = threading.Thread(target=self._main, name="nfs-worker", daemon=True)

    def report(self, fraction: float, text: str = "") -> None:
        """Called by the computation (worker thread): record progress; raise ``Cancelled`` when stopped."""
        if self._stop.is_set():
            raise Cancelled("cancelled")
        with self._lock:
            self.fraction, self.text = min(max(float(fraction), 0.0), 1.0), str(text or self.text)

    def progress(self) -> tuple[float, str]:
        with self._lock:
            return self.fraction, self.text

    def _main(self):
        try:
            self._result = self._fn(self.report)
        except BaseException as exc:  # handed to the main thread by result()
            self._error = exc

    def start(self) -> "Task":
        self._thread.start()
        return self

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds; True when the worker has finished."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def cancel(self) -> None:
        """Ask the worker to stop and wait until it did (it stops at its next ``report``)."""
        self._stop.set()
        self._thread.join()

    def result(self):
        """The computation's return value; re-raises its exception in the calling thread."""
        if self._error is not None:
            raise self._error
        return self._result


def run(fn, first: float = 0.0, last: float = 1.0, poll_s: float = POLL_S):
    """Generator: run ``fn(report)`` in a worker thread, yielding ``(first + (last - first) * fraction, text)``
    while it runs; returns its result (``yield from``) or raises its exception. Closing the generator (Esc)
    cancels the worker and waits for it, so nothing keeps running after the job ended."""
    task = Task(fn).start()
    try:
        while not task.wait(poll_s):
            frac, text = task.progress()
            yield first + (last - first) * frac, text
    finally:
        if not task.wait(0.0):
            task.cancel()
    return task.result()
