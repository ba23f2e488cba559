"""A head with ARKit morph targets read from a glTF binary (.glb) into the dev-head format of
``../shared/data/real_faces`` (``real_eval.load_real_heads`` reads it), for evaluation on characters outside the dev
set. Evaluation only: write the .npz outside the repository and never train on it.

    python scripts/glb_face.py AVATAR.glb --mesh Wolf3D_Head [--no-weld] -o /tmp/heads/rpm.npz
    python scripts/glb_face.py vroid.glb --mesh "Face (merged)(Clone)" --primitives 0,3 \
        -o /tmp/heads/vroid.npz
    python scripts/glb_face.py facecap.glb --mesh 2 --unit 0.1 -o /tmp/heads/facecap.npz   # unnamed mesh, by number
    python -m model_core.evaluation.evaluate --real /tmp/heads

The primitives named (default: all of the mesh's) are joined, vertices at the same place welded (``--no-weld``:
kept apart, as the GLB stores them and Blender's glTF importer loads them by default, split along the UV seams),
and the largest connected piece kept. Positions and morph deltas go through the mesh's bind transform (a skinned mesh: its first
joint's world matrix times its inverse bind matrix, which holds a quantised mesh's dequantisation), then to the
dev heads' frame: metres, +Y up, face toward +Z (turned about Y when the left blink's lid lies behind the centre),
centred on the bounding box. Morph targets named with ARKit names (in any spelling ``facs_names.arkit_spelling``
reads: Face Cap's ``eyeBlink_L``) and moving the kept piece are kept.

Buffers compressed with EXT_meshopt_compression need the ``meshoptimizer`` package (``pip install meshoptimizer``;
not a project dependency: the runtime never reads GLB). docs/model.md (*Lips cut open with overlapping edges*,
*A large eye set off the template's*) reports two heads read this way.
"""
from __future__ import annotations

import argparse
import json
import struct
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model_core.evaluation.real_eval import save_real_head          # noqa: E402
from model_core.runtime.facs_names import ARKIT_NAMES, arkit_spelling   # noqa: E402
from model_core.runtime.mesh import connected_components, nondegenerate    # noqa: E402

COMPONENT = {5120: np.int8, 5121: np.uint8, 5122: np.int16, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}
NORM = {np.dtype(np.int8): 127.0, np.dtype(np.int16): 32767.0, np.dtype(np.uint8): 255.0,
        np.dtype(np.uint16): 65535.0}


class Glb:
    """A .glb file's JSON and binary chunk, with its accessors read as (count, width) float64 arrays."""

    def __init__(self, path):
        data = Path(path).read_bytes()
        magic, _version, length = struct.unpack("<4sII", data[:12])
        if magic != b"glTF":
            raise ValueError(f"{path} is not a binary glTF (.glb) file")
        self.json, self.bin, off = None, b"", 12
        while off < length:
            size, kind = struct.unpack("<II", data[off:off + 8])
            chunk = data[off + 8:off + 8 + size]
            if kind == 0x4E4F534A:
                self.json = json.loads(chunk)
            elif kind == 0x004E4942:
                self.bin = chunk
            off += 8 + size
        self._views = {}

    def view(self, i: int) -> bytes:
        """The bytes of buffer view i, decoded when it is meshopt-compressed."""
        if i not in self._views:
            bv = self.json["bufferViews"][i]
            ext = bv.get("extensions", {}).get("EXT_meshopt_compression")
            if ext is None:
                start = bv.get("byteOffset", 0)
                self._views[i] = self.bin[start:start + bv["byteLength"]]
            else:
                self._views[i] = self._meshopt(ext)
        return self._views[i]

    def _meshopt(self, ext: dict) -> bytes:
        try:
            import meshoptimizer as mo
        except ImportError:
            raise SystemExit("this GLB's buffers are meshopt-compressed: pip install meshoptimizer (outside the "
                             "project's environments) to read it") from None
        start = ext.get("byteOffset", 0)
        data = self.bin[start:start + ext["byteLength"]]
        count, stride, mode = ext["count"], ext["byteStride"], ext["mode"]
        if mode == "ATTRIBUTES":
            if ext.get("filter", "NONE") != "NONE":
                raise ValueError(f"meshopt filter {ext['filter']} is not read here (positions and morphs have none)")
            out = np.ascontiguousarray(mo.decode_vertex_buffer(count, stride, data)).view(np.uint8)
        else:           # index streams: decoded as 32-bit values, stored at the view's own width
            decode = mo.decode_index_buffer if mode == "TRIANGLES" else mo.decode_index_sequence
            out = np.asarray(decode(count, 4, data)).astype({2: np.uint16, 4: np.uint32}[stride])
        out = out.tobytes()
        if len(out) != count * stride:
            raise ValueError(f"meshopt stream decoded to {len(out)} bytes, expected {count * stride}")
        return out

    def accessor(self, i: int) -> np.ndarray:
        """Accessor i as (count, width) float64 (normalised integers scaled to -1..1 or 0..1)."""
        a = self.json["accessors"][i]
        if "sparse" in a or "bufferView" not in a:
            raise ValueError(f"accessor {i} is sparse or has no buffer view: not read here")
        bv = self.json["bufferViews"][a["bufferView"]]
        dt = np.dtype(COMPONENT[a["componentType"]])
        width, count = WIDTH[a["type"]], a["count"]
        stride = bv.get("byteStride", 0) or dt.itemsize * width
        raw = np.frombuffer(self.view(a["bufferView"]), np.uint8)[a.get("byteOffset", 0):]
        rows = np.lib.stride_tricks.as_strided(raw, (count, dt.itemsize * width), (stride, 1))
        out = rows.copy().view(dt).reshape(count, width).astype(np.float64)
        if a.get("normalized"):
            out = np.maximum(out / NORM[dt], -1.0)
        return out

    def world(self, node: int) -> np.ndarray:
        """(4, 4) world matrix of a node at rest."""
        parent = {c: i for i, n in enumerate(self.json["nodes"]) for c in n.get("children", [])}
        m = _local(self.json["nodes"][node])
        while node in parent:
            node = parent[node]
            m = _local(self.json["nodes"][node]) @ m
        return m


def _local(n: dict) -> np.ndarray:
    if "matrix" in n:
        return np.asarray(n["matrix"], np.float64).reshape(4, 4).T
    x, y, z, w = n.get("rotation", [0.0, 0.0, 0.0, 1.0])
    m = np.eye(4)
    m[:3, :3] = [[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                 [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                 [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]]
    m[:3, :3] = m[:3, :3] * np.asarray(n.get("scale", [1.0, 1.0, 1.0]))[None]
    m[:3, 3] = n.get("translation", [0.0, 0.0, 0.0])
    return m


def bind_matrix(glb: Glb, mesh: int) -> np.ndarray:
    """(4, 4): where the mesh's vertices lie at rest: its node's world matrix, or for a skinned mesh its first
    joint's world matrix times that joint's inverse bind matrix."""
    node = next(i for i, n in enumerate(glb.json["nodes"]) if n.get("mesh") == mesh)
    skin = glb.json["nodes"][node].get("skin")
    if skin is None:
        return glb.world(node)
    s = glb.json["skins"][skin]
    ibm = glb.accessor(s["inverseBindMatrices"])[0].reshape(4, 4).T
    return glb.world(s["joints"][0]) @ ibm


def read_face(path, mesh_name: str, primitives=None, weld: bool = True) -> dict:
    """The arrays of the dev-head format (``verts``, ``faces``, ``shape_names``, ``shape_deltas``) of mesh
    ``mesh_name`` of the .glb at ``path`` (see the module docstring)."""
    glb = Glb(path)
    names = [m.get("name") for m in glb.json["meshes"]]
    if mesh_name in names:
        mi = names.index(mesh_name)
    elif mesh_name.isdigit() and int(mesh_name) < len(names):      # an unnamed mesh, by its number
        mi = int(mesh_name)
    else:
        raise ValueError(f"no mesh {mesh_name!r} in {path}; it has {names} (an unnamed one: give its number)")
    mesh = glb.json["meshes"][mi]
    targets = [arkit_spelling(n) or n for n in mesh.get("extras", {}).get("targetNames", [])]   # eyeBlink_L too
    prims = range(len(mesh["primitives"])) if primitives is None else primitives
    m = bind_matrix(glb, mi)
    verts, faces, deltas, off = [], [], {n: [] for n in targets}, 0
    for pi in prims:
        p = mesh["primitives"][pi]
        v = glb.accessor(p["attributes"]["POSITION"])
        verts.append(v @ m[:3, :3].T + m[:3, 3])
        faces.append(glb.accessor(p["indices"]).astype(np.int64).reshape(-1, 3) + off)
        for n, t in zip(targets, p.get("targets", [])):
            deltas[n].append(glb.accessor(t["POSITION"]) @ m[:3, :3].T if "POSITION" in t else np.zeros_like(v))
        off += len(v)
    v, f = np.concatenate(verts), np.concatenate(faces)
    d = np.stack([np.concatenate(deltas[n]) for n in targets if n in ARKIT_NAMES and len(deltas[n]) == len(verts)])
    keyed = [n for n in targets if n in ARKIT_NAMES and len(deltas[n]) == len(verts)]
    # weld: one vertex per place; its deltas from the copy that moves most (the copies agree where both move)
    if weld:
        _, first, same = np.unique(np.round(v * 1e6).astype(np.int64), axis=0, return_index=True,
                                   return_inverse=True)
        same = same.ravel()
        order = np.argsort(np.linalg.norm(d, axis=2).max(axis=0))
        welded = np.zeros((len(keyed), len(first), 3))
        welded[:, same[order]] = d[:, order]
        v, f = v[first], same[f]
    else:
        welded = d
    f = f[nondegenerate(f)]
    label = connected_components(len(v), f)
    used = np.unique(f)
    keep = np.intersect1d(np.flatnonzero(label == np.argmax(np.bincount(label[used]))), used)
    index = np.full(len(v), -1)
    index[keep] = np.arange(len(keep))
    v, f, welded = v[keep], index[f[np.isin(f, keep).all(axis=1)]], welded[:, keep]
    centre = 0.5 * (v.max(axis=0) + v.min(axis=0))
    turn = np.eye(3)
    if "eyeBlinkLeft" in keyed:
        lid = np.linalg.norm(welded[keyed.index("eyeBlinkLeft")], axis=1)
        if v[lid > 0.5 * lid.max(), 2].mean() < centre[2]:       # the face looks toward -Z
            turn = np.diag([-1.0, 1.0, -1.0])
    v, welded = (v - centre) @ turn.T, welded @ turn.T
    moving = [k for k in range(len(keyed)) if np.abs(welded[k]).max() > 0]
    return {"verts": v.astype(np.float32), "faces": f.astype(np.int32),
            "shape_names": np.array([keyed[k] for k in moving]), "shape_deltas": welded[moving].astype(np.float32)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("glb")
    p.add_argument("--mesh", required=True, help="the mesh's name in the GLB (the head skin with the morphs)")
    p.add_argument("--primitives", default=None, help="comma-separated primitive numbers to join (default: all)")
    p.add_argument("--no-weld", action="store_true", help="keep the vertices as stored (split along UV seams)")
    p.add_argument("--unit", type=float, default=1.0,
                   help="metres per unit of the scene as transformed (facecap.glb: 0.1, its root node scales the "
                        "head to 1.9 m); the evaluation's nearest baselines start from metre-sized heads")
    p.add_argument("-o", "--out", required=True, help="the .npz to write (outside the repository)")
    a = p.parse_args(argv)
    if not a.unit > 0:
        p.error("--unit must be positive")
    prims = None if a.primitives is None else [int(x) for x in a.primitives.split(",")]
    face = read_face(a.glb, a.mesh, prims, weld=not a.no_weld)
    face["verts"] = (face["verts"] * a.unit).astype(np.float32)
    face["shape_deltas"] = (face["shape_deltas"] * a.unit).astype(np.float32)
    print(save_real_head(a.out, face))
    return 0


if __name__ == "__main__":
    sys.exit(main())
