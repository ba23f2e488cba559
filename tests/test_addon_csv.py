"""Live Link Face CSV import onto FACS keys: 60 fps take resampled to a 24 fps scene, bulk keys equal the
resampled values, ARKit targets, clear errors that change nothing. The real runtime (decoder keys), ICT head."""
import pytest

from addon_testlib import PRELUDE
from blender_harness import run_blender
from test_livelink_csv import make_csv

pytestmark = pytest.mark.blender

SCRIPT = r'''
from model_core.runtime import facs_names as fn
from nfs_blender import keyframes, livelink_csv
use_key_source("DECODER")   # the cheap key source: the keys only receive the take
scene = bpy.context.scene
scene.render.fps, scene.render.fps_base = 24, 1.0
out = {}
good, bad = sys.argv[1], sys.argv[2]

ob = ict_head("Head", stride=2)
activate(ob)
assert run_op(bpy.ops.nfs.generate_facs_keys) == ["FINISHED"]
bpy.ops.ed.undo_push(message="keys")
out["bad"] = run_op(bpy.ops.nfs.import_livelink_csv, filepath=bad, start_frame=10)
out["bad_error"] = ERRORS[-1] if ERRORS else ""
ob = bpy.data.objects["Head"]
out["bad_anim"] = ob.data.shape_keys.animation_data is not None
out["missing"] = run_op(bpy.ops.nfs.import_livelink_csv, filepath=os.path.join(TMP, "nope.csv"))
out["missing_error"] = ERRORS[-1] if ERRORS else ""

out["good"] = run_op(bpy.ops.nfs.import_livelink_csv, filepath=good, start_frame=10)
ob = bpy.data.objects["Head"]
fcs = keyframes.assigned_fcurves(ob.data.shape_keys)
out["n_curves"] = len(fcs)
counts = sorted({len(fc.keyframe_points) for fc in fcs})
out["counts"] = counts
first = fcs[0]
co = np.empty(len(first.keyframe_points) * 2, dtype=np.float32)
first.keyframe_points.foreach_get("co", co)
out["frames"] = [float(co[0]), float(co[-2])]
take = livelink_csv.read_livelink_csv(good)
offsets, ict, arkit_all = livelink_csv.take_to_ict(take, 24.0)
kbs = ob.data.shape_keys.key_blocks
err = 0.0
for i, off in enumerate(offsets):
    scene.frame_set(10 + int(off))
    got = np.array([kbs[n].value for n in fn.ICT_NAMES])
    err = max(err, float(np.abs(got - np.clip(ict[i], 0, 1)).max()))
out["value_err"] = err
out["frame_end"] = scene.frame_end

# ARKit target
ob2 = ict_head("Head2", stride=3)
activate(ob2)
assert run_op(bpy.ops.nfs.generate_facs_keys, scheme="ARKIT") == ["FINISHED"]
out["arkit"] = run_op(bpy.ops.nfs.import_livelink_csv, filepath=good, start_frame=1)
ob2 = bpy.data.objects["Head2"]
fcs2 = keyframes.assigned_fcurves(ob2.data.shape_keys)
out["arkit_curves"] = len(fcs2)
scene.frame_set(1 + 12)
arkit = arkit_all[12]  # the take's own ARKit columns, TongueOut included
out["arkit_err"] = float(max(abs(ob2.data.shape_keys.key_blocks[n].value - np.clip(arkit[j], 0, 1))
                             for j, n in enumerate(fn.ARKIT_NAMES)))
out["tongue"] = [ob2.data.shape_keys.key_blocks["tongueOut"].value, float(arkit[fn.ARKIT_INDEX["tongueOut"]])]
emit(out)
'''


def test_csv_import_60_to_24_fps(tmp_path):
    good = tmp_path / "take.csv"
    good.write_text(make_csv(121, 60, value=lambda i, k: ((i * 7 + k * 13) % 100) / 100.0))  # 2 s at 60 fps
    bad = tmp_path / "bad.csv"
    lines = make_csv(10, 60).splitlines()
    cells = lines[6].split(",")
    cells[9] = "oops"
    lines[6] = ",".join(cells)
    bad.write_text("\n".join(lines))
    res = run_blender([PRELUDE, SCRIPT], args=[good, bad], timeout=180)
    assert res["bad"] == ["CANCELLED"] and not res["bad_anim"]
    assert "bad.csv line 7, column" in res["bad_error"] and "'oops' is not a number" in res["bad_error"]
    assert res["missing"] == ["CANCELLED"] and "CSV file not found" in res["missing_error"]
    assert res["good"] == ["FINISHED"]
    assert res["n_curves"] == 53
    assert res["counts"] == [49]  # 2 s at 24 fps: 49 keyframes per curve
    assert res["frames"] == [10.0, 58.0]
    assert res["value_err"] <= 1e-6
    assert res["frame_end"] == 250  # the default range already covers the take
    assert res["arkit"] == ["FINISHED"] and res["arkit_curves"] == 52 and res["arkit_err"] <= 1e-6
    assert res["tongue"][1] > 0.05 and res["tongue"][0] == pytest.approx(res["tongue"][1], abs=1e-6)  # TongueOut kept
