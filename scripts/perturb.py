"""Rule perturb: KL and PEF-norm ratios of perturbations along recovered directions (Section 3.2).

As in the paper and the authors' code, a component's top examples are the decomposition's own
(held-in) examples with the largest coefficients, and the baseline is a random set of held-in
examples. KL is KL(perturbed || original) over the task's distribution, as in the authors' code.
"""
import json
from pathlib import Path

import numpy as np
import torch
from _common import start

device = start(snakemake)
from npeff import io  # noqa: E402
from npeff.analysis.tunings import top_examples  # noqa: E402
from npeff.data import read_jsonl  # noqa: E402
from npeff.models import ParameterSelection, load_model  # noqa: E402
from npeff.paper.tables import write_csv  # noqa: E402
from npeff.perturb import FrozenPrefix, encode_texts, perturbation_effect, unit_direction  # noqa: E402
from npeff.tasks import TASK_SPECS, make_task  # noqa: E402

p = snakemake.params
task_name = snakemake.wildcards.task
recovered, rec_attrs = io.read_recovered_sparse(snakemake.input.recovered)
component_ids, n_recovered = recovered["component_ids"], int(rec_attrs["n_parameters"])
decomposition, _ = io.read_decomposition(snakemake.input.decomposition)
signals, _ = io.read_pefs(snakemake.input.pefs)
examples = read_jsonl(snakemake.input.examples)
if [ex["id"] for ex in examples] != list(signals["ids"]):
    raise ValueError(f"{snakemake.input.examples} and {snakemake.input.pefs} list different examples")
if decomposition["W"].shape[0] != len(examples):
    raise ValueError(f"{snakemake.input.decomposition} has coefficients for {decomposition['W'].shape[0]} examples, "
                     f"{snakemake.input.examples} lists {len(examples)}")
info = json.loads(Path(snakemake.input.info).read_text())

model, tokenizer = load_model(snakemake.input.model, device)
selection = ParameterSelection(tuple(rec_attrs["param_include"]), tuple(rec_attrs["param_exclude"]))
if selection.n_parameters(model) != n_recovered:
    raise ValueError(f"{snakemake.input.recovered} has {n_recovered} parameters, the model's selection "
                     f"{selection.n_parameters(model)}")
spec = TASK_SPECS[task_name]
task = make_task(spec, tokenizer, info["label_names"])
prefix = FrozenPrefix(model, selection)
print(f"perturbed forwards start at block {prefix.start}")


def encoded_batches(indices):
    return encode_texts(prefix, spec, tokenizer, [examples[i]["text"] for i in indices], info["label_names"],
                        p.batch_size)


m = len(examples)
rng = np.random.default_rng(p.settings["seed"])
baseline = sorted(rng.choice(m, size=min(p.n_baseline, m), replace=False).tolist())
tops = top_examples(decomposition["W"], p.top_k, p.min_coefficient)
base_batches = encoded_batches(baseline)
top_batches = {c: encoded_batches(tops[c].tolist()) for c in component_ids}
originals = {id(b): prefix.run(task, b) for b in base_batches + [b for bs in top_batches.values() for b in bs]}
norms = signals["pef_norms"]

rows = []
for i, c in enumerate(component_ids):
    direction = unit_direction(torch.from_numpy(io.recovered_row(recovered, i, n_recovered)), p.settings["magnitude"])
    effect = perturbation_effect(prefix, task, selection, direction, top_batches[c], base_batches, originals)
    rows.append({"task": task_name, "method": rec_attrs["method"], "component": int(c), **effect,
                 "norm_ratio": float(norms[tops[c]].mean() / norms[baseline].mean()),
                 "n_top": len(tops[c]), "n_baseline": len(baseline), "magnitude": p.settings["magnitude"],
                 "fpc_iterations": rec_attrs["fpc_iterations"][i],
                 "fpc_relative_residual": rec_attrs["fpc_relative_residual"][i],
                 "nonzeros": int(recovered["indptr"][i + 1] - recovered["indptr"][i])})
    print(rows[-1])
COLUMNS = ["task", "method", "component", "sign", "kl_ratio", "kl_top", "kl_baseline", "norm_ratio", "n_top",
           "n_baseline", "magnitude", "fpc_iterations", "fpc_relative_residual", "nonzeros"]
write_csv(Path(snakemake.output[0]), rows, COLUMNS)  # header only when no component was eligible
