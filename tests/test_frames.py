"""Axis conventions, units and canonical normalisation."""
import numpy as np
import pytest

from model_core.runtime.frames import axes_to_ict, blender_to_ict, canonical_normalization, ict_to_blender


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
