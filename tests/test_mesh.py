"""Numpy mesh operations."""
import numpy as np
import pytest

from model_core.mesh import (barycentric_interpolate, connected_components, cotan_weights, face_areas, mesh_hash,
                             validate_mesh, vertex_areas, vertex_normals)

TET = (np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float), np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]]))


def test_validate_errors_say_what_to_fix():
    v, f = TET
    with pytest.raises(ValueError, match="no faces"):
        validate_mesh(v, np.zeros((0, 3), int))
    with pytest.raises(ValueError, match="NaN"):
        validate_mesh(np.where(np.arange(12).reshape(4, 3) == 5, np.nan, v), f)
    with pytest.raises(ValueError, match="at least"):
        validate_mesh(v[:3], f[:1])
    with pytest.raises(ValueError, match="triangulate"):
        validate_mesh(v, np.zeros((2, 4), int))
    with pytest.raises(ValueError, match="indices"):
        validate_mesh(v, f + 10)


def test_areas_normals_components():
    v, f = TET
    assert np.isclose(face_areas(v, f).sum(), 1.5 + np.sqrt(3) / 2)
    assert np.isclose(vertex_areas(v, f).sum(), face_areas(v, f).sum())
    n = vertex_normals(v, f)
    assert np.allclose(np.linalg.norm(n, axis=1), 1) and (n[0] < 0).all()  # outward at the origin corner
    two = np.concatenate([f, f + 4])
    assert connected_components(8, two).tolist() == [0, 0, 0, 0, 1, 1, 1, 1]


def test_cotan_laplacian_reproduces_linear_functions_inside():
    # flat grid: the cotan Laplacian of a linear function vanishes at interior vertices
    n = 6
    xs, ys = np.meshgrid(np.arange(n), np.arange(n))
    v = np.stack([xs.ravel(), ys.ravel(), np.zeros(n * n)], 1).astype(float)
    f = []
    for i in range(n - 1):
        for j in range(n - 1):
            a = i * n + j
            f += [[a, a + 1, a + n + 1], [a, a + n + 1, a + n]]
    f = np.array(f)
    e, w = cotan_weights(v, f)
    u = 2 * v[:, 0] + 3 * v[:, 1]
    lap = np.zeros(n * n)
    np.add.at(lap, e[:, 0], w * (u[e[:, 0]] - u[e[:, 1]]))
    np.add.at(lap, e[:, 1], w * (u[e[:, 1]] - u[e[:, 0]]))
    interior = [(i * n + j) for i in range(1, n - 1) for j in range(1, n - 1)]
    assert np.abs(lap[interior]).max() < 1e-9


def test_barycentric_and_hash():
    v, f = TET
    p = barycentric_interpolate(v, f, np.array([3]), np.array([[0.2, 0.3, 0.5]]))
    assert np.allclose(p, 0.2 * v[1] + 0.3 * v[2] + 0.5 * v[3])
    assert mesh_hash(v, f) == mesh_hash(v.copy(), f.copy()) != mesh_hash(v + 1e-9, f)


def test_edge_components_and_midpoint_subdivision():
    from model_core.mesh import edge_components, subdivide_midpoint
    assert edge_components(6, np.array([[4, 5], [0, 2], [2, 1]])).tolist() == [0, 0, 0, 1, 2, 2]
    v, f = TET
    v2, f2 = subdivide_midpoint(v, f)
    assert v2.shape == (10, 3) and f2.shape == (16, 3)
    assert np.isclose(face_areas(v2, f2).sum(), face_areas(v, f).sum())  # planar faces: area preserved
    assert connected_components(10, f2).tolist() == [0] * 10
