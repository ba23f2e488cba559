"""Throughput of the training stream: FaceSampler with a pre-built TopologyBank vs two naive baselines,
all in the same run on the same machine.

- bank:     ``FaceSampler(ict, bank=TopologyBank(...))`` (the way training uses it).
- rebuild:  the same stream, but every group generates its topology from scratch (``random_topology``) instead
            of drawing it from the bank.
- loops:    the same stream with the bank, but heads built by ``ict.head`` per expression and the barycentric
            transfer done with a per-vertex Python loop.

Prints expressions (posed meshes) per second of each and the ratios.

    .venv/py311/bin/python benchmarks/bench_sampler.py [--groups 300] [--cache-dir DIR]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from model_core.dataset.ict import CROPS, load_ict
from model_core.dataset.remesh import DEFAULT_SIZES, TopologyBank, random_topology
from model_core.dataset.sampler import FaceSampler


class _RebuildBank(TopologyBank):
    """Looks like a bank but builds a fresh topology for every draw (the naive way)."""

    def __init__(self, ict, sizes, crops):  # noqa: D401 - no cache, nothing pre-built
        self.ict, self.sizes, self.crops = ict, tuple(sizes), tuple(crops)
        self.topologies = {c: [None] for c in crops}

    def sample(self, crop, rng):
        return random_topology(self.ict, crop, int(rng.choice(self.sizes)), rng)


def _loop_group(sampler: FaceSampler):
    """One group the naive way: ict.head per expression + per-vertex Python loop for the transfer."""
    rng = sampler._rng
    crop = sampler.crops[int(rng.choice(len(sampler.crops), p=sampler.crop_probs))]
    topo = sampler.bank.sample(crop, rng)
    c = sampler.sample_identity().astype(np.float64)
    out = []
    for _ in range(sampler.n_expr):
        w = sampler.sample_facs().astype(np.float64)
        v, _ = sampler.ict.head(c, w, crop=crop)
        p = np.empty((topo.n_verts, 3))
        for i in range(topo.n_verts):
            p[i] = (topo.bary[i, 0] * v[topo.corners[i, 0]] + topo.bary[i, 1] * v[topo.corners[i, 1]]
                    + topo.bary[i, 2] * v[topo.corners[i, 2]])
        out.append(p)
    return np.stack(out)


def _rate(fn, n):
    fn()  # warm-up
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - t)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=int, default=300, help="groups timed for the bank sampler")
    ap.add_argument("--baseline-groups", type=int, default=6, help="groups timed for each baseline")
    ap.add_argument("--n-expr", type=int, default=8)
    ap.add_argument("--cache-dir", default=None, help="bank cache folder (default ~/.cache/nfs_blender)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    ict = load_ict()
    crops = tuple(CROPS)
    t = time.perf_counter()
    bank = TopologyBank(ict, seed=args.seed, sizes=DEFAULT_SIZES, crops=crops, cache_dir=args.cache_dir)
    t_bank = time.perf_counter() - t
    sizes = [t_.n_verts for t_ in bank.all()]
    print(f"bank: {len(bank)} topologies, {min(sizes)}-{max(sizes)} vertices, "
          f"{'loaded from cache' if bank.loaded_from_cache else 'built'} in {t_bank:.2f} s ({bank.cache_path})")

    k = args.n_expr
    fast = FaceSampler(ict, None, seed=args.seed, bank=bank, n_expr=k)
    r_bank = _rate(fast.sample_group, args.groups) * k
    slow = FaceSampler(ict, None, seed=args.seed, bank=_RebuildBank(ict, DEFAULT_SIZES, crops), n_expr=k,
                       ict_topology_prob=0.0)
    r_rebuild = _rate(slow.sample_group, args.baseline_groups) * k
    loops = FaceSampler(ict, None, seed=args.seed, bank=bank, n_expr=k, ict_topology_prob=0.0)
    r_loops = _rate(lambda: _loop_group(loops), args.baseline_groups) * k

    print(f"expressions/s  bank sampler      : {r_bank:10.1f}   ({r_bank / k:.1f} groups/s, K={k})")
    print(f"expressions/s  rebuild per group : {r_rebuild:10.2f}   ratio bank/rebuild = {r_bank / r_rebuild:.0f}x")
    print(f"expressions/s  per-vertex loops  : {r_loops:10.2f}   ratio bank/loops   = {r_bank / r_loops:.0f}x")


if __name__ == "__main__":
    main()
