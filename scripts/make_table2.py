"""Rule make_table2: geometric means over components of the KL and PEF-norm ratios (Table 2)."""
from pathlib import Path

from _common import start

start(snakemake)
from npeff_workflow.registry import METHOD_TITLES, TASK_TITLES  # noqa: E402
from npeff_workflow.tables import (fmt, latex_table, markdown_table, read_perturbations, write_csv,  # noqa: E402
                                   write_text)


rows = [{**entry, **read_perturbations(path)}
        for entry, path in zip(snakemake.params.entries, snakemake.input.perturbations)]
write_csv(Path(snakemake.output.csv), rows)

tasks = list(dict.fromkeys(r["task"] for r in rows))
methods = list(dict.fromkeys(r["method"] for r in rows))
by_key = {(r["method"], r["task"]): r for r in rows}
header = ["Method"] + [f"{TASK_TITLES.get(t, t)} {col}" for t in tasks for col in ("KL", "Norm")]
body = [[METHOD_TITLES.get(m, m)] + [fmt(by_key[(m, t)][k], 2) if (m, t) in by_key else "–"
                                     for t in tasks for k in ("kl_ratio", "norm_ratio")] for m in methods]
s = snakemake.params
caption = (f"Table 2: perturbation results, geometric means over components of the ratio of mean "
           f"KL(perturbed || original) on each component's top {s.top_k} held-in examples (the decomposition's own, as the paper) to the mean over a "
           f"random held-in baseline set (sizes in table2.csv), keeping the larger of the two signs, and the same "
           f"ratio of PEF norms; "
           f"L2 magnitude {s.magnitude}; model {s.model_name}, config {s.config_name}")
write_text(Path(snakemake.output.md), markdown_table(header, body, caption))
write_text(Path(snakemake.output.tex), latex_table(header, body, caption, "tab:perturbations"))
print(markdown_table(header, body, caption))
