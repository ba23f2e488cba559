"""The one bridge between the add-on and the numpy model runtime (``model_core.runtime``).

Everything the operators ask of the model goes through here: loading (cached per weights file), preparing a
mesh, skinning, the FACS basis, expression encoding and decoding. Outputs are checked (shapes, finite
values) so that operators never write half-valid data; failures become ``EngineError`` with a message that
says what to do.

Frames: the add-on gives the model **world-space** positions in metres (Z up, the face looking along the
preference's forward axis) and gets world-space displacements back.

``set_model(obj)`` installs a ready model object (any object with the runtime's interface) instead of loading
the weights; tests use it to run the add-on against a stand-in.
"""
from __future__ import annotations


import numpy as np

from .model_core.runtime.facs_names import N_ICT
from .model_core.runtime.mesh import normalize_rows
from .model_core.runtime.threads import both

_state = {"model": None, "key": None, "injected": False, "error": None}


class EngineError(RuntimeError):
    """A model failure explained for the user (shown by operators as an ERROR report)."""


def set_model(model) -> None:
    """Use ``model`` for every later call (until ``clear_cache``); ``None`` goes back to loading weights."""
    _state.update(model=model, key="<injected>" if model is not None else None, injected=model is not None,
                  error=None)


def clear_cache() -> None:
    """Forget the loaded or injected model (unregister calls this)."""
    _state.update(model=None, key=None, injected=False, error=None)


def get_model(weights_path: str = ""):
    """The model for ``weights_path`` ('' = the bundled weights), loaded once and cached.

    Raises:
        EngineError: the runtime is missing from the add-on, or the weights file is missing or invalid.
    """
    if _state["injected"]:
        return _state["model"]
    key = str(weights_path or "")
    if _state["model"] is not None and _state["key"] == key:
        return _state["model"]
    try:
        from .model_core.runtime import Model
    except ImportError as exc:
        raise EngineError(f"the model runtime is missing from the add-on ({exc}); reinstall Neural Face "
                          f"Skinning from its .zip") from None
    try:
        if key:
            import bpy
            path = bpy.path.abspath(key)
            model = Model.load(path=path)
        else:
            model = Model.load(path=None)
    except FileNotFoundError as exc:
        raise EngineError(f"weights file not found: {exc}; fix or clear 'Weights file' in the add-on "
                          f"preferences") from None
    except ValueError as exc:
        raise EngineError(f"cannot load the model weights: {exc}; fix or clear 'Weights file' in the "
                          f"add-on preferences") from None
    _state.update(model=model, key=key, error=None)
    return model


def describe_model(weights_path: str = "") -> str:
    """One line for the preferences: which weights are in use (does not load anything)."""
    if _state["injected"]:
        return "Model: injected by a script"
    if _state["model"] is not None and _state["key"] == str(weights_path or ""):
        return f"Model loaded from {'the bundled weights' if not weights_path else weights_path}"
    return "Model: bundled weights" if not weights_path else f"Model: {weights_path}"


def region_names(model) -> list[str]:
    names = [str(n) for n in model.region_names]
    if not names:
        raise EngineError("the model has no skinning regions; the weights file is incomplete")
    return names


def region_colors(model) -> np.ndarray:
    """(R, 3) float32 colours in 0..1."""
    cols = np.asarray(model.region_colors, dtype=np.float32)
    if cols.shape != (len(region_names(model)), 3):
        raise EngineError(f"the model's region colours have shape {cols.shape}, expected "
                          f"({len(region_names(model))}, 3); the weights file is inconsistent")
    return np.clip(cols, 0.0, 1.0)


def prepare(model, verts_world: np.ndarray, faces: np.ndarray, forward: str = "-Y", crop: str = "FULL_HEAD",
            max_vertices: int | None = None, other_islands: str = "FOLLOW"):
    """Prepare a mesh for the model.

    Args:
        verts_world: (N, 3) float64 world positions (metres, Z up).
        faces: (F, 3) int32 triangles.
        forward: world axis the face looks toward ('-Y', 'Y', 'X', '-X').
        crop: 'FULL_HEAD' or 'FACE' (the runtime's ``crop=``).
        max_vertices: the add-on's limit; raises the runtime's own ``max_vertices`` to it when lower.
        other_islands: 'FOLLOW' (pieces other than the face move with the nearest face surface) or 'STATIC'.
    Raises:
        EngineError: the model refuses the mesh (its message says why).
    """
    verts = np.ascontiguousarray(verts_world, dtype=np.float64)
    tris = np.ascontiguousarray(faces, dtype=np.int32)
    kwargs = {"up": "Z", "forward": forward, "crop": crop.lower(), "other_islands": str(other_islands).lower()}
    if max_vertices and isinstance(getattr(model, "max_vertices", None), int) and model.max_vertices < max_vertices:
        model.max_vertices = int(max_vertices)
    try:
        return model.prepare(verts, tris, **kwargs)
    except ValueError as exc:
        raise EngineError(f"the model cannot use this mesh: {exc}") from None


def prepare_both(model, first: tuple, second: tuple, names: tuple = ("the first mesh", "the second mesh"),
                 **options):
    """``prepare`` of two meshes at once, ``first`` in a second thread (``runtime.threads.both``): (pm, pm).

    first, second: (verts_world (N, 3), faces (F, 3)) each; names: what to call each in an error; options:
    ``prepare``'s keywords, for both. Raises: EngineError naming the mesh the model refused (the first when both)."""
    def one(mesh, name):
        def run():
            try:
                return prepare(model, *mesh, **options)
            except EngineError as exc:
                raise EngineError(f"{name}: {exc}") from None
        return run
    return both(one(first, names[0]), one(second, names[1]))


def skinning(model, pm, n_verts: int, override_probs: np.ndarray | None = None):
    """Region probabilities and skinning weights.

    Args:
        pm: PreparedMesh; n_verts: its vertex count N (checked).
        override_probs: optional (N, R) user-painted region weights (>= 0); the runtime renormalises the rows
            (rows summing to 0 keep the model's probabilities).
    Returns:
        (probs (N, R) float64 rows summing to 1, weights (N, 128) float32).
    """
    try:
        if override_probs is None:
            probs, weights = model.skinning(pm)
        else:
            probs, weights = model.skinning(pm, override_probs=np.asarray(override_probs, dtype=np.float32))
    except ValueError as exc:
        raise EngineError(f"skinning failed: {exc}") from None
    probs = np.asarray(probs, dtype=np.float64)
    r = len(region_names(model))
    problem = _bad_output("region probabilities", probs, (n_verts, r))
    if problem:
        raise EngineError(problem)
    probs = normalize_rows(np.clip(probs, 0.0, None), 1.0 / r)
    return probs, np.asarray(weights, dtype=np.float32)


def _bad_output(what: str, arr: np.ndarray, shape: tuple) -> str | None:
    """Why a model output is unusable (wrong shape, or NaN / infinite values), or None."""
    if arr.shape != shape:
        return f"the model returned {what} of shape {arr.shape}, expected {shape}; this is a bug in the model runtime"
    if not np.isfinite(arr).all():
        return (f"the model returned NaN or infinite values for {what}; the weights are corrupt or this is a bug "
                f"in the model runtime (nothing was written)")
    return None


def _probs_kw(probs) -> dict:
    return {} if probs is None else {"probs": np.asarray(probs, dtype=np.float32)}


def facs_basis_iter(model, pm, n_verts: int, scheme: str = "ict", probs: np.ndarray | None = None,
                    keys: str = "template"):
    """Yield (index, name, delta (N, 3) float64 world displacement) per FACS shape, one at a time.

    Args:
        probs: optional (N, R) painted region weights used instead of the model's skinning (decoder keys).
        keys: 'template' (ICT's keys by dense correspondence) or 'decoder' (``Model.keys``).
    """
    try:
        for i, name, delta in model.facs_basis_iter(pm, names=scheme.lower(), keys=keys, **_probs_kw(probs)):
            d = np.asarray(delta, dtype=np.float64)
            problem = _bad_output(f"the {name} displacement", d, (n_verts, 3))
            if problem:
                raise EngineError(problem)
            yield int(i), str(name), d
    except ValueError as exc:
        raise EngineError(f"FACS basis failed: {exc}") from None


def face_keys(model, pm, keys: str, report=None) -> None:
    """Compute the mesh's FACS keys of the key source ``keys`` ('auto' or 'template'; cached in the model, so the
    next ``facs_basis_iter`` only maps them). The dense registration behind them takes seconds: ``report``
    (fraction 0..1, text) is called after each of its steps; an exception it raises (a cancellation) propagates.
    Safe in a worker thread (numpy only)."""
    if keys not in ("auto", "template"):
        raise EngineError(f"face_keys: unknown key source {keys!r}; this is a bug in the add-on")
    progress = None if report is None else (lambda d, t: report(d / max(t, 1), f"registration step {d}/{t}"))
    try:
        (model.auto_face_keys if keys == "auto" else model.template_face_keys)(pm, progress)
    except ValueError as exc:
        raise EngineError(f"FACS keys failed: {exc}") from None


def expression(model, posed_world: np.ndarray, pm, n_verts: int, sparsity: float | None = None,
               keys: str | None = None) -> np.ndarray:
    """Expression codes of posed frames of a prepared neutral mesh.

    Args:
        posed_world: (N, 3) or (B, N, 3) world positions, same vertex order as the prepared neutral.
        sparsity: the fitted inverse rig's sparsity (None: the model's default).
        keys: the FACS basis the inverse rig fits onto: 'template' or 'decoder' (None: the model's default).
    Returns:
        (Z,) or (B, Z) float64 codes; [..., :N_ICT] (53) = ICT FACS weights (ICT order).
    """
    posed = np.ascontiguousarray(posed_world, dtype=np.float64)
    single = posed.ndim == 2
    if posed.shape[-2:] != (n_verts, 3) or posed.ndim not in (2, 3):
        raise EngineError(f"posed mesh has shape {posed.shape}, expected ({n_verts}, 3): the source's "
                          f"modifiers change its vertex count; disable them or apply them to the rest mesh")
    try:
        kw = {} if sparsity is None else {"sparsity": float(sparsity)}
        if keys is not None:
            kw["keys"] = keys
        z = np.asarray(model.expression(posed, pm, **kw), dtype=np.float64)
    except ValueError as exc:
        raise EngineError(f"expression encoding failed: {exc}") from None
    b = 1 if single else posed.shape[0]
    z = z.reshape(b, -1) if z.size and z.size % b == 0 else z
    if z.ndim != 2 or z.shape[0] != b or z.shape[1] < N_ICT or not np.isfinite(z[:, :N_ICT]).all():
        raise EngineError(f"the model returned expression codes of shape {np.shape(z)} for {b} frame(s); this "
                          f"is a bug in the model runtime")
    return z[0] if single else z


def decode(model, pm, z: np.ndarray, n_verts: int, probs: np.ndarray | None = None) -> np.ndarray:
    """Posed world positions (N, 3) float64 for an expression code ``z`` (Z,), or (B, N, 3) for codes (B, Z)
    (one call: the decoder's per-mesh part is computed once for the batch, not once per frame).

    Args:
        probs: optional (N, R) painted region weights used instead of the model's skinning.
    """
    z = np.asarray(z, dtype=np.float32)
    try:
        pos = np.asarray(model.decode(pm, z, **_probs_kw(probs)), dtype=np.float64)
    except ValueError as exc:
        raise EngineError(f"decoding failed: {exc}") from None
    problem = _bad_output("decoded positions", pos, (n_verts, 3) if z.ndim == 1 else (len(z), n_verts, 3))
    if problem:
        raise EngineError(problem)
    return pos


def one_topology(src_tris: np.ndarray, n_src: int, tgt_tris: np.ndarray, n_tgt: int, src_verts=None,
                 tgt_verts=None) -> bool:
    """True when ``transfer_keys`` (without landmarks) matches the two meshes vertex for vertex
    (``runtime.transfer.vertex_for_vertex``): src_tris, tgt_tris (F, 3) triangles, n_src, n_tgt vertex counts,
    src_verts, tgt_verts optional (N, 3) rest positions (a renumbered mesh is decided on them)."""
    from .model_core.runtime.transfer import vertex_for_vertex
    return bool(vertex_for_vertex(src_tris, n_src, tgt_tris, n_tgt, None, src_verts, tgt_verts))


def one_face(source_pm, target_pm) -> bool:
    """True when ``transfer_keys`` (without landmarks) carries the two prepared heads' face islands vertex for vertex
    though the meshes differ in their other pieces (``runtime.transfer.face_order``)."""
    from .model_core.runtime.transfer import face_order
    return face_order(source_pm, target_pm) is not None


def transfer_keys(model, source_pm, keys_world: np.ndarray, target_pm, n_target: int, names=None, progress=None,
                  landmarks=None, proportions: bool = False):
    """A source head's shape keys carried onto a target head of any topology (``runtime.transfer``).

    Args:
        source_pm, target_pm: prepared source and target (world space, as ``prepare``).
        keys_world: (K, Ns, 3) world displacements of the source's vertices (source units).
        n_target: the target's vertex count Nt (checked).
        names: K key names (a jawOpen-like name marks the source's lip contact).
        progress: optional callback(done, total) during the registration; an exception it raises (a
            cancellation) propagates unchanged.
        landmarks: optional (source points (L, 3), target points (L, 3)) world positions that must correspond.
        proportions: give the source the target's proportions by an affine map first (``runtime.transfer``).
    Returns:
        (K, Nt, 3) float64 world displacements of the target, and (Nt, 3) float64 matched points on the source
        at rest (world, source units), NaN where a target vertex was not matched.
    """
    from .model_core.runtime.transfer import transfer_keys as _transfer
    keys = np.ascontiguousarray(keys_world, dtype=np.float64)
    try:
        out, corr = _transfer(model, source_pm, keys, target_pm, names=list(names) if names is not None else None,
                              progress=progress, return_correspondence=True, landmarks=landmarks,
                              proportions=proportions)
    except ValueError as exc:
        raise EngineError(f"shape-key transfer failed: {exc}") from None
    out = np.asarray(out, dtype=np.float64)
    problem = _bad_output("transferred shape keys", out, (len(keys), n_target, 3))
    if problem:
        raise EngineError(problem)
    corr = np.asarray(corr, dtype=np.float64)
    if corr.shape != (n_target, 3):
        raise EngineError(f"the model returned a correspondence of shape {corr.shape}, expected ({n_target}, 3); "
                          f"this is a bug in the model runtime")
    return out, corr
