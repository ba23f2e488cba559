"""The target's teeth, tongue and eyeballs for keys carried from a source that has none (``transfer.py``).

A carried key moves the target's skin only. Its other pieces used to follow the skin nearest them, so the lower
teeth stretched with the lips in a smile and a funnel and lagged the jaw in jawOpen, and the eyeballs bulged
with the lids (ICT identity A's skin onto B with its teeth and eyeballs: teeth 4-5 mm off in a smile or a funnel,
11 mm of their 15 in jawOpen; eyeballs 1.6 mm in a blink, where ICT's stay still).

Here the pieces move as a jaw does. ICT's template registered on the target (``Model._template_match``, as the
generated keys' path does) gives ICT's four jaw keys on the target's skin and on its pieces (``template_inner_keys``:
the lower teeth and the tongue turn with the jaw; the upper teeth and the eyeballs stay). How much of each jaw key a
carried key holds is read on the jaw's skin, where ICT's jawOpen moves the skin and no other ICT key moves it
comparably (the chin and the jaw line, not the lips: ``jaw_skin``), by non-negative least squares with one of
jawLeft / jawRight at a time (``jaw_weights``). The pieces take those shares of the jaw keys' piece motion.
"""
from __future__ import annotations

from itertools import combinations

import numpy as np

from .facs_names import ICT_NAMES

JAW_KEYS = ("jawOpen", "jawForward", "jawLeft", "jawRight")
JAW_INDEX = tuple(ICT_NAMES.index(n) for n in JAW_KEYS)
SKIN_SHARE = 0.1    # the jaw's skin: face vertices ICT's jawOpen moves at least this share of its largest motion ...
SKIN_ALONE = 0.3    # ... where every other ICT key moves them less than this share of jawOpen's motion there
# the jaw-key subsets the fit may use: jawLeft and jawRight never together (their sum is a small drop that would
# stand in for a lip key's chin motion)
_SUBSETS = tuple(s for r in range(1, 5) for s in combinations(range(4), r) if not {2, 3} <= set(s))


def jaw_skin(ict_keys: np.ndarray) -> np.ndarray:
    """(Nf,) bool: the face vertices on the jaw's skin. ict_keys (53, Nf, 3): ICT's keys on the face (any units)."""
    keys = np.asarray(ict_keys, np.float64)
    if keys.ndim != 3 or keys.shape[0] != len(ICT_NAMES) or keys.shape[2] != 3:
        raise ValueError(f"ict_keys must have shape (53, Nf, 3), got {keys.shape}")
    size = np.linalg.norm(keys, axis=2)                                   # (53, Nf)
    jaw = size[JAW_INDEX[0]]
    others = np.delete(size, JAW_INDEX, axis=0).max(axis=0)
    return (jaw >= SKIN_SHARE * jaw.max()) & (others < SKIN_ALONE * jaw) & (jaw > 0)


def jaw_weights(ict_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """(K, 4) float64: how much of each of ICT's jaw keys (``JAW_KEYS``) each of ``keys`` holds on the jaw's skin.

    ict_keys (53, Nf, 3) ICT's keys on the face; keys (K, Nf, 3) the carried keys, the same frame and units. Each
    row minimises the squared difference on ``jaw_skin`` with weights >= 0, jawLeft and jawRight not both used;
    all zero where the face has no jaw skin."""
    ict_keys = np.asarray(ict_keys, np.float64)
    keys = np.asarray(keys, np.float64)
    if keys.ndim != 3 or keys.shape[1:] != ict_keys.shape[1:]:
        raise ValueError(f"keys must have shape (K, {ict_keys.shape[1]}, 3), got {keys.shape}")
    on = jaw_skin(ict_keys)
    out = np.zeros((len(keys), len(JAW_INDEX)))
    if not on.any():
        return out
    a = ict_keys[list(JAW_INDEX)][:, on].reshape(len(JAW_INDEX), -1).T      # (3M, 4)
    b = keys[:, on].reshape(len(keys), -1).T                                # (3M, K)
    best = np.full(len(keys), np.inf)
    for sub in _SUBSETS:
        cols = list(sub)
        c, *_ = np.linalg.lstsq(a[:, cols], b, rcond=None)                  # (len(sub), K)
        res = ((a[:, cols] @ c - b) ** 2).sum(axis=0)
        ok = (c >= 0).all(axis=0) & (res < best)
        best[ok] = res[ok]
        out[ok] = 0.0
        out[np.ix_(ok, cols)] = c[:, ok].T
    return out


def jaw_piece_keys(model, pm, keys: np.ndarray, progress=None) -> tuple[np.ndarray, np.ndarray]:
    """The pieces inside ``pm``'s face moved as a jaw for carried keys: keys (K, Nf, 3) canonical displacements of
    the face island. Returns (rows (R,) int64 into ``pm.other_index``: the teeth, tongue and eyeballs the template
    path moves, ``Model.template_inner_keys``; (K, R, 3) float64 canonical displacements); empty when the mesh has no
    such pieces. Registers ICT's template on the mesh (cached per mesh; a second registration of the transfer),
    reporting to ``progress`` (callback(done, total)) as it goes."""
    ict_keys = model.template_face_keys(pm, progress)
    rows, inner = model.template_inner_keys(pm)
    if not len(rows):
        return rows, np.zeros((len(keys), 0, 3))
    c = jaw_weights(ict_keys, keys)
    return rows, np.einsum("kj,jrc->krc", c, np.asarray(inner, np.float64)[list(JAW_INDEX)])
