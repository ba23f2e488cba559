"""``capped_eyes``: a face with each eye opening closed by a fan, an eye modelled shut behind the lids (a pocket, as
game and MakeHuman heads have), for the tests of eye pockets (``template_keys.eye_pocket``); ``lined_eyes``: the same
pocket with a lining that runs back and out behind the lids first, as MakeHuman's does; ``margin_cut``: an ICT face
cut open at its lid margins instead, as game heads are."""
from __future__ import annotations

import numpy as np

from model_core.dataset.ict import crop_sizes
from model_core.runtime.mesh import boundary_loops, remove_unreferenced
from model_core.runtime.template_keys import default_template


def eye_openings(v: np.ndarray, f: np.ndarray) -> list:
    """The face's two eye openings: its boundary loops under 60 vertices above Y = 1 cm ((L,) vertex indices each)."""
    loops = [lp for lp in boundary_loops(f) if len(lp) < 60 and v[lp, 1].mean() > 1.0]
    assert len(loops) == 2
    return loops


def capped_eyes(v: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A face (verts (N, 3) ICT cm, faces (F, 3)) with each eye opening (``eye_openings``) capped by a fan to a
    vertex at its centre: (verts (N + 2, 3), faces); the first N vertices are the face's."""
    vv, ff = [v], [f]
    for lp in eye_openings(v, f):
        ff.append(np.stack([np.roll(lp, -1), lp, np.full(len(lp), sum(map(len, vv)))], axis=1))
        vv.append(v[lp].mean(axis=0, keepdims=True))
    return np.concatenate(vv), np.concatenate(ff)


def lined_eyes(v: np.ndarray, f: np.ndarray, back=(0.2, 0.5), flare: float = 1.6) -> tuple[np.ndarray, np.ndarray]:
    """A face (verts (N, 3) ICT cm, faces (F, 3)) with each eye opening (``eye_openings``) continued by a
    pocket's lining: a ring of the opening moved ``back[0]`` cm back, a second ``back[1]`` cm back and ``flare`` times
    as wide across (X, Y) about the opening's centre (behind the lids, outside the opening's outline seen from the
    front), then a fan to its centre. Returns (verts (M, 3), faces); the first N vertices are the face's."""
    vv, ff, n = [v], [f], len(v)
    for lp in eye_openings(v, f):
        c = v[lp].mean(axis=0)
        prev = lp
        for dz, s in ((back[0], 1.0), (back[1], flare)):
            ring = np.arange(n, n + len(lp))
            vv.append(c + (v[lp] - c) * np.array([s, s, 1.0]) - np.array([0.0, 0.0, dz]))
            ff.append(np.concatenate([np.stack([np.roll(prev, -1), prev, ring], axis=1),
                                      np.stack([np.roll(prev, -1), ring, np.roll(ring, -1)], axis=1)]))
            prev, n = ring, n + len(lp)
        vv.append(c[None] - np.array([[0.0, 0.0, back[1]]]))
        ff.append(np.stack([np.roll(prev, -1), prev, np.full(len(prev), n)], axis=1))
        n += 1
    return np.concatenate(vv), np.concatenate(ff)


def margin_cut(ict, identity) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A held-out ICT face crop (identity: its identity coefficients) cut open at both lid margins (the template's
    interior behind its eye rims removed, as game meshes are), in ICT cm: (verts (N, 3), faces (F, 3), kept (N,) the
    ICT vertex of each)."""
    n = crop_sizes("face")[0]
    tpl = default_template()
    v = ict.identity_verts(identity)[:n].astype(np.float64)
    cut = np.zeros(n, bool)
    cut[np.concatenate([tpl.rims[0][1], tpl.rims[1][1]])] = True
    f = ict.crop_faces("face")
    return remove_unreferenced(v, f[~cut[f].any(axis=1)])
