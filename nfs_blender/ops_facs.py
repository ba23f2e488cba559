"""``nfs.generate_facs_keys``: the model's FACS expressions as shape keys on the active mesh; ``nfs.remove_made_keys``:
the keys the add-on made removed again.

The model gets the mesh in world space (``matrix_world @ co``) and returns world-space displacements, which
become object-local with the inverse of ``matrix_world``'s 3x3 part. Keys are written relative to the reference
key ('Basis', created from the mesh when missing) and only after every displacement is computed. Other selected
meshes on the head (teeth, eyes, lashes as objects of their own) are generated as its pieces (``pieces.py``): each
gets the keys that move it, driven by the head's.
"""
from __future__ import annotations

import bpy
import numpy as np
from bpy.props import BoolProperty, EnumProperty

from . import background, engine, keyframes, mesh_io, shape_keys
from . import pieces as piece_io
from .common import (JobOperator, NFSOperator, UserError, editable_mesh_problem, prepare_object, report_exception,
                     unless)
from .prefs import get_prefs

KEY_LABELS = {"auto": "automatic key source", "template": "feature transfer", "decoder": "neural decoder"}
SCHEME_ITEMS = (
    ("PREFERENCES", "From Preferences", "Use the name scheme chosen in the add-on preferences"),
    ("ICT", "ICT (53)", "ICT-FaceKit names (eyeBlink_L ...)"),
    ("ARKIT", "ARKit (52)", "ARKit names (eyeBlinkLeft ...)"),
)


def resolve_scheme(context, scheme: str) -> str:
    return get_prefs(context).name_scheme if scheme == "PREFERENCES" else scheme


class NFS_OT_generate_facs_keys(JobOperator, bpy.types.Operator):
    """Generate the model's FACS expressions (53 ICT or 52 ARKit) as shape keys on the active mesh. Other shape
    keys are never touched; Esc cancels without changing anything"""
    bl_idname = "nfs.generate_facs_keys"
    bl_label = "Generate FACS Shape Keys"
    what = "FACS shape keys"

    # SKIP_SAVE: never remembered from an earlier run, so overwriting keys is always a deliberate choice
    replace: BoolProperty(name="Replace existing", default=False, options={"SKIP_SAVE"},
                          description="Overwrite FACS keys that already exist (same names)")
    scheme: EnumProperty(name="Names", items=SCHEME_ITEMS, default="PREFERENCES")
    use_painted: BoolProperty(name="Use painted NFS_ groups", default=True,
                              description="Use the mesh's NFS_<region> vertex groups as skinning regions")
    with_pieces: BoolProperty(name="Selected pieces", default=True,
                              description="Other selected meshes on the head (teeth, tongue, eyeballs, lashes as "
                                          "objects of their own) move as its pieces: each gets the keys that move "
                                          "it (the lower teeth jawOpen), driven by the head's keys")

    def job(self, context):
        obj = context.active_object
        scheme = resolve_scheme(context, self.scheme)
        names = shape_keys.scheme_names(scheme)
        pieces = []
        if self.with_pieces:
            pieces, left_out = piece_io.selected_pieces(context, obj, get_prefs(context).max_vertices)
            self.warnings.extend(left_out)
        for ob in [obj] + pieces:
            existing = shape_keys.clashes(ob, names)
            if existing and not self.replace:
                raise UserError(f"'{ob.name}' already has shape keys named {', '.join(existing[:4])}"
                                f"{' ...' if len(existing) > 4 else ''}; tick 'Replace existing' to overwrite them "
                                f"(other keys are never touched)")
            key = ob.data.shape_keys
            if key is not None and key.reference_key is not None and key.reference_key.name in names:
                raise UserError(f"the reference key of '{ob.name}' is named {key.reference_key.name!r}, a FACS "
                                f"name: rename it (e.g. to 'Basis') first")
        yield 0.0, "loading the model"
        prep = prepare_object(context, obj, use_painted=self.use_painted, pieces=pieces)
        prep.model.eye_turn_deg = float(get_prefs(context).eye_turn)     # eyeball pieces in the eyeLook keys
        self.warnings.extend(prep.warnings)
        yield 0.1, "mesh prepared"
        index = {n: k for k, n in enumerate(names)}
        local = np.zeros((len(names), prep.n_own, 3), dtype=np.float32)
        piece_world = np.zeros((len(names), prep.n - prep.n_own, 3))
        seen = set()
        keys = get_prefs(context).key_source.lower()
        if prep.probs is not None and prep.painted:
            keys = "decoder"            # regions the user painted drive the decoder (the template ignores them)
        probs = prep.probs if keys == "decoder" else None
        start = 0.1
        if keys != "decoder":    # the dense registration: seconds, in a worker thread (progress, Esc)
            yield from background.run(lambda report: engine.face_keys(prep.model, prep.pm, keys, report), 0.1, 0.6)
            start = 0.6
        for _i, name, delta in engine.facs_basis_iter(prep.model, prep.pm, prep.n, scheme.lower(), probs, keys):
            k = index.get(name)
            if k is None:
                raise engine.EngineError(f"the model produced an unknown FACS shape {name!r} for the "
                                         f"{scheme} names; this is a bug in the model runtime")
            local[k] = mesh_io.world_to_local_deltas(delta[:prep.n_own], prep.mat)
            piece_world[k] = delta[prep.n_own:]
            seen.add(name)
            yield start + (0.95 - start) * len(seen) / len(names), name
        missing = [n for n in names if n not in seen]
        if missing:
            raise engine.EngineError(f"the model produced no shape for {', '.join(missing[:4])}; this is a bug "
                                     f"in the model runtime")
        piece_keys = piece_io.piece_keys(prep.pieces, piece_world, names, prep.verts_world[:prep.n_own],
                                         first=prep.n_own)
        created, replaced = shape_keys.write_keys(obj, names, local, self.replace)
        shape_keys.remember_made(obj, names)
        self.message = (f"'{obj.name}': {len(created)} FACS shape keys created, {len(replaced)} replaced "
                        f"({scheme} names, {KEY_LABELS[keys]}"
                        f"{', painted regions' if prep.painted and probs is not None else ''})")
        said = piece_io.write_piece_keys(obj, prep.pieces, piece_keys, self.replace)
        if said:
            self.message += f"; pieces, driven by '{obj.name}'s keys: " + ", ".join(said)


class NFS_OT_remove_made_keys(NFSOperator, bpy.types.Operator):
    """Remove the shape keys the add-on made on the active mesh (Generate FACS Shape Keys, Transfer Shape Keys) and
    on its pieces (the meshes its keys drive), with the pieces' drivers. Your own keys stay, and so does animation
    (it plays again on keys generated later with the same names)"""
    bl_idname = "nfs.remove_made_keys"
    bl_label = "Remove Generated Keys"

    @classmethod
    def problem(cls, context):
        obj = context.active_object
        return editable_mesh_problem(obj, "Select a mesh object in Object Mode", object_mode=True) or unless(
            bool(shape_keys.made_keys(obj)), f"'{obj.name}' has no shape keys made by the add-on")

    def execute(self, context):
        obj = context.active_object
        try:
            pieces = [p for p in piece_io.driven_pieces(obj, context.scene.objects) if not mesh_io.edit_problem(p)]
            removed, kept = shape_keys.removable_made(obj)
            said = []
            for ob in pieces:            # a piece keeps the keys its head keeps (they drive it); drivers first
                gone = shape_keys.removable_made(ob, keep=kept)[0]
                keyframes.remove_drivers(ob.data.shape_keys, gone)
                shape_keys.remove_keys(ob, gone)
                said.append(f"{len(gone)} from '{ob.name}'")
            shape_keys.remove_keys(obj, removed)
            said.insert(0, f"{len(removed)} from '{obj.name}'")
        except Exception as exc:
            report_exception(self, exc, "Remove generated keys")
            return {"CANCELLED"}
        if kept:
            self.report({"WARNING"}, f"kept {', '.join(kept[:4])}{' ...' if len(kept) > 4 else ''} on '{obj.name}': "
                                     f"other keys are relative to them")
        self.report({"INFO"}, f"Removed the add-on's shape keys: {', '.join(said)}")
        return {"FINISHED"}


CLASSES = (NFS_OT_generate_facs_keys, NFS_OT_remove_made_keys)
