"""Component tunings (paper Section 3.1, "Verifying polygenicity").

A component's top examples are the examples with the largest coefficients
(only examples whose coefficient exceeds `min_coefficient` count). A component
with fewer than k such examples is excluded. Otherwise it is
  prediction-tuned  if all of its top k examples share the model's prediction;
  label-tuned       if they all share the ground-truth label;
  LnP-tuned         if label-tuned but not prediction-tuned.
Beyond the paper, a graded measure: the share of the top k examples that hold the most common
prediction among them. Purity (share 1) is rare by chance in a small pool, so a 0 in Table 1
says little alone; the share set against the same measure on random draws
(`random_majority_share`) says whether components follow predictions at all.
"""
from __future__ import annotations

import numpy as np


def top_examples(scores: np.ndarray, k: int = 16, min_coefficient: float = 0.0) -> list[np.ndarray | None]:
    """For each column of scores [m, C]: indices of its k largest entries (descending), or
    None when fewer than k entries exceed min_coefficient."""
    tops = []
    for c in range(scores.shape[1]):
        column = scores[:, c]
        active = np.flatnonzero(column > min_coefficient)
        if active.size < k:
            tops.append(None)
            continue
        order = active[np.argsort(-column[active], kind="stable")]
        tops.append(order[:k])
    return tops


def component_tunings(scores: np.ndarray, preds: np.ndarray, labels: np.ndarray | None, k: int = 16,
                      min_coefficient: float = 0.0) -> list[dict]:
    """One row per component: n_active, eligible, pred_tuned, label_tuned, lnp_tuned and
    pred_majority_share (the share of the top k examples holding their most common prediction).

    labels None (or all -1) means an open-vocabulary task: label columns are None.
    """
    has_labels = labels is not None and bool((np.asarray(labels) >= 0).any())
    rows = []
    for c, top in enumerate(top_examples(scores, k, min_coefficient)):
        row = {"component": c, "n_active": int((scores[:, c] > min_coefficient).sum()), "eligible": top is not None,
               "pred_tuned": None, "label_tuned": None, "lnp_tuned": None, "pred_majority_share": None}
        if top is not None:
            row["pred_tuned"] = bool(np.all(preds[top] == preds[top[0]]))
            row["pred_majority_share"] = _majority_share(preds[top])
            if has_labels:
                row["label_tuned"] = bool(np.all(labels[top] == labels[top[0]]))
                row["lnp_tuned"] = row["label_tuned"] and not row["pred_tuned"]
        rows.append(row)
    return rows


def tuning_percentages(rows: list[dict]) -> dict:
    """Percent of eligible components that are prediction- and LnP-tuned (None without labels), and
    their mean pred_majority_share."""
    eligible = [r for r in rows if r["eligible"]]
    n = len(eligible)
    pred = 100.0 * sum(r["pred_tuned"] for r in eligible) / n if n else float("nan")
    if eligible and eligible[0]["lnp_tuned"] is None:
        lnp = None
    else:
        lnp = 100.0 * sum(r["lnp_tuned"] for r in eligible) / n if n else float("nan")
    shares = [r.get("pred_majority_share") for r in eligible]  # absent from tunings written before it
    share = float(np.mean(shares)) if n and None not in shares else float("nan")
    return {"pred_pct": pred, "lnp_pct": lnp, "pred_majority_share": share, "n_eligible": n,
            "n_components": len(rows)}


def read_tunings(path) -> list[dict]:
    """The rows component_tunings wrote to CSV, with their types back (int, bool, None)."""
    import csv

    def value(key, text):
        if text == "":
            return None
        if text in ("True", "False"):
            return text == "True"
        if key == "pred_majority_share":
            return float(text)
        return int(text) if key in ("component", "n_active") else text

    with open(path) as f:
        return [{k: value(k, v) for k, v in row.items()} for row in csv.DictReader(f)]


def purity_chance(values: np.ndarray, k: int = 16) -> float:
    """The chance that k examples drawn at random without replacement all share one value
    (a prediction or a label): sum over values v of C(n_v, k) / C(m, k).

    A tuning count is only informative when this is small: a component of k random examples
    would be prediction-tuned with this probability."""
    from math import comb

    values = np.asarray(values)
    values = values[values >= 0] if np.issubdtype(values.dtype, np.integer) else values
    m = len(values)
    if m < k:
        return float("nan")
    counts = np.unique(values, return_counts=True)[1]
    return float(sum(comb(int(n), k) for n in counts) / comb(m, k))


def _majority_share(values: np.ndarray) -> float:
    """The share of `values` equal to their most common value."""
    return float(np.unique(values, return_counts=True)[1].max() / len(values))


def random_majority_share(values: np.ndarray, k: int = 16, n_draws: int = 4000, seed: int = 0) -> float:
    """The expected majority share of k examples drawn at random without replacement: what
    pred_majority_share would be for components blind to the predictions (seeded Monte Carlo, so
    a pool always gives the same number; about 0.002 standard error at the default draws)."""
    values = np.asarray(values)
    if len(values) < k:
        return float("nan")
    counts = np.unique(values, return_counts=True)[1]
    draws = np.random.default_rng(seed).multivariate_hypergeometric(counts, k, size=n_draws)  # [n_draws, n_values]
    return float(draws.max(1).mean() / k)
