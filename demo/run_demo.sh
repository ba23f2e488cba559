#!/usr/bin/env bash
# The nfs_blender demo, one command from a fresh clone:   bash demo/run_demo.sh
#
#   1. creates/reuses the Python 3.11 venv .venv/py311 (numpy, bpy 4.2 = headless Blender 4.2 LTS, ...)
#      through .ci/setup_env.sh py311 (first run: downloads ~1.5 GB of wheels, several minutes);
#   2. builds the add-on zip:  python build_addon.py  ->  dist/nfs_blender-<version>.zip
#   3. runs demo/demo_blender.py in headless Blender: installs the zip, builds a source head animated by FACS
#      shape keys and a differently shaped, differently meshed target head from demo/assets/demo_heads.npz,
#      runs the add-on's skinning / FACS-keys / bake operators on the target and renders pictures.
#
# Outputs (demo/out/): retarget.blend, regions.png, strip.png, strip.gif, summary.json.
# Blender's user config, extensions, caches and temporary files live under demo/out/tmp (nothing in $HOME).
# Knobs (environment): NFS_DEMO_FRAMES (96), NFS_DEMO_RES (512), NFS_DEMO_GIF (1), NFS_DEMO_ENGINE
# (AUTO|WORKBENCH|CYCLES|NONE), NFS_DEMO_WEIGHTS (path, or 'random'), NFS_DEMO_OUT (demo/out),
# NFS_SKIP_SETUP=1 (use the existing venv as it is). Extra arguments go to demo/demo_blender.py.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${NFS_DEMO_OUT:-demo/out}
py=.venv/py311/bin/python
start=$(date +%s)
say() { echo "[run_demo $(( $(date +%s) - start ))s] $*"; }

if [ "${NFS_SKIP_SETUP:-0}" != "1" ]; then
  say "Python 3.11 venv (.venv/py311)"
  bash .ci/setup_env.sh py311
fi
if [ ! -x "$py" ]; then
  echo "[run_demo] $py is missing: run bash .ci/setup_env.sh py311 (or drop NFS_SKIP_SETUP=1)" >&2
  exit 1
fi

say "building the add-on zip (python build_addon.py)"
"$py" build_addon.py
version=$("$py" -c 'import tomllib; print(tomllib.load(open("blender_manifest.toml", "rb"))["version"])')
zip="dist/nfs_blender-$version.zip"
[ -f "$zip" ] || { echo "[run_demo] $zip was not built" >&2; exit 1; }

# Isolated Blender: fresh user folders (config, user_default extension repo), caches and temp files.
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -rf "$out/tmp"
mkdir -p "$out/tmp/user" "$out/tmp/cache" "$out/tmp/tmp"
export BLENDER_USER_RESOURCES="$out/tmp/user"
export XDG_CACHE_HOME="$out/tmp/cache"
export TMPDIR="$out/tmp/tmp"
export PYTHONDONTWRITEBYTECODE=1
export PYTHONPATH="$root"  # this checkout's model_core (demo/render.py's picture helpers), nothing else

say "running the demo in headless Blender (demo/demo_blender.py)"
"$py" demo/demo_blender.py --zip "$zip" --out "$out" "$@"
say "finished: open $out/retarget.blend in Blender 4.2+ (and look at $out/strip.png, $out/regions.png)"
