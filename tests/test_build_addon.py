"""build_addon.py: zip content rules, the project's own validator, and Blender's validator on the real zip."""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import textwrap
import tomllib
import zipfile
from pathlib import Path

import pytest

import build_addon
from blender_harness import run_blender

REPO = Path(__file__).resolve().parents[1]


def _names(zip_path) -> list[str]:
    with zipfile.ZipFile(zip_path) as zf:
        return [n for n in zf.namelist() if not n.endswith("/")]


# ---------------------------------------------------------------------------------------------
# The real zip

def test_zip_layout_and_content_rules(addon_zip):
    names = _names(addon_zip)
    assert addon_zip.name == f"nfs_blender-{build_addon.read_version()}.zip"
    for required in ("blender_manifest.toml", "__init__.py", "LICENSE", "NOTICE"):
        assert required in names, required
    assert len(names) == len(set(names))
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".pyo"))]
    assert not [n for n in names if n.split("/")[-1].startswith("test_") or "/tests/" in "/" + n]
    assert addon_zip.stat().st_size < 50 * 2**20

    # Add-on part: exactly the package's shipped files (the model_core symlink replaced by the filtered copy).
    addon_dir = REPO / "nfs_blender"
    expected_addon = sorted(
        p.relative_to(addon_dir).as_posix()
        for p in addon_dir.rglob("*.py")
        if "__pycache__" not in p.parts and p.relative_to(addon_dir).parts[0] != "model_core"
        and not p.name.startswith("test_")
    )
    got_addon = sorted(n for n in names if n.endswith(".py") and not n.startswith("model_core/"))
    assert got_addon == expected_addon

    # model_core part: only runtime patterns, never training modules, byte-identical to the sources.
    core = [n[len("model_core/"):] for n in names if n.startswith("model_core/")]
    assert "__init__.py" in core or not (REPO / "model_core" / "__init__.py").exists()
    src = REPO / "model_core"
    expected_core = {
        p.relative_to(src).as_posix()
        for pat in build_addon.MODEL_CORE_RUNTIME for p in src.glob(pat)
        if p.is_file() and "__pycache__" not in p.parts and not p.name.endswith(".pyc")
    } - set(build_addon.MODEL_CORE_TRAINING)
    assert set(core) == expected_core
    with zipfile.ZipFile(addon_zip) as zf:
        for rel in core:
            assert zf.read("model_core/" + rel) == (REPO / "model_core" / rel).read_bytes(), rel
        info = zf.getinfo("model_core/__init__.py") if "__init__.py" in core else None
        if info is not None:  # a regular file entry, not a stored symlink
            assert (info.external_attr >> 16) & 0o170000 != 0o120000
    for rel in build_addon.MODEL_CORE_TRAINING:
        if (REPO / "model_core" / rel).exists():
            assert "model_core/" + rel not in names

    warnings = []
    assert build_addon.check_zip(addon_zip, warnings=warnings) == []


def test_real_zip_imports_all_resolve(addon_zip):
    """Every relative import in the shipped code resolves inside the zip, guarded ones included
    (a guarded import that does not resolve means a feature of the add-on is missing)."""
    warnings = []
    build_addon.check_zip(addon_zip, warnings=warnings)
    assert warnings == []


def test_build_is_deterministic(addon_zip, tmp_path):
    again = build_addon.build(tmp_path, blender_python=None, verbose=False)
    assert hashlib.sha256(again.read_bytes()).hexdigest() == hashlib.sha256(addon_zip.read_bytes()).hexdigest()


def test_manifest_values():
    data = tomllib.loads((REPO / "blender_manifest.toml").read_text(encoding="utf-8"))
    assert build_addon.check_manifest(data) == []
    assert data["id"] == "nfs_blender"
    assert data["type"] == "add-on"
    assert data["blender_version_min"] == "4.2.0"
    assert data["license"] == ["SPDX:GPL-3.0-or-later"]
    assert len(data["tagline"]) <= 64 and data["tagline"][-1].isalnum()
    assert any("ICT-FaceKit" in c and "MIT" in c for c in data["copyright"])
    assert set(data["permissions"]) == {"files"}  # no network, no clipboard
    assert set(data["tags"]) <= build_addon.ALLOWED_TAGS
    assert "GNU GENERAL PUBLIC LICENSE" in (REPO / "LICENSE").read_text()[:200]
    assert "Version 3" in (REPO / "LICENSE").read_text()[:200]
    notice = (REPO / "NOTICE").read_text()
    assert "ICT-FaceKit" in notice and "MIT License" in notice and "GPL-3.0-or-later" in notice


def test_cli_builds_and_reports(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "build_addon.py"), "--out", str(tmp_path),
                           "--no-blender-validate"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "own checks: passed" in proc.stdout
    assert len(list(tmp_path.glob("nfs_blender-*.zip"))) == 1
    proc = subprocess.run([sys.executable, str(REPO / "build_addon.py"), "--out", str(tmp_path),
                           "--validate-with", str(tmp_path / "no_such_python")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "no such file" in proc.stderr


# ---------------------------------------------------------------------------------------------
# The own validator on a fake tree

def _write(root: Path, rel: str, text: str):
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(text), encoding="utf-8")


@pytest.fixture
def fake_tree(tmp_path) -> Path:
    """A minimal valid repository tree, with things that must be left out of the zip."""
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("blender_manifest.toml", "LICENSE", "NOTICE"):
        shutil.copy(REPO / name, root / name)
    _write(root, "nfs_blender/__init__.py", """\
        from .model_core.runtime import model

        def register():
            pass

        def unregister():
            pass
        """)
    for rel, text in {
        "nfs_blender/ops/__init__.py": "from . import io\n",
        "nfs_blender/ops/io.py": "import numpy as np\nfrom ..model_core.runtime import mesh\n",
        "nfs_blender/tests/test_addon.py": "import torch\n",
        "nfs_blender/notes.md": "not shipped\n",
        "model_core/__init__.py": '"""core"""\n',
        "model_core/runtime/mesh.py": "import numpy as np\n",
        "model_core/runtime/__init__.py": "",
        "model_core/runtime/model.py": "from .mesh import np\nfrom . import layers\n",
        "model_core/runtime/layers.py": '"""import torch  (only a docstring)"""\n',
        "model_core/training/train.py": "import torch\n",
        "model_core/dataset/ict.py": "import scipy.sparse\n",
        "model_core/data/labels.json": "[]\n",
    }.items():
        _write(root, rel, text)
    (root / "model_core/__pycache__").mkdir()
    (root / "model_core/__pycache__/mesh.cpython-311.pyc").write_bytes(b"\0")
    (root / "nfs_blender/model_core").symlink_to("../model_core")
    return root


def test_fake_tree_builds_with_only_runtime_files(fake_tree, tmp_path):
    zip_path = build_addon.build(tmp_path / "out", root=fake_tree, blender_python=None, verbose=False)
    assert sorted(_names(zip_path)) == sorted([
        "LICENSE", "NOTICE", "blender_manifest.toml", "__init__.py", "ops/__init__.py", "ops/io.py",
        "model_core/__init__.py", "model_core/runtime/mesh.py", "model_core/runtime/__init__.py",
        "model_core/runtime/layers.py", "model_core/runtime/model.py", "model_core/data/labels.json",
    ])


def _set_manifest(root: Path, old: str, new: str):
    p = root / "blender_manifest.toml"
    text = p.read_text(encoding="utf-8")
    assert old in text, old
    p.write_text(text.replace(old, new, 1), encoding="utf-8")


def _tagline(root):
    data = tomllib.loads((root / "blender_manifest.toml").read_text(encoding="utf-8"))
    return f'tagline = "{data["tagline"]}"'


BAD_TREES = {
    "tagline_punctuation": (lambda r: _set_manifest(r, _tagline(r), _tagline(r)[:-1] + '."'),
                            'tagline" must not end with punctuation'),
    "tagline_too_long": (lambda r: _set_manifest(r, _tagline(r), 'tagline = "' + "x" * 65 + '"'),
                         'tagline" must be at most 64 characters, found 65'),
    "missing_maintainer": (lambda r: _set_manifest(r, "maintainer =", "# maintainer ="),
                           'missing required key "maintainer"'),
    "bad_tag": (lambda r: _set_manifest(r, '"Animation"', '"Faces"'), "tag 'Faces' is not in Blender's list"),
    "bad_permission": (lambda r: _set_manifest(r, "files =", "internet ="), 'permission "internet" is not one of'),
    "license_not_spdx": (lambda r: _set_manifest(r, '"SPDX:GPL-3.0-or-later"', '"GPL-3.0-or-later"'),
                         '"license" entries must look like "SPDX:'),
    "bad_version": (lambda r: _set_manifest(r, 'version = "0.1.0"', 'version = "0.1"'),
                    '"version" must be semantic versioning'),
    "bad_id": (lambda r: _set_manifest(r, 'id = "nfs_blender"', 'id = "nfs-blender"'),
               '"id" \'nfs-blender\' must be a Python identifier'),
    "torch_in_runtime": (lambda r: _write(r, "model_core/runtime/mesh.py", "import numpy as np\nimport torch\n"),
                         "model_core/runtime/mesh.py:2: imports torch"),
    "scipy_in_addon": (lambda r: _write(r, "nfs_blender/ops/io.py", "def f():\n    from scipy.spatial import cKDTree\n"),
                       "ops/io.py:2: imports scipy"),
    "runtime_imports_training": (lambda r: _write(r, "model_core/runtime/model.py",
                                                  "from ..training.train import fit\n"),
                                 "imports ..training.train, which is not in the zip (a training module"),
    "missing_submodule": (lambda r: _write(r, "nfs_blender/ops/__init__.py", "from . import io, engine\n"),
                          "from . import engine: neither a module in the zip nor a name defined in ops/__init__.py"),
    "from_dot_import_training": (lambda r: _write(r, "model_core/runtime/model.py", "from .. import runtime, training\n"),
                                 "import training: neither a module in the zip nor a name defined in "
                                 "model_core/__init__.py (a training module"),
    "missing_name": (lambda r: _write(r, "model_core/runtime/model.py", "from .mesh import np, missing_fn\n"),
                     "from .mesh import missing_fn: neither a module in the zip nor a name defined in "
                     "model_core/runtime/mesh.py"),
    "absolute_own_import": (lambda r: _write(r, "nfs_blender/ops/io.py", "from model_core import mesh\n"),
                            "absolute import of 'model_core'; use a relative import"),
    "syntax_error": (lambda r: _write(r, "nfs_blender/ops/io.py", "def f(:\n"), "ops/io.py:1: syntax error"),
    "no_addon_init": (lambda r: (r / "nfs_blender/__init__.py").unlink(), "nfs_blender/__init__.py missing"),
    "no_license": (lambda r: (r / "LICENSE").unlink(), "LICENSE missing at the repository root"),
}


@pytest.mark.parametrize("case", sorted(BAD_TREES))
def test_own_validator_rejects(fake_tree, tmp_path, case):
    mutate, expected = BAD_TREES[case]
    mutate(fake_tree)
    out = tmp_path / "out"
    with pytest.raises(build_addon.BuildError) as info:
        build_addon.build(out, root=fake_tree, blender_python=None, verbose=False)
    assert any(expected in e for e in info.value.errors), info.value.errors
    assert not list(out.glob("*.zip")) if out.exists() else True  # a rejected zip is not left behind


def test_guarded_missing_import_is_a_warning(fake_tree, tmp_path, capsys):
    """An import inside try/except ImportError may be missing (optional feature): warned, not fatal."""
    _write(fake_tree, "nfs_blender/ops/io.py", """\
        def load():
            try:
                from ..model_core.runtime import engine_that_is_not_written_yet
            except ImportError:
                return None
        """)
    zip_path = build_addon.build(tmp_path / "out", root=fake_tree, blender_python=None, verbose=True)
    assert zip_path.is_file()
    out = capsys.readouterr().out
    assert "WARNING (guarded import" in out and "engine_that_is_not_written_yet" in out
    assert build_addon.check_zip(zip_path) != []  # strict mode (no warnings list): an error
    _write(fake_tree, "nfs_blender/ops/io.py", """\
        try:
            import torch
        except ImportError:
            torch = None
        """)
    with pytest.raises(build_addon.BuildError, match="imports torch"):
        build_addon.build(tmp_path / "out", root=fake_tree, blender_python=None, verbose=False)


def test_size_limit(fake_tree, tmp_path, monkeypatch):
    monkeypatch.setattr(build_addon, "MAX_ZIP_BYTES", 1000)
    with pytest.raises(build_addon.BuildError) as info:
        build_addon.build(tmp_path / "out", root=fake_tree, blender_python=None, verbose=False)
    assert any("must stay under" in e for e in info.value.errors)


# ---------------------------------------------------------------------------------------------
# Blender's own rules

@pytest.mark.blender
def test_allowed_tags_match_this_blender():
    """The own validator's tag list equals the add-on tags of the installed Blender (4.2 or 5.3)."""
    import importlib.util

    bpy_dir = Path(importlib.util.find_spec("bpy").origin).parent
    files = sorted(bpy_dir.glob("*/scripts/modules/_bpy_internal/extensions/tags.py"))
    assert len(files) == 1, files
    ns: dict = {}
    exec(files[0].read_text(encoding="utf-8"), ns)
    assert ns["addons"] - {"All"} == set(build_addon.ALLOWED_TAGS)


_VALIDATE = """
import contextlib, io, sys
import bpy
from bl_pkg import bl_extension_cli

def validate(path):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = bl_extension_cli.cli_extension_handler(["validate", path])
    return {"rc": rc, "out": buf.getvalue()}

emit({"version": list(bpy.app.version), "good": validate(sys.argv[1]), "bad": validate(sys.argv[2])})
"""


@pytest.mark.blender
def test_blender_validator_accepts_real_zip_and_rejects_bad_tagline(addon_zip, tmp_path):
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(addon_zip) as zi, zipfile.ZipFile(bad, "w") as zo:
        for name in zi.namelist():
            data = zi.read(name)
            if name == "blender_manifest.toml":
                tag = tomllib.loads(data.decode())["tagline"]
                data = data.replace(f'"{tag}"'.encode(), f'"{tag}."'.encode())
            zo.writestr(name, data)
    assert any("tagline" in e for e in build_addon.check_zip(bad))  # the own validator agrees

    res = run_blender(_VALIDATE, args=[addon_zip, bad], timeout=120)
    assert res["version"] >= [4, 2, 0]
    assert res["good"]["rc"] == 0, res["good"]["out"]
    assert "Success parsing TOML" in res["good"]["out"]
    assert res["bad"]["rc"] != 0
    assert 'key "tagline" invalid' in res["bad"]["out"]


@pytest.mark.blender
def test_build_runs_blender_validator(tmp_path, capsys):
    """build(..., blender_python=this interpreter) runs Blender's validator in a subprocess."""
    zip_path = build_addon.build(tmp_path, blender_python=sys.executable, verbose=True)
    assert zip_path.is_file()
    out = capsys.readouterr().out
    assert "own checks: passed" in out
    assert "Blender validator: passed (blender " in out, out
