"""A head given as OBJ files, one neutral and one per ARKit shape (same vertex order), read into the dev-head format
of ``../shared/data/real_faces`` (``real_eval.load_real_heads`` reads it), for evaluation on characters outside the
dev set. Evaluation only: write the .npz outside the repository and never train on it.

    python scripts/obj_face.py FOLDER [--neutral Neutral.obj] [--unit 0.001] -o /tmp/heads/arkitmask.npz

Every ``<ARKit name>.obj`` in FOLDER (any spelling ``facs_names.arkit_spelling`` reads) is a shape; its delta is
its positions minus the neutral's. Positions are multiplied by ``--unit`` (metres per file unit; default: 0.001 when the head is over 2
units wide, else 1), then turned into the dev heads' frame from the shapes themselves: +X from the right blink's
lid to the left's (the lids: vertices moving over half the key's largest motion), +Y from the jaw's to the lids'
middle, +Z = X × Y; centred on the bounding box.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model_core.evaluation.real_eval import save_real_head          # noqa: E402
from model_core.runtime.facs_names import arkit_spelling            # noqa: E402
from model_core.runtime.meshio import read_mesh                     # noqa: E402


def lid_centre(delta: np.ndarray, verts: np.ndarray) -> np.ndarray:
    """(3,) the mean position of the vertices a key (N, 3) moves over half its largest motion."""
    m = np.linalg.norm(delta, axis=1)
    return verts[m > 0.5 * m.max()].mean(axis=0)


def read_face(folder, neutral: str = "Neutral.obj", unit: float | None = None) -> dict:
    """The arrays of the dev-head format (``verts``, ``faces``, ``shape_names``, ``shape_deltas``) of the OBJ set
    in ``folder`` (see the module docstring)."""
    folder = Path(folder)
    neutral_mesh = read_mesh(folder / neutral)
    v0, f0 = neutral_mesh.verts, neutral_mesh.faces
    names, deltas = [], []
    for p in sorted(folder.glob("*.obj")):
        name = arkit_spelling(p.stem)
        if name is None or p.name == neutral:
            continue
        v = read_mesh(p).verts
        if v.shape != v0.shape:
            raise ValueError(f"{p} has {len(v)} vertices, the neutral {len(v0)}: shapes must share its vertex order")
        names.append(name)
        deltas.append(v - v0)
    need = {"eyeBlinkLeft", "eyeBlinkRight", "jawOpen"}
    if not need <= set(names):
        raise ValueError(f"{folder} lacks {sorted(need - set(names))}: they give the head's axes")
    d = np.stack(deltas)
    unit = unit if unit is not None else (0.001 if np.ptp(v0, axis=0).max() > 2.0 else 1.0)
    left, right, jaw = (lid_centre(d[names.index(n)], v0) for n in ("eyeBlinkLeft", "eyeBlinkRight", "jawOpen"))
    x = (left - right) / np.linalg.norm(left - right)
    y = 0.5 * (left + right) - jaw
    y = (y - x * (y @ x)) / np.linalg.norm(y - x * (y @ x))
    turn = np.stack([x, y, np.cross(x, y)])
    v = v0 @ turn.T
    v -= 0.5 * (v.max(axis=0) + v.min(axis=0))
    return {"verts": (unit * v).astype(np.float32), "faces": f0.astype(np.int32), "shape_names": np.array(names),
            "shape_deltas": (unit * d @ turn.T).astype(np.float32)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder")
    p.add_argument("--neutral", default="Neutral.obj")
    p.add_argument("--unit", type=float, default=None, help="metres per file unit (default: guessed)")
    p.add_argument("-o", "--out", required=True, help="the .npz to write (outside the repository)")
    a = p.parse_args(argv)
    head = read_face(a.folder, a.neutral, a.unit)
    print(save_real_head(a.out, head))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
