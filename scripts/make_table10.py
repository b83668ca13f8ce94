"""Rule make_table10: mean per-example reconstruction loss of the perturbed decompositions (Table 10).

The loss is the held-out one the coefficient rule records: squared Frobenius distance of the
unit-norm PEF (G-NPEFF: gradient outer product) to its reconstruction; GC: squared L2 distance of
the unit gradient to its centroid. Cells whose perturbation failed (KL ratio <= 1) are marked.
"""

from _common import run_rule  # first: puts the repository on sys.path
from npeff import io
from npeff_workflow.registry import METHOD_TITLES, TASK_TITLES
from npeff_workflow.tables import fmt, pivot, read_perturbations, write_table


def main(*, coefficients, perturbations, outputs, entries, model_name, config_name):
    rows = []
    for entry, coef_path, perturb_path in zip(entries, coefficients, perturbations):
        losses = io.read_coefficients(coef_path)[0]["reconstruction_loss"]
        kl = read_perturbations(perturb_path)["kl_ratio"]
        rows.append({**entry, "recon_loss": float(losses.mean()), "kl_ratio": kl,
                     "perturbation_failed": kl is not None and kl <= 1.0})
    methods, tasks, by_key = pivot(rows)
    header = ["Method"] + [TASK_TITLES.get(t, t) for t in tasks]

    def cell(r):
        return fmt(r["recon_loss"], 2) + ("*" if r["perturbation_failed"] else "")

    body = [[METHOD_TITLES.get(m, m)] + [cell(by_key[(m, t)]) for t in tasks] for m in methods]
    caption = (f"Table 10: mean per-example held-out reconstruction loss of the decompositions perturbed in Table 2 "
               f"(* = perturbation failed, KL ratio <= 1); model {model_name}, config {config_name}")
    write_table(outputs, rows, header, body, caption, "tab:reconstruction")


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
