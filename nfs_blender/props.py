"""Per-scene settings of the add-on: ``scene.nfs`` (NFS_SceneSettings)."""
import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty

from .model_core.runtime.model_fit import FIT_SPARSITY
from .shape_keys import GROUP_ITEMS


def _is_mesh(_self, obj):
    return obj.type == "MESH"


class NFS_SceneSettings(bpy.types.PropertyGroup):
    replace_existing: BoolProperty(
        name="Replace existing", default=False,
        description="Overwrite the coordinates of FACS shape keys that already exist (other keys are never "
                    "touched)")
    use_painted_groups: BoolProperty(
        name="Use painted NFS_ groups", default=True,
        description="When the mesh has NFS_<region> vertex groups, use their weights as the skinning regions")
    bake_source: PointerProperty(
        name="Source", type=bpy.types.Object, poll=_is_mesh,
        description="Animated face mesh whose expressions are baked onto the active object's FACS keys")
    source_mode: EnumProperty(
        name="Read source", default="AUTO",
        items=(("AUTO", "Auto", "Shape-key values when the source has 10 or more FACS-named shape keys, "
                                "else its deforming mesh"),
               ("NAMES", "FACS shape keys", "Read the values of the source's FACS-named shape keys"),
               ("GEOMETRY", "Mesh deformation", "Encode the source's evaluated mesh every frame with the model")))
    rig_sparsity: FloatProperty(
        name="Sparsity", default=FIT_SPARSITY, min=0.0, soft_max=0.2, max=10.0, step=0.1, precision=3,
        description="Mesh-deformation source: how much a FACS key must explain before it is used (0 = plain "
                    "least squares, which also switches on small keys to fit noise; higher = fewer, "
                    "stronger keys)")
    names_target: EnumProperty(
        name="Drive", default="FACS",
        items=(("FACS", "Generated FACS keys", "FACS-named source keys drive the target's ICT-style FACS keys "
                                               "(made by Generate FACS Shape Keys), matched by FACS meaning"),
               ("SAME_NAMES", "Keys of the same names", "Each source key's value is copied onto the target's key "
                                                       "of the same name, any name (e.g. the source's own keys "
                                                       "carried over by Transfer Shape Keys)")),
        description="Which target keys the source's shape-key values drive (source read by its shape keys)")
    use_scene_range: BoolProperty(name="Scene frame range", default=True,
                                  description="Bake the scene's frame range")
    frame_start: IntProperty(name="Start", default=1, min=-1048574, max=1048574)
    frame_end: IntProperty(name="End", default=250, min=-1048574, max=1048574)
    bake_corrective: BoolProperty(
        name="Bake corrective", default=False,
        description="Also store, per frame, the model's exact pose minus the shape-key blend, played back by a "
                    "single NFS_corrective shape key (mesh-deformation source only)")
    transfer_source: PointerProperty(
        name="Source", type=bpy.types.Object, poll=_is_mesh,
        description="Mesh whose own shape keys are carried onto the active object")
    transfer_keys: StringProperty(
        name="Keys", default="",
        description="Comma-separated names of the source keys to transfer (empty: all of them)")
    transfer_replace: BoolProperty(
        name="Replace existing", default=False,
        description="Overwrite target shape keys that have the names of transferred keys (other keys are never "
                    "touched)")
    csv_start_frame: IntProperty(name="Start frame", default=1,
                                 description="Frame of the first CSV sample")
    slider_filter: StringProperty(name="Search", default="", options={"TEXTEDIT_UPDATE"},
                                  description="Show only FACS keys whose name contains this text")
    slider_group: EnumProperty(name="Group", items=GROUP_ITEMS, default="ALL")
    regions_shown: BoolProperty(name="Region colours shown", default=False, options={"HIDDEN"})
    shading_backup: StringProperty(default="", options={"HIDDEN"})


CLASSES = (NFS_SceneSettings,)


def register():  # after CLASSES (nfs_blender.register)
    bpy.types.Scene.nfs = PointerProperty(type=NFS_SceneSettings)


def unregister():
    if hasattr(bpy.types.Scene, "nfs"):
        del bpy.types.Scene.nfs
