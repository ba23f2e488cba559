"""``nfs.transfer_shape_keys``: carry the source's own shape keys (any names) onto the active mesh, and
``nfs.show_correspondence``: show where the target's vertices landed on the source.

The source is ``scene.nfs.transfer_source``. Both heads are read in world space (their object transforms are
respected); each source key is taken relative to the source's reference key, carried by
``runtime.transfer.transfer_keys`` (registration of the source onto the target, seconds), and written on the
target in its object space relative to its reference key. The registration runs in a worker thread
(``background``) so that the status bar shows its progress and Esc stops it; nothing is written to Blender data
before it finished. Two meshes of one topology (one base mesh in two shapes, its vertices numbered alike or not)
are matched vertex for vertex instead (``runtime.same_topology``, ``runtime.renumber``), as are their face islands
when only their other pieces differ (``runtime.transfer.SAME_FACE``). Existing target keys of the same names are
replaced only with ``Replace existing``; the reference key is never written. The correspondence becomes the
``NFS_correspondence`` colour attribute on both heads (``correspondence``). Vertex groups ``landmark_<name>`` on both
heads pair up as user landmarks (``landmarks``): where the automatic correspondence is wrong, mark the point on both
and run it again.
"""
from __future__ import annotations

import bpy
import numpy as np
from bpy.props import BoolProperty, StringProperty

from . import background, correspondence, engine, landmarks, mesh_io, shape_keys
from . import pieces as piece_io
from .common import (JobOperator, NFSOperator, UserError, editable_mesh_problem, prepare_options, report_exception,
                     rest_mesh, unless)
from .prefs import get_prefs

SHOW_NAMES = 6  # names listed in an error message
TRANSFERRED_PROP = "nfs_transferred_keys"  # mesh custom property: the names the last transfer wrote


def _few(names, k: int = SHOW_NAMES) -> str:
    names = list(names)
    return ", ".join(names[:k]) + (f" ... ({len(names)} in all)" if len(names) > k else "")


def source_key_names(obj) -> list[str]:
    """Names of ``obj``'s shape keys other than its reference key, in the Shape Keys list's order."""
    key = getattr(obj.data, "shape_keys", None) if obj is not None and obj.type == "MESH" else None
    if key is None:
        return []
    ref = key.reference_key
    return [kb.name for kb in key.key_blocks if kb != ref]


def select_keys(available: list[str], wanted: str) -> list[str]:
    """The keys to transfer: ``available`` when ``wanted`` is empty, else the comma-separated names of ``wanted``
    (spaces around names ignored, repeats dropped) in the order given. Raises UserError for unknown names."""
    picked = []
    for name in (w.strip() for w in wanted.split(",")):
        if name and name not in picked:
            picked.append(name)
    if not picked:
        return list(available)
    unknown = [n for n in picked if n not in available]
    if unknown:
        raise UserError(f"the source has no shape key named {_few(unknown, 3)}; its keys are {_few(available)} "
                        f"(names are case-sensitive; leave 'Keys' empty to transfer all)")
    return picked


def source_problem(source, target) -> str | None:
    """Why ``source`` cannot be the transfer source for the mesh object ``target`` (a sentence), or None."""
    if source is None:
        return "Choose a source mesh in the Transfer Shape Keys panel"
    if source.type != "MESH":
        return f"The source '{source.name}' is not a mesh: choose a mesh object"
    if source == target:
        return "The source must be another object than the active (target) mesh"
    if target is not None and source.data == target.data:
        return (f"'{source.name}' and '{target.name}' share one mesh: give the target its own copy "
                f"(Object > Relations > Make Single User > Object & Data)")
    if not source_key_names(source):
        return f"The source '{source.name}' has no shape keys besides its reference key: add or choose another"
    return None


def source_world_keys(obj, names, mat: np.ndarray) -> np.ndarray:
    """(K, Ns, 3) float64 world displacements of ``obj``'s keys ``names``: what each adds at value 1
    (``mesh_io.key_deltas``: relative to its own relative key, limited by its vertex group), through the 3x3 part of
    the (4, 4) world matrix ``mat``. Raises UserError for NaN / infinite coordinates."""
    out = mesh_io.key_deltas(obj, names)
    for k, name in enumerate(names):
        if not np.isfinite(out[k]).all():
            raise UserError(f"the shape key '{name}' of '{obj.name}' (or the key it is relative to) has NaN or "
                            f"infinite coordinates: fix or delete it, or leave it out with 'Keys'")
    return out @ np.asarray(mat, dtype=np.float64)[:3, :3].T


class NFS_OT_transfer_shape_keys(JobOperator, bpy.types.Operator):
    """Carry the source mesh's own shape keys (any names: FACS, visemes, correctives) onto the active mesh, any
    topology, by automatic correspondence. Other keys are never touched; Esc cancels without changing anything"""
    bl_idname = "nfs.transfer_shape_keys"
    bl_label = "Transfer Shape Keys"
    what = "Transfer shape keys"

    # SKIP_SAVE: never remembered from an earlier run, so overwriting keys is always a deliberate choice
    replace: BoolProperty(name="Replace existing", default=False, options={"SKIP_SAVE"},
                          description="Overwrite target shape keys that have the names of transferred keys")
    keys: StringProperty(name="Keys", default="",
                         description="Comma-separated names of the source keys to transfer (empty: all of them)")
    colors: BoolProperty(name="Correspondence colours", default=True,
                         description="Write the NFS_correspondence colour attribute on both meshes")
    with_pieces: BoolProperty(name="Selected pieces", default=True,
                              description="Other selected meshes on the target head (teeth, tongue, eyeballs, "
                                          "lashes as objects of their own) move as its pieces: each gets the keys "
                                          "that move it, driven by the head's keys")
    proportions: BoolProperty(name="Match proportions", default=False,
                              description="First give the source the target's proportions by an affine map and "
                                          "carry the keys by it (heads that differ by a stretch: a longer or "
                                          "wider face); off: one similarity")

    @classmethod
    def problem(cls, context):
        return super().problem(context) or source_problem(context.scene.nfs.transfer_source, context.active_object)

    def _checked_names(self, source, targets) -> list[str]:
        """The keys to carry, checked against the target and its pieces (``targets``: the target first)."""
        names = select_keys(source_key_names(source), self.keys)
        for target in targets:
            key = target.data.shape_keys
            ref_name = key.reference_key.name if key is not None and key.reference_key is not None else "Basis"
            if ref_name in names:
                raise UserError(f"the source key {ref_name!r} has the name of the reference key of '{target.name}', "
                                f"which is never overwritten: rename one of them, or leave it out with 'Keys'")
            existing = shape_keys.clashes(target, names)
            if existing and not self.replace:
                raise UserError(f"'{target.name}' already has shape keys named {_few(existing, 4)}; tick 'Replace "
                                f"existing' to overwrite them (other keys are never touched)")
        return names

    def job(self, context):
        target = context.active_object
        source = context.scene.nfs.transfer_source
        problem = mesh_io.mesh_problem(target) or source_problem(source, target)
        if problem:
            raise UserError(problem)
        pieces = []
        if self.with_pieces:
            pieces, left_out = piece_io.selected_pieces(context, target, get_prefs(context).max_vertices,
                                                        skip=(source,))
            self.warnings.extend(left_out)
        names = self._checked_names(source, [target] + pieces)
        src_mat, src_verts, src_tris = rest_mesh(context, source, editable=False)
        tgt_mat, tgt_verts, tgt_tris = rest_mesh(context, target)
        n_own = len(tgt_verts)
        joined = ()
        if pieces:      # the target's teeth, eyes, lashes as objects of their own: its pieces (``pieces.py``)
            tgt_verts, tgt_tris, joined = piece_io.join(tgt_verts, tgt_tris,
                                                        [(p,) + rest_mesh(context, p) for p in pieces])
        keys_world = source_world_keys(source, names, src_mat)
        blocks = source.data.shape_keys.key_blocks
        ranges = {n: (blocks[n].slider_min, blocks[n].slider_max) for n in names}
        lm_src, lm_tgt, lm_names, unpaired = landmarks.landmark_pairs(source, target, src_verts, tgt_verts[:n_own])
        if unpaired:
            self.warnings.append(f"landmark groups without a partner of the same name on the other head were left "
                                 f"out: {_few(unpaired, 4)}")
        model = engine.get_model(get_prefs(context).weights_path)
        options = prepare_options(context)
        n_target = len(tgt_verts)

        notes: list = []
        source_name, target_name = source.name, target.name
        proportions = bool(self.proportions)
        # one base mesh in two shapes: matched vertex for vertex, no registration (``runtime.same_topology``)
        one_mesh = not lm_names and engine.one_topology(src_tris, len(src_verts), tgt_tris, n_target, src_verts,
                                                        tgt_verts)

        face_only = []      # set by the worker: the face islands one topology, the other pieces not

        def compute(report):  # worker thread: numpy only, no Blender data
            report(0.0, f"preparing the source ({len(src_verts):,} vertices) and the target ({n_target:,})")
            spm, tpm = engine.prepare_both(model, (src_verts, src_tris), (tgt_verts, tgt_tris),
                                           (f"the source '{source_name}'", f"the target '{target_name}'"),
                                           **options)
            if not one_mesh and not lm_names and engine.one_face(spm, tpm):
                face_only.append(True)
            report(0.2, "matching the meshes vertex for vertex (one topology)" if one_mesh
                   else "matching the faces vertex for vertex (one face island, other pieces)" if face_only
                   else "registering the source onto the target")
            for who, pm in ((source_name, spm), (target_name, tpm)):
                notes.extend(f"'{who}': {w}" for w in getattr(pm, "warnings", ()))
            return engine.transfer_keys(model, spm, keys_world, tpm, n_target, names,
                                        landmarks=(lm_src, lm_tgt) if lm_names else None, proportions=proportions,
                                        progress=lambda d, t: report(0.2 + 0.8 * d / max(t, 1),
                                                                     f"registration step {d}/{t}"))

        yield 0.0, "starting"
        out_world, matched = yield from background.run(compute, 0.02, 0.95)
        self.warnings.extend(notes)
        yield 0.96, "writing shape keys"
        local = mesh_io.world_to_local_deltas(out_world[:, :n_own], tgt_mat).astype(np.float32)
        piece_keys = piece_io.piece_keys(joined, out_world, names, tgt_verts[:n_own])
        # ---- computed and checked: write
        created, replaced = shape_keys.write_keys(target, names, local, self.replace)
        # a new key plays over the source key's range (a source animated to 1.5 is not clipped at 1 when baked
        # onto it); a replaced key keeps the user's settings
        shape_keys.set_ranges(target, {n: ranges[n] for n in created})
        target.data[TRANSFERRED_PROP] = ",".join(names)     # the panel's Recompute button re-runs these
        shape_keys.remember_made(target, names)
        said = piece_io.write_piece_keys(target, joined, piece_keys, self.replace)
        painted = self._write_colors(source, target, src_verts, matched[:n_own]) if self.colors else []
        n_unmatched = int((~np.isfinite(matched[:n_own]).all(axis=1)).sum())
        self.message = (f"'{source.name}' -> '{target.name}': {len(created)} shape keys created, {len(replaced)} "
                        f"replaced; {n_own - n_unmatched:,} of {n_own:,} vertices matched"
                        f"{' (one topology: vertex for vertex)' if one_mesh else ''}"
                        f"{' (one face island: the face vertex for vertex)' if face_only else ''}"
                        f"{f'; {len(lm_names)} landmarks' if lm_names else ''}"
                        f"{f' ({correspondence.ATTRIBUTE} on ' + ', '.join(painted) + ')' if painted else ''}"
                        f"{'; pieces, driven by its keys: ' + ', '.join(said) if said else ''}")

    def _write_colors(self, source, target, src_verts, matched) -> list[str]:
        """Write the correspondence colours where allowed; returns the names of the objects painted."""
        lo, hi = correspondence.box(src_verts)
        painted = []
        for obj, points in ((target, matched), (source, src_verts)):
            me = obj.data
            if mesh_io.edit_problem(obj):
                self.warnings.append(f"'{obj.name}' cannot be changed (linked): no {correspondence.ATTRIBUTE} "
                                     f"colours written on it")
            elif not correspondence.writable(me):
                self.warnings.append(f"the mesh of '{obj.name}' has its own {correspondence.ATTRIBUTE} attribute, "
                                     f"left as it is: rename it to get the correspondence colours")
            else:
                correspondence.write(me, correspondence.position_rgba(points, lo, hi))
                painted.append(obj.name)
        return painted


def _view3d_shadings():
    for screen in bpy.data.screens:
        for area in screen.areas:
            for space in area.spaces:
                if space.type == "VIEW_3D":
                    yield space.shading


class NFS_OT_show_correspondence(NFSOperator, bpy.types.Operator):
    """Show the NFS_correspondence colours of the active mesh and the transfer source in the viewport (solid
    shading, attribute colour): a target vertex has the colour of the source point it landed on"""
    bl_idname = "nfs.show_correspondence"
    bl_label = "Show Correspondence"

    @classmethod
    def problem(cls, context):
        obj = context.active_object
        return editable_mesh_problem(obj, "Select a mesh object") or unless(
            obj.data.color_attributes.get(correspondence.ATTRIBUTE) is not None,
            "The active mesh has no correspondence colours yet: run Transfer Shape Keys")

    def execute(self, context):
        try:
            shown = [o.name for o in (context.active_object, context.scene.nfs.transfer_source)
                     if o is not None and o.type == "MESH" and not mesh_io.edit_problem(o)
                     and correspondence.show(o.data)]
            for shading in _view3d_shadings():
                shading.type = "SOLID"
                shading.color_type = "VERTEX"
        except Exception as exc:
            report_exception(self, exc, "Correspondence colours")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Correspondence colours shown on {', '.join(shown)} (Viewport Shading > Color: "
                              f"Attribute); set the shading's Color back to restore")
        return {"FINISHED"}


CLASSES = (NFS_OT_transfer_shape_keys, NFS_OT_show_correspondence)
