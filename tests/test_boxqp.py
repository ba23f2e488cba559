"""The inverse rig's box-constrained QP solver (model_core.runtime.boxqp) against scipy's bounded least
squares on random problems, including the badly conditioned and the degenerate ones the FACS basis gives."""
import numpy as np
import pytest

from model_core.runtime.boxqp import box_qp


def _problem(rng, n, cond):
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    g = (q * np.geomspace(1.0, 1.0 / cond, n)) @ q.T
    return 0.5 * (g + g.T), rng.normal(size=n) * 0.5


def _reference(g, c, allowed):
    """scipy: |L^T w - L^-1 c|^2 = w^T g w - 2 c^T w + const with g = L L^T; disallowed keys pinned to 0.
    (scipy is in the py311 test venv, where this file runs; the py313 venv runs only the Blender tests.)"""
    from scipy.optimize import lsq_linear
    idx = np.nonzero(allowed)[0]
    out = np.zeros(len(c))
    if len(idx):
        gs, cs = g[np.ix_(idx, idx)], c[idx]
        lo = np.linalg.cholesky(gs)
        res = lsq_linear(lo.T, np.linalg.solve(lo, cs), bounds=(0.0, 1.0), method="bvls", tol=1e-14)
        out[idx] = res.x
    return out


def _objective(g, c, w):
    return w @ g @ w - 2.0 * c @ w


@pytest.mark.parametrize("n,cond", [(5, 10.0), (20, 1e4), (53, 1e6)])
def test_box_qp_matches_scipy(n, cond):
    rng = np.random.default_rng(n)
    for trial in range(20):
        g, c = _problem(rng, n, cond)
        allowed = rng.random(n) > 0.2 if trial % 2 else np.ones(n, bool)
        w = box_qp(g, c, allowed)
        ref = _reference(g, c, allowed)
        assert w.min() >= 0.0 and w.max() <= 1.0 and np.all(w[~allowed] == 0.0)
        # same optimum (the objective is strictly convex: same point up to conditioning)
        assert _objective(g, c, w) <= _objective(g, c, ref) + 1e-9 * max(1.0, abs(_objective(g, c, ref)))
        np.testing.assert_allclose(w, ref, atol=1e-8 * cond)


def test_box_qp_batches_rows_and_handles_interior_and_bounds():
    g = np.diag([1.0, 2.0, 4.0])
    c = np.array([[0.5, 4.0, -1.0],      # interior, clipped at 1, clipped at 0
                  [0.0, 0.0, 0.0]])
    w = box_qp(g, c)
    np.testing.assert_allclose(w, [[0.5, 1.0, 0.0], [0.0, 0.0, 0.0]], atol=1e-12)
    np.testing.assert_allclose(box_qp(g, c[0]), w[0])


def test_box_qp_rejects_bad_input():
    with pytest.raises(ValueError, match="square"):
        box_qp(np.ones((2, 3)), np.ones(2))
    with pytest.raises(ValueError, match="shape"):
        box_qp(np.eye(3), np.ones(4))
    with pytest.raises(ValueError, match="finite"):
        box_qp(np.eye(2), np.array([np.nan, 0.0]))


def test_warm_start_gives_the_same_minimiser_with_fewer_solves(monkeypatch):
    """``start`` (issue 17): the inverse rig's refit starts with its support free. Same minimiser (unique), and
    on the refit the number of small solves drops to ~1-2 per row instead of one per active key."""
    import model_core.runtime.boxqp as bq
    rng = np.random.default_rng(7)
    g, _ = _problem(rng, 53, 1e2)
    w_true = np.clip(rng.normal(0.3, 0.3, (40, 53)), 0, 1) * (rng.random((40, 53)) < 0.2)
    c = w_true @ g + rng.normal(size=(40, 53)) * 1e-3             # frames made of a few keys, like the rig's
    first = box_qp(g, c - 0.01)                                  # a penalised fit: a sparse support
    support = first > 0
    assert 3 <= support.sum(axis=1).mean() <= 40
    calls = {"n": 0}
    solve = np.linalg.solve

    def counted(a, b):
        calls["n"] += 1
        return solve(a, b)
    monkeypatch.setattr(bq.np.linalg, "solve", counted)
    cold = box_qp(g, c, allowed=support)
    n_cold, calls["n"] = calls["n"], 0
    warm = box_qp(g, c, allowed=support, start=support)
    n_warm, calls["n"] = calls["n"], 0
    bad = box_qp(g, c, allowed=support, start=~support)          # a useless guess: still the same answer
    np.testing.assert_allclose(warm, cold, atol=1e-9)
    np.testing.assert_allclose(bad, cold, atol=1e-9)
    assert n_warm <= 0.6 * n_cold, (n_warm, n_cold)
