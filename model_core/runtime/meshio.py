"""Small mesh file reader/writer for the CLI and tests: OBJ and PLY (ascii, binary little/big endian). Numpy only.

Only geometry is read: vertex positions and polygons (OBJ ``v``/``f`` lines, texture/normal indices
ignored, negative indices resolved; PLY ``vertex`` x/y/z and ``face`` vertex_indices / vertex_index lists).
Polygons are kept as given (``MeshData.corners``/``sizes``, written back unchanged) and fan-triangulated with
``mesh.triangulate_polygons`` for the model (``MeshData.faces``). Units and axes are whatever the file uses.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .mesh import triangulate_polygons

__all__ = ["MeshData", "read_mesh", "write_mesh", "write_obj", "write_ply", "MESH_SUFFIXES"]

MESH_SUFFIXES = (".obj", ".ply")


@dataclass
class MeshData:
    """A mesh read from a file.

    Attributes:
        verts: (N, 3) float64 positions (file units and axes).
        corners: (C,) int64 vertex index of every polygon corner, polygons concatenated.
        sizes: (P,) int64 corners per polygon (>= 3).
        faces: (T, 3) int64 fan triangulation of the polygons.
        path: where it was read from.
    """
    verts: np.ndarray
    corners: np.ndarray
    sizes: np.ndarray
    faces: np.ndarray
    path: Path | None = None

    @property
    def polygons(self) -> tuple[np.ndarray, np.ndarray]:
        """(corners, sizes), the form ``write_mesh`` accepts for ``faces``."""
        return self.corners, self.sizes


def _finish(verts, corners, sizes, path) -> MeshData:
    verts = np.asarray(verts, dtype=np.float64).reshape(-1, 3)
    corners = np.asarray(corners, dtype=np.int64).ravel()
    sizes = np.asarray(sizes, dtype=np.int64).ravel()
    if corners.size and (corners.min() < 0 or corners.max() >= len(verts)):
        raise ValueError(f"{path}: face indices must lie in 1..{len(verts)} (OBJ) / 0..{len(verts) - 1} (PLY), "
                         f"got {corners.min()}..{corners.max()} (0-based); the file is corrupt")
    if sizes.size and sizes.min() < 3:
        raise ValueError(f"{path}: has a polygon with {int(sizes.min())} corners; every face needs at least 3")
    faces, _ = triangulate_polygons(corners, sizes) if sizes.size else (np.zeros((0, 3), np.int64), None)
    return MeshData(verts=verts, corners=corners, sizes=sizes, faces=faces, path=Path(path))


def read_mesh(path) -> MeshData:
    """Read an .obj or .ply file.

    Raises:
        FileNotFoundError: no such file.
        ValueError: unsupported suffix, or the file cannot be parsed (the message names the file and line).
    """
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{p} is a folder, not a mesh file; give the .obj / .ply file inside it")
    if not p.is_file():
        raise FileNotFoundError(f"mesh file not found: {p}")
    if p.stat().st_size == 0:
        raise ValueError(f"{p}: the file is empty (0 bytes); export the mesh again")
    suffix = p.suffix.lower()
    if suffix == ".obj":
        return _read_obj(p)
    if suffix == ".ply":
        return _read_ply(p)
    raise ValueError(f"{p}: unsupported mesh format {p.suffix!r}; use .obj or .ply")


# ---------------------------------------------------------------------------------------------- OBJ
def _read_obj(p: Path) -> MeshData:
    text = p.read_bytes().decode("utf-8", errors="replace")
    if "\x00" in text[:4096]:
        raise ValueError(f"{p}: binary data in an .obj file; the file is not a text OBJ")
    vrows = []
    corners = []
    sizes = []
    nv = 0
    lines = text.splitlines()
    for lineno, line in enumerate(lines, 1):
        if line[:1] in (" ", "\t"):                 # indented lines are as valid as any other
            line = line.lstrip()
        if not line or line[0] not in "vf":
            continue
        parts = line.split()
        if not parts:
            continue
        tag = parts[0]
        if tag == "v":
            if len(parts) < 4:
                raise ValueError(f"{p}:{lineno}: vertex line needs 3 coordinates: {line.strip()[:80]!r}")
            vrows.append(parts[1:4])
            nv += 1
        elif tag == "f":
            if len(parts) < 4:
                raise ValueError(f"{p}:{lineno}: face line needs at least 3 corners: {line.strip()[:80]!r}")
            try:
                idx = [int(tok.split("/", 1)[0]) for tok in parts[1:]]
            except ValueError:
                raise ValueError(f"{p}:{lineno}: bad face index in {line.strip()[:80]!r}") from None
            for i in idx:
                if i == 0:
                    raise ValueError(f"{p}:{lineno}: OBJ face indices start at 1, got 0")
            corners.extend(i - 1 if i > 0 else nv + i for i in idx)
            sizes.append(len(idx))
    if not vrows:
        content = [ln.strip() for ln in lines if ln.strip()]
        if not content:
            raise ValueError(f"{p}: the file is empty (only blank lines); export the mesh again")
        tags = sorted({ln.split()[0][:12] for ln in content})
        raise ValueError(f"{p}: no vertex ('v x y z') lines in its {len(content)} non-blank lines (found: "
                         f"{', '.join(repr(t) for t in tags[:6])}{' ...' if len(tags) > 6 else ''}); is it an OBJ mesh?")
    try:
        verts = np.array(vrows, dtype=np.float64)
    except ValueError:
        raise ValueError(f"{p}: a vertex line holds a non-numeric coordinate") from None
    return _finish(verts, corners, sizes, p)


def _polygon_lists(faces) -> tuple[np.ndarray, np.ndarray]:
    """(corners, sizes) from a (corners, sizes) tuple, an (F, k) int array or a list of index sequences."""
    if isinstance(faces, tuple) and len(faces) == 2 and not np.isscalar(faces[0]):
        c, s = np.asarray(faces[0], np.int64).ravel(), np.asarray(faces[1], np.int64).ravel()
        if int(s.sum()) != c.size:
            raise ValueError("polygon sizes do not add up to the number of corners")
        return c, s
    if isinstance(faces, np.ndarray) and faces.ndim == 2:
        return faces.astype(np.int64).ravel(), np.full(len(faces), faces.shape[1], np.int64)
    polys = [np.asarray(f, np.int64).ravel() for f in faces]
    if not polys:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(polys), np.array([len(f) for f in polys], np.int64)


def write_obj(path, verts, faces, *, comment: str | None = None) -> Path:
    """Write an OBJ file.

    Args:
        verts: (N, 3) positions; faces: (F, k) int array, a list of polygons, or (corners, sizes) (0-based).
    """
    p = Path(path)
    v = np.asarray(verts, dtype=np.float64)
    corners, sizes = _polygon_lists(faces)
    lines = []
    if comment:
        lines.extend("# " + c for c in comment.splitlines())
    lines.append("\n".join("v %.9g %.9g %.9g" % tuple(row) for row in v.tolist()))
    one = (corners + 1).tolist()
    out = []
    pos = 0
    for s in sizes.tolist():
        out.append("f " + " ".join(map(str, one[pos:pos + s])))
        pos += s
    lines.append("\n".join(out))
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text("\n".join(x for x in lines if x) + "\n")
    os.replace(tmp, p)
    return p


# ---------------------------------------------------------------------------------------------- PLY
_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
    "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}


def _ply_header(p: Path, data: bytes):
    end = data.find(b"end_header")
    if not data.startswith(b"ply") or end < 0:
        raise ValueError(f"{p}: not a PLY file (no 'ply' magic or 'end_header')")
    nl = data.find(b"\n", end)
    body_start = len(data) if nl < 0 else nl + 1
    fmt = None
    elements = []  # (name, count, [props]); prop = (name, dtype) or (name, count dtype, item dtype)
    for raw in data[:end].decode("ascii", errors="replace").splitlines()[1:]:
        parts = raw.split()
        if not parts or parts[0] in ("comment", "obj_info"):
            continue
        if parts[0] == "format":
            fmt = parts[1] if len(parts) > 1 else None
        elif parts[0] == "element" and len(parts) == 3:
            try:
                elements.append((parts[1], int(parts[2]), []))
            except ValueError:
                raise ValueError(f"{p}: bad element line {raw!r}") from None
        elif parts[0] == "property" and elements:
            try:
                if parts[1] == "list":
                    elements[-1][2].append((parts[4], _PLY_TYPES[parts[2]], _PLY_TYPES[parts[3]]))
                else:
                    elements[-1][2].append((parts[2], _PLY_TYPES[parts[1]]))
            except (KeyError, IndexError):
                raise ValueError(f"{p}: unsupported property line {raw!r}") from None
    if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise ValueError(f"{p}: unsupported PLY format {fmt!r}")
    return fmt, elements, body_start


def _read_ply(p: Path) -> MeshData:
    data = p.read_bytes()
    fmt, elements, pos = _ply_header(p, data)
    verts = None
    corners, sizes = np.zeros(0, np.int64), np.zeros(0, np.int64)
    if fmt == "ascii":
        lines = data[pos:].decode("ascii", errors="replace").split("\n")
        li = 0
        for name, count, props in elements:
            rows = lines[li:li + count]
            if len(rows) < count:
                raise ValueError(f"{p}: truncated: element {name!r} needs {count} lines, found {len(rows)}")
            li += count
            if name == "vertex":
                verts = _ply_ascii_vertices(p, rows, props)
            elif name == "face":
                corners, sizes = _ply_ascii_faces(p, rows, props)
    else:
        order = "<" if fmt == "binary_little_endian" else ">"
        for name, count, props in elements:
            if all(len(pr) == 2 for pr in props):
                dt = np.dtype([(pr[0], order + pr[1]) for pr in props])
                need = dt.itemsize * count
                if pos + need > len(data):
                    raise ValueError(f"{p}: truncated: element {name!r} needs {need} bytes, "
                                     f"{len(data) - pos} left")
                arr = np.frombuffer(data, dtype=dt, count=count, offset=pos)
                pos += need
                if name == "vertex":
                    verts = _xyz(p, arr, props)
            else:
                res, pos = _ply_binary_lists(p, data, pos, count, props, order)
                if name == "face":
                    corners, sizes = res
    if verts is None:
        raise ValueError(f"{p}: no 'vertex' element")
    if len(verts) == 0:
        raise ValueError(f"{p}: its 'vertex' element has no vertices (count 0); export the mesh again")
    return _finish(verts, corners, sizes, p)


def _xyz(p, arr, props):
    names = [pr[0] for pr in props]
    if not all(c in names for c in "xyz"):
        raise ValueError(f"{p}: vertex element lacks x/y/z properties (has {names})")
    return np.stack([np.asarray(arr[c], np.float64) for c in "xyz"], axis=1)


def _ply_ascii_vertices(p, rows, props):
    names = [pr[0] for pr in props]
    if any(len(pr) != 2 for pr in props) or not all(c in names for c in "xyz"):
        raise ValueError(f"{p}: vertex element needs scalar x, y, z properties")
    cols = [names.index(c) for c in "xyz"]
    try:
        tab = np.array([r.split()[:len(names)] for r in rows], dtype=np.float64)
    except ValueError:
        raise ValueError(f"{p}: bad vertex line (non-numeric or short)") from None
    if tab.ndim != 2 or tab.shape[1] != len(names):
        raise ValueError(f"{p}: vertex lines must have {len(names)} values each")
    return tab[:, cols]


def _face_list_index(p, props) -> int:
    for i, pr in enumerate(props):
        if len(pr) == 3 and pr[0] in ("vertex_indices", "vertex_index"):
            return i
    raise ValueError(f"{p}: face element has no vertex_indices list")


def _ply_ascii_faces(p, rows, props):
    li = _face_list_index(p, props)
    corners, sizes = [], []
    for r in rows:
        tok = r.split()
        j = 0
        try:
            for i, pr in enumerate(props):
                if len(pr) == 3:
                    n = int(tok[j])
                    vals = tok[j + 1:j + 1 + n]
                    if len(vals) != n:
                        raise ValueError
                    if i == li:
                        corners.extend(int(v) for v in vals)
                        sizes.append(n)
                    j += 1 + n
                else:
                    j += 1
        except (ValueError, IndexError):
            raise ValueError(f"{p}: bad face line {r.strip()[:80]!r}") from None
    return np.array(corners, np.int64), np.array(sizes, np.int64)


def _ply_binary_lists(p, data, pos, count, props, order):
    """Parse an element with list properties; returns ((corners, sizes) of the face list or None, new pos)."""
    li = _face_list_index(p, props) if any(pr[0] in ("vertex_indices", "vertex_index") for pr in props) else -1
    # fast path: every list has the length of the first one -> a fixed structured dtype
    try:
        fields = []
        q = pos
        for pr in props:
            if len(pr) == 3:
                ct, it = np.dtype(order + pr[1]), np.dtype(order + pr[2])
                n = int(np.frombuffer(data, ct, 1, q)[0])
                fields.append((pr[0] + "__n", ct))
                if n == 0:
                    raise ValueError("empty first list: use the general path")
                fields.append((pr[0], it, (n,)))
                q += ct.itemsize + n * it.itemsize
            else:
                dt = np.dtype(order + pr[1])
                fields.append((pr[0], dt))
                q += dt.itemsize
        dt = np.dtype(fields)
        if count and pos + dt.itemsize * count <= len(data):
            arr = np.frombuffer(data, dtype=dt, count=count, offset=pos)
            ok = all((arr[pr[0] + "__n"] == arr[pr[0]].shape[1]).all() for pr in props if len(pr) == 3)
            if ok:
                res = None
                if li >= 0:
                    name = props[li][0]
                    idx = np.asarray(arr[name], np.int64)
                    res = (idx.reshape(-1), np.full(count, idx.shape[1], np.int64))
                return res, pos + dt.itemsize * count
    except (ValueError, IndexError, TypeError):
        pass
    # general path: element by element
    corners, sizes = [], []
    try:
        for _ in range(count):
            for i, pr in enumerate(props):
                if len(pr) == 3:
                    ct, it = order + pr[1], order + pr[2]
                    (n,) = struct.unpack_from(_STRUCT[ct], data, pos)
                    pos += np.dtype(ct).itemsize
                    vals = struct.unpack_from(order + str(n) + _STRUCT[it][1], data, pos)
                    pos += n * np.dtype(it).itemsize
                    if i == li:
                        corners.extend(vals)
                        sizes.append(n)
                else:
                    pos += np.dtype(order + pr[1]).itemsize
    except struct.error:
        raise ValueError(f"{p}: truncated or corrupt binary face data") from None
    res = (np.array(corners, np.int64), np.array(sizes, np.int64)) if li >= 0 else None
    return res, pos


_STRUCT = {}
for _o in "<>":
    for _t, _c in (("i1", "b"), ("u1", "B"), ("i2", "h"), ("u2", "H"), ("i4", "i"), ("u4", "I"),
                   ("f4", "f"), ("f8", "d")):
        _STRUCT[_o + _t] = _o + _c


def write_ply(path, verts, faces, *, binary: bool = True) -> Path:
    """Write a PLY file (binary little-endian by default, else ascii): float32 x/y/z, uchar-count int32 lists.

    Args: verts (N, 3); faces: (F, k) int array, a list of polygons, or (corners, sizes) (0-based).
    """
    p = Path(path)
    v = np.asarray(verts, dtype=np.float64)
    corners, sizes = _polygon_lists(faces)
    if sizes.size and sizes.max() > 255:
        raise ValueError("polygons with more than 255 corners cannot be written to PLY here")
    header = ("ply\nformat %s 1.0\ncomment written by nfs_blender model_core\nelement vertex %d\n"
              "property float x\nproperty float y\nproperty float z\nelement face %d\n"
              "property list uchar int vertex_indices\nend_header\n"
              % ("binary_little_endian" if binary else "ascii", len(v), len(sizes)))
    tmp = p.with_name(p.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(header.encode("ascii"))
        if binary:
            fh.write(np.asarray(v, "<f4").tobytes())
            if sizes.size and (sizes == sizes[0]).all():
                k = int(sizes[0])
                rec = np.zeros(len(sizes), dtype=[("n", "u1"), ("i", "<i4", (k,))])
                rec["n"] = k
                rec["i"] = corners.reshape(-1, k)
                fh.write(rec.tobytes())
            else:
                pos = 0
                for s in sizes.tolist():
                    fh.write(struct.pack("<B%di" % s, s, *corners[pos:pos + s].tolist()))
                    pos += s
        else:
            fh.write(("\n".join("%.7g %.7g %.7g" % tuple(r) for r in v.astype(np.float32).tolist()) + "\n")
                     .encode("ascii"))
            out, pos = [], 0
            cl = corners.tolist()
            for s in sizes.tolist():
                out.append(" ".join(map(str, [s] + cl[pos:pos + s])))
                pos += s
            if out:
                fh.write(("\n".join(out) + "\n").encode("ascii"))
    os.replace(tmp, p)
    return p


def write_mesh(path, verts, faces, **kw) -> Path:
    """Write .obj or .ply by the path's suffix (see ``write_obj`` / ``write_ply``)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".obj":
        return write_obj(path, verts, faces, **kw)
    if suffix == ".ply":
        return write_ply(path, verts, faces, **kw)
    raise ValueError(f"{path}: unsupported mesh format {suffix!r}; use .obj or .ply")
