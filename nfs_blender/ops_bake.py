"""``nfs.bake_from_source``: bake an animated source face onto the active mesh's FACS shape keys.

Two ways to read the source, per frame of the chosen range:

- FACS shape keys (the source has shape keys named like FACS expressions, any naming style, matched by
  ``facs_names.match_source_names``): their values are read by evaluating the Key's action F-curves directly
  when nothing else drives them (no drivers, NLA or partial influence), else by ``scene.frame_set`` per frame.
  ``scene.nfs.names_target`` says what they drive: the target's generated FACS keys ('FACS', by FACS meaning),
  or the target's keys of the same names, any names ('SAME_NAMES': each value copied as it is, e.g. onto the
  source's own keys carried over by Transfer Shape Keys).
- Mesh deformation: the evaluated source mesh (modifiers, armature, shape keys) is read per frame through
  the depsgraph, put in world space with the source's world matrix at the start of the bake (object-level
  motion is not an expression) and encoded by the model (``model.expression``) into ICT FACS weights.

The weights are keyed in bulk on the target (``keyframes.write_shape_key_animation``), converted to ARKit
names when the target has ARKit keys, clipped to each key's slider range. Nothing is written before the
last frame is read; the scene's current frame is restored in every case (done, error, Esc).
"""
from __future__ import annotations

import bpy
import numpy as np

from . import corrective, engine, keyframes, mesh_io, shape_keys
from .common import JobOperator, UserError, facs_keys_problem, prepare_object, unless
from .model_core.runtime import facs_names
from .prefs import get_prefs

AUTO_MIN_NAMES = 10
BATCH = 16  # frames encoded together by the expression encoder
MAX_BAKE_FRAMES = 100_000          # ~1 h at 24 fps; the bake holds ~1 kB per frame (weights, codes, keyframes)
MAX_CORRECTIVE_BYTES = 1 << 30     # the corrective stores (frames x vertices x 3) float32


def source_facs_mapping(source) -> dict:
    """{source key name: ICT indices} for the source's non-reference shape keys with FACS names."""
    key = source.data.shape_keys
    if key is None:
        return {}
    ref = key.reference_key
    return facs_names.match_source_names(kb.name for kb in key.key_blocks if kb != ref)


def same_name_keys(source, target) -> dict:
    """{name: target key block} for the target's non-reference shape keys whose name is also a non-reference
    shape key of the source (any names), in the target's order."""
    skey, tkey = source.data.shape_keys, target.data.shape_keys
    if skey is None or tkey is None:
        return {}
    src = {kb.name for kb in skey.key_blocks if kb != skey.reference_key}
    return {kb.name: kb for kb in tkey.key_blocks if kb != tkey.reference_key and kb.name in src}


def frame_range(scene) -> tuple[int, int]:
    s = scene.nfs
    return (scene.frame_start, scene.frame_end) if s.use_scene_range else (s.frame_start, s.frame_end)


def _key_value(kb, v):
    return 0.0 if kb.mute else min(max(v, kb.slider_min), kb.slider_max)


class NFS_OT_bake_from_source(JobOperator, bpy.types.Operator):
    """Bake the source face's animation onto the active mesh's FACS shape keys, or onto its keys of the same
    names as the source's (keyframes on every frame of the range); Esc cancels without changing anything"""
    bl_idname = "nfs.bake_from_source"
    bl_label = "Bake From Source"
    what = "Bake"

    @classmethod
    def problem(cls, context):
        obj = context.active_object
        s = context.scene.nfs
        same_names = s.names_target == "SAME_NAMES" and s.source_mode != "GEOMETRY"
        return (super().problem(context) or (None if same_names else facs_keys_problem(obj))
                or unless(s.bake_source is not None, "Choose a source object in the Bake panel")
                or unless(s.bake_source != obj, "The source must be another object than the active (target) mesh"))

    # ----------------------------------------------------------------------------------------- reading
    def _read_names(self, context, source, names, frames):
        """``self.src_vals``: {name: (T,) value} of the source's shape keys ``names`` on ``frames``, each clipped
        to its slider range (0 when muted)."""
        key = source.data.shape_keys
        blocks = key.key_blocks
        t = len(frames)
        src_vals = {}
        problem = keyframes.direct_evaluation_problem(key)
        if problem is None:
            curves = keyframes.shape_key_value_curves(key)
            for j, name in enumerate(names):
                kb = blocks[name]
                fc = curves.get(name)
                if fc is None or kb.mute:
                    src_vals[name] = np.full(t, _key_value(kb, kb.value))
                else:
                    src_vals[name] = np.array([_key_value(kb, fc.evaluate(f)) for f in frames])
                yield 0.05 + 0.9 * (j + 1) / len(names), f"reading {name}"
            self.read_how = "F-curves evaluated directly"
        else:
            scene = context.scene
            vals = np.zeros((t, len(names)))
            names = list(names)
            for i, f in enumerate(frames):
                scene.frame_set(int(f))
                for j, name in enumerate(names):
                    kb = blocks[name]
                    vals[i, j] = _key_value(kb, kb.value)
                yield 0.05 + 0.9 * (i + 1) / t, f"frame {f:g}"
            src_vals = {n: vals[:, j] for j, n in enumerate(names)}
            self.read_how = f"frame by frame ({problem})"
        self.src_vals = src_vals

    @staticmethod
    def _names_to_ict(src_vals, mapping, t):
        """(T, 53) ICT weights from the FACS-named source values ({source name: ICT indices} ``mapping``)."""
        ict = np.zeros((t, facs_names.N_ICT))
        for name, idx in mapping.items():
            for i in idx:
                ict[:, i] = src_vals[name]
        return ict

    def _read_geometry(self, context, source, frames, want_codes):
        """(T, 53) ICT weights (and (T, Z) codes) from the model encoding the evaluated source, in batches of
        ``BATCH`` frames."""
        scene = context.scene
        # the expression encoder uses no skinning; the source is only read (it may be linked)
        prep = prepare_object(context, source, use_painted=False, editable=False)
        self.warnings.extend(f"source '{source.name}': {w}" for w in prep.warnings)
        # the basis the source's motion is fitted onto: the same key source as Generate FACS Shape Keys
        keys = get_prefs(context).key_source.lower()
        yield 0.1, "source prepared"
        t = len(frames)
        ict = np.zeros((t, facs_names.N_ICT))
        codes = None
        share = 0.8 if want_codes else 0.85
        for s0 in range(0, t, BATCH):
            chunk = frames[s0:s0 + BATCH]
            posed = np.empty((len(chunk), prep.n, 3))
            for j, f in enumerate(chunk):
                scene.frame_set(int(f))
                local = mesh_io.evaluated_local_positions(source, context.evaluated_depsgraph_get())
                if local.shape[0] != prep.n:
                    raise UserError(f"'{source.name}' has {local.shape[0]} vertices after its modifiers at frame "
                                    f"{int(f)}, {prep.n} at rest: disable modifiers that add or remove vertices")
                posed[j] = mesh_io.to_world(local, prep.mat)
                if not np.isfinite(posed[j]).all():
                    raise UserError(f"'{source.name}' has NaN or infinite vertex positions at frame {int(f)} (from a "
                                    f"shape key, modifier or driver): fix the source first")
            z = engine.expression(prep.model, posed, prep.pm, prep.n, sparsity=scene.nfs.rig_sparsity, keys=keys)
            ict[s0:s0 + len(chunk)] = z[:, : facs_names.N_ICT]
            if want_codes:
                if codes is None:
                    codes = np.zeros((t, z.shape[1]), dtype=np.float32)
                codes[s0:s0 + len(chunk)] = z
            yield 0.1 + share * min(t, s0 + BATCH) / t, f"frame {int(chunk[-1])}"
        self.ict, self.codes = ict, codes
        self.read_how = "mesh deformation encoded by the model"

    # ----------------------------------------------------------------------------------------- job
    def job(self, context):
        scene = context.scene
        settings = scene.nfs
        target = context.active_object
        source = settings.bake_source
        if source is None or source.type != "MESH":
            raise UserError("choose a mesh as the bake source")
        if source == target:
            raise UserError("the source must be another object than the target")
        start, end = frame_range(scene)
        if end < start:
            raise UserError(f"the frame range is empty ({start}-{end}): set End after Start")
        if end - start + 1 > MAX_BAKE_FRAMES:
            raise UserError(f"the frame range {start}-{end} has {end - start + 1:,} frames, more than the "
                            f"{MAX_BAKE_FRAMES:,} one bake takes: set Start/End to bake it in parts")
        frames = np.arange(start, end + 1, dtype=np.float64)
        mapping = source_facs_mapping(source)
        shared = same_name_keys(source, target) if settings.names_target == "SAME_NAMES" else {}
        mode = settings.source_mode
        if mode == "AUTO":
            mode = "NAMES" if len(mapping) >= AUTO_MIN_NAMES or shared else "GEOMETRY"
        same = mode == "NAMES" and settings.names_target == "SAME_NAMES"
        if same and not shared:
            raise UserError(f"'{target.name}' has no shape keys with the names of the shape keys of '{source.name}': "
                            f"carry them over with Transfer Shape Keys first, or set Drive to 'Generated FACS keys'")
        if mode == "NAMES" and not same and not mapping:
            raise UserError(f"'{source.name}' has no shape keys with FACS names (e.g. jawOpen, eyeBlink_L or "
                            f"EyeBlinkLeft): choose 'Mesh deformation'")
        if same:
            scheme, keys = None, shared
        else:
            scheme, keys = shape_keys.facs_keys(target)
            if scheme is None:
                raise UserError(f"'{target.name}' has no FACS shape keys: generate them first")
        if mode == "GEOMETRY":
            problem = mesh_io.mesh_problem(source, editable=False)
            if problem:
                raise UserError(problem)
        want_corrective = settings.bake_corrective
        if want_corrective and mode != "GEOMETRY":
            self.warnings.append("Bake corrective needs the 'Mesh deformation' source; no corrective was baked")
            want_corrective = False
        if want_corrective:
            size = len(frames) * len(target.data.vertices) * 12
            if size > MAX_CORRECTIVE_BYTES:
                raise UserError(f"Bake corrective would store {size / 2**30:.1f} GiB ({len(frames):,} frames x "
                                f"{len(target.data.vertices):,} vertices), more than {MAX_CORRECTIVE_BYTES >> 30} GiB: "
                                f"bake fewer frames or turn off 'Bake corrective'")
        driven = keyframes.driven_key_names(target.data.shape_keys, keys)
        if driven:
            self.warnings.append(f"drivers on {len(driven)} of the {'' if same else 'FACS '}keys of '{target.name}' "
                                 f"({', '.join(driven[:6])}{' ...' if len(driven) > 6 else ''}) override the baked "
                                 f"keyframes: remove or mute those drivers to play the bake")

        frame0, sub0 = scene.frame_current, scene.frame_subframe
        self.codes = None
        try:
            yield 0.0, "reading the source"
            if mode == "NAMES":
                yield from self._read_names(context, source, list(keys) if same else list(mapping), frames)
                if not same:
                    self.ict = self._names_to_ict(self.src_vals, mapping, len(frames))
            else:
                yield from self._read_geometry(context, source, frames, want_corrective)
        finally:
            if (scene.frame_current, scene.frame_subframe) != (frame0, sub0):
                scene.frame_set(frame0, subframe=sub0)

        if same:
            by_name = {n: np.clip(self.src_vals[n], kb.slider_min, kb.slider_max) for n, kb in keys.items()}
        else:
            by_name = shape_keys.scheme_key_values(self.ict, scheme, keys)
        corr = None
        if want_corrective:
            corr = yield from corrective.compute(context, target, by_name, self.codes, frames, (0.9, 0.98))
        # ---- everything is read and checked: write
        keyframes.write_shape_key_animation(target.data.shape_keys, by_name, frames,
                                            current_frame=scene.frame_current + scene.frame_subframe)
        if corr is not None:
            corrective.store(target, frames, corr)
        elif corrective.clear(target):
            self.warnings.append(f"the corrective baked earlier on '{target.name}' was removed (it belonged to the "
                                 f"previous bake)")
        self.message = (f"Baked {len(frames)} frames ({int(frames[0])}-{int(frames[-1])}) of '{source.name}' onto "
                        f"{len(by_name)} {'same-named' if same else scheme} keys of '{target.name}' ({self.read_how}"
                        f"{', with corrective' if corr is not None else ''})")


CLASSES = (NFS_OT_bake_from_source,)
