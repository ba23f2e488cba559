"""Install the built extension zip into headless Blender's (isolated) user_default repository.

Every test here runs real Blender in a subprocess and runs on every Blender venv (4.2 LTS in
.venv/py311, 5.3 in .venv/py313). Also checks the harness itself (errors, timeouts, clean-up).
"""
from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

import build_addon
from blender_harness import ADDON_MODULE, build_and_install_snippet, run_blender

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.blender

# Runs after build_and_install_snippet: inspects the enabled add-on, disables it, inspects again,
# then enables and disables it a second time (register/unregister must be repeatable).
_INSPECT = """
import os
import bpy
import addon_utils

def _raise(ex):
    raise ex

def nfs_classes():
    out, todo = [], [bpy.types.Operator, bpy.types.Panel, bpy.types.Menu, bpy.types.PropertyGroup,
                     bpy.types.AddonPreferences, bpy.types.UIList, bpy.types.Header]
    while todo:
        base = todo.pop()
        for cls in base.__subclasses__():
            todo.append(cls)
            if cls.__module__.startswith(NFS_MODULE_NAME):
                out.append(cls)
    return out

def registered():
    return sorted(c.__name__ for c in nfs_classes() if c.is_registered)

ops_enabled = sorted(dir(bpy.ops.nfs))
registered_enabled = registered()
prefs_idnames = sorted({c.bl_idname for c in nfs_classes() if issubclass(c, bpy.types.AddonPreferences)})
in_prefs = NFS_MODULE_NAME in bpy.context.preferences.addons
user_dir = os.environ["BLENDER_USER_RESOURCES"]

nfs_disable()
registered_disabled = registered()
enabled_after_disable = bool(addon_utils.check(NFS_MODULE_NAME)[1])

addon_utils.enable(NFS_MODULE_NAME, default_set=True, handle_error=_raise)
registered_reenabled = registered()
addon_utils.disable(NFS_MODULE_NAME, default_set=True, handle_error=_raise)

emit({
    **install_report,
    **globals().get("extra", {}),
    "ops": ops_enabled,
    "registered_enabled": registered_enabled,
    "prefs_idnames": prefs_idnames,
    "in_prefs": in_prefs,
    "installed_in_isolated_dir": install_report["module_file"].startswith(user_dir),
    "registered_disabled": registered(),
    "enabled_after_disable": enabled_after_disable,
    "registered_reenabled": registered_reenabled,
    "registered_final": registered(),
})
"""


def _check_install(res):
    assert res["operator_result"] == ["FINISHED"]
    assert res["enabled"] is True
    assert res["installed_in_isolated_dir"] is True, res["module_file"]
    assert res["module_file"].endswith("/extensions/user_default/nfs_blender/__init__.py")
    assert res["in_prefs"] is True
    # Preferences bl_idname must be __package__ (= the bl_ext module name).
    assert all(idname == ADDON_MODULE for idname in res["prefs_idnames"]), res["prefs_idnames"]
    # Disabling unregisters every class; enabling again registers the same set.
    assert res["enabled_after_disable"] is False
    assert res["registered_disabled"] == []
    assert res["registered_reenabled"] == res["registered_enabled"]
    assert res["registered_final"] == []


def test_install_enable_disable_real_zip(addon_zip):
    res = run_blender([build_and_install_snippet(addon_zip), _INSPECT], timeout=120)
    print({k: res[k] for k in ("blender_version", "ops", "registered_enabled")})
    _check_install(res)
    assert len(res["ops"]) >= 1, (
        "the installed add-on registers no operator in the bpy.ops.nfs namespace "
        f"(registered classes: {res['registered_enabled']})")
    assert len(res["registered_enabled"]) >= len(res["ops"])


def _write(root: Path, rel: str, text: str):
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(text), encoding="utf-8")


def test_install_machinery_with_minimal_addon(tmp_path):
    """Harness + build + install on a minimal add-on with one operator and preferences."""
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("blender_manifest.toml", "LICENSE", "NOTICE"):
        shutil.copy(REPO / name, root / name)
    _write(root, "nfs_blender/__init__.py", """\
        import bpy
        from .model_core.runtime import mesh

        class NFS_OT_about(bpy.types.Operator):
            bl_idname = "nfs.about"
            bl_label = "About"

            def execute(self, context):
                self.report({"INFO"}, mesh.NAME)
                return {"FINISHED"}

        class NFS_Prefs(bpy.types.AddonPreferences):
            bl_idname = __package__

        CLASSES = (NFS_OT_about, NFS_Prefs)

        def register():
            for cls in CLASSES:
                bpy.utils.register_class(cls)

        def unregister():
            for cls in reversed(CLASSES):
                bpy.utils.unregister_class(cls)
        """)
    _write(root, "model_core/__init__.py", "")
    _write(root, "model_core/runtime/__init__.py", "")
    _write(root, "model_core/runtime/mesh.py", 'NAME = "mesh"\n')
    _write(root, "model_core/training/train.py", "import torch\n")
    zip_path = build_addon.build(tmp_path / "out", root=root, blender_python=None, verbose=False)

    run_about = 'import bpy\nextra = {"about": sorted(bpy.ops.nfs.about())}\n'
    res = run_blender([build_and_install_snippet(zip_path), run_about, _INSPECT], timeout=120)
    _check_install(res)
    assert res["ops"] == ["about"]
    assert res["registered_enabled"] == ["NFS_OT_about", "NFS_Prefs"]
    assert res["prefs_idnames"] == [ADDON_MODULE]
    assert res["about"] == ["FINISHED"]  # the operator ran and reached the shipped model_core


# ---------------------------------------------------------------------------------------------
# The harness itself

def test_harness_returns_last_emit_and_passes_args():
    res = run_blender("""
        import sys
        import bpy
        emit({"first": True})
        emit({"argv": sys.argv[1:], "version": list(bpy.app.version), "background": bpy.app.background})
        """, args=["a", 2], timeout=60)
    assert res["argv"] == ["a", "2"]
    assert res["background"] is True
    assert res["version"] >= [4, 2, 0]


def test_harness_isolates_user_folders():
    res = run_blender("""
        import os, tempfile
        import bpy
        emit({
            "user": os.environ["BLENDER_USER_RESOURCES"],
            "cache": os.environ["XDG_CACHE_HOME"],
            "tmp": tempfile.gettempdir(),
            "tmp_global": TMP,
            "config": bpy.utils.user_resource("CONFIG"),
            "extensions": bpy.utils.user_resource("EXTENSIONS"),
        })
        """, timeout=60)
    base = str(Path(res["user"]).parent)
    assert Path(base).name.startswith("nfs_blender_run_")
    assert res["cache"].startswith(base) and res["tmp"].startswith(base) and res["tmp_global"] == res["tmp"]
    assert res["config"].startswith(res["user"]) and res["extensions"].startswith(res["user"])
    assert not Path(base).exists()  # removed after the run


def test_harness_reports_exceptions_and_runs_cleanups():
    with pytest.raises(AssertionError) as info:
        run_blender("""
            import bpy
            at_end(lambda: print("CLEANUP-RAN", flush=True))
            raise ValueError("boom from the script")
            """, timeout=60)
    msg = str(info.value)
    assert "exited with 1" in msg
    assert "ValueError: boom from the script" in msg
    assert "CLEANUP-RAN" in msg


def test_harness_requires_emit_and_enforces_timeout():
    with pytest.raises(AssertionError, match="emitted no NFS_RESULT"):
        run_blender("import bpy\nprint('hello')\n", timeout=60)
    with pytest.raises(AssertionError, match="timed out after 3 s"):
        run_blender("import time\nprint('sleeping', flush=True)\ntime.sleep(60)\n", timeout=3)
