"""Tiny end-to-end training run through the real CLI: progress, checkpoint, config, log, resume, export."""
import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.torch  # runs in the Python 3.11 venv (the 3.13 stage selects "blender and not torch")


def _train(tmp_path, *extra):
    env = dict(os.environ, NFS_CACHE_DIR=str(tmp_path / "cache"))
    cmd = [sys.executable, "-m", "model_core.training.train", "--out", str(tmp_path / "run"), "--smoke", "--workers", "0",
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
    out2 = _train(tmp_path, "--steps", "2", "--resume", "--loss-weight", "singles=0", "--warp-prob", "1",
                  "--socket-prob", "1")
    assert "resumed from" in out2 and "step 5" in out2
    assert json.loads((run / "config.json").read_text())["loss_weights"]["singles"] == 0.0
    assert torch_runs(run)[-1]["warp_prob"] == 1.0            # the resumed run drew warped faces only
    assert torch_runs(run)[-1]["socket_prob"] == 1.0          # ... with the sockets joined to its full/face heads
    rows = list(csv.DictReader(open(run / "log.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5]
    for term in ("vertex", "singles", "normal", "edge", "code_id", "code_ge", "code_zero", "seg", "bs_codes",
                 "bs_decoder"):
        assert all(float(r[term]) >= 0 for r in rows) and any(float(r[term]) > 0 for r in rows), term
    # a zero weight skips the term (logged as 0); the first run had it; a warped face has no identity term
    assert [float(r["singles"]) > 0 for r in rows] == [True, True, True, False, False]
    assert [float(r["code_id"]) > 0 for r in rows] == [True, True, True, False, False]
    # export -> the numpy runtime loads it
    stem = tmp_path / "w" / "smoke"
    r = subprocess.run([sys.executable, "-m", "model_core.training.export", str(run / "checkpoint.pt"), str(stem)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    from model_core.runtime import Model
    m = Model.load(str(stem) + ".npz")
    assert m.config.enc_width == 16 and len(m.region_names) == m.config.n_regions


def torch_runs(run) -> list:
    """The chain of runs recorded in a checkpoint (``state['runs']``)."""
    import torch
    return torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=False)["state"]["runs"]


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    r = subprocess.run([sys.executable, "-m", "model_core.training.train", "--out", str(tmp_path / "none"), "--resume",
                        "--smoke"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "does not exist" in r.stderr


@pytest.mark.parametrize("spec", ["vertx=1", "singles=abc", "singles=-1", "singles"])
def test_bad_loss_weight_is_a_clear_error(tmp_path, spec):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "model_core.training.train", "--out", str(tmp_path / "run"), "--smoke",
                        "--workers", "0", "--no-progress", "--loss-weight", spec],
                       capture_output=True, text=True, timeout=300, env=env,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert r.returncode == 2 and f"--loss-weight {spec!r}" in r.stderr and "singles" in r.stderr, r.stderr[-500:]


@pytest.mark.parametrize("device", ["gpu0", "cuda"])
def test_unavailable_device_is_a_clear_error(tmp_path, device):
    """A name torch does not know, or CUDA where there is none (on a machine with CUDA: a bad name only)."""
    import torch
    if device == "cuda" and torch.cuda.is_available():
        device = "cuda0"
    r = subprocess.run([sys.executable, "-m", "model_core.training.train", "--out", str(tmp_path / "run"), "--smoke",
                        "--workers", "0", "--no-progress", "--device", device],
                       capture_output=True, text=True, timeout=300,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert r.returncode == 2 and f"--device {device!r}" in r.stderr, r.stderr[-800:]
    assert "Traceback" not in r.stderr


def test_time_schedule_and_identity_offset_init(tmp_path):
    """--schedule time decays the learning rate over this run's --minutes; --init-from a model without identity
    offsets into one with them takes every array, the skinning output layer grown by 3 zero rows."""
    import torch
    _train(tmp_path, "--steps", "3")
    cfg = tmp_path / "off.json"
    cfg.write_text(json.dumps({"dec_frame": "face", "id_offset": True}))
    run2 = tmp_path / "run2"
    env = dict(os.environ, NFS_CACHE_DIR=str(tmp_path / "cache"))
    r = subprocess.run([sys.executable, "-m", "model_core.training.train", "--out", str(run2), "--smoke", "--workers", "0",
                        "--no-progress", "--seed", "3", "--config", str(cfg), "--init-from",
                        str(tmp_path / "run" / "checkpoint.pt"), "--init-decoder", "--schedule", "time",
                        "--minutes", "0.15", "--lr", "1e-3", "--lr-min", "1e-5"],
                       capture_output=True, text=True, timeout=600, env=env,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert r.returncode == 0, r.stderr[-2000:]
    n_arrays = len(torch.load(run2 / "checkpoint.pt", map_location="cpu", weights_only=False)["model"])
    assert f"initialised {n_arrays} of {n_arrays} arrays" in r.stdout, r.stdout[-500:]
    rows = list(csv.DictReader(open(run2 / "log.csv")))
    lrs = [float(x["lr"]) for x in rows]
    assert len(rows) >= 3 and lrs[0] > 5e-4 and lrs[-1] < 0.5 * lrs[0], lrs   # decays within the 9 s run
    assert all(float(x["offset"]) > 0 for x in rows)
    src = torch.load(tmp_path / "run" / "checkpoint.pt", map_location="cpu", weights_only=False)["model"]
    from model_core.training.train import grow
    w_old = src["skinning_encoder.lin_out.weight"]
    w_new = grow(w_old, torch.ones(w_old.shape[0] + 3, w_old.shape[1]))
    assert torch.equal(w_new[:-3], w_old) and not w_new[-3:].any()
    assert grow(w_old, torch.ones(w_old.shape[0] - 1, w_old.shape[1])) is None


def test_data_workers_draw_different_groups(tmp_path, monkeypatch):
    """With several data workers each draws its own stream (not the same groups twice)."""
    import torch
    from model_core.runtime.config import ModelConfig
    from model_core.runtime.regions import REGION_NAMES
    from model_core.training.train import GroupStream
    monkeypatch.setenv("NFS_CACHE_DIR", str(tmp_path / "cache"))
    cfg = ModelConfig(n_regions=len(REGION_NAMES), enc_width=16, enc_blocks=1, k_eig=16, proxy_target=200)
    loader = torch.utils.data.DataLoader(GroupStream(cfg, 3, 0, 2, small_bank=True, n_faces=50, n_template=50),
                                         batch_size=None, num_workers=2)
    ids = []
    for item in loader:
        ids.append(np.asarray(item["id_coeffs"]))
        if len(ids) == 4:
            break
    assert all(np.abs(ids[i] - ids[j]).max() > 0.1 for i in range(4) for j in range(i))
