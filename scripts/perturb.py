"""Rule perturb: KL and PEF-norm ratios of perturbations along recovered pseudo-Fishers (Section 3.2).

Randomly chosen components with at least top_k held-in examples (coefficient above
min_coefficient) are perturbed. Per component, as in the paper and Appendix G: the projected
pseudo-Fisher (a centroid for GC) is orthogonally rejected from the dissimilar ones, recovered
into the selected parameters by FPC (the config's `perturbation.fpc.solver`), and the model is
perturbed along it. The direction is recovered here, one component at a time, and never
written: at the paper's schedule it is dense (~20% of 10^8 parameters, ~1 GB per file of 8).

As in the paper and the authors' code, a component's top examples are the decomposition's own
(held-in) examples with the largest coefficients, and the baseline is a random set of held-in
examples, less the component's own top examples (n_baseline counts those left; the paper's
baseline of 1,000 of 60,000 holds ~0.3 of them, the default's 48 of 360 holds ~2 of 16 (SST2), and
kl_ratio_with_top is the ratio with them kept). KL is KL(perturbed || original) over the task's distribution, as in the authors' code.
The original distributions are the ones the signals pass stored beside the PEFs (one batch is
recomputed to check that they are this model's): every unperturbed forward is run once per example
in the whole workflow, not again in each perturb job.
"""
import json
from pathlib import Path

import numpy as np
import torch

from _common import run_rule  # first: puts the repository on sys.path
from npeff import io
from npeff._tensors import count_nonzero
from npeff.analysis.selectivity import baseline_without, choose_components, draw_baseline, norm_ratio
from npeff.analysis.tunings import top_examples
from npeff.data import read_jsonl
from npeff.models import ParameterSelection, load_model
from npeff.perturb import (FrozenPrefix, check_stored_log_probs, encode_texts, parameter_snapshot,
                           perturbation_effect, reject_similar, unit_direction)
from npeff.projection import SparseProjection
from npeff.tasks import length_order, make_task
from npeff_workflow.registry import task_spec
from npeff_workflow.settings import recover_direction
from npeff_workflow.tables import write_csv


COLUMNS = ["task", "method", "component", "sign", "kl_ratio", "kl_top", "kl_baseline", "norm_ratio", "n_top",
           "n_baseline", "n_top_in_baseline", "kl_ratio_with_top", "magnitude", "fpc_solver", "fpc_iterations",
           "fpc_converged", "fpc_relative_residual", "nonzeros"]


def main(*, model_dir, operator_norm, decomposition, pefs, examples, info, outputs, settings, n_components,
         n_baseline, top_k, min_coefficient, batch_size, task, device):
    """decomposition: its held-in coefficients pick the top examples; pefs / examples: the held-in
    PEFs (their exact norms and the unperturbed log-probs the KLs are taken against) and texts, in
    the decomposition's order; operator_norm: ||A||_2 of its projection; settings: the config's
    `perturbation` section."""
    arrays, dec_attrs = io.read_decomposition(decomposition)
    signals, _ = io.read_pefs(pefs)
    held_in = read_jsonl(examples)
    texts = [ex["text"] for ex in held_in]
    if [ex["id"] for ex in held_in] != list(signals["ids"]):
        raise ValueError(f"{examples} and {pefs} list different examples")
    if arrays["W"].shape[0] != len(texts):
        raise ValueError(f"{decomposition} has coefficients for {arrays['W'].shape[0]} examples, "
                         f"{examples} lists {len(texts)}")
    label_names = json.loads(Path(info).read_text())["label_names"]

    # the components: random eligible ones
    H = torch.from_numpy(arrays["H"])  # [C, d]
    tops = top_examples(arrays["W"], top_k, min_coefficient)
    eligible = [c for c, top in enumerate(tops) if top is not None]
    rng = np.random.default_rng(settings["seed"])
    chosen = choose_components(rng, eligible, n_components)
    print(f"{len(eligible)} of {H.shape[0]} components have >= {top_k} held-in examples; perturbing {chosen}")
    if not chosen:  # a header-only CSV: Table 2 shows the cell as missing instead of failing the run
        print(f"WARNING: no component has {top_k} held-in examples with a coefficient above {min_coefficient}; "
              "nothing to perturb (use more examples or fewer components)")

    projection = SparseProjection.from_attrs(dec_attrs)
    norm_info = json.loads(Path(operator_norm).read_text())
    if {k: norm_info.get(k) for k in projection.attrs()} != projection.attrs():
        raise ValueError(f"{operator_norm} is for another projection than {decomposition}")

    model, tokenizer = load_model(model_dir, device)
    selection = ParameterSelection(tuple(dec_attrs["param_include"]), tuple(dec_attrs["param_exclude"]))
    if selection.n_parameters(model) != projection.in_dim:
        raise ValueError(f"{decomposition} projects {projection.in_dim} parameters, the model's "
                         f"selection has {selection.n_parameters(model)}")
    spec = task_spec(task)
    formulation = make_task(spec, tokenizer, label_names)
    prefix = FrozenPrefix(model, selection)
    print(f"perturbed forwards start at block {prefix.start}")

    def by_length(indices):  # shortest first: less padding; KL is averaged, so order does not matter
        order = length_order(spec, tokenizer, [texts[i] for i in indices], label_names)
        return [indices[i] for i in order]

    def encoded_batches(indices):  # indices: in the order they are batched
        return encode_texts(prefix, spec, tokenizer, [texts[i] for i in indices], label_names, batch_size)

    # the unperturbed log-probs are the signals pass's, stored with the PEFs: no forward of its own
    stored = torch.from_numpy(signals["log_probs"]).to(device)  # [m, r]

    def originals_of(batches, indices):  # id(batch) -> its examples' stored log-probs [b, r]
        return {id(b): stored[indices[k * batch_size:(k + 1) * batch_size]] for k, b in enumerate(batches)}

    baseline = by_length(draw_baseline(rng, len(texts), n_baseline))
    base_batches = encoded_batches(baseline)
    baseline_set = set(baseline)
    base_originals = originals_of(base_batches, baseline)  # unperturbed, shared by every component
    if base_batches:
        check_stored_log_probs(prefix.run(formulation, base_batches[0]), base_originals[id(base_batches[0])], pefs)
    norms = signals["pef_norms"]
    fpc = settings["fpc"]
    snapshot = parameter_snapshot(model, selection)  # every perturbation restores from this one copy

    rows = []
    for c in chosen:
        target = reject_similar(H, c, settings["similarity_threshold"]).to(device)  # [d]
        recovered = recover_direction(projection, target, fpc, norm_info["operator_norm"])
        direction = unit_direction(recovered.u, settings["magnitude"], in_place=True)  # [n], recovered's own memory
        solve = {"fpc_solver": fpc["solver"], "fpc_iterations": int(recovered.n_iter[0]),
                 "fpc_converged": int(recovered.converged[0]),
                 "fpc_relative_residual": float(recovered.relative_residual[0])}
        del recovered  # the direction, scaled in its memory, is all that is needed
        top = tops[c].tolist()
        top_set = set(top)
        top_in_baseline = torch.tensor([i in top_set for i in baseline], dtype=torch.bool)  # [len(baseline)]
        # the top examples in the baseline reuse its forwards; only the others are run apart
        outside = by_length([i for i in top if i not in baseline_set])
        top_batches = encoded_batches(outside)
        originals = {**base_originals, **originals_of(top_batches, outside)}
        effect = perturbation_effect(prefix, formulation, selection, direction, top_batches, base_batches, originals,
                                     snapshot, top_in_baseline)
        others = baseline_without(baseline, top)
        rows.append({"task": task, "method": dec_attrs["method"], "component": int(c), **effect,
                     "norm_ratio": norm_ratio(norms, top, others), "n_top": len(top), "n_baseline": len(others),
                     "n_top_in_baseline": len(baseline) - len(others), "magnitude": settings["magnitude"],
                     **solve, "nonzeros": count_nonzero(direction)})
        print(rows[-1])
        del direction
    write_csv(Path(outputs[0]), rows, COLUMNS)  # header only when no component was eligible


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
