"""The runtime runs numpy's OpenBLAS on 1 thread inside its calls and restores the count (issue 17): Blender 5.x's
numpy 2.x starts one OpenBLAS thread per core, and env vars cannot be set there. Each check runs in a fresh
interpreter without ``OPENBLAS_NUM_THREADS`` (like Blender), in both venvs' numpy (1.26 here, 2.x in py313)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys
import numpy as np
from model_core.dataset.ict import load_ict
from model_core.runtime import Model, blas, random_weights, save_weights
import model_core.runtime.model_fit as fit
import model_core.runtime.prepared_mesh as prep
out = {"found": blas.get_threads() is not None, "info": blas.info()}
blas.set_threads(3)
seen = []
with blas.single_threaded():
    seen.append(blas.get_threads())
    with blas.single_threaded():                      # nested: still 1, restored only by the outer exit
        seen.append(blas.get_threads())
    seen.append(blas.get_threads())
with blas.single_threaded(False):
    seen.append(blas.get_threads())
out["context"] = seen
out["after"] = blas.get_threads()
from small_model import SMALL
save_weights(sys.argv[2] + "/w", random_weights(SMALL, 0), config=SMALL)
m = Model.load(sys.argv[2] + "/w.npz")
calls = {}
def spy(name, fn):
    def f(*a, **k):
        calls.setdefault(name, set()).add(blas.get_threads())
        return fn(*a, **k)
    return f
fit.box_qp = spy("box_qp", fit.box_qp)
prep.build_proxy = spy("build_proxy", prep.build_proxy)
m.net.decoder.base = spy("decoder", m.net.decoder.base)
v, f = load_ict().head(None, None, "narrow")
pm = m.prepare(v, f)
m.skinning(pm)
m.expression(v[None] + 0.01, pm)
for _ in m.facs_basis_iter(pm):
    calls.setdefault("between yields", set()).add(blas.get_threads())
m.blas_single_thread = False
m.clear_cache()
m.expression(v[None] + 0.01, m.prepare(v, f))
out["calls"] = {k: sorted(s) for k, s in calls.items()}
out["end"] = blas.get_threads()
print(json.dumps(out))
"""


PY313 = REPO / ".venv" / "py313" / "bin" / "python"       # numpy 2.x, what Blender 5.x ships


@pytest.mark.parametrize("python", [sys.executable, str(PY313)], ids=["this-venv", "py313-numpy2"])
def test_runtime_calls_run_blas_single_threaded_and_restore_the_count(tmp_path, python):
    if not Path(python).exists():
        pytest.skip(f"{python} not found")
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "tests")])  # this checkout, small_model
    r = subprocess.run([python, "-c", CHILD, str(REPO), str(tmp_path)], env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    if not out["found"]:
        pytest.skip(out["info"])        # numpy without OpenBLAS: nothing to control
    assert out["context"] == [1, 1, 1, 3], out
    assert out["after"] == 3
    calls = out["calls"]
    # with the guard (default) every heavy step ran on 1 thread; between the generator's yields the user's
    # count is back; with blas_single_thread=False the count is left at 3
    assert calls["build_proxy"] == [1, 3] and calls["box_qp"] == [1, 3], calls
    assert calls["decoder"] == [1, 3], calls
    assert calls["between yields"] == [3], calls
    assert out["end"] == 3
