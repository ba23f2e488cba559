"""Tiny end-to-end training run through the real CLI: progress, checkpoint, config, log, resume, export."""
import csv
import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.torch  # runs in the Python 3.11 venv (the 3.13 stage selects "blender and not torch")


def _train(tmp_path, *extra):
    env = dict(os.environ, NFS_CACHE_DIR=str(tmp_path / "cache"))
    cmd = [sys.executable, "-m", "model_core.train", "--out", str(tmp_path / "run"), "--smoke", "--workers", "0",
           "--no-progress", "--seed", "3", *extra]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return r.stdout


def test_smoke_training_checkpoints_resumes_and_exports(tmp_path):
    out = _train(tmp_path, "--steps", "3")
    run = tmp_path / "run"
    assert "saved" in out and (run / "checkpoint.pt").is_file()
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["args"]["seed"] == 3 and cfg["model"]["enc_width"] == 16 and "bs_decoder" in cfg["loss_weights"]
    out2 = _train(tmp_path, "--steps", "2", "--resume", "--loss-weight", "singles=0")
    assert "resumed from" in out2 and "step 5" in out2
    assert json.loads((run / "config.json").read_text())["loss_weights"]["singles"] == 0.0
    rows = list(csv.DictReader(open(run / "log.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5]
    for term in ("vertex", "singles", "normal", "edge", "code_id", "code_ge", "code_zero", "seg", "bs_codes",
                 "bs_decoder"):
        assert all(float(r[term]) >= 0 for r in rows) and any(float(r[term]) > 0 for r in rows), term
    # a zero weight skips the term (logged as 0); the first run had it
    assert [float(r["singles"]) > 0 for r in rows] == [True, True, True, False, False]
    # export -> the numpy runtime loads it
    stem = tmp_path / "w" / "smoke"
    r = subprocess.run([sys.executable, "-m", "model_core.export", str(run / "checkpoint.pt"), str(stem)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    from model_core.runtime import Model
    m = Model.load(str(stem) + ".npz")
    assert m.config.enc_width == 16 and len(m.region_names) == m.config.n_regions


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    r = subprocess.run([sys.executable, "-m", "model_core.train", "--out", str(tmp_path / "none"), "--resume",
                        "--smoke"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "does not exist" in r.stderr


@pytest.mark.parametrize("spec", ["vertx=1", "singles=abc", "singles=-1", "singles"])
def test_bad_loss_weight_is_a_clear_error(tmp_path, spec):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "model_core.train", "--out", str(tmp_path / "run"), "--smoke",
                        "--workers", "0", "--no-progress", "--loss-weight", spec],
                       capture_output=True, text=True, timeout=300, env=env,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert r.returncode == 2 and f"--loss-weight {spec!r}" in r.stderr and "singles" in r.stderr, r.stderr[-500:]
