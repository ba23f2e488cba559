"""MakeHuman's head with its teeth, tongue, eyeballs and lashes as pieces of its own (tests/data/makehuman_head.npz):
a real character's pieces for ``tests/test_inner_parts.py``.

    python scripts/makehuman_pieces.py base.obj [--cut 5.5] [-o tests/data/makehuman_head.npz]

base.obj: MPFB2's hm08 base mesh (makehumancommunity/mpfb2 @ 80919fa4, ``src/mpfb/data/3dobjs/base.obj``, CC0;
decimetres, +Y up, face toward +Z). Kept: the ``body`` group and the helper groups ``PIECES`` (each a piece of its
own), the quads whose corners all lie above ``--cut`` (file units: the head, the neck and the top of the chest),
fan-triangulated; positions in centimetres. Written: verts (N, 3) float32, faces (F, 3) int32, and for each group
the (n,) int32 indices of its vertices (``body``, ``upper_teeth``, ...).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mpfb_face import read_groups          # noqa: E402

PIECES = {"upper_teeth": ["helper-upper-teeth"], "lower_teeth": ["helper-lower-teeth"], "tongue": ["helper-tongue"],
          "eyes": ["helper-l-eye", "helper-r-eye"],
          "lashes": ["helper-l-eyelashes-1", "helper-l-eyelashes-2", "helper-r-eyelashes-1", "helper-r-eyelashes-2"]}


def head_with_pieces(obj_path, cut: float = 5.5) -> dict:
    """{'verts': (N, 3) float32 cm, 'faces': (F, 3) int32, group name: (n,) int32 vertex indices}."""
    verts, groups = read_groups(obj_path)
    verts = np.asarray(verts, np.float64)
    quads = {"body": groups["body"], **{k: np.concatenate([groups[g] for g in gs]) for k, gs in PIECES.items()}}
    tris = {}
    for name, q in quads.items():
        q = q[(verts[q][..., 1] > cut).all(axis=1)]
        tris[name] = np.concatenate([q[:, [0, 1, 2]], q[:, [0, 2, 3]]])
    used = np.unique(np.concatenate(list(tris.values())))
    out = {"verts": (verts[used] * 10.0).astype(np.float32),
           "faces": np.searchsorted(used, np.concatenate(list(tris.values()))).astype(np.int32)}
    for name, t in tris.items():
        out[name] = np.searchsorted(used, np.unique(t)).astype(np.int32)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("obj")
    p.add_argument("--cut", type=float, default=5.5)
    p.add_argument("-o", "--out", default="tests/data/makehuman_head.npz")
    a = p.parse_args(argv)
    data = head_with_pieces(a.obj, a.cut)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(a.out, **data)
    print(f"wrote {a.out}: {len(data['verts'])} vertices, {len(data['faces'])} triangles")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
