"""Axis conventions, units and canonical normalisation."""
import numpy as np
import pytest

from model_core.runtime.frames import (axes_to_ict, blender_to_ict, canonical_normalization, ict_to_blender,
                                      least_rotation, upright_rotation)


def test_blender_round_trip_and_directions():
    p = np.array([[1.0, 2.0, 3.0]])
    assert np.allclose(ict_to_blender(blender_to_ict(p)), p)
    # ICT +Y (up) is Blender +Z; ICT +Z (face forward) is Blender -Y; ICT cm -> Blender m
    assert np.allclose(ict_to_blender([[0, 100, 0]]), [[0, 0, 1]])
    assert np.allclose(ict_to_blender([[0, 0, 100]]), [[0, -1, 0]])
    assert np.allclose(ict_to_blender([[100, 0, 0]]), [[1, 0, 0]])  # ICT +X (face's left) = Blender +X


def test_rotation_is_proper():
    for up, fwd in (("Z", "-Y"), ("Y", "Z"), ("-Y", "X"), ("X", "-Z")):
        r = axes_to_ict(up, fwd)
        assert np.allclose(r @ r.T, np.eye(3)) and np.isclose(np.linalg.det(r), 1.0)
    with pytest.raises(ValueError, match="perpendicular"):
        axes_to_ict("Z", "-Z")
    with pytest.raises(ValueError, match="axis"):
        axes_to_ict("Q", "Z")


def test_canonical_normalisation_invariant_to_frame_and_units(ict):
    v, f = ict.head(None, None, "face")
    nz = canonical_normalization(v, f)
    canon = nz.apply(v)
    assert np.allclose(nz.invert(canon), v)
    # the same head in Blender metres must give the same canonical coordinates
    vb = ict_to_blender(v) * 7.0 + np.array([3.0, -2.0, 1.0])
    nzb = canonical_normalization(vb, f, up="Z", forward="-Y")
    assert np.abs(nzb.apply(vb) - canon).max() < 1e-9
    d = np.array([[0.0, 0.0, 1.0]])
    assert np.allclose(nzb.invert_vectors(nz.apply_vectors(d)), ict_to_blender(d) * 7.0)
    assert "face size" in nz.describe()


def test_zero_area_raises():
    v = np.zeros((4, 3))
    with pytest.raises(ValueError, match="zero surface area"):
        canonical_normalization(v, np.array([[0, 1, 2], [0, 2, 3]]))


def _about(axis, deg):
    """The rotation (3, 3) by ``deg`` degrees about the unit ``axis`` (3,)."""
    k = np.asarray(axis, np.float64)
    K = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    a = np.radians(deg)
    return np.eye(3) + np.sin(a) * K + (1.0 - np.cos(a)) * K @ K


def test_least_rotation_takes_one_direction_onto_another():
    a = np.array([1.0, 0.0, 0.0])
    b = np.array([0.6, 0.8, 0.0])
    q = least_rotation(a, b)
    assert np.allclose(q @ a, b) and np.allclose(q @ q.T, np.eye(3)) and np.isclose(np.linalg.det(q), 1.0)
    assert np.allclose(q @ [0.0, 0.0, 1.0], [0.0, 0.0, 1.0])        # the least turn: their common normal stays
    assert np.array_equal(least_rotation(a, a), np.eye(3))


def test_upright_rotation_keeps_a_turn_or_lean_and_drops_the_pitch():
    # keys are carried in the head's upright frame (template_keys.KEYS_UPRIGHT): a yaw or a roll of the fitted
    # similarity (the face's mirror plane turned or leaning) is kept, a pitch (about the ears' axis, +X) is not
    yaw, roll, pitch = _about([0, 1, 0], 4.0), _about([0, 0, 1], -3.0), _about([1, 0, 0], 6.0)
    assert np.allclose(upright_rotation(yaw), yaw) and np.allclose(upright_rotation(roll), roll)
    assert np.allclose(upright_rotation(pitch), np.eye(3))
    both = yaw @ pitch                                    # pitched, then turned: the turn stays
    assert np.allclose(upright_rotation(both), yaw)
    assert np.allclose(upright_rotation(both)[:, 0], both[:, 0])    # the left-right axis lands where rot puts it


def test_partial_upright_keeps_a_share_of_the_pitch():
    from model_core.runtime.frames import partial_upright
    rot = _about([0, 1, 0], 5.0) @ _about([1, 0, 0], 8.0)   # a yaw after a pitch about the ears' axis
    np.testing.assert_allclose(partial_upright(rot, 0.0), upright_rotation(rot), atol=1e-12)
    np.testing.assert_allclose(partial_upright(rot, 1.0), rot, atol=1e-12)
    np.testing.assert_allclose(partial_upright(rot, 0.5), _about([0, 1, 0], 5.0) @ _about([1, 0, 0], 4.0), atol=1e-12)
    np.testing.assert_allclose(partial_upright(rot, 2.0), rot, atol=1e-12)    # clipped to 0..1
