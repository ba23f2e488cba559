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
    # Face Cap's spelling of the ARKit names, and an unnamed mesh given by its number
    _glb(path, v, f, {"eyeBlink_L": jaw}, {})
    assert list(glb_face.read_face(path, "0")["shape_names"]) == ["eyeBlinkLeft"]
    # --unit: metres per unit of the transformed scene (Face Cap's root node makes its head 1.9 m: --unit 0.1)
    out = tmp_path / "head.npz"
    assert glb_face.main([str(path), "--mesh", "0", "--unit", "0.1", "-o", str(out)]) == 0
    got, whole = np.load(out), glb_face.read_face(path, "0")
    np.testing.assert_allclose(got["verts"], 0.1 * whole["verts"], rtol=1e-6)
    np.testing.assert_allclose(got["shape_deltas"], 0.1 * whole["shape_deltas"], rtol=1e-6)


def test_an_obj_set_is_read_and_turned_upright(tmp_path):
    # ``scripts/obj_face.py``: a neutral and one OBJ per shape; the axes come from the blinks' lids and the jaw. A
    # square grid in the X-Z plane stands for a face lying on its back, in millimetres (the file's units)
    obj_face = load_script("obj_face")
    g = np.stack(np.meshgrid(np.arange(5.0), np.arange(5.0)), axis=-1).reshape(-1, 2) * 40.0
    v = np.stack([g[:, 0], np.zeros(len(g)), g[:, 1]], axis=1)          # the face looks toward +Y
    faces = [[i * 5 + j, i * 5 + j + 1, i * 5 + j + 5] for i in range(4) for j in range(4)]

    def write(name, verts):
        lines = [f"v {x} {y} {z}" for x, y, z in verts] + [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces]
        (tmp_path / f"{name}.obj").write_text("\n".join(lines) + "\n")
    write("Neutral", v)
    for name, at in (("EyeBlinkLeft", 3), ("eyeblinkright", 1), ("jawOpen", 22)):   # a vertex each, any case
        w = v.copy()
        w[at, 1] += 2.0
        write(name, w)
    write("notAKey", v + 1.0)
    head = obj_face.read_face(tmp_path)
    assert sorted(head["shape_names"]) == ["eyeBlinkLeft", "eyeBlinkRight", "jawOpen"]
    assert np.ptp(head["verts"], axis=0).max() == pytest.approx(0.16)          # 160 mm -> metres
    n = list(head["shape_names"])
    left, right, jaw = (head["verts"][k] for k in (3, 1, 22))
    assert left[0] > right[0] and abs(left[1] - right[1]) < 1e-6              # left blink on +X, level
    assert jaw[1] < left[1]                                                     # the jaw below the eyes
    assert np.allclose(head["shape_deltas"][n.index("jawOpen")][22], [0.0, 0.0, 0.002], atol=1e-6)  # toward +Z


def test_a_makehuman_base_mesh_is_cut_keyed_and_scaled(tmp_path):
    # ``scripts/mpfb_face.py``: hm08's 'body' group above the cut, its largest piece, the ARKit targets that move it
    mpfb_face = load_script("mpfb_face")
    g = np.stack(np.meshgrid(np.arange(4.0), np.arange(4.0)), axis=-1).reshape(-1, 2)
    v = np.concatenate([np.stack([g[:, 0], g[:, 1] + 4.0, np.zeros(16)], 1),     # a 4 x 4 sheet, y 4..7 (dm)
                        [[10.0, 6.0, 0.0], [11.0, 6.0, 0.0], [11.0, 7.0, 0.0], [10.0, 7.0, 0.0]]])  # a stray quad
    quads = [[i * 4 + j, i * 4 + j + 1, i * 4 + j + 5, i * 4 + j + 4] for i in range(3) for j in range(3)]
    lines = [f"v {x} {y} {z}" for x, y, z in v] + ["g body"]
    lines += [f"f {a + 1}/1 {b + 1}/2 {c + 1}/3 {d + 1}/4" for a, b, c, d in quads + [[16, 17, 18, 19]]]
    lines += ["g helper-tongue", "f 1 2 6 5"]
    (tmp_path / "base.obj").write_text("\n".join(lines) + "\n")
    targets = tmp_path / "targets"
    targets.mkdir()
    (targets / "jawOpen.target").write_text("# a comment\n1 0.0 -0.5 0.0\n13 0.0 0.0 0.25\n")
    (targets / "tongueOut.target").write_text("0 0.0 0.0 1.0\n")      # moves only what the cut drops
    (targets / "viseme_aa.target").write_text("5 0.0 0.0 1.0\n")      # not an ARKit name
    head = mpfb_face.read_face(tmp_path / "base.obj", targets, cut=4.5)
    assert head["verts"].shape == (12, 3) and head["faces"].shape == (12, 3)    # rows y = 5..7, 6 quads, no stray
    assert list(head["shape_names"]) == ["jawOpen"]
    np.testing.assert_allclose(np.ptp(head["verts"], axis=0), [0.3, 0.2, 0.0])   # decimetres -> metres
    np.testing.assert_allclose(head["verts"].max(axis=0) + head["verts"].min(axis=0), 0.0, atol=1e-7)
    moved = np.flatnonzero(np.abs(head["shape_deltas"][0]).max(axis=1) > 0)
    assert len(moved) == 1 and np.allclose(head["shape_deltas"][0][moved[0]], [0.0, 0.0, 0.025])
    with pytest.raises(ValueError, match="above --cut"):
        mpfb_face.read_face(tmp_path / "base.obj", targets, cut=9.0)
    with pytest.raises(ValueError, match="no group 'skin'"):
        mpfb_face.read_face(tmp_path / "base.obj", targets, group="skin")
