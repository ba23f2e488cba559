"""Exact solver of the small box-constrained quadratic programs of the inverse rig (numpy only).

    minimise  w^T G w - 2 c^T w   subject to  0 <= w_k <= 1, and w_k = 0 where ``allowed`` is False

G is the (n, n) symmetric positive definite normal matrix of the mesh's FACS basis (n = 53) and c one
frame's right-hand side; the problem is strictly convex, so its minimiser is unique. A primal active-set
method (every variable is free, at 0 or at 1) reaches it in a few small solves per active key, where
projected Gauss-Seidel needs hundreds of sweeps because neighbouring FACS fields overlap (G is badly
conditioned).
"""
from __future__ import annotations

import numpy as np


def box_qp(g: np.ndarray, c: np.ndarray, allowed: np.ndarray | None = None, *, max_iter: int | None = None,
           start: np.ndarray | None = None) -> np.ndarray:
    """Minimiser of ``w^T g w - 2 c^T w`` over 0 <= w <= 1 (w = 0 outside ``allowed``).

    Args:
        g: (n, n) symmetric positive definite matrix (float64).
        c: (n,) or (B, n) right-hand sides; each row is solved on its own.
        allowed: (n,) or (B, n) bool, the variables that may leave 0 (default: all).
        max_iter: active-set changes per row (default 8 n); the last feasible point is returned if reached.
        start: (n,) or (B, n) bool, a guess of the variables that end up free (within ``allowed``): the
            search starts from w = 0 with them free instead of adding them one solve at a time. The minimiser
            is unique, so the result is the same; a good guess (the inverse rig's refit on the support of its
            penalised fit) needs 1-2 small solves instead of one per active key.
    Returns:
        (n,) or (B, n) float64 weights in [0, 1].
    Raises:
        ValueError: shapes that do not match, non-finite input.
    """
    g = np.asarray(g, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    if g.ndim != 2 or g.shape[0] != g.shape[1]:
        raise ValueError(f"g must be a square matrix, got shape {g.shape}")
    n = g.shape[0]
    single = c.ndim == 1
    cc = c[None] if single else c
    if cc.ndim != 2 or cc.shape[1] != n:
        raise ValueError(f"c must have shape ({n},) or (B, {n}), got {c.shape}")
    if not (np.isfinite(g).all() and np.isfinite(cc).all()):
        raise ValueError("g and c must be finite")
    if allowed is None:
        al = np.ones(cc.shape, dtype=bool)
    else:
        al = np.broadcast_to(np.asarray(allowed, dtype=bool), cc.shape)
    st = np.zeros(cc.shape, dtype=bool) if start is None else np.broadcast_to(np.asarray(start, dtype=bool), cc.shape)
    out = np.stack([_solve_one(g, row, mask, max_iter or 8 * n, s0 & mask) for row, mask, s0 in zip(cc, al, st)])
    return out[0] if single else out


def _solve_one(g: np.ndarray, c: np.ndarray, allowed: np.ndarray, max_iter: int, start: np.ndarray) -> np.ndarray:
    n = len(c)
    w = np.zeros(n)
    state = start.astype(np.int8)               # 0: held at 0, 1: free, 2: held at 1 (w = 0 is feasible)
    tol = 1e-12 * max(1.0, float(np.abs(c).max()), float(np.abs(g).max()))
    for _ in range(max_iter):
        free = np.nonzero(state == 1)[0]
        if len(free):
            held = state != 1
            rhs = c[free] - g[np.ix_(free, np.nonzero(held)[0])] @ w[held]
            target = np.linalg.solve(g[np.ix_(free, free)], rhs)
            low, high = target < 0.0, target > 1.0
            if low.any() or high.any():
                # move from the feasible w towards the target until the first variable hits a bound
                cur = w[free]
                step = np.ones(len(free))
                step[low] = cur[low] / (cur[low] - target[low])
                step[high] = (1.0 - cur[high]) / (target[high] - cur[high])
                j = int(np.argmin(step))
                a = float(np.clip(step[j], 0.0, 1.0))
                w[free] = np.clip(cur + a * (target - cur), 0.0, 1.0)
                k = free[j]
                w[k] = 1.0 if high[j] else 0.0
                state[k] = 2 if high[j] else 0
                continue
            w[free] = target
        # stationary on the free set: release the held variable whose gradient most wants it inside
        grad = g @ w - c
        viol = np.where((state == 0) & allowed, -grad, 0.0)        # at 0, wants to grow
        viol = np.where(state == 2, np.maximum(viol, grad), viol)   # at 1, wants to shrink
        k = int(np.argmax(viol))
        if viol[k] <= tol:
            break
        state[k] = 1
    return np.clip(w, 0.0, 1.0)
