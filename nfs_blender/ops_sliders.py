"""FACS slider helpers: reset a group of FACS keys, mirror values between the left and right sides."""
from __future__ import annotations

import bpy
from bpy.props import EnumProperty

from . import shape_keys
from .common import NFSOperator, editable_mesh_problem, facs_keys_problem
from .model_core.runtime import facs_names

class _FACSValuesOperator(NFSOperator):
    """Mixin for operators that change the FACS shape-key values of the active mesh (undoable; poll needs an
    editable mesh object with FACS keys)."""

    @classmethod
    def problem(cls, context):
        obj = context.active_object
        return editable_mesh_problem(obj, "Select a mesh object with FACS shape keys") or facs_keys_problem(obj)


class NFS_OT_reset_facs_group(_FACSValuesOperator, bpy.types.Operator):
    """Set the values of one group of FACS shape keys (or all of them) to 0"""
    bl_idname = "nfs.reset_facs_group"
    bl_label = "Reset FACS Group"

    group: EnumProperty(name="Group", items=shape_keys.GROUP_ITEMS, default="ALL")

    def execute(self, context):
        _scheme, keys = shape_keys.facs_keys(context.active_object)
        n = 0
        for name, kb in keys.items():
            if self.group == "ALL" or facs_names.facs_group(name) == self.group:
                kb.value = 0.0
                n += 1
        self.report({"INFO"}, f"Reset {n} FACS keys ({self.group.lower()})")
        return {"FINISHED"}


class NFS_OT_mirror_facs(_FACSValuesOperator, bpy.types.Operator):
    """Copy FACS key values between the left and right sides"""
    bl_idname = "nfs.mirror_facs"
    bl_label = "Mirror FACS Values"

    direction: EnumProperty(
        name="Direction", default="L_TO_R",
        items=(("L_TO_R", "Left to Right", "Copy every left-side value (_L / Left) to its right-side twin"),
               ("R_TO_L", "Right to Left", "Copy every right-side value to its left-side twin"),
               ("SWAP", "Swap", "Mirror the whole pose: swap left and right values (jawLeft <-> jawRight too)")))

    def execute(self, context):
        _scheme, keys = shape_keys.facs_keys(context.active_object)
        n = 0
        if self.direction == "SWAP":
            done = set()
            for name, kb in keys.items():
                twin = facs_names.mirror_name(name)
                if twin == name or twin not in keys or name in done:
                    continue
                kb.value, keys[twin].value = keys[twin].value, kb.value
                done.update((name, twin))
                n += 1
        else:
            src_side = "L" if self.direction == "L_TO_R" else "R"
            for name, kb in keys.items():
                if name in facs_names.DIRECTION_NAMES:
                    continue  # directions, not left/right twins of one muscle
                twin = facs_names.mirror_name(name)
                if twin != name and twin in keys and facs_names.side_of(name) == src_side:
                    keys[twin].value = kb.value
                    n += 1
        self.report({"INFO"}, f"Mirrored {n} FACS key pairs")
        return {"FINISHED"}


CLASSES = (NFS_OT_reset_facs_group, NFS_OT_mirror_facs)
