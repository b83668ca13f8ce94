"""Rule projection_npeff (Table 4): NPEFF on PEFs under one projection of the grid, then held-out
coefficients and tunings. One job, since each step is small next to the PEFs themselves."""
import json
from pathlib import Path

import torch

from _common import run_rule  # first: puts the repository on sys.path
from npeff import io
from npeff._atomic import atomic_path
from npeff.analysis.tunings import component_tunings, tuning_percentages
from npeff.decompose import NPEFF, fit_coefficients, reconstruction_losses
from npeff_workflow.settings import npeff_kwargs


def main(*, heldin, heldout, outputs, settings, coefficient_steps, top_k, min_coefficient, task, dim, density, C,
         seed, device):
    """heldin / heldout: the grid point's PEF files; settings: the config's `decomposition` section."""
    pefs_in, attrs = io.read_pefs(heldin)
    pefs_out, _ = io.read_pefs(heldout)
    if (attrs["projection_out_dim"], attrs["projection_density"]) != (int(dim), int(density)):
        raise ValueError(f"{heldin} is projected to {attrs['projection_out_dim']} dims at density "
                         f"{attrs['projection_density']}, not the grid point dim {dim}, density {density}")
    npeff = NPEFF(**npeff_kwargs(settings, C, seed), device=device)
    result = npeff.fit(torch.from_numpy(pefs_in["G"]))
    W_out = fit_coefficients(torch.from_numpy(pefs_out["G"]), result.H, n_steps=coefficient_steps, device=device)
    loss_in = reconstruction_losses(torch.from_numpy(pefs_in["G"]), result.W, result.H, device=device)
    loss_out = reconstruction_losses(torch.from_numpy(pefs_out["G"]), W_out, result.H, device=device)
    tunings = tuning_percentages(component_tunings(W_out.numpy(), pefs_out["preds"], pefs_out["labels"], k=top_k,
                                                   min_coefficient=min_coefficient))
    summary = {"task": task, "dim": int(dim), "density": int(density), "n_components": int(C),
               "seed": int(seed), "recon_in": float(loss_in.mean()), "recon_out": float(loss_out.mean()),
               **tunings, "heldin": heldin, "heldout": heldout}
    print(summary)
    with atomic_path(Path(outputs[0])) as tmp:
        tmp.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
