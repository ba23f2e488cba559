"""Robustness matrix of the numpy runtime (``model_core.runtime``) and its command line (issue 8), plus the check
that docs/robustness.md is the table of tests/robustness_cases.py and that every case id is used by a test.

Random weights (a small config, decoder code layer scaled up so displacements are clearly non-zero) stand in for
trained ones. No torch, no Blender. Every bad input must raise ValueError / FileNotFoundError (API) or exit with
status 1 and one stderr line (CLI) whose text contains the case's phrase; caller arrays are never modified.
"""
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import robustness_cases as rc
from model_core.runtime.frames import axes_to_ict
from model_core.runtime.mesh import remove_unreferenced
from model_core.runtime import Cancelled, Model, write_mesh
from small_model import SMALL, save_small_weights

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def stem(tmp_path_factory):
    s = tmp_path_factory.mktemp("rw") / "small"
    save_small_weights(s, 11)
    return s


@pytest.fixture(scope="module")
def model(stem):
    return Model.load(stem.with_suffix(".npz"))


@pytest.fixture(scope="module")
def head():
    """ICT head (stride 2), ICT frame (cm, Y up, +Z forward): verts (N, 3), corners, sizes, triangles."""
    v, c, s = rc.ict_mesh(stride=2, blender=False)
    return v, c, s, rc.triangulate(c, s)


@pytest.fixture(scope="module")
def basis(model, head):
    v, _c, _s, t = head
    return model.facs_basis(model.prepare(v, t))[1]


def raises(case_id, fn, exc=(ValueError,)):
    """Run ``fn``; it must raise ``exc`` with a one-line message containing the case's phrase."""
    case = rc.BY_ID[case_id]
    with pytest.raises(exc) as info:
        fn()
    msg = str(info.value)
    assert msg and "\n" not in msg.strip(), (case_id, msg)
    assert rc.says_ok(case, msg), (case_id, case.says, msg)
    return msg


def exact_fraction(d, ref):
    err = np.abs(np.asarray(d) - ref).max(axis=(0, 2))
    return float((err <= 1e-5 * np.abs(ref).max()).mean())


def rel(d, ref):
    return float(np.abs(np.asarray(d) - ref).max() / np.abs(ref).max())


# ============================================================================================== API: bad meshes
def test_points_edges_handful(model, head):
    v = head[0]
    raises("R-points-only", lambda: model.prepare(v, np.zeros((0, 3), int)))
    raises("R-points-only", lambda: model.prepare(v, []))
    raises("R-edges-only", lambda: model.prepare(v, np.array([[0, 1], [1, 2], [2, 3]])))
    quad = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0.0]])
    raises("R-handful", lambda: model.prepare(quad, [[0, 1, 2], [0, 2, 3]]))


def test_non_finite_coordinates(model, head):
    v, t = head[0], head[3]
    for cid, value in (("R-nan", np.nan), ("R-inf", np.inf), ("R-inf", -np.inf)):
        bad = v.copy()
        bad[[3, 300]] = value
        raises(cid, lambda: model.prepare(bad, t))


def test_bad_indices_and_shapes(model, head):
    v, t = head[0], head[3]
    raises("R-bad-indices", lambda: model.prepare(v, t + len(v)))
    raises("R-bad-indices", lambda: model.prepare(v, np.where(t == 5, -1, t)))
    raises("R-bad-indices", lambda: model.prepare(v, t + 0.5))
    raises("R-bad-shapes", lambda: model.prepare(v[:, :2], t))
    raises("R-bad-shapes", lambda: model.prepare(v.ravel(), t))
    raises("R-bad-shapes", lambda: model.prepare(np.zeros((0, 3)), np.zeros((0, 3), int)))


def test_zero_area_and_non_manifold(model, head):
    """Cases "R-zero-area-dup" and "R-non-manifold" give a result, no error; "R-zero-area-all" a clear error."""
    line = np.stack([np.linspace(0, 20, 62), np.zeros(62), np.zeros(62)], 1)
    raises("R-zero-area-all", lambda: model.prepare(line, [[i, i + 1, i + 2] for i in range(60)]))
    v, c, s, _t = head
    dv, dc, ds = rc.with_degenerate(v, c, s)
    pm = model.prepare(dv, rc.triangulate(dc, ds))
    _, b = model.facs_basis(pm)
    assert pm.dropped_faces >= 40 and np.isfinite(b).all() and np.abs(b).max() > 1e-4     # R-zero-area-dup
    fv, fc, fs = rc.with_fin(v, c, s)
    _, b = model.facs_basis(model.prepare(fv, rc.triangulate(fc, fs)))
    assert np.isfinite(b).all() and np.abs(b).max() > 1e-4                                # R-non-manifold


def test_islands_follow_and_static(model):
    parts = ("head", "eyeballs", "teeth")
    v, c, s = rc.ict_mesh(parts, blender=False)
    t = rc.triangulate(c, s)
    head_mask = rc.part_vertex_mask(parts, "head")
    out = {}
    for mode in ("follow", "static"):
        pm = model.prepare(v, t, other_islands=mode)
        assert pm.n_islands >= 3 and np.array_equal(pm.face_index, np.flatnonzero(head_mask)), "R-islands"
        _, out[mode] = model.facs_basis(pm)
        assert np.isfinite(out[mode]).all()
    assert np.abs(out["static"][:, ~head_mask]).max() == 0.0
    assert np.abs(out["follow"][:, ~head_mask]).max() > 1e-5
    np.testing.assert_array_equal(out["follow"][:, head_mask], out["static"][:, head_mask])


def test_ngons_quads_flipped(model, head, basis):
    """Cases "R-ngons-quads" and "R-flipped" give a result, no error."""
    v, c, s, t = head
    quad = s == 4
    starts = np.concatenate([[0], np.cumsum(s)[:-1]])
    quads = np.stack([c[starts[quad] + k] for k in range(4)], 1)                 # (F, 4) array
    _, bq = model.facs_basis(model.prepare(v, quads))
    _, bt = model.facs_basis(model.prepare(v, rc.triangulate(quads.ravel(), np.full(len(quads), 4))))
    np.testing.assert_array_equal(bq, bt)                                          # R-ngons-quads
    full_v, full_c, full_s = rc.ict_mesh(blender=False)
    cc, cs = rc.with_ngon_cap(full_v, full_c, full_s)
    polys = np.split(cc, np.cumsum(cs)[:-1])
    assert max(len(p) for p in polys) > 20
    _, bp = model.facs_basis(model.prepare(full_v, [p.tolist() for p in polys]))
    _, bt = model.facs_basis(model.prepare(full_v, rc.triangulate(cc, cs)))
    np.testing.assert_array_equal(bp, bt)
    pm = model.prepare(v, t[:, [0, 2, 1]])                                        # R-flipped
    _, bf = model.facs_basis(pm)
    assert pm.flipped and rel(bf, basis) < 1e-6, rel(bf, basis)


def test_scale_and_transform(model, head, basis):
    v, _c, _s, t = head
    height = float(np.ptp(v[:, 1]))
    for size in (0.1, 1000.0):                                                     # 1 mm and 10 m, in cm
        f = size / height
        _, b = model.facs_basis(model.prepare(v * f, t))
        assert np.isfinite(b).all() and exact_fraction(b / f, basis) >= 0.98 and rel(b / f, basis) < 0.02, \
            ("R-scale", size, exact_fraction(b / f, basis), rel(b / f, basis))
    r = axes_to_ict("Z", "-Y")
    vb = (v @ r) / 100.0 + np.array([100.0, -40.0, 7.0])
    _, bb = model.facs_basis(model.prepare(vb, t, up="Z", forward="-Y"))
    want = (basis @ r) / 100.0
    assert exact_fraction(bb, want) >= 0.98 and rel(bb, want) < 0.02, ("R-transform", rel(bb, want))


def test_far_from_origin_and_extreme_scales(model, head, basis):
    v, _c, _s, t = head                                                            # ICT cm
    vm = v / 100.0                                                                 # metres
    _, b0 = model.facs_basis(model.prepare(vm, t))
    far = vm + 1e6                          # float64 stores this in 1.2e-10 m steps: a slightly different mesh
    back = far - 1e6                        # exactly those values, at the origin
    _, bf = model.facs_basis(model.prepare(far, t))
    _, bb = model.facs_basis(model.prepare(back, t))
    assert rel(bf, bb) < 1e-7, ("R-far-float64", rel(bf, bb))          # recentred exactly: the same numbers
    assert exact_fraction(bf, b0) >= 0.98 and rel(bf, b0) < 0.02, ("R-far-float64", rel(bf, b0))
    raises("R-far-float32", lambda: model.prepare(far.astype(np.float32), t))
    near32 = (vm + 10.0).astype(np.float32)                                        # 1 um steps: accepted
    pm0, pmn = model.prepare(vm, t), model.prepare(near32, t)
    _, bn = model.facs_basis(pmn)
    tie = np.zeros(len(vm), bool)   # the steps may flip a tie between the k-th and (k+1)-th nearest proxy vertex
    tie[pm0.face_index[(np.sort(pm0.knn_idx, 1) != np.sort(pmn.knn_idx, 1)).any(axis=1)]] = True
    assert tie.mean() < 1e-3 and rel(bn[:, ~tie], b0[:, ~tie]) < 1e-3 and rel(bn, b0) < 0.02, \
        (tie.sum(), rel(bn[:, ~tie], b0[:, ~tie]), rel(bn, b0))
    raises("R-huge-scale", lambda: model.prepare(v * 1e200, t))
    raises("R-tiny-scale", lambda: model.prepare(v * 1e-200, t))
    raises("R-empty", lambda: model.prepare(np.zeros((0, 3)), np.zeros((0, 3), int)))
    assert "zero area" not in raises("R-huge-scale", lambda: model.prepare(v * 1e200, t))


def test_300k_refused_fast(model):
    v = np.random.default_rng(0).standard_normal((301_000, 3))
    t0 = time.perf_counter()
    raises("R-300k", lambda: model.prepare(v, [[0, 1, 2]]))
    assert time.perf_counter() - t0 < 1.0


# ============================================================================================== API: other inputs
def test_inputs_are_never_modified(model, head):
    """Case "R-inputs-unchanged": the caller's arrays are never modified."""
    v, _c, _s, t = head
    v_in, t_in = v.copy(), t.copy()
    pm = model.prepare(v_in, t_in)
    posed = v + 0.01
    posed_in = posed.copy()
    z = model.expression(posed_in, pm)
    z_in = z.copy()
    probs, _ = model.skinning(pm)
    probs_in = probs.copy()
    model.decode(pm, z_in, probs=probs_in)
    model.skinning(pm, override_probs=probs_in)
    list(model.facs_basis_iter(pm, probs=probs_in))
    model.retarget(posed_in[None], pm, pm, positions=True)
    for a, b in ((v_in, v), (t_in, t), (posed_in, posed), (z_in, z), (probs_in, probs)):
        np.testing.assert_array_equal(a, b)                                        # R-inputs-unchanged
    assert not pm.verts.flags.writeable


def test_bad_posed_codes_probs_and_cancel(model, head):
    v, _c, _s, t = head
    pm = model.prepare(v, t)
    bad = v.copy()
    bad[pm.face_index[10]] = np.nan
    raises("R-expression-bad", lambda: model.expression(bad, pm))
    # a NaN on a piece the encoder does not see (stride-2 head: small loose fragments) is either refused or
    # ignored; it never reaches an output
    bad = v.copy()
    bad[pm.other_index[0]] = np.nan
    try:
        z = model.expression(bad, pm)
    except ValueError:
        pass
    else:
        assert np.isfinite(z).all() and np.isfinite(model.decode(pm, z)).all()
    raises("R-expression-bad", lambda: model.expression(v[:-1], pm))
    raises("R-expression-bad", lambda: model.expression(np.full(v.shape, "x"), pm))
    z = np.zeros(SMALL.z_dim)
    raises("R-decode-bad", lambda: model.decode(pm, np.where(np.arange(SMALL.z_dim) == 3, np.nan, z)))
    raises("R-decode-bad", lambda: model.decode(pm, z[:53]))
    raises("R-decode-bad", lambda: model.decode(pm, np.full(SMALL.z_dim, "a")))
    probs, _ = model.skinning(pm)
    raises("R-probs-bad", lambda: model.skinning(pm, override_probs=-probs))
    raises("R-probs-bad", lambda: model.skinning(pm, override_probs=np.full_like(probs, np.nan)))
    raises("R-probs-bad", lambda: model.decode(pm, z + 0.1, probs=probs[:-1]))
    raises("R-probs-bad", lambda: list(model.facs_basis_iter(pm, probs=probs[:, :-1])))
    calls = []
    raises("R-retarget-cancel", lambda: model.retarget(np.stack([v, v + 0.01, v]), pm, pm, positions=True, batch=1,
                                                       progress=lambda d, n: calls.append(d) or False), Cancelled)
    assert calls == [1]


# ============================================================================================== API: weights files
WEIGHTS_KINDS = {
    "R-weights-missing": (["missing", "no-json"], FileNotFoundError),
    "R-weights-truncated": (["truncated", "truncated-json"], ValueError),
    "R-weights-version": (["version", "version-0", "version-str"], ValueError),
    "R-weights-mismatch": (["shape", "extra", "missing-array"], ValueError),
    "R-weights-nan": (["nan"], ValueError),
    "R-weights-checksum": (["checksum"], ValueError),
    "R-weights-json-garbage": (["garbage", "json-list", "json-keys"], ValueError),
}


@pytest.mark.parametrize("case_id", sorted(WEIGHTS_KINDS))
def test_bad_weights_files(case_id, stem, tmp_path):
    kinds, exc = WEIGHTS_KINDS[case_id]
    failures = []
    for kind in kinds:
        path = rc.write_bad_weights(tmp_path, kind, stem)
        try:
            raises(case_id, lambda: Model.load(path), exc)
        except (AssertionError, Exception) as ex:   # collect every kind's problem, report them together
            failures.append(f"{kind}: {type(ex).__name__}: {ex}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("case_id,kind", [("R-weights-mismatch", "dtype"), ("R-weights-json-garbage", "bad-config")])
def test_bad_weights_messages_say_what_to_do(case_id, kind, stem, tmp_path):
    path = rc.write_bad_weights(tmp_path, kind, stem)
    raises(case_id, lambda: Model.load(path), ValueError)


# ============================================================================================== CLI
def run_cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "model_core", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **rc.SUBPROCESS_ENV})


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory, stem):
    d = tmp_path_factory.mktemp("cli_rb")
    v, c, s = rc.ict_mesh(("narrow",), blender=False)
    write_mesh(d / "head.obj", v, (c, s))
    write_mesh(d / "head.ply", v, (c, s))
    data = (d / "head.ply").read_bytes()
    (d / "truncated.ply").write_bytes(data[: len(data) // 2])
    (d / "points.obj").write_text("".join(f"v {x} {y} {z}\n" for x, y, z in v[:30]))
    lines = (d / "head.obj").read_text().splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.startswith("v "))
    lines[i + 5] = "v 0.0 nan 1.0"
    (d / "nan.obj").write_text("\n".join(lines) + "\n")
    (d / "handful.obj").write_text("v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nf 1 2 3\nf 1 3 4\n")
    (d / "badindex.obj").write_text("".join(f"v {x} {y} {z}\n" for x, y, z in v[:30]) + "f 1 2 3\nf 2 3 999\n")
    (d / "binary.obj").write_bytes(bytes(np.random.default_rng(2).integers(0, 256, 3000, dtype=np.uint8)))
    (d / "frames").mkdir()
    write_mesh(d / "frames" / "f0.obj", v[:-1], np.array([[0, 1, 2]]))
    for kind in ("truncated", "version"):
        rc.write_bad_weights(d / "w", kind, stem)
    (d / "afile").write_text("not a folder")
    text = (d / "head.obj").read_text().splitlines()
    k = 0
    for j, ln in enumerate(text):
        if ln.startswith("f "):
            text[j] = ("  " if k % 4 == 0 else "\t" if k % 4 == 2 else "") + ln
            k += 1
    (d / "indented.obj").write_text("\n".join(text) + "\n")
    (d / "empty.obj").write_bytes(b"")
    (d / "blank.obj").write_text("\n  \n\n")
    (d / "empty.ply").write_bytes(b"")
    (d / "novert.obj").write_text("# exported by something\nmtllib head.mtl\no Head\ng face\n")
    (d / "head_dir.obj").mkdir()
    (d / "frames_faces").mkdir()
    polys = [c[i:i + n] for i, n in zip(np.concatenate([[0], np.cumsum(s)[:-1]]), s)]
    perm = np.random.default_rng(3).permutation(len(v))              # the same head, another vertex order
    inv = np.argsort(perm)
    write_mesh(d / "frames_faces" / "f0.obj", v[perm], [inv[q] for q in polys])
    (d / "frames_count").mkdir()
    write_mesh(d / "frames_count" / "f0.obj", v[:-3], np.array([[0, 1, 2]]))
    return d


def one_line_error(r, code=1):
    err = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == code, (r.returncode, r.stdout[-500:], r.stderr[-2000:])
    assert len(err) == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    return err[0]


def test_cli_matrix(cli_files, stem):
    d = cli_files
    w = ["--weights", stem.with_suffix(".npz"), "-q"]
    def case(cid, *args, out, weights=True):
        """(case id, CLI arguments writing to d / out (with the test weights and -q unless weights=False), d / out)."""
        return cid, [*args, "-o", d / out, *(w if weights else ())], d / out

    frames = ("--source-neutral", d / "head.obj", "--source-frames")
    cases = [
        case("C-missing-mesh", "skin", d / "missing.obj", out="o1.npz"),
        case("C-points-obj", "skin", d / "points.obj", out="o2.npz"),
        case("C-nan-obj", "facs", d / "nan.obj", out="o3"),
        case("C-handful-obj", "skin", d / "handful.obj", out="o4.csv"),
        case("C-binary-obj", "skin", d / "binary.obj", out="o5.npz"),
        case("C-truncated-ply", "skin", d / "truncated.ply", out="o6.npz"),
        case("C-bad-index-obj", "skin", d / "badindex.obj", out="o7.npz"),
        case("C-weights-missing", "skin", d / "head.obj", "--weights", d / "nope.npz", out="o8.npz", weights=False),
        case("C-weights-truncated", "skin", d / "head.obj", "--weights", d / "w" / "truncated.npz", out="o9.npz",
             weights=False),
        case("C-weights-version", "skin", d / "head.obj", "--weights", d / "w" / "version.npz", out="o10.npz",
             weights=False),
        case("C-too-many-vertices", "skin", d / "head.obj", "--max-vertices", "100", out="o11.npz"),
        case("C-frame-vertex-count", "encode", d / "frames", "--neutral", d / "head.obj", out="o12.csv"),
        case("C-bad-output", "skin", d / "head.obj", out="o13.txt"),
        case("C-empty-obj", "skin", d / "empty.obj", out="o14.npz"),
        case("C-empty-obj", "skin", d / "blank.obj", out="o14.npz"),
        case("C-empty-obj", "skin", d / "empty.ply", out="o14.npz"),
        case("C-no-vertices-obj", "skin", d / "novert.obj", out="o15.npz"),
        case("C-folder-obj", "skin", d / "head_dir.obj", out="o16.npz"),
        case("C-folder-obj", "encode", d / "frames", "--neutral", d / "head_dir.obj", out="o16.csv"),
        case("C-folder-obj", "retarget", *frames, d / "frames", "--target", d / "head_dir.obj", out="o16"),
        case("C-max-vertices-flag", "skin", d / "head.obj", "--max-vertices", "100", out="o17.npz"),
        case("C-frame-faces", "encode", d / "frames_faces", "--neutral", d / "head.obj", out="o18.csv"),
        case("C-frame-faces", "retarget", *frames, d / "frames_faces", "--target", d / "head.obj", out="o19"),
        case("C-retarget-frame-count", "retarget", *frames, d / "frames_count", "--target", d / "head.obj", out="o20"),
        ("C-bad-output", ["facs", d / "head.obj", "-o", d / "afile", *w], None),
    ]
    failures = []
    for cid, args, out in cases:
        try:
            line = one_line_error(run_cli(*args))
            assert line.startswith("python -m model_core "), line
            assert rc.says_ok(rc.BY_ID[cid], line), (rc.BY_ID[cid].says, line)
            assert out is None or not out.exists(), f"{out} was written"
        except AssertionError as ex:
            failures.append(f"{cid}: {ex}")
    for args in (["frobnicate", d / "head.obj"], ["skin", d / "head.obj"]):
        try:
            line = one_line_error(run_cli(*args), code=2)
            assert rc.says_ok(rc.BY_ID["C-bad-arguments"], line), line
        except AssertionError as ex:
            failures.append(f"C-bad-arguments: {ex}")
    assert not failures, "\n".join(failures)


def test_cli_reads_indented_obj_lines(cli_files, stem):
    """C-indented-obj: face lines indented by spaces or tabs used to be skipped (half the faces silently dropped)."""
    from model_core.runtime import read_mesh
    d = cli_files
    plain, ind = read_mesh(d / "head.obj"), read_mesh(d / "indented.obj")
    assert len(ind.sizes) == len(plain.sizes) > 1000
    np.testing.assert_array_equal(ind.corners, plain.corners)
    np.testing.assert_array_equal(ind.verts, plain.verts)
    r = run_cli("skin", d / "indented.obj", "-o", d / "ind.npz", "--weights", stem.with_suffix(".npz"), "-q")
    assert r.returncode == 0, ("C-indented-obj", r.stderr[-1000:])
    assert np.load(d / "ind.npz")["probs"].shape[0] == len(plain.verts)


# ============================================================================================== the table
def test_doc_is_the_case_table():
    """docs/robustness.md is generated from robustness_cases.CASES (run `python tests/robustness_cases.py`)."""
    assert rc.DOC.read_text(encoding="utf-8") == rc.markdown(), \
        "docs/robustness.md is out of date: run `python tests/robustness_cases.py`"


def test_every_case_id_is_used_by_a_test():
    files = {g: REPO / where.split("::")[0] for g, (_t, where) in rc.GROUPS.items()}
    texts = {g: f.read_text(encoding="utf-8") for g, f in files.items()}
    missing = [c.id for c in rc.CASES if f'"{c.id}"' not in texts[c.group]]
    assert not missing, f"case ids in the table but in no test: {missing}"
    doc_ids = re.findall(r"^\| ([ARCF]-[\w-]+) \|", rc.DOC.read_text(encoding="utf-8"), re.M)
    assert sorted(doc_ids) == sorted(rc.CASE_IDS)


# ============================================================================ issue 17: bad input found measuring
def _grid(n=21, size=2.0, z=0.0):
    g = np.linspace(-size / 2, size / 2, n)
    x, y = np.meshgrid(g, g)
    v = np.stack([x.ravel(), y.ravel(), np.full(x.size, z)], 1)
    i = np.arange(n * n).reshape(n, n)
    q = np.stack([i[:-1, :-1], i[1:, :-1], i[1:, 1:], i[:-1, 1:]], -1).reshape(-1, 4)
    return v, np.vstack([q[:, [0, 1, 2]], q[:, [0, 2, 3]]])


@pytest.fixture(scope="module")
def head_m():
    """ICT head (stride 1: every face edge-connected), metres, Blender frame; its basis."""
    v, c, s = rc.ict_mesh(stride=1, blender=True)
    return v, rc.triangulate(c, s)


def _basis(model, v, t):
    pm = model.prepare(v, t, up="Z", forward="-Y")
    return pm, model.facs_basis(pm)[1]


def test_bust(model):
    """Case "R-bust": shoulders joined below the neck are cut off for the model (``runtime/neck.py``; accuracy:
    tests/test_neck.py)."""
    from model_core.dataset.shoulders import with_shoulders
    from model_core.runtime.frames import ict_to_blender
    v, c, s = rc.ict_mesh(stride=1, blender=False)
    t = rc.triangulate(c, s)
    vs, ts = with_shoulders(v, t)
    pm, b = _basis(model, ict_to_blender(vs), ts)
    n = len(v)
    assert n - 400 < len(pm.face_index) < n + 54 and pm.face_index.max() < n + 54
    assert np.isfinite(b).all() and np.abs(b[:, n:]).max() > 0.0            # the shoulders follow
    assert len(pm.warnings) == 1 and rc.says_ok(rc.BY_ID["R-bust"], pm.warnings[0])


def test_orientation_found(model, head_m):
    """Case "R-orientation": the head turned to face +Y, prepared with Blender's axes (details and the other
    turns: tests/test_orientation.py)."""
    v, t = head_m
    _, ref = _basis(model, v, t)
    turn = np.diag([-1.0, -1.0, 1.0])                                   # 180 degrees about Z: faces +Y
    pm, b = _basis(model, v @ turn.T, t)
    assert rel(b @ turn, ref) < 1e-6 and (pm.up, pm.forward) == ("Z", "Y")
    assert len(pm.warnings) == 1 and "looks toward +Y with +Z up" in pm.warnings[0]


def test_half_flipped(model, head_m):
    """Case "R-half-flipped"."""
    v, t = head_m
    _, ref = _basis(model, v, t)
    tt = t.copy()
    h = np.random.default_rng(0).random(len(t)) < 0.5
    tt[h] = tt[h][:, [0, 2, 1]]
    pm, b = _basis(model, v, tt)
    assert pm.reversed_faces > 1000 and len(pm.warnings) == 1 and "wound" in pm.warnings[0]
    assert rel(b, ref) < 1e-5                                                                 # R-half-flipped


def test_unmerged_halves(model, head_m):
    """Case "R-unmerged-halves"."""
    v, t = head_m
    n = len(v)
    _, ref = _basis(model, v, t)
    mid = np.flatnonzero(np.abs(v[:, 0]) < 1e-9)                       # the midline (Blender frame: x = 0)
    dup = np.full(n, -1)
    dup[mid] = n + np.arange(len(mid))
    tt = t.copy()
    right = v[t].mean(axis=1)[:, 0] < 0
    tt[right] = np.where(dup[t[right]] >= 0, dup[t[right]], t[right])  # the right half on its own midline copy
    pm, b = _basis(model, np.vstack([v, v[mid] + [-5e-6, 0.0, 0.0]]), tt)
    assert len(mid) == 200 and len(pm.face_index) == n + len(mid) and pm.warnings == ()
    assert rel(b[:, :n], ref) < 1e-3                                                   # 4.5e-5
    assert np.array_equal(b[:, n:], b[:, mid])                # the two copies move as one: the seam stays shut


def test_half_head(model, head_m):
    """Case "R-half-head": half a head, cut at the midline, is refused with what to do; the same head cut at its
    front, or with straight sides (a mask), is still a face."""
    v, t = head_m
    mid = v[t][:, :, 0]                                                  # Blender frame: x across, -y forward
    for keep in ((mid >= -1e-9).all(axis=1), (mid <= 1e-9).all(axis=1)):
        raises("R-half-head", lambda: model.prepare(*remove_unreferenced(v, t[keep])[:2], up="Z", forward="-Y"))
    front = (v[t][:, :, 1] <= np.median(v[:, 1])).all(axis=1)
    sides = (np.abs(mid) <= 0.3 * np.ptp(v[:, 0])).all(axis=1)
    for keep in (front, sides):
        assert model.prepare(*remove_unreferenced(v, t[keep])[:2], up="Z", forward="-Y").n_verts > 1000


def test_floor_stray_two_heads_plane(model, head_m):
    """Cases "R-floor", "R-stray-vertex", "R-plane", "R-two-heads"."""
    v, t = head_m
    n = len(v)
    _, ref = _basis(model, v, t)
    zmin = v[:, 2].min() - 0.05
    quad = np.array([[-1, -1, zmin], [1, -1, zmin], [1, 1, zmin], [-1, 1, zmin]])
    gv, gt = _grid(z=zmin)
    for fv, ft in ((quad, np.array([[0, 1, 2], [0, 2, 3]])), (gv, gt)):                   # R-floor
        pm, b = _basis(model, np.vstack([v, fv]), np.vstack([t, ft + n]))
        assert len(pm.face_index) == n and np.abs(b[:, n:]).max() == 0.0
        assert rel(b[:, :n], ref) < 1e-5 and len(pm.warnings) == 1 and "flat" in pm.warnings[0]
    pm, b = _basis(model, np.vstack([v, [[10.0, 0.0, 0.0]]]), t)                          # R-stray-vertex
    assert np.abs(b[:, n]).max() == 0.0 and rel(b[:, :n], ref) < 1e-5 and pm.warnings == ()
    vs = v.copy()
    k = int(np.argmax(v[:, 1]))
    vs[k] += [0.0, 0.0, 10.0]
    pm, b = _basis(model, vs, t)
    assert k not in pm.face_index and np.abs(b[:, k]).max() == 0.0 and np.isfinite(b).all()
    assert len(pm.warnings) == 1 and f"vertex {k}" in pm.warnings[0]
    raises("R-plane", lambda: model.prepare(*_grid(), up="Z", forward="-Y"))                # R-plane
    pm, b = _basis(model, np.vstack([v, v + [0.5, 0.0, 0.0]]), np.vstack([t, t + n]))      # R-two-heads
    face = np.isin(np.arange(2 * n), pm.face_index)
    assert face.sum() == n and np.abs(b[:, ~face]).max() == 0.0
    assert len(pm.warnings) == 1 and "2 head-sized pieces" in pm.warnings[0]
    assert rel(b[:, face], ref) < 1e-5
