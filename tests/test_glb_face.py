"""``scripts/glb_face.py``: a head with ARKit morph targets read from a .glb into the dev-head format, for evaluation
on characters outside the dev set (docs/model.md, *Lips cut open with overlapping edges*). A GLB is written here
from numpy: two triangles stored with their shared edge split (as a UV seam stores it), a node that moves and
scales the mesh, an ARKit morph and a non-ARKit one."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from script_loader import load_script


def _glb(path, verts, faces, targets: dict, node: dict):
    """Write a minimal .glb: one mesh, one primitive, float32 positions, uint16 indices, morph targets."""
    blobs, views, accessors = [], [], []

    def add(arr, kind, comp, target):
        data = arr.tobytes()
        offset = sum(len(b) for b in blobs)
        blobs.append(data + b"\0" * (-len(data) % 4))
        views.append({"buffer": 0, "byteOffset": offset, "byteLength": len(data), "target": target})
        acc = {"bufferView": len(views) - 1, "componentType": comp, "count": len(arr), "type": kind}
        if kind == "VEC3":
            acc.update(min=arr.min(axis=0).tolist(), max=arr.max(axis=0).tolist())
        accessors.append(acc)
        return len(accessors) - 1

    pos = add(np.asarray(verts, np.float32), "VEC3", 5126, 34962)
    idx = add(np.asarray(faces, np.uint16).ravel(), "SCALAR", 5123, 34963)
    tgt = [{"POSITION": add(np.asarray(d, np.float32), "VEC3", 5126, 34962)} for d in targets.values()]
    doc = {"asset": {"version": "2.0"}, "scenes": [{"nodes": [0]}], "scene": 0,
           "nodes": [dict(node, mesh=0)],
           "meshes": [{"name": "Head", "extras": {"targetNames": list(targets)},
                       "primitives": [{"attributes": {"POSITION": pos}, "indices": idx, "targets": tgt}]}],
           "accessors": accessors, "bufferViews": views,
           "buffers": [{"byteLength": sum(len(b) for b in blobs)}]}
    js = json.dumps(doc).encode()
    js += b" " * (-len(js) % 4)
    body = b"".join(blobs)
    total = 12 + 8 + len(js) + 8 + len(body)
    with open(path, "wb") as f:
        f.write(struct.pack("<4sII", b"glTF", 2, total))
        f.write(struct.pack("<II", len(js), 0x4E4F534A) + js)
        f.write(struct.pack("<II", len(body), 0x004E4942) + body)


def test_a_glb_head_is_read_welded_moved_and_keyed(tmp_path):
    glb_face = load_script("glb_face")
    # two triangles sharing the edge (1, 0, 0)-(0, 1, 0), stored split (vertices 1, 2 repeated as 3, 4)
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], float)
    f = np.array([[0, 1, 2], [3, 5, 4]])
    jaw = np.zeros_like(v)
    jaw[[1, 3], 1] = -0.5                                  # both copies of vertex 1 move alike
    targets = {"jawOpen": jaw, "Fcl_MTH_A": np.ones_like(v)}
    path = tmp_path / "head.glb"
    _glb(path, v, f, targets, {"translation": [0.0, 2.0, 0.0], "scale": [2.0, 2.0, 2.0]})
    face = glb_face.read_face(path, "Head")
    assert face["verts"].shape == (4, 3) and face["faces"].shape == (2, 3)
    assert list(face["shape_names"]) == ["jawOpen"]                     # ARKit names only
    np.testing.assert_allclose(np.ptp(face["verts"], axis=0), [2.0, 2.0, 0.0])   # scaled 2x by the node
    np.testing.assert_allclose(face["verts"].max(axis=0) + face["verts"].min(axis=0), 0.0, atol=1e-6)  # centred
    d = face["shape_deltas"][0]
    moved = np.flatnonzero(np.abs(d).max(axis=1) > 0)
    assert len(moved) == 1 and np.allclose(d[moved[0]], [0.0, -1.0, 0.0])   # one welded vertex, scaled 2x
    split = glb_face.read_face(path, "Head", weld=False)                  # as stored: two pieces, one kept
    assert split["verts"].shape == (3, 3)
    with pytest.raises(ValueError, match="no mesh 'Face'"):
        glb_face.read_face(path, "Face")
