"""Tunings (Section 3.1) on a hand-built example, and the CSV round trip."""
import numpy as np

from itertools import combinations

import pytest

from npeff.analysis.tunings import (component_tunings, random_majority_share, read_tunings, top_examples,
                                    tuning_percentages)
from npeff_workflow.tables import write_csv


def test_tunings_by_hand(tmp_path):
    # 6 examples, 3 components, top k = 2
    W = np.array([[0.9, 0.0, 0.1], [0.8, 0.0, 0.0], [0.1, 0.7, 0.0], [0.0, 0.6, 0.0], [0.0, 0.0, 0.0], [0.2, 0.0, 0.0]])
    preds = np.array([1, 1, 0, 1, 0, 0])
    labels = np.array([1, 1, 0, 0, 0, 0])
    assert [list(t) if t is not None else None for t in top_examples(W, k=2)] == [[0, 1], [2, 3], None]
    rows = component_tunings(W, preds, labels, k=2)
    # component 0: top (0, 1) share prediction 1 -> prediction-tuned
    assert rows[0] == {"component": 0, "n_active": 4, "eligible": True, "pred_tuned": True, "label_tuned": True,
                       "lnp_tuned": False, "pred_majority_share": 1.0}
    # component 1: top (2, 3) predictions 0, 1 differ, labels 0, 0 agree -> LnP-tuned
    assert rows[1]["pred_tuned"] is False and rows[1]["label_tuned"] is True and rows[1]["lnp_tuned"] is True
    assert rows[1]["pred_majority_share"] == 0.5
    # component 2: one active example, fewer than k -> excluded
    assert rows[2] == {"component": 2, "n_active": 1, "eligible": False, "pred_tuned": None, "label_tuned": None,
                       "lnp_tuned": None, "pred_majority_share": None}
    assert tuning_percentages(rows) == {"pred_pct": 50.0, "lnp_pct": 50.0, "pred_majority_share": 0.75,
                                        "n_eligible": 2, "n_components": 3}
    write_csv(tmp_path / "t.csv", rows)
    assert read_tunings(tmp_path / "t.csv") == rows


def test_open_vocabulary_tasks_have_no_label_tunings():
    W = np.array([[1.0], [0.5]])
    rows = component_tunings(W, np.array([3, 3]), np.array([-1, -1]), k=2)
    assert rows[0]["pred_tuned"] is True and rows[0]["lnp_tuned"] is None
    assert tuning_percentages(rows)["lnp_pct"] is None


def test_random_majority_share_matches_enumeration():
    # every 4-subset of 9 predictions (counts 5, 3, 1), each equally likely
    preds = np.array([0, 0, 0, 0, 0, 1, 1, 1, 2])
    exact = np.mean([np.bincount(preds[list(c)]).max() / 4 for c in combinations(range(9), 4)])
    assert random_majority_share(preds, k=4, n_draws=40000) == pytest.approx(exact, abs=0.005)
    assert random_majority_share(np.zeros(20, int), k=4) == 1.0  # one prediction: always pure
    assert np.isnan(random_majority_share(preds, k=10))  # fewer examples than k


def test_majority_share_separates_components_that_follow_predictions():
    # 200 examples, predictions 0/1 half each; component 0 loads on prediction-1 examples
    # (12 of its top 16), component 1 on random examples
    rng = np.random.default_rng(0)
    preds = np.repeat([0, 1], 100)
    W = rng.random((200, 2)) * 0.1
    W[rng.choice(np.flatnonzero(preds == 1), 12, replace=False), 0] += 1.0
    W[rng.choice(np.flatnonzero(preds == 0), 4, replace=False), 0] += 1.0
    rows = component_tunings(W, preds, None, k=16)
    assert rows[0]["pred_majority_share"] == 0.75 and rows[0]["pred_tuned"] is False
    assert rows[1]["pred_majority_share"] < 0.75
    assert random_majority_share(preds, k=16) == pytest.approx(0.6, abs=0.03)  # E max(Hyp) / 16
