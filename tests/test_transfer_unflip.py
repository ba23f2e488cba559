"""``runtime/unflip.py``: the triangles a carried key turns over are relaxed away (issue 16: no inverted
triangles on jawOpen/blinks), keys without turned triangles and allowed folds are left as they are."""
from __future__ import annotations

import numpy as np

from grid_sheet import grid_sheet
from model_core.evaluation.real_eval import triangle_damage
from model_core.runtime.unflip import unflip_keys


def test_unflip_relaxes_a_turned_key_and_leaves_the_rest():
    verts, faces = grid_sheet(20)
    n = len(verts)
    smooth = np.zeros((n, 3))
    smooth[:, 2] = 0.3 * np.sin(verts[:, 0])                         # a key that turns nothing over
    fold = np.zeros((n, 3))
    v = 5 * 20 + 5
    fold[v, 0] = 2.5                                                  # one vertex pushed past its neighbour
    fold += 0.5                                                       # plus a uniform shift, which must stay
    keys = np.stack([smooth, fold]).astype(np.float32)
    assert triangle_damage(verts, faces, keys[1])[0] > 0
    out, left = unflip_keys(keys, verts, faces)
    assert left.tolist() == [0, 0]
    assert triangle_damage(verts, faces, out[1])[0] == 0
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[0], keys[0])                    # untouched key, bit for bit
    far = np.linalg.norm(verts - verts[v], axis=1) > 10               # beyond the grown region: unchanged
    assert far.sum() > 100
    np.testing.assert_array_equal(out[1][far], keys[1][far])
    # a fold the source's own key makes is allowed: nothing changes
    allowed = np.zeros((2, len(faces)), bool)
    allowed[1] = True
    out2, left2 = unflip_keys(keys, verts, faces, allowed=allowed)
    assert out2 is keys and left2.tolist() == [0, 0]


def test_unflip_keeps_a_key_it_would_erase():
    # a key that is nothing but the fold (one vertex pushed past its neighbour): relaxing it would change
    # most of its motion, so it is kept as it was (MAX_CHANGE) and its turned triangles are reported
    verts, faces = grid_sheet(20)
    fold = np.zeros((1, len(verts), 3))
    fold[0, 5 * 20 + 5, 0] = 2.5
    out, left = unflip_keys(fold, verts, faces)
    assert out is fold and left[0] == triangle_damage(verts, faces, fold[0])[0] > 0
    out, left = unflip_keys(fold, verts, faces, max_change=np.inf)
    assert left[0] == 0 and triangle_damage(verts, faces, out[0])[0] == 0
