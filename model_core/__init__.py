"""nfs_blender's model core: ICT-FaceKit data, mesh operations, the neural face skinning model.

``RUNTIME_MODULES`` are numpy-only and run inside a stock Blender (the add-on ships exactly these, with the
weights and data folders); every other module (ICT data, training-data generation, network, losses, training,
evaluation, export, diagnostics, the CLI) never runs inside Blender and may use torch and scipy.
"""
__version__ = "0.1.0"

# The one list of model_core modules that the add-on ships and that may be imported inside Blender
# (build_addon.py, tests/test_runtime_purity.py and docs/architecture.md follow it).
RUNTIME_MODULES = ("__init__", "mesh", "frames", "facs_names", "regions", "proxy", "config", "runtime")
