"""The diagnostics scripts that docs/model.md quotes (*What limits the decoder*) run on the committed weights
and measure what they say, at a size small enough for CI."""
from __future__ import annotations

import numpy as np

from script_loader import load_script

error_breakdown = load_script("error_breakdown")
size_predictability = load_script("size_predictability")


def test_error_breakdown_on_held_out_heads():
    r = error_breakdown.breakdown(identities=2, n_random=0, crop="narrow")
    size, rel, rel_amp, amp = r["per_id"].T
    # the model card's narrow crop: 9.8 % (3 identities with combinations); these two, single shapes: 10.0, 11.2 %
    assert np.all((rel > 0.09) & (rel < 0.125)), rel
    assert np.all(rel_amp <= rel + 0.005)                           # a least-squares amplitude cannot cost much
    assert np.all((amp > 0.8) & (amp < 1.2)) and np.all((size > 0.8) & (size < 1.25))
    assert r["err_v"].shape == r["mag_v"].shape == r["labels"].shape
    assert r["err_b"].shape == (53,)
    # shares by region add up to the whole
    e = sum(r["err_v"][r["labels"] == k].sum() for k in range(len(r["region_names"])))
    assert np.isclose(e, r["err_v"].sum())
    assert set(r["smooth"]) == set(error_breakdown.SMOOTH_STEPS)
    assert r["smooth"][8] > rel.mean()                             # the documented finding: smoothing hurts


def test_neighbour_average_keeps_constants_and_smooths_a_spike():
    faces = np.array([[0, 1, 2], [0, 2, 3], [0, 3, 4], [0, 4, 1]])
    step = error_breakdown.neighbour_average(5, faces)
    const = np.ones((1, 5, 3))
    assert np.allclose(step(const), const)
    spike = np.zeros((1, 5, 3))
    spike[0, 0] = 1.0
    out = step(spike)
    assert np.isclose(out[0, 0, 0], 0.5) and np.allclose(out[0, 1:, 0], 0.5 / 3)


def test_size_predictability_exact_correspondence_beats_the_spread():
    r = size_predictability.measure(n_train=60, n_test=20)
    assert 0.02 < r["std"] < 0.08
    assert all(np.isfinite(r[k]) and r[k] > 0 for k in ("pca", "moments", "depth"))
    assert r["pca"] < 0.8 * r["std"]
