#!/usr/bin/env bash
# Creates (or reuses) the pinned virtual environments the tests need:
#   .venv/py311 - Python 3.11: numpy 1.26.4, torch 2.13.0 (CPU), bpy 4.2 (Blender 4.2 LTS), pytest
#   .venv/py313 - Python 3.13: numpy 2.x, bpy 5.3 (newest Blender), pytest
# Usage: bash .ci/setup_env.sh [py311] [py313]   (no arguments: both; the demo builds only py311)
# Idempotent: a venv whose requirements file is unchanged is reused; model_core is (re)installed editable
# from this checkout each run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mkvenv() {  # name python-cmd requirements-file
  local dir=".venv/$1" req="$3" stamp
  stamp="$dir/.req-$(sha1sum "$req" | cut -c1-12)"
  if [ -f "$stamp" ]; then
    echo "[setup] $dir up to date"
  else
    echo "[setup] creating $dir from $req"
    rm -rf "$dir"
    $2 -m venv "$dir"
    "$dir/bin/python" -m pip install -q --upgrade pip==24.3.1
    "$dir/bin/python" -m pip install -q -r "$req"
    touch "$stamp"
  fi
  # model_core as an editable install (pyproject.toml), every time: cheap, idempotent, and outside the stamp so
  # venvs made before pyproject.toml existed get it too. Scripts, demo and tests import it without sys.path edits.
  "$dir/bin/python" -m pip install -q --no-deps -e .
}
[ "$#" -gt 0 ] || set -- py311 py313
for name in "$@"; do
  case "$name" in
    py311) mkvenv py311 "python3.11" requirements/py311.txt ;;
    py313) PYENV_VERSION=3.13.0 mkvenv py313 "python3.13" requirements/py313.txt ;;
    *) echo "[setup] unknown venv '$name': choose py311 and/or py313" >&2; exit 2 ;;
  esac
done
echo "[setup] done"
