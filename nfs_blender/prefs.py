"""Add-on preferences (Edit > Preferences > Add-ons > Neural Face Skinning) and their defaults."""
import bpy
from bpy.props import EnumProperty, FloatProperty, IntProperty, StringProperty

from . import engine
from .model_core.runtime.inner_parts import EYE_LOOK_DEG
from .model_core.runtime.model import Model

NAME_SCHEMES = (
    ("ICT", "ICT (53)", "ICT-FaceKit names, e.g. eyeBlink_L, browInnerUp_L (53 shapes)"),
    ("ARKIT", "ARKit (52)", "Apple ARKit names, e.g. eyeBlinkLeft, browInnerUp, tongueOut (52 shapes)"),
)
CROPS = (
    ("FULL_HEAD", "Full head", "The model sees the whole head and neck"),
    ("FACE", "Face", "The model sees the face only (the rest of the head does not move)"),
)
KEY_SOURCES = (
    ("AUTO", "Automatic", "The neural decoder's keys on faces like ICT-FaceKit's (where it is the more accurate), "
                          "feature transfer on the others (stylised, low-poly, other artists' heads), decided by "
                          "how far the two agree on the mesh; ignores painted NFS_ groups"),
    ("TEMPLATE", "Feature transfer", "ICT-FaceKit's own FACS keys carried onto the mesh by dense correspondence "
                                     "(finds the lips, lids and jaw on stylised and low-poly heads; ignores "
                                     "painted NFS_ groups)"),
    ("DECODER", "Neural decoder", "The learned decoder's keys (follows painted NFS_ groups; good on "
                                  "realistic heads, weaker on stylised ones)"),
)
OTHER_ISLANDS = (
    ("FOLLOW", "Follow the face", "Pieces other than the face move with it: lashes and brows with the skin they "
                                  "sit on; with Automatic or Template keys teeth, tongue and eyeballs as a real "
                                  "jaw and eyes do (lower teeth with the jaw). They get the nearest skin's region "
                                  "weights"),
    ("STATIC", "Stay still", "Pieces other than the face do not move"),
)
FORWARD_AXES = (
    ("-Y", "-Y (Blender front)", "The face looks toward -Y, Z up (Blender's front view)"),
    ("Y", "+Y", "The face looks toward +Y, Z up"),
    ("X", "+X", "The face looks toward +X, Z up"),
    ("-X", "-X", "The face looks toward -X, Z up"),
)


class NFS_AddonPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    name_scheme: EnumProperty(name="FACS names", items=NAME_SCHEMES, default="ICT",
                              description="Names of the FACS shape keys the add-on creates and keys")
    crop: EnumProperty(name="Model crop", items=CROPS, default="FULL_HEAD",
                       description="Which part of the head the model sees")
    key_source: EnumProperty(name="FACS key source", items=KEY_SOURCES, default="AUTO",
                             description="How Generate FACS Shape Keys makes the keys")
    weights_path: StringProperty(name="Weights file", subtype="FILE_PATH", default="",
                                 description="Use this weights file (.npz) instead of the bundled weights; "
                                             "leave empty for the bundled ones")
    max_vertices: IntProperty(name="Max vertices", default=Model.max_vertices, min=100, soft_max=1000000,
                              description="Refuse meshes with more vertices than this (memory and time)")
    forward_axis: EnumProperty(name="Face forward axis", items=FORWARD_AXES, default="-Y",
                               description="World axis the face looks toward (Z is up)")
    eye_turn: FloatProperty(name="Eye turn", default=EYE_LOOK_DEG, min=0.0, max=45.0, precision=1,
                            description="How far eyeballs (pieces inside the head or selected eye objects) turn in "
                                        "the eyeLook keys at 1.0, in degrees, as an ARKit rig's eyes do; 0: they stay "
                                        "(eyes your rig turns with bones)")
    other_islands: EnumProperty(name="Other pieces", items=OTHER_ISLANDS, default="FOLLOW",
                                description="The largest connected piece of the mesh is the face; what the other "
                                            "pieces (eyeballs, teeth, lashes) do")

    def draw(self, context):
        col = self.layout.column()
        col.prop(self, "name_scheme")
        col.prop(self, "key_source")
        col.prop(self, "crop")
        col.prop(self, "forward_axis")
        col.prop(self, "other_islands")
        col.prop(self, "eye_turn")
        col.prop(self, "max_vertices")
        col.prop(self, "weights_path")
        col.label(text=engine.describe_model(self.weights_path), icon="INFO")


class _Defaults:
    """Preference values used when the add-on is loaded without being enabled (scripts, tests)."""
    name_scheme = "ICT"
    key_source = "AUTO"
    crop = "FULL_HEAD"
    weights_path = ""
    max_vertices = Model.max_vertices
    forward_axis = "-Y"
    other_islands = "FOLLOW"
    eye_turn = EYE_LOOK_DEG


def get_prefs(context=None):
    """The add-on preferences, or the defaults when the add-on is not enabled through the preferences."""
    ctx = context or bpy.context
    addon = ctx.preferences.addons.get(__package__)
    return addon.preferences if addon is not None and addon.preferences is not None else _Defaults


CLASSES = (NFS_AddonPreferences,)
