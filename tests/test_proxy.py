"""The proxy mesh: bounded size, tessellation-independent, exact spectral basis."""
import numpy as np
import pytest

from model_core.runtime.frames import canonical_normalization
from model_core.runtime.mesh import connected_components
from model_core.runtime.proxy import build_proxy, knn_weights


@pytest.fixture(scope="module")
def face(ict):
    v, f = ict.head(None, None, "full")
    return canonical_normalization(v, f).apply(v), f


def test_proxy_size_connectivity_and_basis(face):
    v, f = face
    p = build_proxy(v, f, target=1000, k_eig=64)
    assert 900 <= p.n <= 1100
    assert len(np.unique(connected_components(p.n, p.faces))) == 1
    # M-orthonormal eigenvectors, ascending non-negative eigenvalues, constant first mode
    gram = p.evecs.T @ (p.mass[:, None] * p.evecs)
    assert np.abs(gram - np.eye(64)).max() < 1e-8
    assert p.evals[0] < 1e-8 and (np.diff(p.evals) >= -1e-9).all()
    assert np.std(p.evecs[:, 0]) < 1e-6
    # area is preserved roughly (canonical area is 1)
    assert abs(p.mass.sum() - 1.0) < 0.1


def test_transfer_round_trip(face):
    v, f = face
    p = build_proxy(v, f, target=800, k_eig=16)
    lin = v @ np.array([1.0, 2.0, -1.0])
    back = p.to_full(p.to_proxy(lin))
    assert np.abs(back - lin).mean() < 0.04 * np.abs(lin).mean()  # ~one grid cell of smoothing
    assert np.allclose(p.knn_w.sum(1), 1)


def test_knn_weights_exact_hit():
    t = np.random.default_rng(0).standard_normal((50, 3))
    idx, w = knn_weights(t[:5], t, 3)
    assert (idx[np.arange(5), w.argmax(1)] == np.arange(5)).all() and (w.max(1) > 0.999).all()


def test_nearest_knn_is_brute_force():
    """nearest.knn (grid cubes + candidate bounds) = brute force: mesh vertices against a proxy, points far away,
    a few targets, k larger than the targets; nearest first, equal distances by lower index."""
    from model_core.runtime.nearest import knn, knn_brute
    rng = np.random.default_rng(5)
    t = rng.standard_normal((600, 3))
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    q = np.concatenate([t[rng.integers(0, 600, 3000)] + rng.normal(0, 0.05, (3000, 3)),
                        rng.normal(0, 4, (300, 3)), [[1e6, 0, 0]], t[:10]])
    for targets, k in ((t, 4), (t, 1), (t[:20], 4), (t[:3], 5), (np.round(t * 4) / 4, 4)):   # last: many ties
        i1, d1 = knn(q, targets, k)
        i2, d2 = knn_brute(q, targets, k)
        np.testing.assert_array_equal(i1, i2)
        np.testing.assert_array_equal(d1, d2)
        assert (np.diff(d1, axis=1) >= 0).all()
    idx, w = knn_weights(q, t, 4)
    assert (idx == knn_brute(q, t, 4)[0]).all() and np.allclose(w.sum(1), 1) and (np.diff(w, axis=1) <= 0).all()


def test_nearest_windows_hold_every_candidate():
    """_cell_candidates takes groups of cubes against windows of the targets (issue 16): each cube's list holds
    every target the bound over all targets admits (a superset: the same k nearest)."""
    from model_core.runtime.nearest import _cell_candidates
    rng = np.random.default_rng(6)
    t = rng.standard_normal((800, 3))
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    h = 0.05
    corner = np.unique(np.floor((t[rng.integers(0, 800, 2000)] + rng.normal(0, 0.03, (2000, 3))) / h), axis=0) * h
    start, idx = _cell_candidates(corner, h, t, 4, 10 ** 6)
    for c in range(0, len(corner), 7):
        e = np.abs(corner[c] + 0.5 * h - t)
        far2, near2 = ((e + 0.5 * h) ** 2).sum(1), (np.maximum(e - 0.5 * h, 0) ** 2).sum(1)
        need = np.flatnonzero(near2 <= np.partition(far2, 3)[3] * (1 + 1e-9))
        got = idx[start[c]:start[c + 1]]
        assert np.isin(need, got).all() and (np.diff(got) > 0).all()
