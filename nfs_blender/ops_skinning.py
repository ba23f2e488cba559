"""Skinning weights: ``nfs.compute_skinning`` (NFS_<region> vertex groups + NFS_regions colours) and
``nfs.toggle_region_colors`` (show the colours in the viewport, restore the previous shading after)."""
from __future__ import annotations

import json

import bpy

from . import engine, mesh_io, vertex_groups
from .common import (JobOperator, NFSOperator, UserError, editable_mesh_problem, prepare_object, report_exception,
                     unless)


def _has_region_groups(obj) -> bool:
    """True when the mesh object ``obj`` has any NFS_<region> vertex group."""
    return any(g.name.startswith(vertex_groups.PREFIX) for g in obj.vertex_groups)


def _has_region_colors(obj) -> bool:
    """True when ``obj``'s mesh has the NFS_regions colour attribute."""
    return obj.data.color_attributes.get(vertex_groups.COLOR_ATTRIBUTE) is not None


class NFS_OT_compute_skinning(JobOperator, bpy.types.Operator):
    """Compute the model's facial regions for the active mesh: one NFS_<region> vertex group per region
    (weights sum to 1 per vertex) and the NFS_regions colour attribute; Esc cancels without changing anything"""
    bl_idname = "nfs.compute_skinning"
    bl_label = "Compute Skinning Weights"
    what = "Skinning"

    def job(self, context):
        """Steps (progress in the status bar; Esc between them): load the model and prepare the mesh (the
        longest: ~2 s per 100k vertices), skinning, then - after the last yield - write groups and colours."""
        obj = context.active_object
        yield 0.0, "loading the model and preparing the mesh"
        prep = prepare_object(context, obj, use_painted=False)
        self.warnings.extend(prep.warnings)
        yield 0.7, f"mesh prepared ({prep.n:,} vertices); computing regions"
        names = engine.region_names(prep.model)
        colors = engine.region_colors(prep.model)
        probs, _weights = engine.skinning(prep.model, prep.pm, prep.n)
        yield 0.9, "writing vertex groups"
        vertex_groups.write_region_groups(obj, names, probs)
        vertex_groups.write_region_colors(obj.data, probs, colors)
        self.message = (f"Wrote {len(names)} NFS_ vertex groups and the {vertex_groups.COLOR_ATTRIBUTE} colours on "
                        f"'{obj.name}'")


class NFS_OT_update_region_colors(NFSOperator, bpy.types.Operator):
    """Recolour NFS_regions from the NFS_<region> vertex groups as painted (the groups are not changed); the
    FACS keys and bakes use the painted groups too"""
    bl_idname = "nfs.update_region_colors"
    bl_label = "Colours From Painted Groups"

    @classmethod
    def problem(cls, context):
        obj = context.active_object
        return mesh_io.mesh_problem(obj) or unless(
            _has_region_groups(obj), "The active mesh has no NFS_ vertex groups: run Compute Skinning Weights first")

    def execute(self, context):
        obj = context.active_object
        try:
            prep = prepare_object(context, obj, use_painted=True)
            if prep.probs is None:
                raise UserError(f"the NFS_ vertex groups of '{obj.name}' have no weights: paint them or run "
                                f"Compute Skinning Weights")
            colors = engine.region_colors(prep.model)
        except Exception as exc:
            report_exception(self, exc, "Region colours")
            return {"CANCELLED"}
        vertex_groups.write_region_colors(obj.data, prep.probs, colors)
        self.report({"INFO"}, f"Recoloured {vertex_groups.COLOR_ATTRIBUTE} of '{obj.name}' from its painted groups")
        return {"FINISHED"}


# ------------------------------------------------------------------------------------------- region colours
def _view3d_spaces():
    """(key, space) for every 3D viewport of every screen; key = 'screen|area index|space index'."""
    for screen in bpy.data.screens:
        for ai, area in enumerate(screen.areas):
            if area.type != "VIEW_3D":
                continue
            for si, space in enumerate(area.spaces):
                if space.type == "VIEW_3D":
                    yield f"{screen.name}|{ai}|{si}", space


def show_region_colors(context, obj) -> None:
    """Show ``obj``'s NFS_regions colours: solid shading by attribute colour in every 3D viewport, the
    attribute made active/default. The previous state is saved in ``scene.nfs.shading_backup``."""
    me = obj.data
    ca = me.color_attributes
    backup = {"mesh": me.name, "active": getattr(ca, "active_color_name", "") or "",
              "default": getattr(ca, "default_color_name", "") or "", "spaces": {}}
    for key, space in _view3d_spaces():
        sh = space.shading
        backup["spaces"][key] = {"type": sh.type, "color_type": sh.color_type}
        sh.type = "SOLID"
        sh.color_type = "VERTEX"
    ca.active_color_name = vertex_groups.COLOR_ATTRIBUTE
    ca.default_color_name = vertex_groups.COLOR_ATTRIBUTE
    settings = context.scene.nfs
    settings.shading_backup = json.dumps(backup)
    settings.regions_shown = True


def hide_region_colors(context) -> None:
    """Restore the viewport shading and the mesh's active/default colour attribute saved by
    ``show_region_colors``."""
    settings = context.scene.nfs
    try:
        backup = json.loads(settings.shading_backup or "{}")
    except ValueError:
        backup = {}
    spaces = backup.get("spaces", {})
    for key, space in _view3d_spaces():
        old = spaces.get(key)
        if old:
            space.shading.type = old["type"]
            space.shading.color_type = old["color_type"]
    me = bpy.data.meshes.get(backup.get("mesh", ""))
    if me is not None:
        ca = me.color_attributes
        for attr, name in (("active_color_name", backup.get("active", "")),
                           ("default_color_name", backup.get("default", ""))):
            if name and ca.get(name) is not None:
                setattr(ca, attr, name)
    settings.shading_backup = ""
    settings.regions_shown = False


class NFS_OT_toggle_region_colors(NFSOperator, bpy.types.Operator):
    """Show the skinning regions as colours in the viewport (solid shading, attribute colours); run again to
    restore the previous shading"""
    bl_idname = "nfs.toggle_region_colors"
    bl_label = "Show Region Colours"

    @classmethod
    def problem(cls, context):
        if context.scene.nfs.regions_shown:
            return None
        obj = context.active_object
        return editable_mesh_problem(obj, "Select a mesh object with skinning weights") or unless(
            _has_region_colors(obj), "The active mesh has no region colours yet: run Compute Skinning Weights")

    def execute(self, context):
        try:
            if context.scene.nfs.regions_shown:
                hide_region_colors(context)
                self.report({"INFO"}, "Region colours hidden; previous shading restored")
            else:
                show_region_colors(context, context.active_object)
                self.report({"INFO"}, "Region colours shown (solid shading, attribute colour)")
        except Exception as exc:
            report_exception(self, exc, "Region colours")
            return {"CANCELLED"}
        return {"FINISHED"}


class NFS_OT_clear_skinning(NFSOperator, bpy.types.Operator):
    """Remove the NFS_<region> vertex groups and the NFS_regions colour attribute from the active mesh
    (other groups and attributes are kept)"""
    bl_idname = "nfs.clear_skinning"
    bl_label = "Clear Skinning Weights"

    @classmethod
    def problem(cls, context):
        obj = context.active_object
        return editable_mesh_problem(obj, "Select a mesh object in Object Mode", object_mode=True) or unless(
            _has_region_groups(obj) or _has_region_colors(obj), "The active mesh has no NFS_ skinning data")

    def execute(self, context):
        obj = context.active_object
        if context.scene.nfs.regions_shown:
            hide_region_colors(context)
        for g in [g for g in obj.vertex_groups if g.name.startswith(vertex_groups.PREFIX)]:
            obj.vertex_groups.remove(g)
        attr = obj.data.color_attributes.get(vertex_groups.COLOR_ATTRIBUTE)
        if attr is not None:
            obj.data.color_attributes.remove(attr)
        self.report({"INFO"}, f"Removed the NFS_ skinning data of '{obj.name}'")
        return {"FINISHED"}


CLASSES = (NFS_OT_compute_skinning, NFS_OT_update_region_colors, NFS_OT_toggle_region_colors,
           NFS_OT_clear_skinning)
