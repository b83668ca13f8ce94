"""Rule make_table3: the coefficient-based label classifier against zero-shot and k-shot ICL (Table 3).

The classifier's W is built from held-in top examples (the decomposition's own
examples) and evaluated on held-out examples, so no held-out label is used to build it.
"""
import csv

import numpy as np

from _common import run_rule  # first: puts the repository on sys.path
from npeff import io
from npeff.analysis.icl import classify, label_classifier, percent_equal
from npeff.data import read_jsonl
from npeff_workflow.registry import METHOD_TITLES
from npeff_workflow.tables import fmt, write_table


def main(*, heldin, pefs, icl, decompositions, coefficients, outputs, methods, top_k, threshold, min_coefficient,
         n_shots, config_name):
    """icl: the ICL rule's predictions CSV; decompositions / coefficients: one per method."""
    heldin_labels = np.array([ex["label"] for ex in read_jsonl(heldin)])
    signals, attrs = io.read_pefs(pefs)
    labels, zero_shot = signals["labels"], signals["preds"]
    with open(icl) as f:
        icl_rows = list(csv.DictReader(f))
    if [r["id"] for r in icl_rows] != list(signals["ids"]):
        raise ValueError(f"{icl} and {pefs} list different examples")
    icl_preds = np.array([int(r["icl_pred"]) for r in icl_rows])
    n_labels = len(attrs["label_names"])

    rows = [{"method": "zero_shot", "accuracy": percent_equal(zero_shot, labels), "similarity_zero_shot": 100.0,
             "similarity_icl": percent_equal(zero_shot, icl_preds)},
            {"method": "icl", "accuracy": percent_equal(icl_preds, labels),
             "similarity_zero_shot": percent_equal(icl_preds, zero_shot), "similarity_icl": 100.0}]
    for method, dec_path, coef_path in zip(methods, decompositions, coefficients):
        heldin_scores = io.read_decomposition(dec_path)[0]["W"]
        heldout_scores = io.read_coefficients(coef_path)[0]["W"]
        if method == "gc":  # one-hot cluster membership in place of coefficients
            heldout_scores = (heldout_scores > 0).astype(np.float32)
        W = label_classifier(heldin_scores, heldin_labels, n_labels, top_k=top_k, threshold=threshold,
                             min_coefficient=min_coefficient)
        preds, no_evidence = classify(W, heldout_scores)
        rows.append({"method": method, "accuracy": percent_equal(preds, labels),
                     "similarity_zero_shot": percent_equal(preds, zero_shot),
                     "similarity_icl": percent_equal(preds, icl_preds),
                     "n_label_tuned_components": int(W.sum()), "n_without_evidence": no_evidence})
    for r in rows:
        r.setdefault("n_label_tuned_components", None)
        r.setdefault("n_without_evidence", None)
        r["n_examples"] = len(labels)

    titles = {"zero_shot": "Zero-shot model", "icl": f"{n_shots}-shot ICL model", **METHOD_TITLES}
    caption = (f"Table 3: accuracy of the coefficient-based label classifier on {len(labels)} held-out "
               f"{attrs['stands_in_for'] or attrs['dataset']} examples ({attrs['dataset']}), and its agreement "
               f"(% identical predictions) with the zero-shot and {n_shots}-shot ICL model; model {attrs['model']}, "
               f"config {config_name}")
    header = ["Method", "Accuracy", "Similarity Zero-Shot", "Similarity ICL"]
    body = [[titles.get(r["method"], r["method"]), fmt(r["accuracy"]), fmt(r["similarity_zero_shot"]),
             fmt(r["similarity_icl"])] for r in rows]
    write_table(outputs, rows, header, body, caption, "tab:icl")


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
