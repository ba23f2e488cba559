"""``nfs.import_livelink_csv``: key the active mesh's FACS shape keys from a Live Link Face / ARKit CSV take."""
from __future__ import annotations

import os

import bpy
import numpy as np
from bpy.props import IntProperty, StringProperty

from . import keyframes, livelink_csv, shape_keys
from .common import NFSOperator, UserError, editable_mesh_problem, facs_keys_problem, report_exception, scene_fps


MAX_FRAME = 1048574  # Blender's largest scene frame (MAXFRAME)


class NFS_OT_import_livelink_csv(NFSOperator, bpy.types.Operator):
    """Key the active mesh's FACS shape keys from a Live Link Face CSV (ARKit blendshapes), resampled to the
    scene frame rate"""
    bl_idname = "nfs.import_livelink_csv"
    bl_label = "Import Live Link Face CSV"

    filepath: StringProperty(name="File", subtype="FILE_PATH", default="")
    filter_glob: StringProperty(default="*.csv", options={"HIDDEN"})
    start_frame: IntProperty(name="Start frame", default=1, description="Frame of the take's first sample")

    @classmethod
    def problem(cls, context):
        obj = context.active_object
        return (editable_mesh_problem(obj, "Select the mesh whose FACS shape keys receive the take")
                or facs_keys_problem(obj))

    def invoke(self, context, event):
        self.start_frame = context.scene.nfs.csv_start_frame
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        obj = context.active_object
        try:
            take = livelink_csv.read_livelink_csv(bpy.path.abspath(self.filepath))
            fps = scene_fps(context.scene)
            offsets, ict, arkit = livelink_csv.take_to_ict(take, fps)
            scheme, keys = shape_keys.facs_keys(obj)
            if scheme is None:
                raise UserError(f"'{obj.name}' has no FACS shape keys: generate them first")
            # ARKit keys take the take's own columns (tongueOut included; ICT has no tongue)
            by_name = shape_keys.key_values(arkit if scheme == "ARKIT" else ict, scheme, keys)
            frames = self.start_frame + offsets.astype(np.float64)
            if frames[0] < -MAX_FRAME or frames[-1] > MAX_FRAME:
                raise UserError(f"the take would cover frames {int(frames[0])}-{int(frames[-1])}, beyond Blender's "
                                f"first/last frame (-{MAX_FRAME}/{MAX_FRAME}): choose another start frame")
            scene = context.scene
            keyframes.write_shape_key_animation(obj.data.shape_keys, by_name, frames,
                                                current_frame=scene.frame_current + scene.frame_subframe)
        except Exception as exc:
            report_exception(self, exc, "Live Link CSV import")
            return {"CANCELLED"}
        scene = context.scene
        end = int(frames[-1])
        extended = end > scene.frame_end
        if extended:
            scene.frame_end = end
        self.report({"INFO"}, (
            f"{os.path.basename(self.filepath)}: {take.n_rows} rows, {take.duration:.2f} s "
            f"(timecode {take.rate:g} fps{'' if take.rate_inferred else ' assumed'}) -> {len(offsets)} frames at "
            f"{fps:g} fps on {len(by_name)} keys of '{obj.name}' (frames {int(frames[0])}-{end})"
            f"{'; scene end extended to ' + str(end) if extended else ''}"))
        return {"FINISHED"}


CLASSES = (NFS_OT_import_livelink_csv,)
