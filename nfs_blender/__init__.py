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
    """Register every module's ``CLASSES``, then its own ``register()`` where it has one (properties, handlers), in
    ``_MODULES`` order; undone in reverse by ``unregister``."""
    from .common import register_classes
    done = []
    try:
        for mod in _modules():
            register_classes(getattr(mod, "CLASSES", ()))
            done.append(mod)
            if hasattr(mod, "register"):
                mod.register()
    except Exception:
        for mod in reversed(done):
            try:
                _unregister(mod)
            except Exception:  # already gone: keep unwinding
                pass
        raise


def _unregister(mod):
    from .common import unregister_classes
    if hasattr(mod, "unregister"):
        mod.unregister()
    unregister_classes(getattr(mod, "CLASSES", ()))


def unregister():
    """Remove every class, property and handler ``register`` added, and drop the cached model."""
    for mod in reversed(_modules()):
        _unregister(mod)
    from . import engine
    engine.clear_cache()
