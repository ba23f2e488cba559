"""``load_script``: import a file from scripts/ or demo/ (not packages) as a module, once per session."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def load_script(name: str, path: Path | None = None):
    """The module of ``path`` (default ``scripts/<name>.py``) under the module name ``name``."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path or REPO / "scripts" / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]
