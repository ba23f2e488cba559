"""Sidebar panels (3D Viewport > Sidebar > NFS): skinning, FACS shape keys, shape-key transfer, bake, Live Link CSV,
FACS sliders."""
from __future__ import annotations

import bpy

from . import shape_keys, vertex_groups
from . import pieces as piece_io
from .common import scene_fps
from .model_core.runtime import facs_names
from .ops_transfer import TRANSFERRED_PROP
from .prefs import FORWARD_AXES, get_prefs


class _NFSPanel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "NFS"


class _NFSSubPanel(_NFSPanel):
    """A section of the NFS panel; it draws the scene's NFS settings (``draw_panel(layout, settings, context)``)."""
    bl_parent_id = "NFS_PT_main"

    def draw(self, context):
        self.draw_panel(self.layout, context.scene.nfs, context)


def _props(layout, settings, *names):
    """Draw the settings ``names`` one under the other."""
    for name in names:
        layout.prop(settings, name)


class NFS_PT_main(_NFSPanel, bpy.types.Panel):
    bl_label = "Neural Face Skinning"

    def draw(self, context):
        layout = self.layout
        obj = context.active_object
        prefs = get_prefs(context)
        col = layout.column(align=True)
        col.label(text=f"Target: {obj.name}" if obj is not None and obj.type == "MESH" else "Target: select a mesh",
                  icon="MESH_DATA")
        axis = dict((k, n) for k, n, _d in FORWARD_AXES).get(prefs.forward_axis, prefs.forward_axis)
        if isinstance(prefs, bpy.types.AddonPreferences):
            col.prop(prefs, "forward_axis", text="Face looks toward")
        else:
            col.label(text=f"Face looks toward {axis}, Z up")
        col.label(text=f"FACS names: {prefs.name_scheme}  (Preferences)", icon="PREFERENCES")


class NFS_PT_skinning(_NFSSubPanel, bpy.types.Panel):
    bl_label = "Skinning Weights"

    def draw_panel(self, layout, settings, context):
        layout.operator("nfs.compute_skinning", icon="GROUP_VERTEX")
        row = layout.row(align=True)
        row.operator("nfs.toggle_region_colors", text="Hide Region Colours" if settings.regions_shown
                     else "Show Region Colours", icon="COLOR", depress=settings.regions_shown)
        row.operator("nfs.clear_skinning", text="", icon="X")
        layout.operator("nfs.update_region_colors", icon="BRUSH_DATA")
        layout.prop(settings, "use_painted_groups")
        obj = context.active_object
        if obj is not None and obj.type == "MESH":
            n = sum(1 for g in obj.vertex_groups if g.name.startswith(vertex_groups.PREFIX))
            if n:
                layout.label(text=f"{n} NFS_ groups (paint them to adjust the regions)", icon="INFO")


class NFS_PT_facs(_NFSSubPanel, bpy.types.Panel):
    bl_label = "FACS Shape Keys"

    def draw_panel(self, layout, settings, context):
        prefs = get_prefs(context)
        layout.prop(settings, "replace_existing")
        op = layout.operator("nfs.generate_facs_keys", icon="SHAPEKEY_DATA")
        op.replace = settings.replace_existing
        op.use_painted = settings.use_painted_groups
        obj = context.active_object
        made = shape_keys.made_keys(obj)
        if made:
            layout.operator("nfs.remove_made_keys", text=f"Remove {len(made)} Generated Keys", icon="TRASH")
        scheme, keys = shape_keys.facs_keys(obj)
        if scheme:
            layout.label(text=f"{len(keys)} {scheme} FACS keys on this mesh")
        else:
            layout.label(text=f"Creates {len(shape_keys.scheme_names(prefs.name_scheme))} {prefs.name_scheme} keys")
        _pieces_label(layout, context)


def _pieces_label(layout, context, skip=()) -> None:
    """A line saying how many other selected meshes the operators take as the active head's pieces."""
    obj = context.active_object
    if obj is not None and obj.type == "MESH" and len(context.selected_objects) > 1:
        pieces = piece_io.selected_pieces(context, obj, skip=skip)[0]
        if pieces:
            layout.label(text=f"+ {len(pieces)} selected piece{'s' if len(pieces) > 1 else ''} "
                              f"(teeth, eyes...), driven by this head", icon="LINKED")


def transferred_keys(obj) -> list[str]:
    """Names of the keys the last Transfer Shape Keys wrote on ``obj``'s mesh that it still has."""
    me = getattr(obj, "data", None) if obj is not None and obj.type == "MESH" else None
    names = str(me.get(TRANSFERRED_PROP, "")) if me is not None else ""
    key = me.shape_keys if me is not None else None
    return [n for n in names.split(",") if n and key is not None and n in key.key_blocks]


class NFS_PT_transfer(_NFSSubPanel, bpy.types.Panel):
    bl_label = "Transfer Shape Keys"
    bl_options = {"DEFAULT_CLOSED"}

    def draw_panel(self, layout, s, context):
        _props(layout, s, "transfer_source", "transfer_keys", "transfer_replace")
        op = layout.operator("nfs.transfer_shape_keys", icon="SHAPEKEY_DATA")
        op.replace = s.transfer_replace
        op.keys = s.transfer_keys
        done = transferred_keys(context.active_object)
        if done:   # one click after adding or moving landmark_<name> groups
            op = layout.operator("nfs.transfer_shape_keys", text=f"Recompute {len(done)} Transferred Keys",
                                 icon="FILE_REFRESH")
            op.replace = True
            op.keys = ",".join(done)
        _pieces_label(layout, context, skip=(s.transfer_source,))
        layout.operator("nfs.show_correspondence", icon="COLOR")
        src = s.transfer_source
        key = getattr(src.data, "shape_keys", None) if src is not None else None
        if key is not None:
            layout.label(text=f"{len(key.key_blocks) - 1} shape keys on '{src.name}'", icon="INFO")


class NFS_PT_bake(_NFSSubPanel, bpy.types.Panel):
    bl_label = "Bake From Source"
    bl_options = {"DEFAULT_CLOSED"}

    def draw_panel(self, layout, s, context):
        _props(layout, s, "bake_source", "source_mode")
        sub = layout.row()
        sub.active = s.source_mode != "GEOMETRY"
        sub.prop(s, "names_target")
        sub = layout.row()
        sub.active = s.source_mode != "NAMES"
        sub.prop(s, "rig_sparsity")
        layout.prop(s, "use_scene_range")
        row = layout.row(align=True)
        row.enabled = not s.use_scene_range
        row.prop(s, "frame_start")
        row.prop(s, "frame_end")
        layout.prop(s, "bake_corrective")
        layout.operator("nfs.bake_from_source", icon="REC")


class NFS_PT_livelink(_NFSSubPanel, bpy.types.Panel):
    bl_label = "Live Link Face CSV"
    bl_options = {"DEFAULT_CLOSED"}

    def draw_panel(self, layout, settings, context):
        layout.prop(settings, "csv_start_frame")
        layout.operator("nfs.import_livelink_csv", icon="IMPORT")
        fps = scene_fps(context.scene)
        layout.label(text=f"Resampled to the scene's {fps:g} fps")


class NFS_PT_sliders(_NFSSubPanel, bpy.types.Panel):
    bl_label = "FACS Sliders"

    @classmethod
    def poll(cls, context):
        return shape_keys.facs_keys(context.active_object)[0] is not None

    def draw_panel(self, layout, s, context):
        _scheme, keys = shape_keys.facs_keys(context.active_object)
        row = layout.row(align=True)
        row.prop(s, "slider_filter", text="", icon="VIEWZOOM")
        row.prop(s, "slider_group", text="")
        row = layout.row(align=True)
        row.operator("nfs.mirror_facs", text="L \u2192 R").direction = "L_TO_R"
        row.operator("nfs.mirror_facs", text="R \u2192 L").direction = "R_TO_L"
        row.operator("nfs.mirror_facs", text="Swap").direction = "SWAP"
        row.operator("nfs.reset_facs_group", text="", icon="LOOP_BACK").group = "ALL"
        text = s.slider_filter.strip().lower()
        for group in facs_names.FACS_GROUP_ORDER:
            if s.slider_group not in ("ALL", group):
                continue
            names = [n for n in keys if facs_names.facs_group(n) == group and (not text or text in n.lower())]
            if not names:
                continue
            box = layout.box()
            head = box.row()
            head.label(text=f"{group.capitalize()} ({len(names)})")
            head.operator("nfs.reset_facs_group", text="", icon="LOOP_BACK").group = group
            col = box.column(align=True)
            for name in names:
                col.prop(keys[name], "value", text=name, slider=True)


CLASSES = (NFS_PT_main, NFS_PT_skinning, NFS_PT_facs, NFS_PT_transfer, NFS_PT_bake, NFS_PT_livelink, NFS_PT_sliders)
