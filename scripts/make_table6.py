"""Rule make_table6: tunings and perturbation ratios of NPEFF decompositions with other seeds (Table 6)."""
from _common import start

start(snakemake)
from npeff.analysis.tunings import read_tunings, tuning_percentages  # noqa: E402
from npeff_workflow.registry import TASK_TITLES  # noqa: E402
from npeff_workflow.tables import fmt, read_perturbations, write_table  # noqa: E402

p = snakemake.params
rows = []
for seed, tunings, perturb_path in zip(p.seeds, snakemake.input.tunings, snakemake.input.perturbations):
    perturbed = read_perturbations(perturb_path)
    rows.append({"seed": seed, **tuning_percentages(read_tunings(tunings)), "n_perturbed": perturbed["n_components"],
                 "kl_ratio": perturbed["kl_ratio"], "norm_ratio": perturbed["norm_ratio"]})
header = ["Seed", "Pred", "LnP", "KL", "Norm"]
body = [[str(r["seed"]), fmt(r["pred_pct"]), fmt(r["lnp_pct"]), fmt(r["kl_ratio"], 2), fmt(r["norm_ratio"], 2)]
        for r in rows]
caption = (f"Table 6: held-out tunings (%) and perturbation ratios (geometric means over components) for "
           f"{TASK_TITLES.get(p.task, p.task)} as the NPEFF decomposition's seed varies; "
           f"model {p.model_name}, config {p.config_name}")
write_table(snakemake.output, rows, header, body, caption, "tab:seeds")
