"""Seeded fuzz runs (issue 8), bounded in count and time: random meshes, random transforms, random corruption of
coordinates and of Live Link CSV takes. 0 crashes: every input ends in a finite result or one clear error.

* ``test_fuzz_runtime_meshes`` (numpy): the runtime's prepare / skinning / FACS basis / decode on random meshes
  (random ICT pieces and polygon subsets, scale 1e-4..1e4, NaN / inf / collapsed / far / duplicated / flat /
  flipped / noisy / out-of-range indices).
* ``test_fuzz_csv_parse`` (pure Python): random corruptions of a take through the parser and the resampler.
* ``test_fuzz_blender`` (headless Blender, stand-in model): random meshes with random object transforms through
  Compute Skinning Weights and Generate FACS Shape Keys, and corrupted CSVs through the import; the snapshot of
  the user's data must be unchanged after every error and only the documented additions may appear otherwise.
"""
import time

import numpy as np
import pytest

import robustness_cases as rc
from addon_testlib import PRELUDE, STANDIN
from blender_harness import run_blender
from model_core.runtime.facs_names import N_ICT
from model_core.runtime import Model
from nfs_blender import livelink_csv
from small_model import SMALL, save_small_weights

N_MESHES, MESH_SECONDS = 40, 30.0
N_CSV = 300


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    stem = tmp_path_factory.mktemp("fz") / "w"
    save_small_weights(stem, 3)
    return Model.load(stem.with_suffix(".npz"))


def test_fuzz_runtime_meshes(model):
    """F-runtime-meshes"""
    rng = np.random.default_rng(20250)
    t0 = time.perf_counter()
    outcomes, crashes = [], []
    for i in range(N_MESHES):
        if time.perf_counter() - t0 > MESH_SECONDS and i >= 10:
            break
        v, c, s, info = rc.fuzz_mesh(rng, blender=False)
        tris = rc.triangulate(c, s) if len(s) else np.zeros((0, 3), np.int64)
        if rng.random() < 0.1 and len(tris):
            tris = tris.copy()
            tris[int(rng.integers(0, len(tris))), 0] = len(v) + int(rng.integers(0, 5)) * int(rng.choice([1, -1]))
            info += ", a face index out of range"
        up, fwd = [("Y", "Z"), ("Z", "-Y"), ("X", "Y"), ("-Z", "X")][int(rng.integers(0, 4))]
        try:
            pm = model.prepare(v, tris, up=up, forward=fwd, other_islands=str(rng.choice(["follow", "static"])))
            probs, w = model.skinning(pm)
            deltas = []
            for k, (_i, _n, d) in enumerate(model.facs_basis_iter(pm)):
                deltas.append(d)
                if k == 3:
                    break
            pos = model.decode(pm, np.eye(SMALL.z_dim)[int(rng.integers(0, N_ICT))])
            ok = all(np.isfinite(a).all() for a in [probs, w, pos] + deltas) and pos.shape == v.shape
            outcomes.append("result" if ok else "non-finite")
            if not ok:
                crashes.append(f"#{i} {info}: non-finite output")
        except ValueError as ex:
            msg = str(ex)
            outcomes.append("error")
            if not msg or "\n" in msg.strip():
                crashes.append(f"#{i} {info}: unclear ValueError {msg!r}")
        except Exception as ex:   # noqa: BLE001 - anything else is a crash of the runtime
            outcomes.append("crash")
            crashes.append(f"#{i} {info}: {type(ex).__name__}: {ex}")
    assert len(outcomes) >= 10
    assert not crashes, f"{len(crashes)} crashes in {len(outcomes)} meshes:\n" + "\n".join(crashes)
    assert outcomes.count("result") >= 3 and outcomes.count("error") >= 3, outcomes


def test_fuzz_csv_parse():
    """F-csv-parse"""
    rng = np.random.default_rng(7)
    base = rc.csv_text(40, 60, seed=1)
    crashes, counts = [], {"ok": 0, "error": 0}
    for i in range(N_CSV):
        text = rc.corrupt_csv(base, rng)
        if rng.random() < 0.3:
            text = rc.corrupt_csv(text, rng)
        try:
            take = livelink_csv.parse_livelink_csv(text, source="fuzz.csv")
            offsets, ict, arkit = livelink_csv.take_to_ict(take, 24.0)
            t = np.asarray(take.times)
            good = (np.isfinite(ict).all() and np.isfinite(arkit).all() and (np.diff(t) > 0).all()
                    and len(offsets) == len(ict) >= 1)
            if not good:
                crashes.append(f"#{i}: parsed to non-finite or unordered data")
            counts["ok"] += 1
        except ValueError as ex:
            if not str(ex) or "\n" in str(ex).strip():
                crashes.append(f"#{i}: unclear ValueError {str(ex)!r}")
            counts["error"] += 1
        except Exception as ex:   # noqa: BLE001
            crashes.append(f"#{i}: {type(ex).__name__}: {ex}\n{text[:300]!r}")
    assert not crashes, "\n".join(crashes[:20])
    assert counts["ok"] >= 20 and counts["error"] >= 50, counts


BLENDER_FUZZ = r'''
import time
import robustness_cases as rc
from model_core.runtime import facs_names as fn
ICT = list(fn.ICT_NAMES)
rng = np.random.default_rng(int(sys.argv[1]))
n_mesh, n_csv, budget = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
t0 = time.perf_counter()
out = {"meshes": [], "csv": []}
from model_core.runtime.config import ModelConfig
from model_core.runtime import Model
from nfs_blender import engine
from small_model import save_small_weights
REAL = Model.load(save_small_weights(os.path.join(TMP, "w"), 4)[0])


def clean():
    for coll in ("objects", "meshes", "actions"):
        c = getattr(bpy.data, coll)
        for idb in list(c):
            c.remove(idb)


def check(a, allow_ok):
    """'ok' | 'error' | 'refused' | a problem string."""
    if a["outcome"] in ("error", "refused"):
        if a["violations"]:
            return f"{a['outcome']} but changed: {a['violations'][:3]}"
        if "Traceback" in a["message"] or "\n" in a["message"]:
            return f"unclear report: {a['message'][:300]}"
        return a["outcome"]
    if a["outcome"] == "result":
        if a["violations"]:
            return f"result changed more than documented: {a['violations'][:3]}"
        if a.get("undo_diff") or a.get("redo_diff"):
            return f"undo/redo not exact: {a.get('undo_diff')} {a.get('redo_diff')}"
        return "ok"
    return f"{a['outcome']}: {a['message'][:300]}"


for i in range(n_mesh):
    if time.perf_counter() - t0 > budget and i >= 8:
        break
    clean()
    v, c, s, info = rc.fuzz_mesh(rng)
    loc = rng.uniform(-20, 20, 3)
    rot = rng.uniform(-np.pi, np.pi, 3)
    sc = np.exp(rng.uniform(np.log(1e-3), np.log(1e3), 3)) * rng.choice([1.0, -1.0], 3)
    if rng.random() < 0.1:
        sc[int(rng.integers(0, 3))] = 0.0
    ob = rc.new_object("Fz", v, c, s, location=loc, rotation=rot, scale=sc)
    rc.activate(ob)
    me = ob.data.name
    use_real = bool(i % 2)   # every other mesh through the real numpy runtime, the rest through the stand-in
    engine.set_model(REAL if use_real else MODEL)
    res = {"info": info + (", runtime" if use_real else ", stand-in") + f", scale {np.round(sc, 4).tolist()}"}
    undo = bool(i % 3 == 0)
    a = rc.attempt("nfs.compute_skinning", undo=undo,
                   allow=["o/Fz/vgroup/NFS_*", f"m/{me}/attr/NFS_regions", f"m/{me}/colors"])
    res["skin"] = check(a, True)
    rc.activate(bpy.data.objects["Fz"])
    a = rc.attempt("nfs.generate_facs_keys", undo=undo, allow=rc.key_paths(me, ICT) + [
        f"k/{me}", f"k/{me}/kb/Basis", f"k/{me}/kb/Basis/co", "data/shape_keys/*", f"m/{me}/props"])
    res["facs"] = check(a, True)
    if a["outcome"] == "result":
        keys = rc.mesh_keys(bpy.data.objects["Fz"])
        if not all(np.isfinite(k).all() for k in keys.values()):
            res["facs"] = "NaN in the written shape keys"
    out["meshes"].append(res)

engine.set_model(MODEL)
clean()
hv, hc, hs = rc.ict_mesh(stride=4)
tgt = rc.new_object("Tgt", hv, hc, hs)
rc.activate(tgt)
assert rc.call("nfs.generate_facs_keys")[0] == ["FINISHED"]
base = rc.csv_text(30, 60, seed=2)
for j in range(n_csv):
    text = rc.corrupt_csv(base, rng)
    path = os.path.join(TMP, f"fz{j}.csv")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    rc.activate(bpy.data.objects["Tgt"])
    a = rc.attempt("nfs.import_livelink_csv", undo=False, filepath=path,
                   allow=rc.key_paths("Tgt", ICT) + ["scene/range", "a/*", "data/actions/*", "k/Tgt/anim"])
    r = check(a, True)
    if a["outcome"] == "result":
        key = bpy.data.objects["Tgt"].data.shape_keys
        vals = [kb.value for kb in key.key_blocks]
        if not np.isfinite(vals).all():
            r = "non-finite values"
    out["csv"].append(r)
out["seconds"] = time.perf_counter() - t0
emit(out)
'''


@pytest.mark.blender
def test_fuzz_blender():
    """F-blender"""
    res = run_blender([PRELUDE, STANDIN, BLENDER_FUZZ], args=[99, 24, 16, 60.0], timeout=240, env=rc.SUBPROCESS_ENV)
    bad = [f"mesh #{i} ({m['info']}): {k}={m[k]}" for i, m in enumerate(res["meshes"]) for k in ("skin", "facs")
           if m[k] not in ("ok", "error", "refused")]
    bad += [f"csv #{j}: {r}" for j, r in enumerate(res["csv"]) if r not in ("ok", "error")]
    assert not bad, "\n".join(bad)
    assert len(res["meshes"]) >= 8 and len(res["csv"]) == 16
    outcomes = [m["facs"] for m in res["meshes"]]
    assert outcomes.count("ok") >= 2 and (outcomes.count("error") + outcomes.count("refused")) >= 2, outcomes
