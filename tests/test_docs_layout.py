"""docs/architecture.md and the README's layout section list what ``ls`` shows."""
import re
import subprocess
from pathlib import Path

import pytest

from model_core import RUNTIME_DATA, RUNTIME_PACKAGE

REPO = Path(__file__).resolve().parents[1]


def _layout_block(text: str, after: str) -> str:
    start = text.index("```", text.index(after))
    return text[start:text.index("```", start + 3)]


def _listed(block: str) -> dict:
    """{name: rest of its line} for every '  name   description' row of a layout block."""
    return {m.group(1): m.group(2) for m in re.finditer(r"^[ \t]*(\S+)[ \t]+(.*)$", block, re.M)}


def test_architecture_lists_every_module_and_marks_the_runtime():
    block = _layout_block((REPO / "docs" / "architecture.md").read_text(), "## Layers")
    rows = _listed(block)
    core = REPO / "model_core"
    for folder in [core] + [p for p in sorted(core.iterdir()) if (p / "__init__.py").is_file()]:
        for p in folder.iterdir():
            if p.name.startswith((".", "__pycache__")) or p.suffix not in (".py", ""):
                continue
            name = p.name + ("/" if p.is_dir() else "")
            assert name in rows, f"docs/architecture.md does not list {p.relative_to(REPO)}"
    marked = {name.rstrip("/").removesuffix(".py") for name, rest in rows.items() if rest.startswith("[rt]")}
    assert marked == {RUNTIME_PACKAGE, *RUNTIME_DATA}


def test_readme_layout_lists_the_top_level():
    try:
        tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    top = {line.split("/")[0] + ("/" if "/" in line else "") for line in tracked.splitlines()}
    top -= {"LICENSE", "NOTICE", "README.md", "pytest.ini", ".gitignore", ".ci/"}
    block = _layout_block((REPO / "README.md").read_text(), "## Layout")
    for name in top:
        assert re.search(rf"(^|\s){re.escape(name)}(\s|:|$)", block, re.M), f"README's layout does not list {name}"
