"""Interactive paths that headless Blender cannot click: the modal job loop (timer ticks, Esc cancels and
restores the scene exactly), and every panel's draw code (run against a recording layout). Plus the installed
extension: preferences (bl_idname = __package__) drive the FACS name scheme."""
import pytest

from addon_testlib import PRELUDE
from blender_harness import build_and_install_snippet, run_blender

pytestmark = pytest.mark.blender

MODAL = r'''
from types import SimpleNamespace
from nfs_blender import common, keyframes, ops_bake, ops_facs
from model_core.runtime import facs_names as fn
use_key_source("DECODER")   # the cheap key source: the job loop is under test, not the keys
scene = bpy.context.scene
out = {}
tgt = ict_head("Target", stride=2)
activate(tgt)
assert run_op(bpy.ops.nfs.generate_facs_keys) == ["FINISHED"]
src = ict_head("Src", stride=3)
src.shape_key_add(name="Basis", from_mix=False)
for nm in fn.ICT_NAMES[:12]:
    kb = src.shape_key_add(name=nm, from_mix=False)
    kb.value = 0.5
d = src.data.shape_keys.key_blocks[fn.ICT_NAMES[0]].driver_add("value").driver
d.type, d.expression = "SCRIPTED", "frame / 1000"  # a driver: the bake reads frame by frame (slow path)
s = scene.nfs
s.bake_source, s.use_scene_range, s.frame_start, s.frame_end = src, False, 1, 600
scene.frame_set(33)
activate(tgt)


class Reports:
    def report(self, kind, msg):
        self.reports.append([sorted(kind)[0], msg])


def fake(op_cls):
    ns = {k: v for k, v in op_cls.__dict__.items() if callable(v) and not k.startswith("__")}
    ns["what"] = op_cls.what
    cls = type("Fake" + op_cls.__name__, (Reports, common.JobOperator), ns)
    f = cls()
    f.reports, f.message, f.warnings = [], "", []
    return f


win = bpy.context.window
wm = bpy.context.window_manager
ctx = bpy.context
f = fake(ops_bake.NFS_OT_bake_from_source)
f._gen = f.job(ctx)
f._timer = wm.event_timer_add(10.0, window=win)
wm.progress_begin(0, 1000)
tick = SimpleNamespace(type="TIMER", value="NOTHING", timer=f._timer)
other = SimpleNamespace(type="MOUSEMOVE", value="NOTHING", timer=None)
out["tick1"] = sorted(f.modal(ctx, tick))
out["mid_frame"] = scene.frame_current
out["other_event"] = sorted(f.modal(ctx, other))
out["esc"] = sorted(f.modal(ctx, SimpleNamespace(type="ESC", value="PRESS", timer=None)))
out["frame_after_esc"] = scene.frame_current
out["curves_after_esc"] = len(keyframes.assigned_fcurves(bpy.data.objects["Target"].data.shape_keys) or [])
out["esc_reports"] = f.reports

# the same job run to the end through timer ticks writes the keys
s.frame_end = 60
f2 = fake(ops_bake.NFS_OT_bake_from_source)
f2._gen = f2.job(ctx)
f2._timer = wm.event_timer_add(10.0, window=win)
wm.progress_begin(0, 1000)
tick2 = SimpleNamespace(type="TIMER", value="NOTHING", timer=f2._timer)
res = ["RUNNING_MODAL"]
ticks = 0
while res == ["RUNNING_MODAL"] and ticks < 1000:
    res = sorted(f2.modal(ctx, tick2))
    ticks += 1
out["finish"] = res
out["frame_after_finish"] = scene.frame_current
fcs = keyframes.assigned_fcurves(bpy.data.objects["Target"].data.shape_keys)
out["curves_after_finish"] = [len(fcs), sorted({len(fc.keyframe_points) for fc in fcs})]
out["finish_reports"] = f2.reports

# an error inside the job becomes one ERROR report, nothing written
ob3 = ict_head("Third", stride=4)
activate(ob3)
ob3.shape_key_add(name="Basis", from_mix=False)
ob3.shape_key_add(name="jawOpen", from_mix=False)
f3 = fake(ops_facs.NFS_OT_generate_facs_keys)
f3.replace, f3.scheme, f3.use_painted, f3.with_pieces = False, "PREFERENCES", True, True
f3._gen = f3.job(ctx)
f3._timer = wm.event_timer_add(10.0, window=win)
wm.progress_begin(0, 1000)
out["error_tick"] = sorted(f3.modal(ctx, SimpleNamespace(type="TIMER", value="NOTHING", timer=f3._timer)))
out["error_reports"] = f3.reports
out["error_keys"] = len(bpy.data.objects["Third"].data.shape_keys.key_blocks)
emit(out)
'''

DRAW = r'''
from types import MethodType
from nfs_blender import ui, prefs
from model_core.runtime import facs_names as fn


class Rec:
    """A layout that accepts every call and records labels, props and operators."""
    log = []

    def __getattr__(self, name):
        def call(*args, **kw):
            Rec.log.append([name] + [a for a in args if isinstance(a, str)][:1] + [str(kw.get("text", ""))])
            return Rec()
        return call

    def __setattr__(self, name, value):
        Rec.log.append(["set", name, str(value)])


use_key_source("DECODER")   # the cheap key source: the keys are only drawn
ob = ict_head("Head", stride=3)
activate(ob)
out = {}
for state in ("plain", "facs"):
    if state == "facs":
        assert run_op(bpy.ops.nfs.generate_facs_keys) == ["FINISHED"]
        bpy.context.scene.nfs.slider_filter = "blink"
    Rec.log = []
    for cls in ui.CLASSES:
        if hasattr(cls, "poll") and not cls.poll(bpy.context):
            Rec.log.append(["hidden", cls.__name__, ""])
            continue
        panel = SimpleNamespace(layout=Rec())
        if hasattr(cls, "draw_panel"):   # a section draws the scene's settings through draw_panel
            panel.draw_panel = MethodType(cls.draw_panel, panel)
        cls.draw(panel, bpy.context)
    out[state] = Rec.log
Rec.log = []
prefs.NFS_AddonPreferences.draw(SimpleNamespace(layout=Rec(), **{k: getattr(prefs._Defaults, k)
                                for k in dir(prefs._Defaults) if not k.startswith("_")}), bpy.context)
out["prefs"] = Rec.log
emit(out)
'''

INSTALLED = r'''
import os, sys
import numpy as np
import standin_model
from model_core.runtime import facs_names as fn
addon = bpy.context.preferences.addons[NFS_MODULE_NAME]
addon.preferences.name_scheme = "ARKIT"
engine = importlib.import_module(NFS_MODULE_NAME + ".engine")
engine.set_model(standin_model.StandinModel())
me = bpy.data.meshes.new("tri")
me.from_pydata([(0, 0, 0), (1, 0, 0), (0, 0, 1), (1, 0, 1)], [], [(0, 1, 3, 2)])
ob = bpy.data.objects.new("tri", me)
bpy.context.scene.collection.objects.link(ob)
bpy.context.view_layer.objects.active = ob
res = sorted(bpy.ops.nfs.generate_facs_keys("EXEC_DEFAULT", True))
emit({"install": install_report, "result": res, "idname": addon.module,
      "names": [kb.name for kb in ob.data.shape_keys.key_blocks]})
'''


def test_modal_job_ticks_cancel_and_errors():
    res = run_blender(["from types import SimpleNamespace\n", PRELUDE, MODAL], timeout=180)
    assert res["tick1"] == ["RUNNING_MODAL"] and res["mid_frame"] != 33  # working, frame moved
    assert res["other_event"] == ["RUNNING_MODAL"]  # other events are swallowed while the job runs
    assert res["esc"] == ["CANCELLED"]
    assert res["frame_after_esc"] == 33  # Esc restores the scene exactly ...
    assert res["curves_after_esc"] == 0  # ... and nothing was written
    assert res["esc_reports"] == [["WARNING", "Bake cancelled; nothing was changed"]]
    assert res["finish"] == ["FINISHED"] and res["frame_after_finish"] == 33
    assert res["curves_after_finish"] == [53, [60]]
    assert res["finish_reports"][-1][0] == "INFO" and "Baked 60 frames" in res["finish_reports"][-1][1]
    assert res["error_tick"] == ["CANCELLED"] and res["error_keys"] == 2
    assert len(res["error_reports"]) == 1 and res["error_reports"][0][0] == "ERROR"
    assert "tick 'Replace existing'" in res["error_reports"][0][1]


def test_panels_and_preferences_draw():
    res = run_blender(["from types import SimpleNamespace\n", PRELUDE, DRAW], timeout=120)
    plain = {tuple(x) for x in res["plain"]}
    assert ("hidden", "NFS_PT_sliders", "") in plain  # no FACS keys yet: no slider panel
    ops = [x[1] for x in res["plain"] if x[0] == "operator"]
    assert {"nfs.compute_skinning", "nfs.toggle_region_colors", "nfs.generate_facs_keys", "nfs.bake_from_source",
            "nfs.import_livelink_csv"} <= set(ops)
    labels = " | ".join(x[-1] for x in res["plain"] if x[0] == "label")
    assert "Face looks toward -Y (Blender front), Z up" in labels
    facs = res["facs"]
    sliders = [x[2] for x in facs if x[0] == "prop" and x[1] == "value"]
    assert sliders == ["eyeBlink_L", "eyeBlink_R"]  # the search field filters the sliders
    assert ["set", "group", "eyes"] in facs and ["set", "direction", "SWAP"] in facs
    assert any(x[0] == "prop" and x[1] == "name_scheme" for x in res["prefs"])


def test_installed_extension_uses_preferences(addon_zip):
    res = run_blender([build_and_install_snippet(addon_zip), INSTALLED], timeout=180)
    assert res["install"]["enabled"]
    assert res["result"] == ["FINISHED"]
    from model_core.runtime.facs_names import ARKIT_NAMES
    assert res["names"] == ["Basis"] + list(ARKIT_NAMES)  # the preference's ARKit scheme was used
