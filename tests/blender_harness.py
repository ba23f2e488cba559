"""Run Python code inside real headless Blender (the `bpy` module) in a subprocess; get JSON back.

Usage in a test::

    from blender_harness import run_blender

    res = run_blender('''
    import bpy
    emit({"version": list(bpy.app.version)})
    ''')
    assert res["version"][0] >= 4

The script runs in a fresh process of ``python`` (default: the interpreter running pytest, which must
have ``bpy``), with ``BLENDER_USER_RESOURCES``, ``XDG_CACHE_HOME`` and ``TMPDIR`` pointing into a new
temporary folder, so Blender's user config, the ``user_default`` extension repository, shader caches
and session files never touch the user's home. ``PYTHONPATH`` is the repository root and ``tests/`` (so the
script imports this checkout's ``model_core`` and ``nfs_blender``, and the test helpers such as
``standin_model``); the repository root is the working directory.

Names the runner gives the script (its globals):

* ``emit(obj)``: print ``obj`` as JSON on one ``NFS_RESULT:`` line; ``run_blender`` returns the
  last emitted object.
* ``at_end(fn)``: register a clean-up callable (e.g. disabling an add-on), called in reverse order
  after the script, also when it raised. A class left registered at exit makes Blender 4.2 segfault
  and 4.5 hang, so unregister there.
* ``TMP``: the subprocess's private temporary folder (str).

The process always ends with ``os._exit`` after flushing (a normal interpreter exit can hang):
exit code 0 on success, 1 when the script or a clean-up raised (traceback printed to stderr).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MARKER = "NFS_RESULT:"
ADDON_MODULE = "bl_ext.user_default.nfs_blender"
TAIL_CHARS = 6000

_RUNNER = r'''
import json, os, sys, traceback
sys.dont_write_bytecode = True
_MARKER = "NFS_RESULT:"
_script, _tmp = sys.argv[1], sys.argv[2]
sys.argv = [_script] + sys.argv[3:]
_cleanups = []

def emit(obj):
    """Send obj (JSON-serialisable) back to the test process."""
    sys.stdout.write("\n" + _MARKER + json.dumps(obj) + "\n")
    sys.stdout.flush()

def at_end(fn):
    """Call fn() after the script (reverse order), even when the script raised."""
    _cleanups.append(fn)
    return fn

_rc = 0
try:
    import runpy
    runpy.run_path(_script, init_globals={"emit": emit, "at_end": at_end, "TMP": _tmp}, run_name="__main__")
except SystemExit as ex:
    _rc = ex.code if isinstance(ex.code, int) else (0 if ex.code is None else 1)
except BaseException:
    traceback.print_exc()
    _rc = 1
for _fn in reversed(_cleanups):
    try:
        _fn()
    except BaseException:
        sys.stderr.write("error in at_end clean-up:\n")
        traceback.print_exc()
        _rc = _rc or 1
sys.stdout.flush()
sys.stderr.flush()
os._exit(_rc)
'''


def _tail(text: str) -> str:
    lines = [ln for ln in text.splitlines()
             if "Not freed memory blocks" not in ln and "total unfreed memory" not in ln]
    text = "\n".join(lines)
    return text if len(text) <= TAIL_CHARS else "...\n" + text[-TAIL_CHARS:]


def run_blender(script: str, *, args=None, timeout: float = 300, python=sys.executable, env=None):
    """Run ``script`` (Python source) in a headless Blender subprocess and return what it emitted.

    script: source text, or a list of source parts (e.g. ``[build_and_install_snippet(zip), test_code]``);
        each part is dedented, so indented triple-quoted strings are fine.
    args: extra command-line arguments, visible to the script as ``sys.argv[1:]``.
    timeout: seconds before the subprocess is killed (AssertionError).
    python: interpreter that has ``bpy`` (default: the one running the tests).
    env: extra environment variables for the subprocess.
    Returns the JSON value of the last ``emit(obj)`` call (normally a dict).
    Raises AssertionError (with the tail of stdout/stderr) on a non-zero exit, a timeout, or when
    the script emitted nothing.
    """
    with tempfile.TemporaryDirectory(prefix="nfs_blender_run_") as tmp:
        tmp_path = Path(tmp)
        sub_env = dict(os.environ)
        for var, sub in (("BLENDER_USER_RESOURCES", "user"), ("XDG_CACHE_HOME", "cache"), ("TMPDIR", "tmp")):
            (tmp_path / sub).mkdir()
            sub_env[var] = str(tmp_path / sub)
        sub_env["PYTHONDONTWRITEBYTECODE"] = "1"
        # this checkout's model_core and nfs_blender, and the test helpers (standin_model, robustness_cases)
        sub_env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "tests")])
        if env:
            sub_env.update({k: str(v) for k, v in env.items()})
        script_file = tmp_path / "nfs_script.py"
        parts = [script] if isinstance(script, str) else list(script)
        script_file.write_text("\n".join(textwrap.dedent(p) for p in parts), encoding="utf-8")
        runner_file = tmp_path / "nfs_runner.py"
        runner_file.write_text(_RUNNER, encoding="utf-8")
        if os.sep in str(python):  # a relative path must survive cwd=REPO; keep venv symlinks unresolved
            python = os.path.abspath(str(python))
        cmd = [str(python), str(runner_file), str(script_file), str(tmp_path / "tmp")]
        cmd += [str(a) for a in (args or ())]
        try:
            proc = subprocess.run(cmd, cwd=str(REPO), env=sub_env, capture_output=True, text=True,
                                  timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as ex:
            out = ex.stdout.decode(errors="replace") if isinstance(ex.stdout, bytes) else (ex.stdout or "")
            err = ex.stderr.decode(errors="replace") if isinstance(ex.stderr, bytes) else (ex.stderr or "")
            raise AssertionError(f"Blender subprocess ({python}) timed out after {timeout} s\n"
                                 f"--- stdout ---\n{_tail(out)}\n--- stderr ---\n{_tail(err)}") from None
    if proc.returncode != 0:
        raise AssertionError(f"Blender subprocess ({python}) exited with {proc.returncode}\n"
                             f"--- stdout ---\n{_tail(proc.stdout)}\n--- stderr ---\n{_tail(proc.stderr)}")
    results = [ln[len(MARKER):] for ln in proc.stdout.splitlines() if ln.startswith(MARKER)]
    if not results:
        raise AssertionError(f"Blender subprocess ({python}) emitted no {MARKER} line (call emit(obj))\n"
                             f"--- stdout ---\n{_tail(proc.stdout)}\n--- stderr ---\n{_tail(proc.stderr)}")
    return json.loads(results[-1])


def build_and_install_snippet(zip_path, *, module: str = ADDON_MODULE) -> str:
    """Script text that installs the built extension zip in the isolated ``user_default`` repository.

    After it runs (as the start of a ``run_blender`` script), the script has:
    ``nfs_module`` (the imported ``bl_ext.user_default.nfs_blender`` module), ``NFS_MODULE_NAME``,
    ``install_report`` (dict: operator result, enabled state, blender version), and an ``at_end``
    clean-up that disables the add-on (``addon_utils.disable(..., default_set=True)``) so no class
    stays registered at exit. Call ``nfs_disable()`` yourself to check the disabled state earlier;
    it is idempotent.
    """
    zip_path = str(Path(zip_path).resolve())
    return textwrap.dedent(f'''\
        import importlib, sys
        import bpy  # first: it puts Blender's script folders (addon_utils, bl_pkg) on sys.path
        import addon_utils

        NFS_MODULE_NAME = {module!r}
        _nfs_result = bpy.ops.extensions.package_install_files(
            filepath={zip_path!r}, repo="user_default", enable_on_install=True)
        _nfs_state = {{"disabled": False}}

        def nfs_disable():
            """Disable the add-on (unregisters its classes); idempotent."""
            if not _nfs_state["disabled"]:
                addon_utils.disable(NFS_MODULE_NAME, default_set=True)
                _nfs_state["disabled"] = True

        at_end(nfs_disable)
        nfs_module = importlib.import_module(NFS_MODULE_NAME)
        install_report = {{
            "operator_result": sorted(_nfs_result),
            "enabled": bool(addon_utils.check(NFS_MODULE_NAME)[1]),
            "blender_version": list(bpy.app.version),
            "module_file": getattr(nfs_module, "__file__", None),
        }}
        ''')
