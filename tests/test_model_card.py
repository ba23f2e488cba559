"""The committed weights reproduce the model card's evaluation (within 0.1 %; measured: 3e-6 relative).

CI re-runs both recorded commands and compares every number: one held-out identity and 5 random combinations
(docs/model_card_eval_quick.json), and the card's and README's full table (docs/model_card_eval.json: 3 identities,
15 combinations, ~80 s), both written by ``python -m model_core.evaluation.evaluate --json`` from the committed
weights.
"""
import json
from pathlib import Path

import pytest

from model_core.evaluation.evaluate import evaluate

DOCS = Path(__file__).resolve().parent.parent / "docs"
KEYS = ("rel", "rel_moving", "e2e", "rig", "rig_active", "rig_enc", "seg", "nearest", "mean_mm", "p95_mm")


def reproduce(card_json: Path) -> list[dict]:
    """Re-run the evaluation command a card JSON records and check every number of every row (within 0.1 %)."""
    card = json.loads(card_json.read_text())
    cmd = card["command"]
    rows = evaluate(cmd["weights"], cmd["identities"], cmd["random"], cmd["seed"], verbose=False)
    assert [r["case"] for r in rows] == [r["case"] for r in card["rows"]]
    for got, want in zip(rows, card["rows"]):
        for key in KEYS:
            assert got[key] == pytest.approx(want[key], rel=1e-3), (got["case"], key)
    return rows


def test_committed_weights_reproduce_model_card():
    reproduce(DOCS / "model_card_eval_quick.json")


def test_full_card_table_and_the_readme_claims_against_nearest():
    # the README's accuracy table is this command's (3 held-out identities, 15 random combinations; ~80 s): every
    # number is reproduced, and the model is below nearest-point transfer on every row by what the README says:
    # 34-40 % on ICT's own topology, the 2k decimation and the narrow crop, 11-18 % on the dense remeshed heads
    # (nfs_v4: 7.6 % on the Voronoi full head), 40 % on the face mask
    rows = reproduce(DOCS / "model_card_eval.json")
    gain = {r["case"]: r["rel"] / r["nearest"] - 1.0 for r in rows}
    for case, g in gain.items():
        dense = case.startswith(("voronoi", "subdiv"))
        assert g <= (-0.075 if dense else -0.33), (case, g)


@pytest.mark.torch
def test_the_card_is_what_make_model_card_writes(tmp_path):
    # docs/model_card.md is generated (scripts/make_model_card.py: the run, the weights' json, the evaluation JSON
    # and docs/model_card_notes.md); a hand edit of the card alone is lost at the next generation (the tilt tables of
    # session 26 were, until the notes file took them in session 27)
    import sys
    sys.path.insert(0, str(DOCS.parent / "scripts"))
    import make_model_card
    out = tmp_path / "card.md"
    assert make_model_card.main(["--run", "training_runs/w2", "--weights", "model_core/weights/nfs_v5",
                                 "--out", str(out)]) == 0
    assert out.read_text() == (DOCS / "model_card.md").read_text()
