"""``python -m model_core`` (the numpy runtime's CLI) in a subprocess on OBJ files: outputs and error handling.

Random weights (small config) stand in for trained ones; meshes are ICT crops written as OBJ (the narrow
crop keeps ICT's quads, so the polygon pass-through of the OBJ writer is checked too).
"""
import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model_core.runtime.facs_names import ARKIT_NAMES, ICT_INDEX, ICT_NAMES
from model_core.runtime import Model, read_mesh, write_mesh
from small_model import save_small_weights

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args, timeout=240):
    return subprocess.run([sys.executable, "-m", "model_core", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def files(tmp_path_factory, ict):
    d = tmp_path_factory.mktemp("cli")
    save_small_weights(d / "w", 7)
    rng = np.random.default_rng(0)
    sizes = ict.face_sizes[:6560].astype(np.int64)
    corners = ict.corner_indices[: sizes.sum()].astype(np.int64)
    sv = ict.identity_verts(rng.standard_normal(100), "narrow")
    write_mesh(d / "src.obj", sv, (corners, sizes))
    (d / "frames").mkdir()
    for i, w in enumerate(np.eye(53)[[ICT_INDEX["jawOpen"], ICT_INDEX["eyeBlink_L"], ICT_INDEX["mouthSmile_R"]]]):
        write_mesh(d / "frames" / f"f{i:03d}.obj", sv + ict.expression_deltas(w, "narrow"), (corners, sizes))
    tv, tf = ict.head(rng.standard_normal(100), None, "face")
    write_mesh(d / "tgt.ply", tv, tf)
    return d


def test_skin_npz_and_csv(files):
    out = files / "skin.npz"
    r = run_cli("skin", files / "src.obj", "-o", out, "--weights", files / "w.npz")
    assert r.returncode == 0, r.stderr
    assert "6706 vertices" in r.stdout and "normalisation" in r.stdout and "skinning" in r.stdout
    d = np.load(out)
    assert d["probs"].shape == (6706, 22) and d["weights"].shape == (6706, 128)
    np.testing.assert_allclose(d["probs"].sum(1), 1.0, atol=1e-5)
    assert len(d["region_names"]) == 22
    r = run_cli("skin", files / "src.obj", "-o", files / "skin.csv", "--weights", files / "w.npz", "--quiet")
    assert r.returncode == 0 and r.stdout == ""
    rows = list(csv.reader(open(files / "skin.csv")))
    assert rows[0][:2] == ["vertex", "region"] and len(rows[0]) == 24 and len(rows) == 6707
    np.testing.assert_allclose([float(x) for x in rows[1][2:]], d["probs"][0], atol=1e-6)


def test_facs_npz_and_obj_folder(files):
    r = run_cli("facs", files / "src.obj", "-o", files / "facs.npz", "--names", "arkit", "--weights", files / "w.npz")
    assert r.returncode == 0, r.stderr
    d = np.load(files / "facs.npz")
    assert list(d["names"]) == list(ARKIT_NAMES) and d["deltas"].shape == (52, 6706, 3)
    # the log's "largest displacement" is the largest vertex move (Euclidean), not the largest coordinate
    logged = float(r.stdout.split("largest displacement ")[1].split()[0])
    move = float(np.linalg.norm(d["deltas"], axis=-1).max())
    assert logged == pytest.approx(move, rel=1e-3) and move > 1.01 * np.abs(d["deltas"]).max()
    r = run_cli("facs", files / "src.obj", "-o", files / "facs_objs", "--weights", files / "w.npz", "-q",
                "--keys", "decoder")
    assert r.returncode == 0, r.stderr
    objs = sorted((files / "facs_objs").glob("*.obj"))
    assert len(objs) == 53 and {o.stem for o in objs} == set(ICT_NAMES)
    src = read_mesh(files / "src.obj")
    jaw = read_mesh(files / "facs_objs" / "jawOpen.obj")
    np.testing.assert_array_equal(jaw.sizes, src.sizes)          # quads kept
    # the OBJ = neutral + delta, same as the API: --keys decoder the decoder's keys, the default the template's
    model = Model.load(files / "w.npz")
    pm = model.prepare(src.verts, src.faces)
    _, deltas = model.facs_basis(pm)
    np.testing.assert_allclose(jaw.verts - src.verts, deltas[ICT_INDEX["jawOpen"]], atol=1e-5)
    _, deltas = model.facs_basis(pm, "arkit", keys="template")
    np.testing.assert_allclose(d["deltas"], deltas, atol=1e-5)


def test_encode_folder_and_files(files):
    r = run_cli("encode", files / "frames", "--neutral", files / "src.obj", "-o", files / "enc.csv",
                "--weights", files / "w.npz")
    assert r.returncode == 0, r.stderr
    assert "frames/s" in r.stdout
    rows = list(csv.reader(open(files / "enc.csv")))
    assert rows[0] == ["frame", "file"] + list(ICT_NAMES) and len(rows) == 4
    assert [x[1] for x in rows[1:]] == ["f000.obj", "f001.obj", "f002.obj"]
    frames = sorted((files / "frames").glob("*.obj"))
    # the default fits onto the template's keys, --keys decoder onto the decoder's: same as the API
    model = Model.load(files / "w.npz")
    src = read_mesh(files / "src.obj")
    pm = model.prepare(src.verts, src.faces)
    posed = np.stack([read_mesh(f).verts for f in frames])
    csv_w = np.array([[float(x) for x in row[2:]] for row in rows[1:]])
    np.testing.assert_allclose(csv_w, model.expression(posed, pm, keys="template")[:, :53], atol=1e-5)
    assert np.abs(csv_w - model.expression(posed, pm, keys="decoder")[:, :53]).max() > 1e-3
    r = run_cli("encode", *frames[:2], "--neutral", files / "src.obj", "-o", files / "enc.npz", "--names", "arkit",
                "--weights", files / "w.npz", "-q", "--keys", "decoder")
    assert r.returncode == 0, r.stderr
    d = np.load(files / "enc.npz")
    assert d["weights"].shape == (2, 52) and d["z_ge"].shape == (2, 128)
    np.testing.assert_allclose(d["z_ge"][:, :53], model.expression(posed[:2], pm, keys="decoder")[:, :53], atol=1e-5)


def test_retarget_folder_with_objs_and_npz(files):
    out = files / "rt"
    r = run_cli("retarget", "--source-neutral", files / "src.obj", "--source-frames", files / "frames",
                "--target", files / "tgt.ply", "-o", out, "--objs", "--weights", files / "w.npz")
    assert r.returncode == 0, r.stderr
    assert "retarget steps 6/6" in r.stdout
    rows = list(csv.reader(open(out / "weights.csv")))
    assert len(rows) == 4 and len(rows[0]) == 55
    objs = sorted(out.glob("frame_*.obj"))
    assert len(objs) == 3 and read_mesh(objs[0]).verts.shape == (9409, 3)
    r = run_cli("retarget", "--source-neutral", files / "src.obj", "--source-frames", files / "frames",
                "--target", files / "tgt.ply", "-o", files / "rt.npz", "--weights", files / "w.npz", "-q")
    assert r.returncode == 0, r.stderr
    d = np.load(files / "rt.npz")
    assert d["facs"].shape == (3, 53) and "positions" not in d.files
    np.testing.assert_allclose(d["facs"], np.array([[float(x) for x in row[2:]] for row in rows[1:]]), atol=1e-5)


def _one_line_error(r):
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_bad_input_gives_one_line_and_nonzero_exit(files):
    w = ["--weights", files / "w.npz"]
    (files / "nofaces.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nv 1 1 0\nv 2 2 0\n")
    (files / "nan.obj").write_text("v 0 0 nan\nv 1 0 0\nv 0 1 0\nv 1 1 0\nv 2 2 0\nf 1 2 3\nf 2 4 3\nf 4 5 3\n")
    (files / "garbage.ply").write_bytes(b"\x00\x01garbage")
    v = read_mesh(files / "src.obj").verts
    (files / "frames_bad").mkdir(exist_ok=True)
    write_mesh(files / "frames_bad" / "x.obj", v[:-1], np.array([[0, 1, 2]]))   # one vertex short
    cases = [
        (["skin", files / "missing.obj", "-o", files / "x.npz", *w], "not found"),
        (["skin", files / "nofaces.obj", "-o", files / "x.npz", *w], "no faces"),
        (["skin", files / "nan.obj", "-o", files / "x.npz", *w], "NaN"),
        (["skin", files / "garbage.ply", "-o", files / "x.npz", *w], "not a PLY"),
        (["skin", files / "src.obj", "-o", files / "x.npz", "--max-vertices", "1000", *w], "limit of 1000"),
        (["skin", files / "src.obj", "-o", files / "x.txt", *w], ".npz or .csv"),
        (["skin", files / "src.obj", "-o", files / "x.npz", "--weights", files / "nope.npz"], "not found"),
        (["skin", files / "src.obj", "-o", files / "x.npz", "--up", "Q", *w], "axis"),
        (["encode", files / "frames_bad", "--neutral", files / "src.obj", "-o", files / "e.csv", *w], "vertices"),
        (["encode", files / "empty_dir_missing", "--neutral", files / "src.obj", "-o", files / "e.csv", *w],
         "not found"),
        (["facs", files / "src.obj", *w], "required"),
    ]
    for args, msg in cases:
        line = _one_line_error(run_cli(*args))
        assert msg in line, (args, line)
