"""``capped_eyes``: a face with each eye opening closed by a fan, an eye modelled shut behind the lids (a pocket, as
game and MakeHuman heads have), for the tests of eye pockets (``template_keys.eye_pocket``)."""
from __future__ import annotations

import numpy as np

from model_core.runtime.mesh import boundary_loops


def capped_eyes(v: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A face (verts (N, 3) ICT cm, faces (F, 3)) with each eye opening (a loop under 60 vertices above Y = 1 cm)
    capped by a fan to a vertex at its centre: (verts (N + 2, 3), faces); the first N vertices are the face's."""
    vv, ff = [v], [f]
    for lp in [lp for lp in boundary_loops(f) if len(lp) < 60 and v[lp, 1].mean() > 1.0]:
        ff.append(np.stack([np.roll(lp, -1), lp, np.full(len(lp), sum(map(len, vv)))], axis=1))
        vv.append(v[lp].mean(axis=0, keepdims=True))
    assert len(ff) == 3
    return np.concatenate(vv), np.concatenate(ff)
