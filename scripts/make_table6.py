"""Rule make_table6: tunings and perturbation ratios of NPEFF decompositions with other seeds (Table 6)."""

from _common import run_rule  # first: puts the repository on sys.path
from npeff.analysis.tunings import read_tunings, tuning_percentages
from npeff_workflow.registry import TASK_TITLES
from npeff_workflow.tables import fmt, read_perturbations, write_table


def main(*, tunings, perturbations, outputs, seeds, task, model_name, config_name):
    rows = []
    for seed, tunings_path, perturb_path in zip(seeds, tunings, perturbations):
        perturbed = read_perturbations(perturb_path)
        rows.append({"seed": seed, **tuning_percentages(read_tunings(tunings_path)),
                     "n_perturbed": perturbed["n_components"],
                     "kl_ratio": perturbed["kl_ratio"], "norm_ratio": perturbed["norm_ratio"]})
    header = ["Seed", "Pred", "LnP", "KL", "Norm"]
    body = [[str(r["seed"]), fmt(r["pred_pct"]), fmt(r["lnp_pct"]), fmt(r["kl_ratio"], 2), fmt(r["norm_ratio"], 2)]
            for r in rows]
    caption = (f"Table 6: held-out tunings (%) and perturbation ratios (geometric means over components) for "
               f"{TASK_TITLES.get(task, task)} as the NPEFF decomposition's seed varies; "
               f"model {model_name}, config {config_name}")
    write_table(outputs, rows, header, body, caption, "tab:seeds")


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
