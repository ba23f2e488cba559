"""A MakeHuman head with ARKit shapes, from MPFB2's base mesh and MakeHuman ``.target`` files, read into the dev-head
format of ``../shared/data/real_faces`` (``real_eval.load_real_heads`` reads it), for evaluation on characters
outside the dev set. Evaluation only: write the .npz outside the repository and never train on it.

    python scripts/mpfb_face.py base.obj TARGET_DIR [--cut 5.7] -o /tmp/heads/mpfb.npz
    python -m model_core.evaluation.evaluate --real /tmp/heads

base.obj: MPFB2's hm08 base mesh (makehumancommunity/mpfb2, ``src/mpfb/data/3dobjs/base.obj``, CC0; decimetres,
+Y up, face toward +Z). TARGET_DIR: ``<ARKit name>.target`` files (lines ``vertex dx dy dz`` in the base mesh's
numbering and units; TalkingHead's MakeHuman ARKit targets, met4citizen/TalkingHead
``blender/MPFB/talkinghead-targets.zip``). Kept: the ``body`` group (the skin; the helper geometry - eyes, lashes,
teeth, tongue, clothes, hair - and the joint cubes are other groups), the quads whose corners all lie above
``--cut`` (Y, file units: 5.7 keeps the head, the neck and the slope to the shoulders), the largest connected piece;
quads fan-triangulated as ``meshio.read_mesh`` does. Keys: the targets with ARKit names that move the kept piece
(tongueOut moves only the tongue). Frame: the file's own axes, ``--unit`` metres per file unit (0.1), centred on the
bounding box. docs/model.md (*Heads outside the dev set*) scores the head this writes.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model_core.evaluation.real_eval import save_real_head          # noqa: E402
from model_core.runtime.facs_names import ARKIT_NAMES                       # noqa: E402
from model_core.runtime.mesh import connected_components, triangulate_polygons   # noqa: E402


def read_groups(path) -> tuple[np.ndarray, dict]:
    """(verts (N, 3), {group name: (P, C) int64 polygon corners}) of an OBJ whose polygons of one group share a
    corner count (hm08's quads)."""
    verts, groups, group = [], {}, None
    for line in Path(path).read_text().splitlines():
        if line.startswith("v "):
            verts.append([float(x) for x in line.split()[1:4]])
        elif line.startswith("g "):
            group = line.split()[1]
        elif line.startswith("f "):
            groups.setdefault(group, []).append([int(t.split("/")[0]) - 1 for t in line.split()[1:]])
    return np.array(verts, np.float64), {g: np.array(p, np.int64) for g, p in groups.items()}


def read_target(path, n_verts: int) -> np.ndarray:
    """(n_verts, 3) offsets of a MakeHuman .target file (``index dx dy dz`` lines; the rest stay 0)."""
    d = np.zeros((n_verts, 3))
    for line in Path(path).read_text().splitlines():
        p = line.split()
        if len(p) == 4 and not line.startswith("#"):
            d[int(p[0])] = [float(x) for x in p[1:]]
    return d


def read_face(base, targets, cut: float = 5.7, unit: float = 0.1, group: str = "body") -> dict:
    """The arrays of the dev-head format (``verts``, ``faces``, ``shape_names``, ``shape_deltas``) of the MakeHuman
    head (see the module docstring)."""
    v, groups = read_groups(base)
    if group not in groups:
        raise ValueError(f"{base} has no group {group!r} (it has {sorted(g for g in groups if g)})")
    quads = groups[group]
    quads = quads[(v[quads, 1] > cut).all(axis=1)]
    if not len(quads):
        raise ValueError(f"no polygon of {group!r} lies above --cut {cut}; give a lower cut (file units)")
    tris = triangulate_polygons(quads.ravel(), np.full(len(quads), quads.shape[1]))[0]
    label = connected_components(len(v), tris)
    used = np.unique(quads)
    keep = used[label[used] == np.argmax(np.bincount(label[used]))]
    quads = quads[np.isin(quads, keep).all(axis=1)]
    index = np.full(len(v), -1)
    index[keep] = np.arange(len(keep))
    faces = triangulate_polygons(index[quads].ravel(), np.full(len(quads), quads.shape[1]))[0]
    names, deltas = [], []
    for path in sorted(Path(targets).glob("*.target")):
        if path.stem not in ARKIT_NAMES:
            continue
        d = read_target(path, len(v))[keep]
        if np.abs(d).max() > 0:
            names.append(path.stem)
            deltas.append(d)
    if not names:
        raise ValueError(f"no <ARKit name>.target in {targets} moves the kept piece")
    pos = v[keep] - 0.5 * (v[keep].max(axis=0) + v[keep].min(axis=0))
    return {"verts": (unit * pos).astype(np.float32), "faces": faces.astype(np.int32),
            "shape_names": np.array(names), "shape_deltas": (unit * np.stack(deltas)).astype(np.float32)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("base", help="MPFB2's base.obj")
    p.add_argument("targets", help="folder of <ARKit name>.target files")
    p.add_argument("--cut", type=float, default=5.7, help="keep the polygons above this height (Y, file units)")
    p.add_argument("--unit", type=float, default=0.1, help="metres per file unit (base.obj: decimetres)")
    p.add_argument("-o", "--out", required=True, help="the .npz to write (outside the repository)")
    a = p.parse_args(argv)
    if not a.unit > 0:
        p.error("--unit must be positive")
    face = read_face(a.base, a.targets, a.cut, a.unit)
    print(save_real_head(a.out, face))
    return 0


if __name__ == "__main__":
    sys.exit(main())
