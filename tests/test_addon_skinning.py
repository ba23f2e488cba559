"""Skinning weights as NFS_ vertex groups + NFS_regions colours, the viewport toggle, painted groups read back,
undo. The real runtime with the committed weights on the ICT-FaceKit head (painted regions drive the decoder's
keys)."""
import pytest

from addon_testlib import PRELUDE
from blender_harness import run_blender

pytestmark = pytest.mark.blender

SCRIPT = r'''
ob = ict_head("Head", location=(0.2, -0.1, 1.6), scale=1.1)
activate(ob)
n = len(ob.data.vertices)
user = ob.vertex_groups.new(name="user_group")
user.add([0, 1, 2, 5], 0.25, "REPLACE")
out = {"n": n}

# --- undo: compute, undo, the groups and colours are gone again
bpy.ops.ed.undo_push(message="before skinning")
out["undo_run"] = run_op(bpy.ops.nfs.compute_skinning)
bpy.ops.ed.undo()
ob = bpy.data.objects["Head"]
out["after_undo_groups"] = [g.name for g in ob.vertex_groups]
out["after_undo_attr"] = ob.data.color_attributes.get("NFS_regions") is not None
activate(ob)

# --- compute twice (the second replaces, no duplicates)
out["run1"] = run_op(bpy.ops.nfs.compute_skinning)
out["run2"] = run_op(bpy.ops.nfs.compute_skinning)
ob = bpy.data.objects["Head"]
names = [g.name for g in ob.vertex_groups]
out["groups"] = names
col = {g.index: EXPECTED_REGIONS.index(g.name[4:]) for g in ob.vertex_groups if g.name.startswith("NFS_")}
W = np.zeros((n, len(EXPECTED_REGIONS)))
user_w = {}
for v in ob.data.vertices:
    for g in v.groups:
        if g.group in col:
            W[v.index, col[g.group]] = g.weight
        else:
            user_w[v.index] = g.weight
out["user_weights"] = user_w
out["row_sum_err"] = float(np.abs(W.sum(axis=1) - 1).max())
# model's probabilities on the world-space mesh (what the add-on must have given the model)
mw = np.array(ob.matrix_world)
world = mesh_io.rest_world_positions(ob)
pm = engine.prepare(MODEL, world, mesh_io.triangles(ob.data))
probs, _ = MODEL.skinning(pm)
out["quant_err"] = float(np.abs(W - probs).max())
# groups as Compute Skinning wrote them are not "painted" (the FACS report says 'painted regions' only after paint)
from nfs_blender.common import prepare_object
out["painted_after_skin"] = prepare_object(bpy.context, ob).painted
attr = ob.data.color_attributes["NFS_regions"]
rgba = np.empty(n * 4, dtype=np.float32)
attr.data.foreach_get("color", rgba)
rgba = rgba.reshape(n, 4)
out["attr"] = [attr.data_type, attr.domain]
out["color_err"] = float(np.abs(rgba[:, :3] - np.clip(probs @ np.asarray(MODEL.region_colors, float), 0, 1)).max())
out["alpha"] = float(rgba[:, 3].min())

# --- viewport toggle: shows attribute colours in solid mode, then restores exactly
spaces = [sp for s in bpy.data.screens for a in s.areas if a.type == "VIEW_3D" for sp in a.spaces if sp.type == "VIEW_3D"]
spaces[0].shading.type = "MATERIAL"
spaces[0].shading.color_type = "OBJECT"
before = [(sp.shading.type, sp.shading.color_type) for sp in spaces]
ca = ob.data.color_attributes
extra = ca.new("painted", "BYTE_COLOR", "CORNER")
ca.active_color_name = "painted"
ca.default_color_name = "painted"
out["toggle_on"] = run_op(bpy.ops.nfs.toggle_region_colors)
out["shown"] = [(sp.shading.type, sp.shading.color_type) for sp in spaces]
ob = bpy.data.objects["Head"]
out["shown_attr"] = [ob.data.color_attributes.active_color_name, ob.data.color_attributes.default_color_name]
out["toggle_off"] = run_op(bpy.ops.nfs.toggle_region_colors)
ob = bpy.data.objects["Head"]
out["restored"] = [(sp.shading.type, sp.shading.color_type) for sp in spaces] == before
out["restored_attr"] = [ob.data.color_attributes.active_color_name, ob.data.color_attributes.default_color_name]

# --- painted groups are read back: paint every vertex fully into NFS_jaw, FACS keys follow the painted regions
for g in [g for g in ob.vertex_groups if g.name.startswith("NFS_")]:
    g.remove(list(range(n)))
ob.vertex_groups["NFS_jaw"].add(list(range(n)), 1.0, "REPLACE")
out["painted_after_paint"] = prepare_object(bpy.context, ob).painted
out["gen_painted"] = run_op(bpy.ops.nfs.generate_facs_keys, use_painted=True)
ob = bpy.data.objects["Head"]
keys = keys_of(ob)
painted = np.zeros((n, len(EXPECTED_REGIONS)), dtype=np.float32)
painted[:, EXPECTED_REGIONS.index("jaw")] = 1
names, expected = model_keys(ob, probs=painted)
m3 = mw[:3, :3]
err = 0.0
for k, name in enumerate(names):
    d_world = (keys[name] - keys["Basis"]).astype(np.float64) @ m3.T
    err = max(err, float(np.abs(d_world - expected[k]).max()))
out["painted_err"], out["painted_max"] = err, float(np.abs(expected).max())
unpainted = model_keys(ob)[1]
out["painted_differs"] = float(np.abs(expected - unpainted).max())

# --- colours from the painted groups: everything is now jaw-coloured
out["recolour"] = run_op(bpy.ops.nfs.update_region_colors)
ob = bpy.data.objects["Head"]
rgba = np.empty(n * 4, dtype=np.float32)
ob.data.color_attributes["NFS_regions"].data.foreach_get("color", rgba)
jaw = np.asarray(MODEL.region_colors[EXPECTED_REGIONS.index("jaw")], dtype=np.float32)
out["recolour_err"] = float(np.abs(rgba.reshape(n, 4)[:, :3] - jaw).max())

# --- clear removes only NFS_ data
out["clear"] = run_op(bpy.ops.nfs.clear_skinning)
ob = bpy.data.objects["Head"]
out["after_clear"] = [g.name for g in ob.vertex_groups], [a.name for a in ob.data.color_attributes]
emit(out)
'''


def test_skinning_groups_colours_toggle_painted_and_undo():
    res = run_blender([PRELUDE, SCRIPT], timeout=180)
    from model_core.runtime import Model
    assert res["undo_run"] == ["FINISHED"]
    assert res["after_undo_groups"] == ["user_group"] and not res["after_undo_attr"]
    assert res["run1"] == ["FINISHED"] and res["run2"] == ["FINISHED"]
    regions = Model.load().region_names
    assert len(regions) == 22 and res["groups"] == ["user_group"] + ["NFS_" + r for r in regions]
    assert res["row_sum_err"] <= 1e-4  # weights per vertex sum to 1
    assert res["quant_err"] <= 1.0 / 1024 + 1e-6  # 1/1024 steps, largest-remainder rounding
    assert res["painted_after_skin"] is False  # unchanged groups: no 'painted regions' in the FACS report
    assert res["user_weights"] == {"0": 0.25, "1": 0.25, "2": 0.25, "5": 0.25}  # never touched
    assert res["attr"] == ["FLOAT_COLOR", "POINT"]
    assert res["color_err"] < 1e-5 and res["alpha"] == 1.0
    assert res["toggle_on"] == ["FINISHED"] and res["toggle_off"] == ["FINISHED"]
    assert all(s == ["SOLID", "VERTEX"] for s in res["shown"])
    assert res["shown_attr"] == ["NFS_regions", "NFS_regions"]
    assert res["restored"] and res["restored_attr"] == ["painted", "painted"]
    assert res["gen_painted"] == ["FINISHED"] and res["painted_after_paint"] is True
    assert res["painted_differs"] > 1e-3  # painting changes the keys by millimetres ...
    assert res["painted_err"] < 2e-6 and res["painted_max"] > 1e-3  # ... exactly as the model computes them
    assert res["recolour"] == ["FINISHED"] and res["recolour_err"] < 1e-6
    assert res["clear"] == ["FINISHED"]
    assert res["after_clear"] == [["user_group"], ["painted"]]
