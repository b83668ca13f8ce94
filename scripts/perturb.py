"""Rule perturb: KL and PEF-norm ratios of perturbations along recovered pseudo-Fishers (Section 3.2).

Randomly chosen components with at least top_k held-in examples (coefficient above
min_coefficient) are perturbed. Per component, as in the paper and Appendix G: the projected
pseudo-Fisher (a centroid for GC) is orthogonally rejected from the dissimilar ones, recovered
into the selected parameters by FPC (the config's `perturbation.fpc.solver`), and the model is
perturbed along it. The direction is recovered here, one component at a time, and never
written: at the paper's schedule it is dense (~20% of 10^8 parameters, ~1 GB per file of 8).

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
from npeff.analysis.selectivity import choose_components, draw_baseline, norm_ratio  # noqa: E402
from npeff.analysis.tunings import top_examples  # noqa: E402
from npeff.data import read_jsonl  # noqa: E402
from npeff.models import ParameterSelection, load_model  # noqa: E402
from npeff.perturb import FrozenPrefix, encode_texts, perturbation_effect, reject_similar, unit_direction  # noqa: E402
from npeff.projection import SparseProjection  # noqa: E402
from npeff.tasks import make_task  # noqa: E402
from npeff_workflow.registry import task_spec  # noqa: E402
from npeff_workflow.settings import recover_direction  # noqa: E402
from npeff_workflow.tables import write_csv  # noqa: E402

p = snakemake.params
settings = p.settings
task_name = snakemake.wildcards.task
decomposition, dec_attrs = io.read_decomposition(snakemake.input.decomposition)
signals, _ = io.read_pefs(snakemake.input.pefs)
examples = read_jsonl(snakemake.input.examples)
if [ex["id"] for ex in examples] != list(signals["ids"]):
    raise ValueError(f"{snakemake.input.examples} and {snakemake.input.pefs} list different examples")
if decomposition["W"].shape[0] != len(examples):
    raise ValueError(f"{snakemake.input.decomposition} has coefficients for {decomposition['W'].shape[0]} examples, "
                     f"{snakemake.input.examples} lists {len(examples)}")
info = json.loads(Path(snakemake.input.info).read_text())

# the components: random eligible ones
H = torch.from_numpy(decomposition["H"])  # [C, d]
tops = top_examples(decomposition["W"], p.top_k, p.min_coefficient)
eligible = [c for c, top in enumerate(tops) if top is not None]
rng = np.random.default_rng(settings["seed"])
chosen = choose_components(rng, eligible, p.n_components)
print(f"{len(eligible)} of {H.shape[0]} components have >= {p.top_k} held-in examples; perturbing {chosen}")
if not chosen:  # a header-only CSV: Table 2 shows the cell as missing instead of failing the run
    print(f"WARNING: no component has {p.top_k} held-in examples with a coefficient above {p.min_coefficient}; "
          "nothing to perturb (use more examples or fewer components)")

projection = SparseProjection.from_attrs(dec_attrs)
norm_info = json.loads(Path(snakemake.input.operator_norm).read_text())
if {k: norm_info[k] for k in projection.attrs()} != projection.attrs():
    raise ValueError(f"{snakemake.input.operator_norm} is for another projection than {snakemake.input.decomposition}")

model, tokenizer = load_model(snakemake.input.model, device)
selection = ParameterSelection(tuple(dec_attrs["param_include"]), tuple(dec_attrs["param_exclude"]))
if selection.n_parameters(model) != projection.in_dim:
    raise ValueError(f"{snakemake.input.decomposition} projects {projection.in_dim} parameters, the model's "
                     f"selection has {selection.n_parameters(model)}")
spec = task_spec(task_name)
task = make_task(spec, tokenizer, info["label_names"])
prefix = FrozenPrefix(model, selection)
print(f"perturbed forwards start at block {prefix.start}")


def encoded_batches(indices):
    return encode_texts(prefix, spec, tokenizer, [examples[i]["text"] for i in indices], info["label_names"],
                        p.batch_size)


m = len(examples)
baseline = draw_baseline(rng, m, p.n_baseline)
base_batches = encoded_batches(baseline)
base_originals = {id(b): prefix.run(task, b) for b in base_batches}  # unperturbed, shared by every component
norms = signals["pef_norms"]
fpc = settings["fpc"]

rows = []
for c in chosen:
    target = reject_similar(H, c, settings["similarity_threshold"]).to(device)  # [d]
    recovered = recover_direction(projection, target, fpc, norm_info["operator_norm"])
    direction = unit_direction(recovered.u, settings["magnitude"])  # [n]
    recovered.indices.clear(), recovered.values.clear()  # the dense direction is all that is needed
    top_batches = encoded_batches(tops[c].tolist())
    originals = {**base_originals, **{id(b): prefix.run(task, b) for b in top_batches}}
    effect = perturbation_effect(prefix, task, selection, direction, top_batches, base_batches, originals)
    rows.append({"task": task_name, "method": dec_attrs["method"], "component": int(c), **effect,
                 "norm_ratio": norm_ratio(norms, tops[c], baseline),
                 "n_top": len(tops[c]), "n_baseline": len(baseline), "magnitude": settings["magnitude"],
                 "fpc_solver": fpc["solver"], "fpc_iterations": int(recovered.n_iter[0]),
                 "fpc_converged": int(recovered.converged[0]),
                 "fpc_relative_residual": float(recovered.relative_residual[0]),
                 "nonzeros": int((direction != 0).sum())})
    print(rows[-1])
    del direction
COLUMNS = ["task", "method", "component", "sign", "kl_ratio", "kl_top", "kl_baseline", "norm_ratio", "n_top",
           "n_baseline", "magnitude", "fpc_solver", "fpc_iterations", "fpc_converged", "fpc_relative_residual",
           "nonzeros"]
write_csv(Path(snakemake.output[0]), rows, COLUMNS)  # header only when no component was eligible
