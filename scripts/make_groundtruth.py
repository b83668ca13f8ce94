"""Rule make_groundtruth: the ground-truth table (CSV / Markdown / LaTeX) and figure, means over seeds."""
import json
from pathlib import Path

import numpy as np

from _common import run_rule  # first: puts the repository on sys.path
from npeff_workflow.figures import groundtruth_figure
from npeff_workflow.registry import GROUNDTRUTH_METHODS, METHOD_TITLES
from npeff_workflow.tables import fmt, write_table


def main(*, inputs, outputs, config_name):
    SCORES = ("recovered_fraction", "mean_best_concentration", "mean_auc", "mean_polygenic_auc", "seconds")

    runs = [json.loads(Path(p).read_text()) for p in inputs]
    toys = list(dict.fromkeys(r["toy"] for r in runs))
    rows = []
    for toy in toys:
        seeds = [r for r in runs if r["toy"] == toy]
        for method in GROUNDTRUTH_METHODS:
            per_seed = [r["methods"][method] for r in seeds]
            row = {"toy": toy, "model": seeds[0]["model"], "n_params": seeds[0]["n_params"],
                   "n_mechanisms": seeds[0]["n_mechanisms"], "n_examples": seeds[0]["n_examples"], "method": method,
                   "n_seeds": len(seeds)}
            for key in SCORES:
                values = [s[key] for s in per_seed]
                row[key] = float("nan") if all(np.isnan(values)) else float(np.nanmean(values))
            row["recovered_per_seed"] = " ".join("–" if np.isnan(s["recovered_fraction"]) else
                                                 f"{round(s['recovered_fraction'] * seeds[0]['n_mechanisms'])}"
                                                 for s in per_seed)
            rows.append(row)

    header = ["Toy", "Method", "Recovered", "Per seed", "Best conc.", "AUC", "Polygenic AUC", "Seconds"]
    body = [[f"{r['toy']} ({r['n_mechanisms']} mech., {r['n_params']} params)", METHOD_TITLES[r["method"]],
             fmt(100 * r["recovered_fraction"]) + ("" if np.isnan(r["recovered_fraction"]) else "%"),
             r["recovered_per_seed"], fmt(r["mean_best_concentration"], 3), fmt(r["mean_auc"], 3),
             fmt(r["mean_polygenic_auc"], 3), fmt(r["seconds"], 1)] for r in rows]
    caption = ("Ground truth: share of mechanisms recovered (a component with >= 90% of its squared mass on the "
               "mechanism's parameters; per seed: count), the best component's mass concentration, and the ROC AUC of "
               "the best component's coefficient for the mechanism's feature being active (all examples; polygenic: "
               ">= 2 active features), means over mechanisms and seeds; SAE: attribution only (latent matched on half "
               f"the examples, scored on the other half); config {config_name}")
    write_table(outputs, rows, header, body, caption, "tab:groundtruth")
    groundtruth_figure(rows, [METHOD_TITLES[m] for m in GROUNDTRUTH_METHODS], Path(outputs.pdf),
                       Path(outputs.png),
                       caption=f"Ground-truth benchmark, means over seeds; the SAE has no parameter-space components "
                               f"(no recovery bar); config {config_name}")


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
