"""Command line interface of the numpy runtime: ``python -m model_core <command> ...`` (no torch needed).

Commands (meshes are .obj or .ply; axes default to the OBJ convention: Y up, face looking toward +Z):

  skin MESH -o OUT.npz|OUT.csv
      per-vertex region probabilities and skinning weights (npz: probs (N,R), weights (N,128),
      region_names, region_colors; csv: vertex, region (most likely), one probability column per region).
  facs MESH -o OUT.npz|DIR [--names ict|arkit] [--keys template|decoder]
      FACS blendshapes of a mesh (npz: names, deltas (K,N,3), neutral, faces; DIR: one OBJ per shape,
      the input's polygons kept).
  encode POSED... --neutral NEUTRAL -o OUT.csv|OUT.npz [--names ict|arkit]
      FACS weights of posed frames (POSED: files, or folders of frame meshes sorted by name).
  retarget --source-neutral S0 --source-frames DIR --target T -o DIR|OUT.npz [--objs] [--names ict|arkit]
      clone an animation: per-frame weights (DIR/weights.csv) and, with --objs, posed target OBJs
      (DIR/frame_NNNN.obj); an .npz gets facs, z_ge, files (and positions with --objs).

  transfer --source S --source-keys DIR|KEYS.npz --target T -o DIR|OUT.npz [--keys NAME,...] [--landmarks CSV] [--proportions]
      carry the source's own shape keys (any names) onto a target of any topology (DIR: one OBJ per key, the
      key's name as the file name, same vertex order as S; KEYS.npz: names, deltas (K,N,3) as facs writes).

Common flags: --weights PATH (default model_core/weights/nfs_v5.npz), --up/--forward (axes of the input
files), --max-vertices, --quiet. Exit status 0 on success, 1 with a one-line reason on bad input
(missing/unreadable file, no faces, NaN, too many vertices, ...), 2 on bad arguments.
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

from .runtime.facs_names import ARKIT_NAMES, ICT_NAMES, N_ARKIT, N_ICT, ict_to_arkit, names_for_scheme
from .runtime.meshio import MESH_SUFFIXES, read_mesh, write_obj
from .runtime.model import Model
from .runtime.model_keys import KEY_SOURCES

PROG = "python -m model_core"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of usage + message
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


class _Log:
    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.t0 = time.perf_counter()

    def __call__(self, msg: str = "") -> None:
        if not self.quiet:
            print(msg, flush=True)

    def progress(self, done: int, total: int, what: str) -> None:
        if self.quiet or total <= 1:
            return
        step = max(1, total // 10)
        if done == total or done % step == 0 or done == 1:
            print(f"  {what} {done}/{total}", flush=True)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", help="weights .npz (its .json beside it); default model_core/weights/nfs_v5.npz")
    p.add_argument("--up", default="Y", help="up axis of the input files (X, -X, Y, -Y, Z, -Z; default Y)")
    p.add_argument("--forward", default="Z", help="direction the face looks toward in the files (default Z)")
    p.add_argument("--max-vertices", type=int, default=None, help=f"refuse bigger meshes (default {Model.max_vertices})")
    p.add_argument("--other-islands", choices=("follow", "static"), default="follow",
                   help="pieces other than the face (eyes, teeth): follow the face (default) or stay static")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Neural face skinning (numpy runtime): skinning, FACS blendshapes, "
                                       "expression encoding and retargeting for face meshes of any topology.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    s = sub.add_parser("skin", help="per-vertex region probabilities and skinning weights")
    s.add_argument("mesh")
    s.add_argument("-o", "--out", required=True, help="output .npz or .csv")
    _common(s)
    s = sub.add_parser("facs", help="FACS blendshapes of a mesh")
    s.add_argument("mesh")
    s.add_argument("-o", "--out", required=True, help="output .npz, or a folder for one OBJ per shape")
    s.add_argument("--names", choices=("ict", "arkit"), default="ict")
    s.add_argument("--keys", choices=KEY_SOURCES, default="auto",
                   help="auto (default): the decoder's keys on faces like ICT's, the template's on others; "
                        "template: ICT's keys carried by dense correspondence; decoder: the learned decoder's keys")
    _common(s)
    s = sub.add_parser("encode", help="FACS weights of posed frames")
    s.add_argument("posed", nargs="+", help="posed meshes, or folders of them (sorted by name)")
    s.add_argument("--neutral", required=True, help="the neutral mesh (same topology as the posed ones)")
    s.add_argument("-o", "--out", required=True, help="output .csv or .npz")
    s.add_argument("--names", choices=("ict", "arkit"), default="ict", help=f"weights in ICT ({N_ICT}) or ARKit ({N_ARKIT}) order")
    s.add_argument("--keys", choices=KEY_SOURCES, default="auto",
                   help="the FACS basis the frames are fitted onto, as facs --keys (default auto)")
    _common(s)
    s = sub.add_parser("retarget", help="clone an animation from a source mesh onto a target mesh")
    s.add_argument("--source-neutral", required=True)
    s.add_argument("--source-frames", required=True, nargs="+", help="posed source meshes or a folder of them")
    s.add_argument("--target", required=True, help="the target neutral mesh")
    s.add_argument("-o", "--out", required=True, help="output folder (weights.csv [+ OBJs]) or .npz")
    s.add_argument("--objs", action="store_true", help="also write the posed target meshes")
    s.add_argument("--names", choices=("ict", "arkit"), default="ict", help="CSV columns in ICT or ARKit order")
    _common(s)
    s = sub.add_parser("transfer", help="carry a character's own shape keys onto another head")
    s.add_argument("--source", required=True, help="the source neutral mesh")
    s.add_argument("--source-keys", required=True,
                   help="a folder of posed source meshes, one per key (file name = key name), or an .npz with "
                        "names and deltas (K, N, 3)")
    s.add_argument("--target", required=True, help="the target neutral mesh")
    s.add_argument("-o", "--out", required=True, help="output .npz, or a folder for one OBJ per key")
    s.add_argument("--keys", help="only these keys (comma-separated names)")
    s.add_argument("--landmarks", help="a CSV of point pairs that must correspond, one per line: name, source x, y, "
                                       "z, target x, y, z (each in its mesh file's coordinates; '#' lines skipped)")
    s.add_argument("--proportions", action="store_true",
                   help="give the source the target's proportions by an affine map first and carry the keys by it "
                        "(heads that differ by a stretch; docs/model.md)")
    _common(s)
    return p


class InputError(Exception):
    """Bad input: reported as one line, exit status 1."""


def _frame_files(items) -> list[Path]:
    files = []
    for it in items:
        p = Path(it)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix.lower() in MESH_SUFFIXES and q.is_file())
            if not found:
                raise InputError(f"folder {p} holds no .obj or .ply files")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise InputError(f"not found: {p}")
    return files


def _load_model(a, log):
    from .runtime import Model
    t = time.perf_counter()
    model = Model.load(a.weights)
    if a.max_vertices is not None:
        model.max_vertices = a.max_vertices
    model.max_vertices_hint = "pass --max-vertices N"
    log(f"weights: {model.weights.npz_path} ({time.perf_counter() - t:.2f} s)")
    return model


def _prepare(model, path, a, log, what="mesh"):
    t = time.perf_counter()
    m = read_mesh(path)
    pm = model.prepare(m.verts, m.faces, a.up, a.forward, other_islands=a.other_islands)
    log(f"{what} {path}: " + pm.describe().replace("\n", "\n  ") + f"\n  prepared in {time.perf_counter() - t:.2f} s")
    return m, pm


def _read_frames(files, neutral, log, what):
    """Posed frames (T, N, 3) float64 of the neutral MeshData: same vertex count, and the same polygons when a
    frame file has any (a frame exported with another vertex order or topology is refused, not encoded)."""
    n_verts = len(neutral.verts)
    frames = np.empty((len(files), n_verts, 3))
    for i, f in enumerate(files):
        m = read_mesh(f)
        if m.verts.shape[0] != n_verts:
            raise InputError(f"{f}: has {m.verts.shape[0]} vertices, the neutral has {n_verts}; posed frames must "
                             f"share the neutral's vertex order")
        if m.sizes.size and not (np.array_equal(m.sizes, neutral.sizes) and np.array_equal(m.corners, neutral.corners)):
            raise InputError(f"{f}: its faces differ from the neutral's ({len(m.sizes)} vs {len(neutral.sizes)} "
                             f"polygons, or the same count in another vertex order); posed frames must be exported "
                             f"with the neutral's vertex order")
        frames[i] = m.verts
        log.progress(i + 1, len(files), f"read {what}")
    return frames


def _weights_table(facs: np.ndarray, names: str):
    if names == "arkit":
        return list(ARKIT_NAMES), ict_to_arkit(np.asarray(facs, np.float32))
    return list(ICT_NAMES), np.asarray(facs, np.float32)


def _write_weights_csv(path: Path, files, facs, names):
    cols, table = _weights_table(facs, names)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["frame", "file"] + cols)
        for i, (f, row) in enumerate(zip(files, table)):
            w.writerow([i, Path(f).name] + [f"{x:.6f}" for x in row])


def cmd_skin(a, log) -> int:
    model = _load_model(a, log)
    _, pm = _prepare(model, a.mesh, a, log)
    t = time.perf_counter()
    probs, weights = model.skinning(pm)
    log(f"skinning: {time.perf_counter() - t:.2f} s")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".csv":
        top = probs.argmax(axis=1)
        with open(out, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["vertex", "region"] + list(model.region_names))
            for i in range(len(probs)):
                w.writerow([i, model.region_names[top[i]]] + [f"{x:.6f}" for x in probs[i]])
    elif out.suffix.lower() == ".npz":
        np.savez_compressed(out, probs=probs, weights=weights, region_names=np.array(model.region_names),
                            region_colors=model.region_colors)
    else:
        raise InputError(f"output must end in .npz or .csv, got {out}")
    counts = np.bincount(probs.argmax(axis=1), minlength=len(model.region_names))
    log("regions (most likely, vertex counts): " + ", ".join(
        f"{n}={c}" for n, c in zip(model.region_names, counts) if c))
    log(f"wrote {out}")
    return 0


def cmd_facs(a, log) -> int:
    model = _load_model(a, log)
    mesh, pm = _prepare(model, a.mesh, a, log)
    out = Path(a.out)
    t = time.perf_counter()
    names, deltas = [], []
    total = len(names_for_scheme(a.names))
    for i, name, d in model.facs_basis_iter(pm, names=a.names, keys=a.keys):
        names.append(name)
        deltas.append(d)
        log.progress(i + 1, total, "shapes")
    deltas = np.stack(deltas)
    log(f"FACS basis ({len(names)} shapes, {a.names}, {a.keys} keys): {time.perf_counter() - t:.2f} s; "
        f"largest displacement {np.linalg.norm(deltas, axis=-1).max():.4g} units")
    _write_keys(out, names, deltas, mesh, "FACS shape")
    log(f"wrote {out}")
    return 0


def _write_keys(out: Path, names, deltas: np.ndarray, mesh, what: str) -> None:
    """Shape keys (K names, deltas (K, N, 3)) of ``mesh``: an .npz (names, deltas, neutral, faces) or a folder of
    OBJs, one per key (neutral + delta, the mesh's polygons kept)."""
    if out.suffix.lower() == ".npz":
        out.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(out, names=np.array(names), deltas=deltas, neutral=mesh.verts, faces=mesh.faces)
        return
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a folder; give a folder or an .npz")
    out.mkdir(parents=True, exist_ok=True)
    for name, d in zip(names, deltas):
        write_obj(out / f"{name}.obj", mesh.verts + d, mesh.polygons, comment=f"{what} {name}")


def cmd_encode(a, log) -> int:
    model = _load_model(a, log)
    nmesh, pm = _prepare(model, a.neutral, a, log, "neutral")
    files = _frame_files(a.posed)
    frames = _read_frames(files, nmesh, log, "frames")
    t = time.perf_counter()
    z = model.expression(frames, pm, keys=a.keys)
    dt = time.perf_counter() - t
    log(f"encoded {len(files)} frames in {dt:.2f} s ({len(files) / max(dt, 1e-9):.1f} frames/s)")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".csv":
        _write_weights_csv(out, files, z[:, :N_ICT], a.names)
    elif out.suffix.lower() == ".npz":
        cols, table = _weights_table(z[:, :N_ICT], a.names)
        np.savez_compressed(out, weights=table, names=np.array(cols), z_ge=z, files=np.array([str(f) for f in files]))
    else:
        raise InputError(f"output must end in .csv or .npz, got {out}")
    log(f"wrote {out}")
    return 0


def cmd_retarget(a, log) -> int:
    model = _load_model(a, log)
    smesh, src = _prepare(model, a.source_neutral, a, log, "source neutral")
    tmesh, tgt = _prepare(model, a.target, a, log, "target")
    files = _frame_files(a.source_frames)
    frames = _read_frames(files, smesh, log, "frames")
    t = time.perf_counter()
    res = model.retarget(frames, src, tgt, positions=a.objs,
                         progress=lambda d, n: log.progress(d, n, "retarget steps"))
    log(f"retargeted {len(files)} frames in {time.perf_counter() - t:.2f} s")
    out = Path(a.out)
    if out.suffix.lower() == ".npz":
        out.parent.mkdir(parents=True, exist_ok=True)
        extra = {"positions": res["positions"]} if a.objs else {}
        np.savez_compressed(out, facs=res["facs"], z_ge=res["z_ge"], files=np.array([str(f) for f in files]),
                            names=np.array(ICT_NAMES), **extra)
    else:
        if out.exists() and not out.is_dir():
            raise InputError(f"{out} exists and is not a folder; give a folder or an .npz")
        out.mkdir(parents=True, exist_ok=True)
        _write_weights_csv(out / "weights.csv", files, res["facs"], a.names)
        if a.objs:
            for i, p in enumerate(res["positions"]):
                write_obj(out / f"frame_{i:04d}.obj", p, tmesh.polygons, comment=f"retargeted from {files[i].name}")
                log.progress(i + 1, len(files), "wrote OBJ")
    log(f"wrote {out}")
    return 0


def _read_keys(path, neutral, log) -> tuple[list, np.ndarray]:
    """Source keys: (names, deltas (K, N, 3)) from an .npz (names, deltas) or a folder of posed meshes."""
    p = Path(path)
    if p.is_file() and p.suffix.lower() == ".npz":
        d = np.load(p)
        if "names" not in d.files or "deltas" not in d.files:
            raise InputError(f"{p}: an .npz of keys needs 'names' and 'deltas' (K, N, 3), as 'facs' writes")
        names, deltas = [str(n) for n in d["names"]], np.asarray(d["deltas"], np.float64)
        if deltas.ndim != 3 or deltas.shape[1:] != neutral.verts.shape or len(names) != len(deltas):
            raise InputError(f"{p}: deltas of shape {deltas.shape} for {len(names)} names do not fit the source's "
                             f"{len(neutral.verts)} vertices")
        return names, deltas
    if not p.is_dir():
        raise InputError(f"source keys not found: {p} (give a folder of posed meshes or an .npz)")
    files = _frame_files([p])
    frames = _read_frames(files, neutral, log, "source keys")
    return [f.stem for f in files], frames - neutral.verts[None]


def _read_landmarks(path) -> tuple[np.ndarray, np.ndarray]:
    """(source points (L, 3), target points (L, 3)) from a CSV of lines ``name, sx, sy, sz, tx, ty, tz``."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"landmarks file not found: {p}")
    rows = []
    with open(p, newline="") as fh:
        for n, row in enumerate(csv.reader(fh), 1):
            cells = [c.strip() for c in row]
            if not cells or not any(cells) or cells[0].startswith("#"):
                continue
            if len(cells) != 7:
                raise InputError(f"{p}:{n}: expected 7 fields (name, source x, y, z, target x, y, z), got {len(cells)}")
            try:
                rows.append([float(c) for c in cells[1:]])
            except ValueError:
                if not rows and n == 1:
                    continue        # a header line
                raise InputError(f"{p}:{n}: coordinates must be numbers, got {', '.join(cells[1:])}") from None
    if not rows:
        raise InputError(f"{p} holds no landmark lines (name, source x, y, z, target x, y, z)")
    arr = np.asarray(rows, np.float64)
    return arr[:, :3], arr[:, 3:]


def cmd_transfer(a, log) -> int:
    from .runtime.threads import both
    from .runtime.transfer import face_order, transfer_keys, vertex_for_vertex
    model = _load_model(a, log)
    # the two heads prepared at once (the source in a second thread: ``runtime.threads.both``)
    (src, spm), (tgt, tpm) = both(lambda: _prepare(model, a.source, a, log, "source"),
                                  lambda: _prepare(model, a.target, a, log, "target"))
    names, deltas = _read_keys(a.source_keys, src, log)
    if a.keys:
        want = [k.strip() for k in a.keys.split(",") if k.strip()]
        missing = [k for k in want if k not in names]
        if missing:
            raise InputError(f"no source key named {', '.join(missing)}; the source has {', '.join(names[:8])}"
                             f"{' ...' if len(names) > 8 else ''}")
        deltas = deltas[[names.index(k) for k in want]]
        names = want
    landmarks = _read_landmarks(a.landmarks) if a.landmarks else None
    if landmarks is not None:
        log(f"{len(landmarks[0])} landmarks from {a.landmarks}")
    elif vertex_for_vertex(spm.faces, spm.n_verts, tpm.faces, tpm.n_verts, None, spm.verts, tpm.verts):
        log("one topology: the meshes are matched vertex for vertex")
    elif face_order(spm, tpm) is not None:
        log("one face island, other pieces: the faces are matched vertex for vertex")
    t = time.perf_counter()
    out_d = transfer_keys(model, spm, deltas, tpm, names=names, landmarks=landmarks,
                          progress=lambda i, n: log.progress(i, n, "registration"),
                          proportions=bool(getattr(a, "proportions", False)))
    log(f"{len(names)} keys transferred in {time.perf_counter() - t:.2f} s; largest move "
        f"{np.linalg.norm(out_d, axis=-1).max():.4g} units")
    out = Path(a.out)
    _write_keys(out, names, out_d, tgt, f"from {a.source}: shape key")
    log(f"wrote {out}")
    return 0


COMMANDS = {"skin": cmd_skin, "facs": cmd_facs, "encode": cmd_encode, "retarget": cmd_retarget,
            "transfer": cmd_transfer}


def main(argv=None) -> int:
    a = build_parser().parse_args(argv)
    log = _Log(a.quiet)
    try:
        for attr in ("mesh", "neutral", "source_neutral", "source", "target"):   # inputs first, before the weights
            path = getattr(a, attr, None)
            if path is not None and Path(path).is_dir():
                raise InputError(f"{path} is a folder, not a mesh file; give the .obj / .ply file inside it")
            if path is not None and not Path(path).is_file():
                raise InputError(f"mesh file not found: {path}")
        rc = COMMANDS[a.command](a, log)
    except (InputError, ValueError, FileNotFoundError, RuntimeError, OSError, MemoryError) as ex:
        msg = " ".join(str(ex).split()) or type(ex).__name__
        print(f"{PROG} {a.command}: error: {msg}", file=sys.stderr)
        return 1
    log(f"done in {time.perf_counter() - log.t0:.2f} s")
    return rc
