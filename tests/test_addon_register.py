"""The add-on registers and unregisters cleanly (classes, scene properties, handlers), twice in a row."""
import pytest

from blender_harness import run_blender

pytestmark = pytest.mark.blender

SCRIPT = r'''
import os, sys
import bpy
import nfs_blender

def state():
    return {
        "types": sorted(n for n in dir(bpy.types) if n.startswith("NFS_")),
        "ops": sorted(n for n in dir(bpy.ops.nfs)) if hasattr(bpy.ops, "nfs") else [],
        "scene_prop": hasattr(bpy.types.Scene, "nfs"),
        "settings_registered": bool(getattr(getattr(sys.modules.get("nfs_blender.props"), "NFS_SceneSettings", None),
                                            "is_registered", False)),
        "handlers": sorted({getattr(h, "__module__", "") for hs in (bpy.app.handlers.frame_change_pre,
                             bpy.app.handlers.frame_change_post, bpy.app.handlers.load_post)
                             for h in hs if "nfs_blender" in getattr(h, "__module__", "")}),
    }

before = state()
nfs_blender.register()
on = state()
ops_on = {n: getattr(bpy.ops.nfs, n).poll() for n in ("compute_skinning", "generate_facs_keys", "bake_from_source",
                                                    "import_livelink_csv", "toggle_region_colors")}
options = {n: sorted(getattr(bpy.types, t).bl_options) for n, t in (
    ("compute_skinning", "NFS_OT_compute_skinning"), ("generate_facs_keys", "NFS_OT_generate_facs_keys"),
    ("bake_from_source", "NFS_OT_bake_from_source"), ("import_livelink_csv", "NFS_OT_import_livelink_csv"),
    ("toggle_region_colors", "NFS_OT_toggle_region_colors"), ("mirror_facs", "NFS_OT_mirror_facs"),
    ("reset_facs_group", "NFS_OT_reset_facs_group"), ("clear_skinning", "NFS_OT_clear_skinning"),
    ("update_region_colors", "NFS_OT_update_region_colors"), ("remove_made_keys", "NFS_OT_remove_made_keys"))}
from nfs_blender import prefs
prefs_idname = prefs.NFS_AddonPreferences.bl_idname
prefs_registered = [prefs.NFS_AddonPreferences.is_registered]
nfs_blender.unregister()
prefs_registered.append(prefs.NFS_AddonPreferences.is_registered)
off = state()
nfs_blender.register()
again = state()
nfs_blender.unregister()
off2 = state()
emit({"before": before, "on": on, "off": off, "again": again, "off2": off2, "polls": ops_on, "options": options,
      "prefs_idname": prefs_idname, "prefs_registered": prefs_registered})
'''


def test_register_unregister_leaves_nothing():
    res = run_blender(SCRIPT, timeout=120)
    assert res["before"]["types"] == [] and not res["before"]["scene_prop"]
    on = res["on"]
    assert {"NFS_OT_compute_skinning", "NFS_OT_generate_facs_keys", "NFS_OT_bake_from_source",
            "NFS_OT_import_livelink_csv", "NFS_OT_toggle_region_colors", "NFS_OT_mirror_facs",
            "NFS_OT_reset_facs_group", "NFS_PT_main", "NFS_PT_sliders"} <= set(on["types"])
    assert res["prefs_registered"] == [True, False]
    assert on["scene_prop"] and on["settings_registered"] and on["handlers"] == ["nfs_blender.corrective"]
    # the startup Cube is active: it can get skinning and FACS keys, but has no keys to bake/key or colours to show
    assert res["polls"] == {"compute_skinning": True, "generate_facs_keys": True, "bake_from_source": False,
                            "import_livelink_csv": False, "toggle_region_colors": False}
    assert all(opts == ["REGISTER", "UNDO"] for opts in res["options"].values()), res["options"]
    assert res["prefs_idname"] == "nfs_blender"  # bl_idname = __package__
    for key in ("off", "off2"):
        assert res[key]["types"] == [], res[key]
        assert not res[key]["scene_prop"] and not res[key]["settings_registered"] and res[key]["handlers"] == []
    assert res["again"] == on
