"""Rule perturb_same_as_npeff: G-NPEFF's perturbations on a two-label task, taken from NPEFF's.

With two labels, log p_0 and log p_1 both have gradients along the gradient of the logit
difference, so the LRM-PEF is rank one and, after unit-Frobenius normalisation, it is G-NPEFF's
g g^T: the two methods decompose the same matrices and, with the same seed, give the same
decomposition up to rounding (README, "NPEFF = G-NPEFF on SST2"). Perturbing both would run
every perturbed forward twice (~2 minutes on the default, hours at the paper's 128 components).
This rule checks that the two decompositions give the same perturbation experiment (same
components, top examples and directions: npeff.perturb.perturbation_inputs_differ) and, when
they do, writes NPEFF's rows as G-NPEFF's. When they do not (sums in another order can drift
apart over many iterations, e.g. on a GPU), it perturbs G-NPEFF's own decomposition, as the
`perturb` rule would.
"""
import csv
import json
from pathlib import Path

import torch

from _common import run_rule  # first: puts the repository on sys.path
import perturb  # the perturb rule's script, for the fallback
from npeff import io
from npeff.perturb import perturbation_inputs_differ
from npeff_workflow.tables import write_csv


def main(*, npeff_decomposition, npeff_perturbations, model_dir, operator_norm, decomposition, pefs, examples, info,
         outputs, settings, n_components, n_baseline, top_k, min_coefficient, batch_size, task, device):
    """decomposition: G-NPEFF's; npeff_decomposition / npeff_perturbations: NPEFF's decomposition
    of the same task, components and seed, and the perturb rule's CSV of it. The other arguments
    are the perturb rule's (scripts/perturb.py)."""
    n_labels = len(json.loads(Path(info).read_text())["label_names"])
    ours, ours_attrs = io.read_decomposition(decomposition)
    theirs, theirs_attrs = io.read_decomposition(npeff_decomposition)
    if ours_attrs["method"] != "gnpeff" or theirs_attrs["method"] != "npeff":
        raise ValueError(f"expected a G-NPEFF decomposition in {decomposition} (it is {ours_attrs['method']}) and an "
                         f"NPEFF one in {npeff_decomposition} (it is {theirs_attrs['method']})")
    why = (f"{info} lists {n_labels} labels, not two" if n_labels != 2 else
           perturbation_inputs_differ(torch.from_numpy(ours["H"]), ours["W"], torch.from_numpy(theirs["H"]),
                                      theirs["W"], top_k, min_coefficient, settings["similarity_threshold"]))
    if why is not None:
        print(f"{decomposition} and {npeff_decomposition} may give different perturbations ({why}); perturbing G-NPEFF's")
        perturb.main(model_dir=model_dir, operator_norm=operator_norm, decomposition=decomposition, pefs=pefs,
                     examples=examples, info=info, outputs=outputs, settings=settings, n_components=n_components,
                     n_baseline=n_baseline, top_k=top_k, min_coefficient=min_coefficient, batch_size=batch_size,
                     task=task, device=device)
        return
    with open(npeff_perturbations, newline="") as f:
        rows = [{**row, "method": "gnpeff"} for row in csv.DictReader(f)]
    print(f"{decomposition} gives the same perturbations as {npeff_decomposition}: {len(rows)} rows taken from "
          f"{npeff_perturbations}")
    write_csv(Path(outputs[0]), rows, perturb.COLUMNS)


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
