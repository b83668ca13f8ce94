"""Rule make_table6: tunings and perturbation ratios of NPEFF decompositions with other seeds (Table 6)."""
import csv

from _common import start

start(snakemake)
from npeff.analysis.tunings import read_tunings, tuning_percentages  # noqa: E402
from npeff.paper.tables import TASK_TITLES, fmt, geometric_mean, write_table  # noqa: E402

p = snakemake.params
rows = []
for seed, tunings, perturb_path in zip(p.seeds, snakemake.input.tunings, snakemake.input.perturbations):
    with open(perturb_path) as f:
        components = list(csv.DictReader(f))
    rows.append({"seed": seed, **tuning_percentages(read_tunings(tunings)), "n_perturbed": len(components),
                 "kl_ratio": geometric_mean(float(c["kl_ratio"]) for c in components),
                 "norm_ratio": geometric_mean(float(c["norm_ratio"]) for c in components)})
header = ["Seed", "Pred", "LnP", "KL", "Norm"]
body = [[str(r["seed"]), fmt(r["pred_pct"]), fmt(r["lnp_pct"]), fmt(r["kl_ratio"], 2), fmt(r["norm_ratio"], 2)]
        for r in rows]
caption = (f"Table 6: held-out tunings (%) and perturbation ratios (geometric means over components) for "
           f"{TASK_TITLES.get(p.task, p.task)} as the NPEFF decomposition's seed varies; "
           f"model {p.model_name}, config {p.config_name}")
write_table(snakemake.output, rows, header, body, caption, "tab:seeds")
