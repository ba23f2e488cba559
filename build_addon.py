#!/usr/bin/env python3
"""Build and validate the nfs_blender Blender extension zip.

Usage::

    python build_addon.py [--out DIR] [--validate-with PYTHON | --no-blender-validate]

Writes ``DIR/nfs_blender-<version>.zip`` (default ``dist/``). The zip root holds

* ``blender_manifest.toml``, ``LICENSE``, ``NOTICE`` (from the repository root),
* the add-on package: every file of ``nfs_blender/`` with a suffix in ``ADDON_SUFFIXES``
  (its ``model_core`` development symlink excluded; no caches, no tests),
* ``model_core/``: ONLY the runtime files matched by ``MODEL_CORE_RUNTIME`` (its ``__init__.py``, the runtime
  package, the weights and the data; dereferenced); the training side in ``MODEL_CORE_TRAINING`` is never included.

The built zip is then validated twice:

1. by this script's own checks (``check_manifest`` + ``check_zip``, always run, no Blender needed),
2. by Blender's own validator (``bl_pkg`` ``validate``), which is importable only inside a ``bpy``
   process, so it runs in a subprocess of a Python that has ``bpy`` (``--validate-with``; by default
   ``.venv/py311/bin/python`` or ``.venv/py313/bin/python`` when present, otherwise skipped with a note).

Importable: ``build(out_dir) -> Path`` raises ``BuildError`` with every problem found.
Needs Python >= 3.11 (``tomllib``), like Blender 4.2 itself.
"""
from __future__ import annotations

import argparse
import ast
import fnmatch
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from model_core import RUNTIME_DATA, RUNTIME_PACKAGE

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    tomllib = None

REPO = Path(__file__).resolve().parent
ADDON_ID = "nfs_blender"
MANIFEST = "blender_manifest.toml"
TOP_LEVEL_FILES = (MANIFEST, "LICENSE", "NOTICE")

# The model_core files shipped inside the add-on (glob patterns relative to model_core/): the package's
# __init__.py, the runtime package model_core.RUNTIME_PACKAGE (also the purity test's), and the weights and data
# folders of model_core.RUNTIME_DATA. Patterns that match nothing yet are skipped; the summary lists them.
_DATA_PATTERNS = {"weights": ("weights/*.npz", "weights/*.json")}
MODEL_CORE_RUNTIME = ("__init__.py", f"{RUNTIME_PACKAGE}/**/*.py") + tuple(
    p for d in RUNTIME_DATA for p in _DATA_PATTERNS.get(d, (f"{d}/**/*",)))
# Every other top-level entry of model_core (the training-side packages dataset/, training/, evaluation/ and the
# CLI's modules; they may import torch/scipy): never shipped, even if a pattern matched.
MODEL_CORE_TRAINING = tuple(sorted(
    p.name for p in (REPO / "model_core").iterdir()
    if (p.suffix == ".py" and p.name != "__init__.py")
    or (p.is_dir() and p.name not in (RUNTIME_PACKAGE, *RUNTIME_DATA) and not p.name.startswith(("_", ".")))))
# Files of nfs_blender/ that are shipped (others are reported as skipped).
ADDON_SUFFIXES = (".py", ".json", ".npz", ".csv", ".txt", ".png", ".svg", ".blend")
# Never shipped anywhere.
EXCLUDED_DIR_NAMES = ("__pycache__", "tests", ".pytest_cache", ".git", ".mypy_cache", ".ruff_cache")
EXCLUDED_FILE_PATTERNS = ("*.pyc", "*.pyo", "test_*.py", "*_test.py", "conftest.py", ".*", "*~", "*.blend1")
FORBIDDEN_IMPORTS = ("torch", "scipy")
# Absolute imports of the project's own packages break once installed as bl_ext.<repo>.nfs_blender.
OWN_PACKAGES = ("model_core", "nfs_blender")
MAX_ZIP_BYTES = 50 * 1024 * 1024

# ---- manifest rules (the ones Blender 4.2 .. 5.3 enforce in `validate`, plus project rules) ----
MANIFEST_REQUIRED = (
    "schema_version", "id", "version", "name", "tagline", "maintainer", "type", "license", "blender_version_min",
)
MANIFEST_OPTIONAL = (
    "blender_version_max", "website", "copyright", "permissions", "tags", "platforms", "wheels", "build",
)
TERSE_MAX = 64  # Blender's TERSE_DESCRIPTION_MAX_LENGTH (tagline, permission reasons)
# Blender's add-on tags (scripts/modules/_bpy_internal/extensions/tags.py; identical in 4.2 and 5.3).
ALLOWED_TAGS = frozenset({
    "3D View", "Add Curve", "Add Mesh", "Animation", "Bake", "Camera", "Compositing", "Development",
    "Game Engine", "Geometry Nodes", "Grease Pencil", "Import-Export", "Lighting", "Material", "Mesh",
    "Modeling", "Node", "Object", "Paint", "Physics", "Pipeline", "Render", "Rigging", "Scene", "Sculpt",
    "Sequencer", "System", "Text Editor", "Tracking", "User Interface", "UV",
})
ALLOWED_PERMISSIONS = frozenset({"files", "network", "clipboard", "camera", "microphone"})
MIN_BLENDER = (4, 2, 0)
RE_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
RE_BLENDER_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
RE_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
RE_COPYRIGHT = re.compile(r"^\d+(-\d+)? \S")
FIXED_DATE = (1980, 1, 1, 0, 0, 0)  # deterministic zips


class BuildError(Exception):
    """The add-on could not be built or failed validation; ``errors`` lists every problem."""

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__("add-on build failed:\n  - " + "\n  - ".join(self.errors))


def _load_toml(data: bytes, what: str) -> dict:
    if tomllib is None:
        raise BuildError([f"Python >= 3.11 is needed to read {what} (tomllib); run with .venv/py311/bin/python"])
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as ex:
        raise BuildError([f"{what} is not valid TOML: {ex}"]) from None


def _terse_error(value) -> str | None:
    """Blender's rule for taglines and permission reasons; None when valid."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if len(value) > TERSE_MAX:
        return f"must be at most {TERSE_MAX} characters, found {len(value)}"
    if value != value.strip():
        return "must not start or end with white space"
    if RE_CONTROL.search(value):
        return "must not contain control characters"
    if not (value[-1].isalnum() or value[-1] in ")]}"):
        return f"must not end with punctuation (ends with {value[-1]!r})"
    return None


def _blender_version(value) -> tuple[int, int, int] | None:
    m = RE_BLENDER_VERSION.match(value) if isinstance(value, str) else None
    return tuple(int(g) for g in m.groups()) if m else None


def _entries(data: dict, key: str, kind: type, errors: list[str], message: str, *, non_empty: bool = False):
    """What to check one by one in ``data[key]``: a list's items or a table's (key, value) pairs. Nothing when
    the key is absent, nor when its value is not a ``kind`` (or is empty, with ``non_empty``): then ``message``
    is appended to ``errors``."""
    if key not in data:
        return ()
    value = data[key]
    if not isinstance(value, kind) or (non_empty and not value):
        errors.append(message)
        return ()
    return value.items() if isinstance(value, dict) else value


def check_manifest(data: dict, *, expected_id: str = ADDON_ID) -> list[str]:
    """Check a parsed blender_manifest.toml against Blender's and the project's rules.

    Returns a list of human-readable problems (empty when the manifest is valid).
    """
    errors = []
    for key in MANIFEST_REQUIRED:
        if key not in data:
            errors.append(f'manifest: missing required key "{key}"')
    for key in data:
        if key not in MANIFEST_REQUIRED and key not in MANIFEST_OPTIONAL:
            errors.append(f'manifest: unknown key "{key}" (typo?)')
    for key in ("schema_version", "id", "version", "name", "tagline", "maintainer", "type", "blender_version_min"):
        if key in data and not isinstance(data[key], str):
            errors.append(f'manifest: "{key}" must be a string, not {type(data[key]).__name__}')

    def s(key):
        v = data.get(key)
        return v if isinstance(v, str) else None

    if s("schema_version") is not None and s("schema_version") != "1.0.0":
        errors.append(f'manifest: "schema_version" must be "1.0.0", found {s("schema_version")!r}')
    ident = s("id")
    if ident is not None:
        if not ident.isidentifier() or "__" in ident or ident.startswith("_") or ident.endswith("_"):
            errors.append(f'manifest: "id" {ident!r} must be a Python identifier without "__" or leading/trailing "_"')
        elif expected_id and ident != expected_id:
            errors.append(f'manifest: "id" must be {expected_id!r} (the module is bl_ext.<repo>.{expected_id}), '
                          f"found {ident!r}")
    if s("version") is not None and not RE_SEMVER.match(s("version")):
        errors.append(f'manifest: "version" {s("version")!r} is not semantic versioning (e.g. "0.1.0")')
    for key in ("name", "maintainer"):
        v = s(key)
        if v is not None and (not v.strip() or v != v.strip() or RE_CONTROL.search(v)):
            errors.append(f'manifest: "{key}" must be non-empty, without surrounding white space or control characters')
    if s("tagline") is not None and (err := _terse_error(s("tagline"))):
        errors.append(f'manifest: "tagline" {err}: {s("tagline")!r}')
    if s("type") is not None and s("type") != "add-on":
        errors.append(f'manifest: "type" must be "add-on", found {s("type")!r}')
    for item in _entries(data, "license", list, errors, 'manifest: "license" must be a non-empty list, '
                         'e.g. ["SPDX:GPL-3.0-or-later"]', non_empty=True):
        if not isinstance(item, str) or not item.startswith("SPDX:") or len(item) <= 5:
            errors.append(f'manifest: "license" entries must look like "SPDX:GPL-3.0-or-later", found {item!r}')
    if s("blender_version_min") is not None:
        ver = _blender_version(s("blender_version_min"))
        if ver is None:
            errors.append(f'manifest: "blender_version_min" must be "X.Y.Z", found {s("blender_version_min")!r}')
        elif ver < MIN_BLENDER:
            errors.append(f'manifest: "blender_version_min" must be >= 4.2.0 (extensions), found {s("blender_version_min")!r}')
    if "blender_version_max" in data and _blender_version(data["blender_version_max"]) is None:
        errors.append(f'manifest: "blender_version_max" must be "X.Y.Z", found {data["blender_version_max"]!r}')
    for item in _entries(data, "copyright", list, errors, 'manifest: "copyright" must be a list of strings'):
        if not isinstance(item, str) or not RE_COPYRIGHT.match(item):
            errors.append(f'manifest: "copyright" entries must be "YEAR[-YEAR] Name", found {item!r}')
    for key, reason in _entries(data, "permissions", dict, errors,
                                'manifest: "permissions" must be a table: [permissions] files = "reason"'):
        if key not in ALLOWED_PERMISSIONS:
            errors.append(f'manifest: permission "{key}" is not one of {sorted(ALLOWED_PERMISSIONS)}')
        if err := _terse_error(reason):
            errors.append(f'manifest: permission "{key}" reason {err}: {reason!r}')
    for tag in _entries(data, "tags", list, errors, 'manifest: "tags" must be a non-empty list', non_empty=True):
        if tag not in ALLOWED_TAGS:
            errors.append(f'manifest: tag {tag!r} is not in Blender\'s list: {sorted(ALLOWED_TAGS)}')
    return errors


# ---------------------------------------------------------------------------------------------
# Collecting files

def _excluded(rel_parts: tuple[str, ...]) -> bool:
    if any(p in EXCLUDED_DIR_NAMES for p in rel_parts[:-1]):
        return True
    name = rel_parts[-1]
    return name in EXCLUDED_DIR_NAMES or any(fnmatch.fnmatch(name, pat) for pat in EXCLUDED_FILE_PATTERNS)


def collect_files(root: Path = REPO) -> tuple[list[tuple[str, Path]], list[str], list[str]]:
    """Return (entries, missing_patterns, skipped): entries are (arcname, source file) sorted by arcname."""
    root = Path(root)
    entries: dict[str, Path] = {}
    skipped: list[str] = []
    errors: list[str] = []
    for name in TOP_LEVEL_FILES:
        src = root / name
        if not src.is_file():
            errors.append(f"{name} missing at the repository root ({src})")
        else:
            entries[name] = src

    addon = root / ADDON_ID
    if not (addon / "__init__.py").is_file():
        errors.append(f"{ADDON_ID}/__init__.py missing: the add-on package must exist before building")
    if (addon / MANIFEST).exists():
        errors.append(f"{ADDON_ID}/{MANIFEST} must not exist: the manifest lives at the repository root")
    if addon.is_dir():
        for dirpath, dirnames, filenames in os.walk(addon, followlinks=True):
            rel_dir = Path(dirpath).relative_to(addon)
            if rel_dir == Path("."):
                # The development symlink nfs_blender/model_core -> ../model_core is replaced by the
                # filtered runtime copy below.
                dirnames[:] = [d for d in dirnames if d != "model_core"]
                filenames = [f for f in filenames if f != "model_core"]
            dirnames[:] = sorted(d for d in dirnames if d not in EXCLUDED_DIR_NAMES and not d.startswith("."))
            for fname in sorted(filenames):
                rel = (rel_dir / fname)
                if _excluded(rel.parts):
                    continue
                if fname == MANIFEST:
                    continue
                if not fname.endswith(ADDON_SUFFIXES):
                    skipped.append(f"{ADDON_ID}/{rel.as_posix()}")
                    continue
                entries[rel.as_posix()] = Path(dirpath) / fname

    core = root / "model_core"
    missing = []
    for pattern in MODEL_CORE_RUNTIME:
        matches = sorted(p for p in core.glob(pattern) if p.is_file()) if core.is_dir() else []
        kept = 0
        for src in matches:
            rel = src.relative_to(core)
            if _excluded(rel.parts) or rel.parts[0] in MODEL_CORE_TRAINING:
                continue
            entries["model_core/" + rel.as_posix()] = src.resolve()
            kept += 1
        if not kept:
            missing.append(f"model_core/{pattern}")
    if errors:
        raise BuildError(errors)
    return sorted(entries.items()), missing, skipped


# ---------------------------------------------------------------------------------------------
# Checking a built zip

def _module_file(names: set[str], parts: list[str]) -> str | None:
    """Zip entry of the module or package ``parts`` (relative to the zip root), or None."""
    if not parts:
        return "__init__.py" if "__init__.py" in names else None
    path = "/".join(parts)
    for cand in (path + ".py", path + "/__init__.py"):
        if cand in names:
            return cand
    return None


def _top_level_names(source: bytes) -> set[str] | None:
    """Names a module defines at top level (None when it cannot be told: star import, __getattr__)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    found: set[str] = set()

    def visit(body):
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    for n in ast.walk(t):
                        if isinstance(n, ast.Name):
                            found.add(n.id)
            elif isinstance(node, ast.ImportFrom) and node.level and not node.module:
                continue  # `from . import x` names submodules, checked as modules on their own
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for a in node.names:
                    if a.name == "*":
                        found.add("*")
                    found.add(a.asname or a.name.split(".")[0])
            elif isinstance(node, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
                for field in ("body", "orelse", "finalbody"):
                    visit(getattr(node, field, []) or [])
                for h in getattr(node, "handlers", []) or []:
                    visit(h.body)
    visit(tree.body)
    return None if ("*" in found or "__getattr__" in found) else found


_GUARD_EXCEPTIONS = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(t, ast.Name) and t.id in _GUARD_EXCEPTIONS for t in types)


def _imports_with_guard(tree):
    """Yield (import node, guarded): guarded when inside the body of a try that catches ImportError."""
    def visit(node, guarded):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, guarded
            return
        if isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            body_guarded = guarded or any(_catches_import_error(h) for h in node.handlers)
            for child in node.body:
                yield from visit(child, body_guarded)
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                yield from visit(child, guarded)
            return
        for child in ast.iter_child_nodes(node):
            yield from visit(child, guarded)
    yield from visit(tree, False)


def _check_python(arcname: str, source: bytes, names: set[str], read=None, warnings=None) -> list[str]:
    """Syntax, forbidden imports, absolute own imports, and relative imports that do not resolve in the zip.

    read: callable(entry name) -> bytes, used to look up names defined by imported packages.
    warnings: list that receives unresolved imports guarded by ``try/except ImportError`` (optional
        features); without it they are errors. torch/scipy imports are errors even when guarded.
    Returns the errors.
    """
    errors = []
    try:
        tree = ast.parse(source, filename=arcname)
    except SyntaxError as ex:
        return [f"{arcname}:{ex.lineno}: syntax error: {ex.msg}"]
    parts = arcname[:-3].split("/")
    package = parts[:-1]  # package containing this module (zip root = add-on package = [])
    training = {m.removesuffix(".py") for m in MODEL_CORE_TRAINING}
    for node, guarded in _imports_with_guard(tree):
        problems = warnings if (guarded and warnings is not None) else errors
        if isinstance(node, ast.Import):
            mods = [(a.name, 0) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mods = [(node.module or "", node.level)]
        else:
            continue
        for mod, level in mods:
            if level == 0:
                top = mod.split(".")[0]
                if top in FORBIDDEN_IMPORTS:
                    errors.append(f"{arcname}:{node.lineno}: imports {top} (the add-on must run on Blender's numpy "
                                  f"only; keep {top} in training modules, which are not shipped)")
                elif top in OWN_PACKAGES:
                    problems.append(f"{arcname}:{node.lineno}: absolute import of {mod!r}; use a relative import "
                                    f"(the add-on is installed as bl_ext.<repo>.{ADDON_ID})")
                continue
            if level - 1 > len(package):
                problems.append(f"{arcname}:{node.lineno}: relative import goes above the add-on package")
                continue
            base = package[: len(package) - (level - 1)]
            target = base + (mod.split(".") if mod else [])
            shown = "." * level + mod
            target_file = _module_file(names, target)
            if target_file is None:
                hint = " (a training module: the runtime must not import it)" \
                    if target[:1] == ["model_core"] and target[1:2] and target[1] in training else ""
                problems.append(f"{arcname}:{node.lineno}: imports {shown}, which is not in the zip{hint}")
                continue
            # `from .pkg import x`: x is a submodule of pkg, or a name pkg defines.
            defined = None
            for alias in node.names:
                if alias.name == "*" or _module_file(names, target + [alias.name]) is not None:
                    continue
                if defined is None:
                    defined = _top_level_names(read(target_file)) if read else None
                    if defined is None:
                        break
                if alias.name not in defined:
                    hint = " (a training module: the runtime must not import it)" \
                        if target == ["model_core"] and alias.name in training else ""
                    problems.append(f"{arcname}:{node.lineno}: from {shown} import {alias.name}: neither a module in "
                                    f"the zip nor a name defined in {target_file}{hint}")
    return errors


def check_zip(zip_path: Path, *, expected_id: str = ADDON_ID, warnings: list | None = None) -> list[str]:
    """All of this project's rules for a built extension zip; returns the problems found (errors).

    warnings: optional list that receives non-fatal findings (unresolved imports guarded by
    ``try/except ImportError``); without it those count as errors.
    """
    zip_path = Path(zip_path)
    errors = []
    size = zip_path.stat().st_size
    if size >= MAX_ZIP_BYTES:
        errors.append(f"zip is {size / 2**20:.1f} MiB; must stay under {MAX_ZIP_BYTES / 2**20:.0f} MiB")
    with zipfile.ZipFile(zip_path) as zf:
        names_list = [n for n in zf.namelist() if not n.endswith("/")]
        names = set(names_list)
        if len(names) != len(names_list):
            errors.append("zip has duplicate entries")
        if MANIFEST not in names:
            errors.append(f"{MANIFEST} is not at the zip root")
        else:
            errors += check_manifest(_load_toml(zf.read(MANIFEST), MANIFEST), expected_id=expected_id)
        for required in ("__init__.py", "LICENSE", "NOTICE"):
            if required not in names:
                errors.append(f"{required} is not at the zip root")
        for name in sorted(names):
            parts = tuple(name.split("/"))
            if any(p in EXCLUDED_DIR_NAMES for p in parts[:-1]) or _excluded(parts):
                errors.append(f"{name}: caches, tests and hidden files must not be shipped")
            if name.startswith("/") or ".." in parts:
                errors.append(f"{name}: unsafe path in zip")
            if parts[0] == "model_core" and len(parts) >= 2 and parts[1] in MODEL_CORE_TRAINING:
                errors.append(f"{name}: training module must not be shipped")
            if name.endswith(".py"):
                errors += _check_python(name, zf.read(name), names, zf.read, warnings)
    return errors


# ---------------------------------------------------------------------------------------------
# Blender's own validator (subprocess: bl_pkg is importable only inside a bpy process)

_BLENDER_VALIDATE = r"""
import os, sys, traceback
rc = 3
try:
    import bpy
    from bl_pkg import bl_extension_cli
    print("blender", bpy.app.version_string)
    rc = bl_extension_cli.cli_extension_handler(["validate", sys.argv[1]])
except BaseException:
    traceback.print_exc()
sys.stdout.flush()
sys.stderr.flush()
os._exit(int(rc or 0))
"""


def default_blender_python(root: Path = REPO) -> Path | None:
    """The first project venv Python that exists (.venv/py311, then .venv/py313), else None."""
    for venv in ("py311", "py313"):
        p = Path(root) / ".venv" / venv / "bin" / "python"
        if p.exists():
            return p
    return None


def validate_with_blender(zip_path: Path, python, *, timeout: float = 120) -> tuple[bool, str]:
    """Run Blender's `validate` on zip_path in a subprocess of `python` (which must have bpy).

    Returns (ok, combined output). The subprocess gets its own user-resource/cache/temp folders.
    """
    with tempfile.TemporaryDirectory(prefix="nfs_validate_") as tmp:
        env = dict(os.environ)
        for var, sub in (("BLENDER_USER_RESOURCES", "user"), ("XDG_CACHE_HOME", "cache"), ("TMPDIR", "tmp")):
            os.makedirs(os.path.join(tmp, sub))
            env[var] = os.path.join(tmp, sub)
        try:
            proc = subprocess.run([str(python), "-c", _BLENDER_VALIDATE, str(Path(zip_path).resolve())],
                                  capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            return False, f"Blender validation timed out after {timeout} s"
        except OSError as ex:
            return False, f"could not run {python}: {ex}"
    out = (proc.stdout + proc.stderr).strip()
    lines = [ln for ln in out.splitlines() if "Not freed memory blocks" not in ln and "total unfreed memory" not in ln]
    return proc.returncode == 0, "\n".join(lines)


# ---------------------------------------------------------------------------------------------

def read_version(root: Path = REPO) -> str:
    manifest = _load_toml((Path(root) / MANIFEST).read_bytes(), MANIFEST)
    version = manifest.get("version")
    if not isinstance(version, str) or not RE_SEMVER.match(version):
        raise BuildError([f'{MANIFEST}: "version" must be semantic versioning, found {version!r}'])
    return version


def build(out_dir=None, *, root=REPO, blender_python="auto", verbose=True) -> Path:
    """Build ``<out_dir>/nfs_blender-<version>.zip`` from the tree at ``root`` and validate it.

    out_dir: folder for the zip (default ``<root>/dist``), created when missing.
    blender_python: "auto" (project venv if present, else skip), None (skip Blender's validator),
        or the path of a Python that has ``bpy``.
    Returns the zip path. Raises BuildError listing every problem (the zip is then deleted).
    """
    root = Path(root).resolve()
    out_dir = Path(out_dir) if out_dir is not None else root / "dist"
    if not (root / MANIFEST).is_file():
        raise BuildError([f"{MANIFEST} missing at {root}"])
    version = read_version(root)
    entries, missing, skipped = collect_files(root)
    out_dir.mkdir(parents=True, exist_ok=True)
    zip_path = out_dir / f"{ADDON_ID}-{version}.zip"
    tmp_zip = zip_path.with_suffix(".zip.part")
    with zipfile.ZipFile(tmp_zip, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for arcname, src in entries:
            info = zipfile.ZipInfo(arcname, date_time=FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, src.read_bytes())
    os.replace(tmp_zip, zip_path)

    warnings: list[str] = []
    errors = check_zip(zip_path, warnings=warnings)
    blender_note = "skipped (--no-blender-validate)"
    if blender_python == "auto":
        blender_python = default_blender_python(root) or default_blender_python(REPO)
        if blender_python is None:
            blender_note = "skipped (no .venv/py311 or .venv/py313 with bpy; run .ci/setup_env.sh)"
    if blender_python is not None:
        ok, output = validate_with_blender(zip_path, blender_python)
        version_line = next((ln for ln in output.splitlines() if ln.startswith("blender ")), "blender ?")
        blender_note = f"{'passed' if ok else 'FAILED'} ({version_line}, {blender_python})"
        if not ok:
            errors.append("Blender's validator rejected the zip:\n" + output)

    if verbose:
        size = zip_path.stat().st_size
        n_core = sum(1 for a, _ in entries if a.startswith("model_core/"))
        n_top = sum(1 for a, _ in entries if a in TOP_LEVEL_FILES)
        print(f"[build_addon] {zip_path}")
        print(f"[build_addon]   {len(entries)} files ({len(entries) - n_core - n_top} add-on, {n_core} model_core, "
              f"{n_top} manifest/licence), {size / 1024:.1f} KiB")
        for pattern in missing:
            print(f"[build_addon]   not present yet, skipped: {pattern}")
        for name in skipped:
            print(f"[build_addon]   not an add-on file type, skipped: {name}")
        for w in warnings:
            print(f"[build_addon]   WARNING (guarded import, optional at run time): {w}")
        print(f"[build_addon]   own checks: {'FAILED' if any(not e.startswith('Blender') for e in errors) else 'passed'}")
        print(f"[build_addon]   Blender validator: {blender_note}")
    if errors:
        zip_path.unlink(missing_ok=True)
        raise BuildError(errors)
    return zip_path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: dist/)")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--validate-with", metavar="PYTHON", default="auto",
                   help="Python with bpy that runs Blender's validator (default: .venv/py311 or .venv/py313)")
    g.add_argument("--no-blender-validate", action="store_true", help="only run this script's own checks")
    args = ap.parse_args(argv)
    blender_python = None if args.no_blender_validate else args.validate_with
    if blender_python not in (None, "auto") and not Path(blender_python).exists():
        print(f"[build_addon] ERROR: --validate-with {blender_python}: no such file", file=sys.stderr)
        return 2
    try:
        build(args.out, blender_python=blender_python)
    except BuildError as ex:
        print(f"[build_addon] ERROR: {ex}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
