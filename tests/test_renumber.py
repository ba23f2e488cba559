"""The same triangles with their vertices numbered otherwise (``runtime/renumber.py``): ``renumbering`` finds the
order from the connectivity alone, and ``transfer_keys`` then carries the keys vertex for vertex as for one
topology. Real meshes: the dev heads (the hand-made head is mirror-symmetric, so its mirror image is a second
valid numbering that only the positions rule out)."""
from __future__ import annotations

import numpy as np

from model_core.runtime import Model
from model_core.runtime import transfer as tr
from model_core.runtime.mesh import unique_edges
from model_core.runtime.renumber import renumbering

from test_same_topology import _quads, from_bench


def _renumbered(verts, faces, seed=0):
    """(perm, verts, faces): new vertex j is old vertex perm[j]; the triangles listed in another order too."""
    perm = np.random.default_rng(seed).permutation(len(verts))
    tf = np.argsort(perm)[faces]
    return perm, verts[perm], tf[np.random.default_rng(seed + 1).permutation(len(tf))]


def test_a_renumbered_head_is_put_back_in_order(dev_heads):
    for name in ("iphonemocap", "rocketbox", "rokoko"):
        h = dev_heads[name]
        perm, tv, tf = _renumbered(h.verts, h.faces)
        got = renumbering(h.faces, tf, len(h.verts), h.verts, tv)
        assert got is not None and np.array_equal(got, perm), name
        # without positions: a numbering that keeps every edge (on the symmetric head maybe its mirror image)
        plain = renumbering(h.faces, tf, len(h.verts))
        e = unique_edges(tf)
        s = np.sort(plain[e], axis=1)
        es = {tuple(x) for x in unique_edges(h.faces).tolist()}
        assert len(np.unique(plain)) == len(plain) and all(tuple(x) in es for x in s.tolist()), name


def test_twin_pieces_are_told_apart_by_their_positions(dev_heads):
    # two identical eyeballs (``bench_transfer.eyeballs``: an octahedron subdivided twice, each) in the hand-made
    # head: one signature each
    h = dev_heads["iphonemocap"]
    ev, ef = from_bench("eyeballs")(h.verts)
    verts = np.concatenate([h.verts, ev])
    faces = np.concatenate([h.faces, ef + len(h.verts)])
    perm, tv, tf = _renumbered(verts, faces, seed=3)
    got = renumbering(faces, tf, len(verts), verts, tv)
    assert got is not None and np.array_equal(got, perm)


def test_other_meshes_of_the_same_size_are_not_renumberings(dev_heads):
    h = dev_heads["rocketbox"]
    n = len(h.verts)
    # a few quads split along the other diagonal and renumbered: left to the registration
    flipped = h.faces.copy()
    for i, j, (a, b, c, d) in _quads(h.faces)[:20]:
        flipped[i], flipped[j] = (a, b, d), (b, c, d)
    perm = np.random.default_rng(0).permutation(n)
    assert renumbering(h.faces, np.argsort(perm)[flipped], n) is None
    # rewired triangles
    rewired = h.faces.copy()
    rewired[:, 2] = np.roll(rewired[:, 2], 1)
    assert renumbering(h.faces, rewired, n) is None


def test_transfer_carries_keys_onto_a_renumbered_copy_vertex_for_vertex(dev_heads, monkeypatch):
    # the hand-made head reshaped (wider, flatter) and renumbered: the keys come out exactly as on the reshaped copy
    # in its own order (the similarity's turn and scale), and every vertex lands on its own source vertex
    h = dev_heads["iphonemocap"]
    c = h.verts.mean(axis=0)
    wide = c + (h.verts - c) * [1.1, 1.0, 0.95]
    perm, tv, tf = _renumbered(wide, h.faces, seed=5)
    model = Model.load()
    pa = model.prepare(h.verts, h.faces, "Y", "Z")
    pw, pr = model.prepare(wide, h.faces, "Y", "Z"), model.prepare(tv, tf, "Y", "Z")
    keys = h.deltas[:6]
    same = tr.transfer_keys(model, pa, keys, pw)
    got, corr = tr.transfer_keys(model, pa, keys, pr, return_correspondence=True)
    np.testing.assert_allclose(got, same[:, perm], atol=1e-7)
    np.testing.assert_array_equal(corr, h.verts[perm])
    assert tr.vertex_for_vertex(h.faces, len(h.verts), tf, len(tv))
    monkeypatch.setattr(tr, "RENUMBERED", False)
    assert not tr.vertex_for_vertex(h.faces, len(h.verts), tf, len(tv))
    registered = tr.transfer_keys(model, pa, keys, pr)
    assert np.abs(registered - got).max() > 0.1 * np.abs(got).max()     # the registration is not exact
