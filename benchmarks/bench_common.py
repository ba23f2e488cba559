"""What the benchmark scripts share: printing and writing their section of benchmarks/README.md (``publish``), leaving a
process that imported ``bpy``, and a baseline revision's runtime to measure against (``baseline_tree``) (run as
``python benchmarks/<script>.py``, this folder is on ``sys.path``)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


README = Path(__file__).resolve().parent / "README.md"
ROOT = README.parent.parent


def baseline_tree(rev: str, folder: Path, paths=("model_core",)) -> Path:
    """``paths`` (default ``model_core``; the add-on too: ``("nfs_blender", "model_core")``) of git revision
    ``rev`` (``git archive``) unpacked into the new folder ``folder``, which is returned: put it first on
    ``sys.path`` (or pass it as a code root) to measure that revision's runtime."""
    folder.mkdir()
    arch = subprocess.run(["git", "-C", str(ROOT), "archive", rev, *paths], capture_output=True,
                          check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=arch, check=True)
    return folder


def growth_exponent(points, lo: int = 10_000, hi: int = 300_000) -> float | None:
    """The growth exponent of a cost: slope of the least-squares line through log(cost) against log(vertices),
    over the (vertices, cost) ``points`` with lo <= vertices <= hi and cost > 0; None with fewer than two."""
    import numpy as np
    pts = [(n, c) for n, c in points if lo <= n <= hi and c > 0]
    if len(pts) < 2:
        return None
    return float(np.polyfit(np.log([p[0] for p in pts]), np.log([p[1] for p in pts]), 1)[0])


def publish(text: str, tag: str, title: str, intro: str, *, readme: bool = True) -> None:
    """Print a benchmark's ``text`` and, with ``readme``, make it its section of benchmarks/README.md: between the
    markers ``<!-- {tag}:start -->`` and ``<!-- {tag}:end -->``, the heading ``## {title}``, the paragraph
    ``intro``, then ``text``."""
    print(text)
    if readme:
        start, end = f"<!-- {tag}:start -->", f"<!-- {tag}:end -->"
        replace_section(README, start, end, f"{start}\n## {title}\n\n{intro}\n\n{text}\n{end}")
        print(f"updated {README}")


def replace_section(readme: Path, start: str, end: str, section: str) -> None:
    """Put ``section`` (which begins with ``start`` and ends with ``end``, the markers) in place of the text
    between the markers in ``readme``, or append it when the markers are not there yet."""
    readme = Path(readme)
    body = readme.read_text() if readme.exists() else "# Benchmarks\n"
    if start in body and end in body:
        body = body[:body.index(start)] + section + body[body.index(end) + len(end):]
    else:
        body = body.rstrip("\n") + "\n\n" + section + "\n"
    readme.write_text(body)


def run_and_exit(main) -> None:
    """Run ``main()`` and leave with its exit code through ``os._exit``: a normal interpreter exit after
    importing the ``bpy`` module can hang (../shared/docs/blender-api-facts.md)."""
    rc = 1
    try:
        rc = main()
    except SystemExit as e:                      # argparse's --help and errors
        rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)


def time_calls(acc: dict, mod, name: str, key: str, first_key: str | None = None) -> None:
    """Replace ``mod.name`` by a wrapper that adds each call's wall time (s) to ``acc[key]``; with ``first_key``,
    the first call's time goes to ``acc[first_key]`` instead (e.g. a fit whose first call builds its system).
    The caller looks the function up on the module at call time, so the wrapper is what runs."""
    fn = getattr(mod, name)

    def wrapper(*a, **kw):
        t = time.perf_counter()
        try:
            return fn(*a, **kw)
        finally:
            dt = time.perf_counter() - t
            if first_key is not None and first_key not in acc:
                acc[first_key] = dt
            else:
                acc[key] = acc.get(key, 0.0) + dt
    setattr(mod, name, wrapper)
