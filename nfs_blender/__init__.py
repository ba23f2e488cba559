"""Neural Face Skinning for Blender: FACS shape keys, skinning weights and expression cloning for any face mesh.

Implements Cha et al., "Neural Face Skinning for Mesh-agnostic Facial Expression Cloning" (Eurographics 2025)
with a numpy-only runtime (``model_core.runtime``). Every Blender-facing module is imported inside
``register()`` so that the pure-Python parts (``livelink_csv``, ``model_core.runtime.facs_names``) import without bpy.
"""

_MODULES = ("prefs", "props", "corrective", "ops_skinning", "ops_facs", "ops_transfer", "ops_bake", "ops_csv",
            "ops_sliders", "ui")


def _modules():
    import importlib
    return [importlib.import_module("." + name, __package__) for name in _MODULES]


def register():
    """Register every class, property and handler of the add-on (undone in reverse by ``unregister``)."""
    done = []
    try:
        for mod in _modules():
            mod.register()
            done.append(mod)
    except Exception:
        for mod in reversed(done):
            try:
                mod.unregister()
            except Exception:  # already gone: keep unwinding
                pass
        raise


def unregister():
    """Remove every class, property and handler ``register`` added, and drop the cached model."""
    for mod in reversed(_modules()):
        mod.unregister()
    from . import engine
    engine.clear_cache()
