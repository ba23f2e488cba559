"""The registration the shape-key transfer runs (``correspond.register(..., plane=...)``, ``transfer.PLANE``):
point-to-plane pulls, the coupled conjugate-gradient solve they need (checked against a dense solve), and the
default (``plane=0``) left exactly as it was."""
from __future__ import annotations

import numpy as np
import pytest

from model_core.runtime.correspond import (closest_points, conjugate_gradient_joint, plane_pull, register)
from test_correspond import _sphere


def test_joint_conjugate_gradient_matches_a_dense_solve():
    """A symmetric positive definite operator that mixes the columns of its (N, 3) argument: the joint solve
    equals numpy's dense solve of the flattened system."""
    rng = np.random.default_rng(3)
    n = 40
    m = rng.normal(size=(3 * n, 3 * n))
    a = m @ m.T / (3 * n) + np.eye(3 * n)
    rhs = rng.normal(size=(n, 3))
    want = np.linalg.solve(a, rhs.ravel()).reshape(n, 3)
    got = conjugate_gradient_joint(lambda y: (a @ y.ravel()).reshape(n, 3), rhs, np.zeros((n, 3)), iters=500,
                                   tol=1e-12, precond=np.ones(n))
    assert np.abs(got - want).max() < 1e-8


def test_plane_pull_is_a_symmetric_projection_mix():
    rng = np.random.default_rng(0)
    nrm = rng.normal(size=(5, 3))
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
    v, w = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    assert np.allclose(plane_pull(v, nrm, 0.0), v)
    full = plane_pull(v, nrm, 1.0)
    assert np.allclose(np.cross(full, nrm), 0.0)                     # only the normal component is left
    p = plane_pull(v, nrm, 0.9)
    assert np.allclose((p * w).sum(1), (plane_pull(w, nrm, 0.9) * v).sum(1))     # symmetric


def test_register_plane_zero_is_the_old_registration():
    v, f = _sphere(2)
    warped = v * np.array([1.25, 0.85, 1.0]) + 0.1 * np.sin(3 * v)
    assert np.array_equal(register(v, f, warped, f), register(v, f, warped, f, plane=0.0))


def test_register_with_plane_pulls_lands_on_the_surface():
    """A sphere onto its stretched, rotated copy: with point-to-plane pulls (a coupled system: a solve by columns
    diverged here) the template still lands on the surface, and its vertices end no further from their true
    images than with point-to-point pulls (on ICT heads 10 % nearer where the keys move: docs/model.md)."""
    v, f = _sphere(3)
    ang = 0.15
    rot = np.array([[np.cos(ang), -np.sin(ang), 0], [np.sin(ang), np.cos(ang), 0], [0, 0, 1]])
    true = (v * np.array([1.2, 0.9, 1.0]) + 0.08 * np.sin(3 * v)) @ rot.T
    start = v * np.array([1.1, 0.95, 1.0])
    plain = register(start, f, true, f)
    planar = register(start, f, true, f, plane=0.9)
    assert np.isfinite(planar).all()
    _, _, d2 = closest_points(planar, true, f)
    assert np.sqrt(d2).mean() < 0.05 * np.linalg.norm(start - true, axis=1).mean()
    slide_plain = np.linalg.norm(plain - true, axis=1).mean()
    slide_planar = np.linalg.norm(planar - true, axis=1).mean()
    print("slide point-to-point", slide_plain, "point-to-plane", slide_planar)
    assert slide_planar < 1.01 * slide_plain


@pytest.mark.parametrize("plane", [1.0, -0.1])
def test_register_rejects_a_plane_share_outside_0_1(plane):
    v, f = _sphere(1)
    with pytest.raises(ValueError, match="plane must lie in"):
        register(v, f, v, f, plane=plane)
