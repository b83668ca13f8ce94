"""Rule make_table5: held-in / held-out reconstruction losses and held-out tunings as the number of
NPEFF components varies (Table 5)."""
import json
from pathlib import Path

from _common import run_rule  # first: puts the repository on sys.path
from npeff import io
from npeff.analysis.tunings import read_tunings, tuning_percentages
from npeff_workflow.registry import TASK_TITLES
from npeff_workflow.tables import fmt, write_table


def main(*, tunings, heldin_losses, coefficients, outputs, entries, model_name, config_name):
    """heldin_losses: the heldin_reconstruction rule's JSON of each decomposition."""
    rows = []
    for entry, tunings_path, heldin_path, coef_path in zip(entries, tunings, heldin_losses, coefficients):
        loss_in = json.loads(Path(heldin_path).read_text())["mean_loss"]
        loss_out = io.read_coefficients(coef_path)[0]["reconstruction_loss"]
        rows.append({**entry, "recon_in": loss_in, "recon_out": float(loss_out.mean()),
                     **tuning_percentages(read_tunings(tunings_path))})

    tasks = list(dict.fromkeys(r["task"] for r in rows))
    counts = sorted({r["n_components"] for r in rows})
    by_key = {(r["task"], r["n_components"]): r for r in rows}
    columns = [("recon_in", "Recon-In", 2), ("recon_out", "Recon-Out", 2), ("pred_pct", "Pred", 1),
               ("lnp_pct", "LnP", 1)]
    header = ["Components"] + [f"{TASK_TITLES.get(t, t)} {title}" for t in tasks for _, title, _ in columns]
    body = [[str(c)] + [fmt(by_key[(t, c)][key], digits) if (t, c) in by_key else "–"
                        for t in tasks for key, _, digits in columns] for c in counts]
    caption = ("Table 5: mean per-example reconstruction loss of the unit-norm PEFs on the held-in examples "
               "(the decomposition's) and the held-out examples (coefficients fitted with H frozen), and held-out "
               f"tunings (%) as the number of NPEFF components varies; model {model_name}, config {config_name}")
    write_table(outputs, rows, header, body, caption, "tab:n-components")


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
