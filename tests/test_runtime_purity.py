"""The runtime runs with numpy only: torch and scipy made unimportable, a full FACS basis still works.

A subprocess installs a ``sys.meta_path`` finder that raises ImportError for ``torch`` and ``scipy`` (as in a
stock Blender, where neither exists), imports ``model_core.runtime``, loads random weights, reads an
ICT-derived mesh from an OBJ, and runs prepare, skinning, expression, the whole FACS basis (ICT and ARKit)
and a retarget. It reports back as JSON; the test checks the numbers and that neither torch, scipy nor a
training module of model_core was imported.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from model_core.runtime import Model, write_mesh
from small_model import save_small_weights

REPO = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import json, sys
BLOCKED = ("torch", "scipy")

class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked: the runtime must work without it")
        return None

sys.meta_path.insert(0, Blocker())
try:
    import torch  # noqa: F401
    blocked = False
except ImportError:
    blocked = True
import numpy as np
from model_core.runtime import Model, read_mesh
model = Model.load(sys.argv[1])
mesh = read_mesh(sys.argv[2])
pm = model.prepare(mesh.verts, mesh.faces)
probs, weights = model.skinning(pm)
posed = mesh.verts + 0.3 * np.sin(mesh.verts[:, [1, 2, 0]])
z = model.expression(posed, pm)
names, deltas = model.facs_basis(pm)
anames, adeltas = model.facs_basis(pm, names="arkit")
res = model.retarget(np.stack([posed, mesh.verts]), pm, pm, positions=True)
mods = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
from model_core import RUNTIME_PACKAGE
training = sorted(m for m in sys.modules if m.split(".")[0] == "model_core" and m != "model_core"
                  and m.split(".")[1] != RUNTIME_PACKAGE)
print(json.dumps({"blocked": blocked, "modules": mods, "training_modules": training, "n": pm.n_verts,
                  "numpy": np.__version__, "probs_sum": float(probs.sum()), "z": z[:5].tolist(),
                  "deltas_shape": list(deltas.shape), "arkit_shape": list(adeltas.shape),
                  "deltas_abs_sum": float(np.abs(deltas).astype(np.float64).sum()),
                  "finite": bool(np.isfinite(deltas).all() and np.isfinite(res["positions"]).all())}))
"""


def test_runtime_needs_neither_torch_nor_scipy(tmp_path, ict):
    v, f = ict.head(None, None, "narrow")
    obj = tmp_path / "narrow.obj"
    write_mesh(obj, v, f)
    stem = tmp_path / "w"
    save_small_weights(stem, 3)
    script = tmp_path / "pure.py"
    script.write_text(SCRIPT)
    proc = subprocess.run([sys.executable, str(script), str(stem) + ".npz", str(obj)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO)})  # this checkout's model_core
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["blocked"] is True
    assert out["modules"] == [], out["modules"]
    assert out["training_modules"] == [], out["training_modules"]
    assert out["n"] == len(v) and out["finite"]
    assert out["deltas_shape"] == [53, len(v), 3] and out["arkit_shape"] == [52, len(v), 3]
    assert abs(out["probs_sum"] - len(v)) < 1e-2 * len(v) / 1000
    # same numbers as in this (torch-capable) process, from the same OBJ
    from model_core.runtime import read_mesh
    model = Model.load(stem)
    mesh = read_mesh(obj)
    pm = model.prepare(mesh.verts, mesh.faces)
    _, deltas = model.facs_basis(pm)
    assert out["deltas_abs_sum"] > 0
    np.testing.assert_allclose(out["deltas_abs_sum"], np.abs(deltas).astype(np.float64).sum(), rtol=1e-5)
    z = model.expression(mesh.verts + 0.3 * np.sin(mesh.verts[:, [1, 2, 0]]), pm)
    np.testing.assert_allclose(out["z"], z[:5], atol=1e-5)
