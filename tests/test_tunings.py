"""Tunings (Section 3.1) on a hand-built example, and the CSV round trip."""
import numpy as np

from npeff.analysis.tunings import component_tunings, read_tunings, top_examples, tuning_percentages
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
                       "lnp_tuned": False}
    # component 1: top (2, 3) predictions 0, 1 differ, labels 0, 0 agree -> LnP-tuned
    assert rows[1]["pred_tuned"] is False and rows[1]["label_tuned"] is True and rows[1]["lnp_tuned"] is True
    # component 2: one active example, fewer than k -> excluded
    assert rows[2] == {"component": 2, "n_active": 1, "eligible": False, "pred_tuned": None, "label_tuned": None,
                       "lnp_tuned": None}
    assert tuning_percentages(rows) == {"pred_pct": 50.0, "lnp_pct": 50.0, "n_eligible": 2, "n_components": 3}
    write_csv(tmp_path / "t.csv", rows)
    assert read_tunings(tmp_path / "t.csv") == rows


def test_open_vocabulary_tasks_have_no_label_tunings():
    W = np.array([[1.0], [0.5]])
    rows = component_tunings(W, np.array([3, 3]), np.array([-1, -1]), k=2)
    assert rows[0]["pred_tuned"] is True and rows[0]["lnp_tuned"] is None
    assert tuning_percentages(rows)["lnp_pct"] is None
