"""FACS shape keys: 53 ICT / 52 ARKit keys in world space through an object transform, other keys untouched,
name clashes, undo; FACS sliders (mirror, group reset). The real runtime with the committed weights, the decoder's
keys (the cheap key source; tests/test_addon_trained.py covers the others), ICT head."""
import pytest

from addon_testlib import PRELUDE
from blender_harness import run_blender

pytestmark = pytest.mark.blender

SCRIPT = r'''
from model_core.runtime import facs_names as fn
use_key_source("DECODER")
out = {}

# a transformed head with user shape keys (Basis + MyKey) that must stay as they are
ob = ict_head("Head", location=(0.3, -0.2, 1.5), scale=1.0)
ob.rotation_euler = (0.0, 0.0, 0.3)
ob.scale = (1.1, 0.9, 1.0)
bpy.context.view_layer.update()
activate(ob)
n = len(ob.data.vertices)
ob.shape_key_add(name="Basis", from_mix=False)
my = ob.shape_key_add(name="MyKey", from_mix=False)
co = np.empty(n * 3, dtype=np.float32)
my.points.foreach_get("co", co)
co[2::3] += 0.01
my.points.foreach_set("co", co)
my.value = 0.4
before = keys_of(ob)

# --- undo: generate, undo, back to the two user keys
bpy.ops.ed.undo_push(message="before FACS")
out["undo_run"] = run_op(bpy.ops.nfs.generate_facs_keys)
out["undo_run_count"] = len(bpy.data.objects["Head"].data.shape_keys.key_blocks)
bpy.ops.ed.undo()
ob = bpy.data.objects["Head"]
out["after_undo"] = [kb.name for kb in ob.data.shape_keys.key_blocks]
activate(ob)

out["gen"] = run_op(bpy.ops.nfs.generate_facs_keys)
ob = bpy.data.objects["Head"]
kbs = ob.data.shape_keys.key_blocks
out["names"] = [kb.name for kb in kbs]
out["relative"] = sorted({kb.relative_key.name for kb in kbs if kb.name in fn.ICT_NAMES})
out["values"] = sorted({round(kb.value, 6) for kb in kbs if kb.name in fn.ICT_NAMES})
keys = keys_of(ob)
out["user_unchanged"] = bool(np.array_equal(keys["MyKey"], before["MyKey"]) and
                             np.array_equal(keys["Basis"], before["Basis"]) and abs(kbs["MyKey"].value - 0.4) < 1e-7)
mw = np.array(ob.matrix_world)
expected = model_keys(ob)[1]
err = 0.0
for k, name in enumerate(fn.ICT_NAMES):
    d_world = (keys[name].astype(np.float64) - keys["Basis"]) @ mw[:3, :3].T
    err = max(err, float(np.abs(d_world - expected[k]).max()))
out["world_err"] = err
out["max_delta"] = float(np.abs(expected).max())

# --- a clash without 'replace' is an error and changes nothing; with it, coordinates are replaced in place
co = np.empty(n * 3, dtype=np.float32)
kbs["jawOpen"].points.foreach_get("co", co)
kbs["jawOpen"].points.foreach_set("co", co + 0.5)
kbs["jawOpen"].value = 0.7
snap = keys_of(ob)
out["clash"] = run_op(bpy.ops.nfs.generate_facs_keys)
out["clash_error"] = ERRORS[-1] if ERRORS else ""
ob = bpy.data.objects["Head"]
after = keys_of(ob)
out["clash_unchanged"] = all(np.array_equal(after[k], snap[k]) for k in snap) and len(after) == len(snap)
out["replace"] = run_op(bpy.ops.nfs.generate_facs_keys, replace=True)
ob = bpy.data.objects["Head"]
kbs = ob.data.shape_keys.key_blocks
after = keys_of(ob)
out["replace_count"] = len(kbs)
out["replaced_ok"] = bool(np.abs(after["jawOpen"] - keys["jawOpen"]).max() < 1e-6)
out["replace_kept_value"] = round(kbs["jawOpen"].value, 6)
out["replace_user_unchanged"] = bool(np.array_equal(after["MyKey"], before["MyKey"]))

# --- sliders: mirror and group reset
for name in fn.ICT_NAMES:
    kbs[name].value = 0.0
kbs["eyeBlink_L"].value = 0.8
kbs["mouthSmile_R"].value = 0.6
kbs["jawLeft"].value = 0.3
kbs["jawOpen"].value = 0.5
out["mirror_lr"] = run_op(bpy.ops.nfs.mirror_facs, direction="L_TO_R")
kbs = bpy.data.objects["Head"].data.shape_keys.key_blocks
out["after_lr"] = {n: round(kbs[n].value, 6) for n in ("eyeBlink_L", "eyeBlink_R", "mouthSmile_L", "mouthSmile_R",
                                                      "jawLeft", "jawRight")}
out["mirror_swap"] = run_op(bpy.ops.nfs.mirror_facs, direction="SWAP")
kbs = bpy.data.objects["Head"].data.shape_keys.key_blocks
out["after_swap"] = {n: round(kbs[n].value, 6) for n in ("mouthSmile_L", "mouthSmile_R", "jawLeft", "jawRight",
                                                        "jawOpen")}
mouth = [n for n in fn.ICT_NAMES if fn.facs_group(n) == "mouth"]
for k, name in enumerate(mouth):  # non-zero first, or resetting them would show nothing
    kbs[name].value = 0.1 + 0.8 * k / len(mouth)
out["before_reset_mouth_min"] = round(min(kbs[n].value for n in mouth), 6)
out["reset"] = run_op(bpy.ops.nfs.reset_facs_group, group="mouth")
kbs = bpy.data.objects["Head"].data.shape_keys.key_blocks
out["after_reset"] = {n: round(kbs[n].value, 6) for n in ("mouthSmile_L", "mouthSmile_R", "eyeBlink_L", "jawOpen",
                                                         "MyKey")}
out["after_reset_mouth_max"] = max(kbs[n].value for n in mouth)

# --- ARKit names on a second head without shape keys: a Basis is created from the mesh
ob2 = ict_head("Head2")
activate(ob2)
out["arkit"] = run_op(bpy.ops.nfs.generate_facs_keys, scheme="ARKIT")
ob2 = bpy.data.objects["Head2"]
k2 = keys_of(ob2)
out["arkit_names"] = [kb.name for kb in ob2.data.shape_keys.key_blocks]
b2 = model_keys(ob2)[1]
merged = b2[fn.ICT_INDEX["browInnerUp_L"]] + b2[fn.ICT_INDEX["browInnerUp_R"]]
out["arkit_brow_err"] = float(np.abs((k2["browInnerUp"] - k2["Basis"]) - merged).max())
out["arkit_tongue"] = float(np.abs(k2["tongueOut"] - k2["Basis"]).max())
out["basis_is_mesh"] = bool(np.allclose(k2["Basis"], mesh_io.local_rest_positions(ob2)))

# --- polls: not a mesh, edit mode
empty = bpy.data.objects.new("Empty", None)
bpy.context.scene.collection.objects.link(empty)
activate(empty)
out["poll_empty"] = bpy.ops.nfs.generate_facs_keys.poll()
activate(ob2)
bpy.ops.object.mode_set(mode="EDIT")
out["poll_edit"] = bpy.ops.nfs.generate_facs_keys.poll()
bpy.ops.object.mode_set(mode="OBJECT")
out["poll_object"] = bpy.ops.nfs.generate_facs_keys.poll()
emit(out)
'''


def test_facs_keys_world_space_clash_replace_undo_sliders():
    res = run_blender([PRELUDE, SCRIPT], timeout=180)
    assert res["undo_run"] == ["FINISHED"] and res["undo_run_count"] == 55
    assert res["after_undo"] == ["Basis", "MyKey"]
    assert res["gen"] == ["FINISHED"]
    from model_core.runtime.facs_names import ARKIT_NAMES, ICT_NAMES
    assert res["names"] == ["Basis", "MyKey"] + list(ICT_NAMES)  # 53 FACS keys added after the user's keys
    assert res["relative"] == ["Basis"] and res["values"] == [0.0]
    assert res["user_unchanged"]
    # world displacement of each key (local delta through matrix_world) equals the model's world basis
    assert res["max_delta"] > 1e-3
    assert res["world_err"] < 2e-6
    assert res["clash"] == ["CANCELLED"] and res["clash_unchanged"]
    assert "already has shape keys named browDown_L" in res["clash_error"]
    assert "tick 'Replace existing'" in res["clash_error"] and "Traceback" not in res["clash_error"]
    assert res["replace"] == ["FINISHED"] and res["replace_count"] == 55
    assert res["replaced_ok"] and res["replace_kept_value"] == 0.7 and res["replace_user_unchanged"]
    assert res["mirror_lr"] == ["FINISHED"]
    assert res["after_lr"] == {"eyeBlink_L": 0.8, "eyeBlink_R": 0.8, "mouthSmile_L": 0.0, "mouthSmile_R": 0.0,
                               "jawLeft": 0.3, "jawRight": 0.0}
    assert res["after_swap"] == {"mouthSmile_L": 0.0, "mouthSmile_R": 0.0, "jawLeft": 0.0, "jawRight": 0.3,
                                 "jawOpen": 0.5}
    assert res["reset"] == ["FINISHED"] and res["before_reset_mouth_min"] == 0.1
    assert res["after_reset_mouth_max"] == 0.0  # every mouth key, not only those that were already at 0
    assert res["after_reset"] == {"mouthSmile_L": 0.0, "mouthSmile_R": 0.0, "eyeBlink_L": 0.8, "jawOpen": 0.5,
                                  "MyKey": 0.4}
    assert res["arkit"] == ["FINISHED"] and res["arkit_names"] == ["Basis"] + list(ARKIT_NAMES)
    assert res["arkit_brow_err"] < 1e-6 and res["arkit_tongue"] == 0.0 and res["basis_is_mesh"]
    assert not res["poll_empty"] and not res["poll_edit"] and res["poll_object"]
