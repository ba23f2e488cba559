"""nfs_blender's model core: the neural face skinning model, its numpy runtime, and the code that trains it.

What runs inside a stock Blender is ``runtime/`` (numpy only) with the ``weights/`` and ``data/`` folders it reads;
the add-on ships exactly these and this file. The rest never runs inside Blender and may use torch and scipy:
``dataset/`` (ICT-FaceKit, training-data generation), ``training/`` (network, losses, training, export),
``evaluation/`` (accuracy tables, pictures), and the command line (``cli.py``, ``__main__.py``).
"""
__version__ = "0.1.0"

# The parts of model_core that the add-on ships and that may be imported inside Blender: the runtime package and
# the folders it reads (build_addon.py, tests/test_runtime_purity.py and docs/architecture.md follow them).
RUNTIME_PACKAGE = "runtime"
RUNTIME_DATA = ("weights", "data")
