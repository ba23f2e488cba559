"""Shared operator machinery: user-facing errors, poll checks, long jobs (modal with a timer, Esc cancels) and
preparing an object for the model (with painted NFS_ groups read back)."""
from __future__ import annotations

import time
import traceback
from dataclasses import dataclass

import bpy
import numpy as np

from . import engine, mesh_io, shape_keys, vertex_groups
from . import pieces as piece_io
from .model_core.runtime.mesh import normalize_rows
from .prefs import get_prefs


class UserError(Exception):
    """A problem the user can fix; the message says how. Operators report it as an ERROR."""


USER_ERRORS = (UserError, engine.EngineError, ValueError, FileNotFoundError)


def report_exception(op, exc: BaseException, what: str) -> None:
    """Report ``exc`` on operator ``op`` as one ERROR line (with a console traceback for unexpected ones)."""
    if isinstance(exc, USER_ERRORS):
        op.report({"ERROR"}, f"{what}: {exc}")
    else:
        traceback.print_exc()
        op.report({"ERROR"}, f"{what} failed unexpectedly ({type(exc).__name__}: {exc}); nothing was changed. "
                             f"See the system console for details")


def poll_result(cls, problem: str | None) -> bool:
    """An operator's ``poll`` answer: False with ``problem`` (a sentence saying what to do) set as the poll
    message, or True when there is no problem (None or empty).

    Chain checks with ``or`` so that a later check only runs when the earlier ones pass, e.g.
    ``poll_result(cls, mesh_io.mesh_problem(obj) or facs_keys_problem(obj))``."""
    if problem:
        cls.poll_message_set(problem)
        return False
    return True


def unless(ok: bool, problem: str) -> str | None:
    """``problem`` when ``ok`` is false, else None: a requirement in a chain of poll checks, e.g.
    ``mesh_io.mesh_problem(obj) or unless(has_groups(obj), "run Compute Skinning Weights first")``."""
    return None if ok else problem


def editable_mesh_problem(obj, select_message: str, *, object_mode: bool = False) -> str | None:
    """Why ``obj`` cannot be changed by an operator that only edits its data (shape-key values, groups,
    attributes), or None: ``select_message`` when it is not a mesh object (with ``object_mode``, also when its
    mode keeps its own copy of the mesh, e.g. Edit Mode), else ``mesh_io.edit_problem`` (linked / not editable).
    Lighter than ``mesh_io.mesh_problem``, which also checks the geometry for the model."""
    if obj is None or obj.type != "MESH" or (object_mode and obj.mode not in mesh_io.USABLE_MODES):
        return select_message
    return mesh_io.edit_problem(obj)


def facs_keys_problem(obj) -> str | None:
    """A sentence when the mesh object ``obj`` has no FACS shape keys (``shape_keys.facs_keys``), else None."""
    if shape_keys.facs_keys(obj)[0] is None:
        return f"'{obj.name}' has no FACS shape keys: generate them first"
    return None


def scene_fps(scene) -> float:
    return scene.render.fps / (scene.render.fps_base or 1.0)


@dataclass
class PreparedObject:
    """An object ready for the model.

    Attributes:
        model: the runtime model; pm: its PreparedMesh; n: vertex count N.
        mat: (4, 4) float64 world matrix used for the world positions.
        verts_world: (N, 3) float64 rest positions in world space; tris: (F, 3) int32.
        probs: (N, R) region weights read back from the object's painted NFS_ vertex groups (vertices without
            NFS_ weight keep the model's), passed to the model as ``probs=``; None when not painted.
        pieces: other selected meshes joined after the object's own vertices (``pieces.Piece``: teeth, eyes as
            objects of their own); N counts their vertices too, the object's own are the first ``n_own``.
    """
    model: object
    pm: object
    n: int
    mat: np.ndarray
    verts_world: np.ndarray
    tris: np.ndarray
    probs: np.ndarray | None = None
    pieces: tuple = ()

    @property
    def n_own(self) -> int:
        """The object's own vertex count (N without its pieces')."""
        return self.pieces[0].start if self.pieces else self.n

    @property
    def warnings(self) -> list:
        """The model's sentences about the mesh (``PreparedMesh.warnings``: faces re-wound, stray vertices left out,
        a floor or a second head not used as the face), for the operator's WARNING reports."""
        return [str(w) for w in getattr(self.pm, "warnings", ())]

    @property
    def painted(self) -> bool:
        """True when ``probs`` differ from what Compute Skinning writes (the model's probabilities quantised to
        1/``vertex_groups.STEPS``, read back exactly): the user painted the groups (or the mesh changed since)."""
        if self.probs is None:
            return False
        model_probs, _ = engine.skinning(self.model, self.pm, self.n)
        written = vertex_groups.quantise_rows(model_probs) / float(vertex_groups.STEPS)
        own = slice(0, self.n_own)                      # its pieces keep the model's (unquantised) probabilities
        return bool(np.abs(self.probs[own] - written[own]).max() > 1e-5)


def prepare_object(context, obj, *, use_painted: bool = True, editable: bool = True, pieces=()) -> PreparedObject:
    """Load the model and prepare ``obj``'s rest mesh (world space). With ``use_painted`` and NFS_ groups on
    the object, their weights override the model's region probabilities (vertices with no NFS_ weight keep
    the model's). ``editable``: the object will be written to (False for a bake source, which is only read).
    ``pieces``: other mesh objects joined to it as its pieces (``pieces.selected_pieces``), after its vertices.
    Raises UserError for NaN / infinite coordinates before the model runs."""
    prefs = get_prefs(context)
    mat, verts, tris = rest_mesh(context, obj, editable=editable)
    joined = ()
    if pieces:
        verts, tris, joined = piece_io.join(verts, tris, [(p,) + rest_mesh(context, p, editable=editable)
                                                          for p in pieces])
    model = engine.get_model(prefs.weights_path)
    pm = engine.prepare(model, verts, tris, **prepare_options(context))
    n = verts.shape[0]
    probs = painted_probs(model, pm, obj, n) if use_painted else None
    return PreparedObject(model, pm, n, mat, verts, tris, probs, tuple(joined))


def rest_mesh(context, obj, *, editable: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``obj``'s rest mesh checked for the model: ((4, 4) float64 world matrix, (N, 3) float64 world positions,
    (F, 3) int32 triangles). ``editable`` as ``prepare_object``. Raises UserError (``mesh_io.mesh_problem``,
    NaN / infinite or imprecise coordinates) with a message saying what to fix."""
    problem = mesh_io.mesh_problem(obj, get_prefs(context).max_vertices, editable=editable)
    if problem:
        raise UserError(problem)
    mat = mesh_io.matrix_world(obj)
    local = mesh_io.local_rest_positions(obj)
    problem = mesh_io.nonfinite_problem(obj, local, mat) or mesh_io.precision_problem(obj, local)
    if problem:
        raise UserError(problem)
    return mat, mesh_io.to_world(local, mat), mesh_io.triangles(obj.data)


def prepare_options(context) -> dict:
    """The preferences' keyword arguments of ``engine.prepare`` (forward, crop, max_vertices, other_islands):
    plain values, so a worker thread can prepare a mesh without touching Blender data."""
    prefs = get_prefs(context)
    return {"forward": prefs.forward_axis, "crop": prefs.crop, "max_vertices": prefs.max_vertices,
            "other_islands": getattr(prefs, "other_islands", "FOLLOW")}


def painted_probs(model, pm, obj, n: int) -> np.ndarray | None:
    """(N, R) region weights from ``obj``'s NFS_<region> vertex groups, renormalised by the model
    (``skinning(override_probs=...)``); vertices without any NFS_ weight keep the model's probabilities (so do
    the rows past ``obj``'s own vertices: its pieces'). None when the object has no NFS_ weights."""
    read = vertex_groups.read_region_groups(obj, engine.region_names(model))
    if read is None or not read[1].any():
        return None
    weights, has = read
    if len(has) < n:
        weights = np.concatenate([weights, np.zeros((n - len(has), weights.shape[1]), weights.dtype)])
        has = np.concatenate([has, np.zeros(n - len(has), bool)])
    probs, _ = engine.skinning(model, pm, n)
    probs[has] = normalize_rows(weights[has])
    probs, _ = engine.skinning(model, pm, n, override_probs=probs)
    return probs


class NFSOperator:
    """Mixin for the add-on's operators: undoable (``bl_options``), and ``poll`` is ``poll_result`` of the class's
    ``problem(context)``: why the operator cannot run now (a sentence saying what to do), or None."""
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return poll_result(cls, cls.problem(context))

    @classmethod
    def problem(cls, context) -> str | None:
        return None


class JobOperator(NFSOperator):
    """Mixin for long operators on the active mesh (by default ``problem`` is ``mesh_io.mesh_problem``: the model
    can use the mesh). Subclasses implement ``job(context)``: a generator that yields
    ``(fraction 0..1, text)`` while it computes and writes to Blender data only after its last yield, so
    that stopping it early (Esc, error) leaves everything as it was. It may set ``self.message`` for the final
    INFO report and ``self.warnings`` (list of str).

    ``execute`` runs the job to the end (scripts, tests, Redo), with a progress cursor after half a second;
    ``invoke`` runs it modally on a timer in the UI (Esc cancels); in background mode it executes.
    """
    what = "Job"
    _timer = None
    _gen = None

    @classmethod
    def problem(cls, context) -> str | None:
        return mesh_io.mesh_problem(context.active_object)

    def job(self, context):  # pragma: no cover - abstract
        raise NotImplementedError
        yield

    def _done_reports(self):
        for w in getattr(self, "warnings", None) or []:
            self.report({"WARNING"}, w)
        if getattr(self, "message", ""):
            self.report({"INFO"}, self.message)

    def execute(self, context):
        self.message, self.warnings = "", []
        wm = context.window_manager
        start = time.perf_counter()
        progress = False
        gen = self.job(context)
        try:
            for frac, _text in gen:
                if not progress and time.perf_counter() - start > 0.5:
                    wm.progress_begin(0, 1000)
                    progress = True
                if progress:
                    wm.progress_update(int(1000 * min(max(frac, 0.0), 1.0)))
        except Exception as exc:  # every failure becomes a report; the job wrote nothing
            gen.close()
            report_exception(self, exc, self.what)
            return {"CANCELLED"}
        finally:
            if progress:
                wm.progress_end()
        self._done_reports()
        return {"FINISHED"}

    def invoke(self, context, event):
        if bpy.app.background or context.window is None:
            return self.execute(context)
        self.message, self.warnings = "", []
        self._gen = self.job(context)
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.02, window=context.window)
        wm.modal_handler_add(self)
        wm.progress_begin(0, 1000)
        self._status(context, f"{self.what}: starting (Esc to cancel)")
        return {"RUNNING_MODAL"}

    def _status(self, context, text):
        ws = getattr(context, "workspace", None)
        if ws is not None:
            ws.status_text_set(text)

    def _stop(self, context):
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        self._status(context, None)

    def modal(self, context, event):
        if event.type == "ESC" and event.value == "PRESS":
            self._gen.close()  # runs the job's finally blocks (frame restore); nothing was written
            self._stop(context)
            self.report({"WARNING"}, f"{self.what} cancelled; nothing was changed")
            return {"CANCELLED"}
        if event.type != "TIMER" or event.timer is not self._timer:
            return {"RUNNING_MODAL"}  # block edits while the job holds references to the data
        deadline = time.perf_counter() + 0.08
        try:
            while time.perf_counter() < deadline:
                frac, text = next(self._gen)
                context.window_manager.progress_update(int(1000 * min(max(frac, 0.0), 1.0)))
                self._status(context, f"{self.what}: {text} ({100 * frac:.0f}%, Esc to cancel)")
        except StopIteration:
            self._stop(context)
            self._done_reports()
            return {"FINISHED"}
        except Exception as exc:
            self._gen.close()
            self._stop(context)
            report_exception(self, exc, self.what)
            return {"CANCELLED"}
        return {"RUNNING_MODAL"}


def register_classes(classes):
    for cls in classes:
        bpy.utils.register_class(cls)


def unregister_classes(classes):
    for cls in reversed(classes):
        try:
            bpy.utils.unregister_class(cls)
        except RuntimeError:  # not registered (a failed register): nothing to undo
            pass
