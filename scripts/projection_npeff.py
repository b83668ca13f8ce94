"""Rule projection_npeff (Table 4): NPEFF on PEFs under one projection of the grid, then held-out
coefficients and tunings. One job, since each step is small next to the PEFs themselves."""
import json
from pathlib import Path

import torch
from _common import start

device = start(snakemake)
from npeff import io  # noqa: E402
from npeff._atomic import atomic_path  # noqa: E402
from npeff.analysis.tunings import component_tunings, tuning_percentages  # noqa: E402
from npeff.decompose import NPEFF, fit_coefficients, reconstruction_losses  # noqa: E402
from npeff_workflow.settings import npeff_kwargs  # noqa: E402

p, w = snakemake.params, snakemake.wildcards
heldin, attrs = io.read_pefs(snakemake.input.heldin)
heldout, out_attrs = io.read_pefs(snakemake.input.heldout)
if (attrs["projection_out_dim"], attrs["projection_density"]) != (int(w.dim), int(w.density)):
    raise ValueError(f"{snakemake.input.heldin} is projected to {attrs['projection_out_dim']} dims at density "
                     f"{attrs['projection_density']}, not the grid point dim {w.dim}, density {w.density}")
npeff = NPEFF(**npeff_kwargs(p.settings, w.C, w.seed), device=device)
result = npeff.fit(torch.from_numpy(heldin["G"]))
W_out = fit_coefficients(torch.from_numpy(heldout["G"]), result.H, n_steps=p.coefficient_steps, device=device)
loss_in = reconstruction_losses(torch.from_numpy(heldin["G"]), result.W, result.H, device=device)
loss_out = reconstruction_losses(torch.from_numpy(heldout["G"]), W_out, result.H, device=device)
tunings = tuning_percentages(component_tunings(W_out.numpy(), heldout["preds"], heldout["labels"], k=p.top_k,
                                               min_coefficient=p.min_coefficient))
summary = {"task": w.task, "dim": int(w.dim), "density": int(w.density), "n_components": int(w.C),
           "seed": int(w.seed), "recon_in": float(loss_in.mean()), "recon_out": float(loss_out.mean()),
           **tunings, "heldin": snakemake.input.heldin, "heldout": snakemake.input.heldout}
print(summary)
with atomic_path(Path(snakemake.output[0])) as tmp:
    tmp.write_text(json.dumps(summary, indent=1))
