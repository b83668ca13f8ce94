"""Rule make_table3: the coefficient-based label classifier against zero-shot and k-shot ICL (Table 3).

The classifier's W is built from held-in top examples (the decomposition's own
examples) and evaluated on held-out examples, so no held-out label is used to build it.
"""
import csv
from pathlib import Path

import numpy as np
from _common import start

start(snakemake)
from npeff import io  # noqa: E402
from npeff.analysis.icl import classify, label_classifier, percent_equal  # noqa: E402
from npeff.data import read_jsonl  # noqa: E402
from npeff_workflow.registry import METHOD_TITLES  # noqa: E402
from npeff_workflow.tables import fmt, latex_table, markdown_table, write_csv, write_text  # noqa: E402

p = snakemake.params
heldin_labels = np.array([ex["label"] for ex in read_jsonl(snakemake.input.heldin)])
signals, attrs = io.read_pefs(snakemake.input.pefs)
labels, zero_shot = signals["labels"], signals["preds"]
with open(snakemake.input.icl) as f:
    icl_rows = list(csv.DictReader(f))
if [r["id"] for r in icl_rows] != list(signals["ids"]):
    raise ValueError(f"{snakemake.input.icl} and {snakemake.input.pefs} list different examples")
icl = np.array([int(r["icl_pred"]) for r in icl_rows])
n_labels = len(attrs["label_names"])

rows = [{"method": "zero_shot", "accuracy": percent_equal(zero_shot, labels), "similarity_zero_shot": 100.0,
         "similarity_icl": percent_equal(zero_shot, icl)},
        {"method": "icl", "accuracy": percent_equal(icl, labels), "similarity_zero_shot": percent_equal(icl, zero_shot),
         "similarity_icl": 100.0}]
for method, dec_path, coef_path in zip(p.methods, snakemake.input.decompositions, snakemake.input.coefficients):
    heldin_scores = io.read_decomposition(dec_path)[0]["W"]
    heldout_scores = io.read_coefficients(coef_path)[0]["W"]
    if method == "gc":  # one-hot cluster membership in place of coefficients
        heldout_scores = (heldout_scores > 0).astype(np.float32)
    W = label_classifier(heldin_scores, heldin_labels, n_labels, top_k=p.top_k, threshold=p.threshold,
                         min_coefficient=p.min_coefficient)
    preds, no_evidence = classify(W, heldout_scores)
    rows.append({"method": method, "accuracy": percent_equal(preds, labels),
                 "similarity_zero_shot": percent_equal(preds, zero_shot), "similarity_icl": percent_equal(preds, icl),
                 "n_label_tuned_components": int(W.sum()), "n_without_evidence": no_evidence})
for r in rows:
    r.setdefault("n_label_tuned_components", None)
    r.setdefault("n_without_evidence", None)
    r["n_examples"] = len(labels)
write_csv(Path(snakemake.output.csv), rows)

titles = {"zero_shot": "Zero-shot model", "icl": f"{p.n_shots}-shot ICL model", **METHOD_TITLES}
caption = (f"Table 3: accuracy of the coefficient-based label classifier on {len(labels)} held-out "
           f"{attrs['stands_in_for'] or attrs['dataset']} examples ({attrs['dataset']}), and its agreement "
           f"(% identical predictions) with the zero-shot and {p.n_shots}-shot ICL model; model {attrs['model']}, "
           f"config {p.config_name}")
header = ["Method", "Accuracy", "Similarity Zero-Shot", "Similarity ICL"]
body = [[titles.get(r["method"], r["method"]), fmt(r["accuracy"]), fmt(r["similarity_zero_shot"]),
         fmt(r["similarity_icl"])] for r in rows]
write_text(Path(snakemake.output.md), markdown_table(header, body, caption))
write_text(Path(snakemake.output.tex), latex_table(header, body, caption, "tab:icl"))
print(markdown_table(header, body, caption))
