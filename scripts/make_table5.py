"""Rule make_table5: held-in / held-out reconstruction losses and held-out tunings as the number of
NPEFF components varies (Table 5)."""
import torch
from _common import start

device = start(snakemake)
from npeff import io  # noqa: E402
from npeff.analysis.tunings import read_tunings, tuning_percentages  # noqa: E402
from npeff.decompose import reconstruction_losses  # noqa: E402
from npeff_workflow.registry import TASK_TITLES  # noqa: E402
from npeff_workflow.tables import fmt, write_table  # noqa: E402

p, inp = snakemake.params, snakemake.input
heldin_G = {path: torch.from_numpy(io.read_pefs(path)[0]["G"]) for path in set(inp.heldin)}  # once per task
rows = []
for entry, tunings, dec_path, coef_path, heldin_path in zip(p.entries, inp.tunings, inp.decompositions,
                                                            inp.coefficients, inp.heldin):
    decomposition, _ = io.read_decomposition(dec_path)
    loss_in = reconstruction_losses(heldin_G[heldin_path], torch.from_numpy(decomposition["W"]),
                                    torch.from_numpy(decomposition["H"]), device=device)
    loss_out = io.read_coefficients(coef_path)[0]["reconstruction_loss"]
    rows.append({**entry, "recon_in": float(loss_in.mean()), "recon_out": float(loss_out.mean()),
                 **tuning_percentages(read_tunings(tunings))})

tasks = list(dict.fromkeys(r["task"] for r in rows))
counts = sorted({r["n_components"] for r in rows})
by_key = {(r["task"], r["n_components"]): r for r in rows}
columns = [("recon_in", "Recon-In", 2), ("recon_out", "Recon-Out", 2), ("pred_pct", "Pred", 1), ("lnp_pct", "LnP", 1)]
header = ["Components"] + [f"{TASK_TITLES.get(t, t)} {title}" for t in tasks for _, title, _ in columns]
body = [[str(c)] + [fmt(by_key[(t, c)][key], digits) if (t, c) in by_key else "–"
                    for t in tasks for key, _, digits in columns] for c in counts]
caption = ("Table 5: mean per-example reconstruction loss of the unit-norm PEFs on the held-in examples "
           "(the decomposition's) and the held-out examples (coefficients fitted with H frozen), and held-out "
           f"tunings (%) as the number of NPEFF components varies; model {p.model_name}, config {p.config_name}")
write_table(snakemake.output, rows, header, body, caption, "tab:n-components")
