"""Rule make_groundtruth: the ground-truth table (CSV / Markdown / LaTeX) and figure, means over seeds."""
import json
from pathlib import Path

import numpy as np
from _common import start

start(snakemake)
from npeff_workflow.figures import groundtruth_figure  # noqa: E402
from npeff_workflow.registry import GROUNDTRUTH_METHODS, METHOD_TITLES  # noqa: E402
from npeff_workflow.tables import fmt, latex_table, markdown_table, write_csv, write_text  # noqa: E402

SCORES = ("recovered_fraction", "mean_best_concentration", "mean_auc", "mean_polygenic_auc", "seconds")

runs = [json.loads(Path(p).read_text()) for p in snakemake.input]
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
write_csv(Path(snakemake.output.csv), rows)

header = ["Toy", "Method", "Recovered", "Per seed", "Best conc.", "AUC", "Polygenic AUC", "Seconds"]
body = [[f"{r['toy']} ({r['n_mechanisms']} mech., {r['n_params']} params)", METHOD_TITLES[r["method"]],
         fmt(100 * r["recovered_fraction"]) + ("" if np.isnan(r["recovered_fraction"]) else "%"),
         r["recovered_per_seed"], fmt(r["mean_best_concentration"], 3), fmt(r["mean_auc"], 3),
         fmt(r["mean_polygenic_auc"], 3), fmt(r["seconds"], 1)] for r in rows]
caption = ("Ground truth: share of mechanisms recovered (a component with >= 90% of its squared mass on the "
           "mechanism's parameters; per seed: count), the best component's mass concentration, and the ROC AUC of "
           "the best component's coefficient for the mechanism's feature being active (all examples; polygenic: "
           ">= 2 active features), means over mechanisms and seeds; SAE: attribution only (latent matched on half "
           f"the examples, scored on the other half); config {snakemake.params.config_name}")
write_text(Path(snakemake.output.md), markdown_table(header, body, caption))
write_text(Path(snakemake.output.tex), latex_table(header, body, caption, "tab:groundtruth"))
groundtruth_figure(rows, [METHOD_TITLES[m] for m in GROUNDTRUTH_METHODS], Path(snakemake.output.pdf),
                   Path(snakemake.output.png),
                   caption=f"Ground-truth benchmark, means over seeds; the SAE has no parameter-space components "
                           f"(no recovery bar); config {snakemake.params.config_name}")
print(markdown_table(header, body, caption))
