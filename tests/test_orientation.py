"""The face's orientation found from its shape (issue 17, ``model_core/runtime/orientation.py``).

A head that faces +Y (Blender's front is -Y), is rolled 90 degrees or is upside down is prepared with Blender's
axes: ``prepare`` finds the frame the face is in, builds in it (so the keys equal the upright head's keys turned
with the mesh) and says so in one warning. Correctly oriented heads (ICT full head, ICT face crop, a hand-made
947-vertex dev head, a face mask) get no warning and exactly the result of ``find_axes=False``. Random weights
(tests/small_model.py): the orientation is found from the geometry only, never from the weights.
"""

import numpy as np
import pytest

import robustness_cases as rc
from model_core.runtime.frames import axes_to_ict
from model_core.runtime import Model
from model_core.runtime import orientation
from small_model import save_small_weights



def _rot(axis: str, quarter_turns: int) -> np.ndarray:
    """Exact rotation (3, 3) by quarter_turns x 90 degrees about 'X', 'Y' or 'Z'."""
    c, s = [(1, 0), (0, 1), (-1, 0), (0, -1)][quarter_turns % 4]
    i = "XYZ".index(axis)
    j, k = [a for a in range(3) if a != i]
    r = np.eye(3)
    r[j, j], r[j, k], r[k, j], r[k, k] = c, -s, s, c
    return r


def _rel(a, b) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _found_notes(pm) -> list:
    return [w for w in pm.warnings if "found from its shape" in w]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    stem = tmp_path_factory.mktemp("orient") / "small"
    save_small_weights(stem, 5)
    return Model.load(stem.with_suffix(".npz"))


@pytest.fixture(scope="module")
def head_m():
    """ICT head (every face), metres, Blender frame (Z up, face toward -Y)."""
    v, c, s = rc.ict_mesh(stride=1, blender=True)
    return v, rc.triangulate(c, s)


@pytest.fixture(scope="module")
def ref(model, head_m):
    pm = model.prepare(*head_m, up="Z", forward="-Y")
    return pm, model.facs_basis(pm)[1]


def test_rotations_are_the_24_proper_axis_rotations():
    r = orientation.ROTATIONS
    assert r.shape == (24, 3, 3) and np.array_equal(r[0], np.eye(3))
    assert np.allclose(np.linalg.det(r), 1.0) and np.allclose(r @ r.transpose(0, 2, 1), np.eye(3))
    assert len({tuple(m.ravel()) for m in r}) == 24


def test_mirror_axis_of_a_face_is_its_left_right_axis(ref):
    pm, _ = ref
    mis = orientation.mirror_misfits(pm.proxy.verts)
    assert int(np.argmin(mis)) == 0                      # canonical X: the face's left-right axis
    assert np.sort(mis)[1] > 3.0 * mis.min()             # measured 3.2-900 x on ICT crops and the dev heads


@pytest.mark.parametrize("what, axis, turns, forward, up", [
    ("faces +Y", "Z", 2, "+Y", "+Z"),          # turned 180 degrees about up
    ("rolled 90", "Y", 1, "-Y", "-X"),         # rolled about the forward axis
    ("upside down", "Y", 2, "-Y", "-Z"),
])
def test_wrongly_oriented_head_is_found_and_reported(model, head_m, ref, what, axis, turns, forward, up):
    v, t = head_m
    r = _rot(axis, turns)
    pm = model.prepare(v @ r.T, t, up="Z", forward="-Y")
    notes = _found_notes(pm)
    assert len(pm.warnings) == 1 and len(notes) == 1, (what, pm.warnings)
    assert f"looks toward {forward} with {up} up" in notes[0] and "not toward -Y with +Z up" in notes[0]
    assert "Face looks toward" in notes[0] and "rotate the mesh" in notes[0]
    assert np.array_equal(axes_to_ict(pm.up, pm.forward) @ r, axes_to_ict("Z", "-Y"))
    keys = model.facs_basis(pm)[1] @ r                   # the keys turned back with the mesh
    assert _rel(keys, ref[1]) < 1e-6, what               # measured: 0.0 (trained weights: was 1.01 / 1.51 / 2.45)
    old = model.facs_basis(model.prepare(v @ r.T, t, up="Z", forward="-Y", find_axes=False))[1] @ r
    assert _rel(old, ref[1]) > 0.3, what                 # the caller's axes alone: wrong keys


def test_correct_heads_are_untouched(model, head_m, ref, ict, dev_heads):
    """ICT head, ICT face crop and face mask, a 947-vertex hand-made head: no warning, the same result as with
    the check off."""
    meshes = [head_m + ("Z", "-Y"), ict.head(crop="face") + ("Y", "Z")]
    vf, tf = ict.head(crop="full")
    nose = ict.neutral[ict.landmarks[30]]
    inside = np.linalg.norm(vf - nose, axis=1) < 9.0
    tm = tf[inside[tf].all(axis=1)]
    used, tm = np.unique(tm, return_inverse=True)
    meshes.append((vf[used], tm.reshape(-1, 3), "Y", "Z"))
    h = dev_heads["iphonemocap"]
    meshes.append((h.verts, h.faces, "Y", "Z"))
    for v, t, up, fwd in meshes:
        pm = model.prepare(v, t, up=up, forward=fwd)
        off = model.prepare(v, t, up=up, forward=fwd, find_axes=False)
        assert _found_notes(pm) == [] and (pm.up, pm.forward) == (up, fwd), pm.warnings
        assert np.array_equal(pm.canon, off.canon)
        assert np.array_equal(model.facs_basis(pm)[1], model.facs_basis(off)[1])


def test_face_crop_uses_the_found_axes(model, head_m, ref):
    v, t = head_m
    r = _rot("Z", 2)
    pm = model.prepare(v @ r.T, t, up="Z", forward="-Y", crop="face")
    want = model.prepare(v, t, up="Z", forward="-Y", crop="face")
    assert len(_found_notes(pm)) == 1 and (pm.up, pm.forward) == ("Z", "Y")
    assert _rel(model.facs_basis(pm)[1] @ r, model.facs_basis(want)[1]) < 1e-6


def test_heads_with_joined_sockets_keep_their_orientation(ict):
    """A held-out ICT identity whose upright head the template, paired by position alone, fitted better upside
    down on the back of its head (ratio 1.12), more so with its mouth bag (1.46) and eye sockets (1.57) joined at
    their openings, as game heads carry them: paired by position and normal (``NORMAL_PAIR``) it stays upright,
    and turned upside down it is found. The committed weights' proxy size (~1000 points: what users get)."""
    from model_core.evaluation.evaluate import held_out_identities
    model = Model.load()
    v = ict.identity_verts(held_out_identities(6)[4])
    r = _rot("X", 2)                                     # upside down and facing backward
    for n in (11248, 13294, 14062):                      # the skin; + the mouth bag; + both eye sockets
        idx, f = ict.part_faces([(0, n)])
        pm = model.prepare(v[idx], f, up="Y", forward="Z")
        assert _found_notes(pm) == [] and (pm.up, pm.forward) == ("Y", "Z"), (n, pm.warnings)
        turned = model.prepare(v[idx] @ r.T, f, up="Y", forward="Z")
        assert len(_found_notes(turned)) == 1 and np.array_equal(axes_to_ict(turned.up, turned.forward) @ r,
                                                                   axes_to_ict("Y", "Z")), (n, turned.warnings)
