"""Rule make_table10: mean per-example reconstruction loss of the perturbed decompositions (Table 10).

The loss is the held-out one the coefficient rule records: squared Frobenius distance of the
unit-norm PEF (G-NPEFF: gradient outer product) to its reconstruction; GC: squared L2 distance of
the unit gradient to its centroid. Cells whose perturbation failed (KL ratio <= 1) are marked.
"""
from _common import start

start(snakemake)
from npeff import io  # noqa: E402
from npeff_workflow.registry import METHOD_TITLES, TASK_TITLES  # noqa: E402
from npeff_workflow.tables import fmt, read_perturbations, write_table  # noqa: E402

p = snakemake.params
rows = []
for entry, coef_path, perturb_path in zip(p.entries, snakemake.input.coefficients, snakemake.input.perturbations):
    losses = io.read_coefficients(coef_path)[0]["reconstruction_loss"]
    kl = read_perturbations(perturb_path)["kl_ratio"]
    rows.append({**entry, "recon_loss": float(losses.mean()), "kl_ratio": kl,
                 "perturbation_failed": kl is not None and kl <= 1.0})
tasks = list(dict.fromkeys(r["task"] for r in rows))
methods = list(dict.fromkeys(r["method"] for r in rows))
by_key = {(r["method"], r["task"]): r for r in rows}
header = ["Method"] + [TASK_TITLES.get(t, t) for t in tasks]


def cell(r):
    return fmt(r["recon_loss"], 2) + ("*" if r["perturbation_failed"] else "")


body = [[METHOD_TITLES.get(m, m)] + [cell(by_key[(m, t)]) for t in tasks] for m in methods]
caption = (f"Table 10: mean per-example held-out reconstruction loss of the decompositions perturbed in Table 2 "
           f"(* = perturbation failed, KL ratio <= 1); model {p.model_name}, config {p.config_name}")
write_table(snakemake.output, rows, header, body, caption, "tab:reconstruction")
