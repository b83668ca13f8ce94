"""Rule make_table2: geometric means over components of the KL and PEF-norm ratios (Table 2)."""
from _common import run_rule  # first: puts the repository on sys.path
from npeff_workflow.registry import METHOD_TITLES, TASK_TITLES
from npeff_workflow.tables import fmt, pivot, read_perturbations, write_table


def main(*, perturbations, outputs, entries, top_k, magnitude, model_name, config_name):
    """perturbations: the perturb rule's CSVs; entries: the method and task of each."""
    rows = [{**entry, **read_perturbations(path)} for entry, path in zip(entries, perturbations)]
    methods, tasks, by_key = pivot(rows)
    header = ["Method"] + [f"{TASK_TITLES.get(t, t)} {col}" for t in tasks for col in ("KL", "Norm")]
    body = [[METHOD_TITLES.get(m, m)] + [fmt(by_key[(m, t)][k], 2) if (m, t) in by_key else "–"
                                         for t in tasks for k in ("kl_ratio", "norm_ratio")] for m in methods]
    caption = (f"Table 2: perturbation results, geometric means over components of the ratio of mean "
               f"KL(perturbed || original) on each component's top {top_k} held-in examples (the decomposition's "
               "own, as the paper) to the mean over a "
               f"random held-in baseline set less the component's own top examples (sizes in table2.csv; "
               "kl_ratio_with_top keeps them, as a pool of a few hundred makes them a large share of the baseline), "
               "keeping the larger of the two signs, and the same "
               f"ratio of PEF norms; "
               f"L2 magnitude {magnitude}; model {model_name}, config {config_name}")
    write_table(outputs, rows, header, body, caption, "tab:perturbations")


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
