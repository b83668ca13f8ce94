"""The signals pass of the rules signals / projection_signals / eps_signals (scripts/signals.py)
and eps_pefs (scripts/eps_pefs.py): projected LRM-PEFs, and optionally predicted-class gradients and
final-token activations, of a split's examples, each written with the attributes that
identify the model, parameter selection, projection and rows.

Every example's gradients are computed once: Table 4's other grid points (`extra_projections`)
are projections of the same rows, and where the EPS grid's largest EPS is the task's own
(`eps_path`), the grid's full-rank rows are this pass's rows before the SVD. The held-in split
also times each object alone (Table 7).
"""
from __future__ import annotations

import dataclasses
import json

import torch
from tqdm import tqdm

from npeff import io
from npeff.data import read_jsonl
from npeff.models import ParameterSelection, load_model
from npeff.pef import compute_pefs, final_token_activations, reduce_rank
from npeff.projection import SparseProjection
from npeff.runtime import seconds_per_example
from npeff.tasks import build_batch, length_order, make_task
from npeff_workflow.registry import task_spec


def collect_signals(*, model_dir, examples_path, info_path, task: str, task_settings: dict, parameters: dict,
                    projection: dict, batch_size: int, model_name: str, split: str, device: str, pefs_path,
                    grads_path=None, acts_path=None, extra_projections=(), grid_paths=(), n_examples=None,
                    example_range=None, time_objects: bool = False, eigenvalues: bool = False, eps_path=None,
                    eps_examples: int | None = None) -> None:
    """One pass over the examples of `examples_path` (the first n_examples, then those in
    example_range = (first, end), a shard's).

    task_settings: the config's tasks.<task> (eps_rows, svd_rank); parameters: include / exclude
    patterns; projection, extra_projections: dim / density / seed of the main and the grid's other
    projections, written to pefs_path and grid_paths. grads_path and acts_path (both or neither):
    also the G-NPEFF gradients and the SAE's activations. eigenvalues: store each PEF's exact Gram
    eigenvalues (Figure 3). eps_path, eps_examples: also write the EPS grid's pass, i.e. the
    full-rank rows (before the task's SVD) and Gram eigenvalues of the first eps_examples
    examples, what collect_signals(n_examples=eps_examples, svd_rank None, eigenvalues=True)
    would write, from this pass's gradients (EPS rows only)."""
    if len(grid_paths) != len(extra_projections):
        raise ValueError(f"{len(extra_projections)} extra projections but {len(grid_paths)} grid outputs")
    cfg = task_settings
    if eps_path is not None and not (cfg.get("eps_rows") and eps_examples and example_range is None):
        raise ValueError("eps_path needs EPS rows (task_settings eps_rows), eps_examples and an unsharded pass")
    info = json.loads(open(info_path).read())
    examples = read_jsonl(examples_path)[:n_examples]
    first, end = example_range or (0, len(examples))
    examples = examples[first:end]
    with_baselines = grads_path is not None
    model, tokenizer = load_model(model_dir, device)
    spec = task_spec(task)
    formulation = make_task(spec, tokenizer, info["label_names"])
    prompt_only = dataclasses.replace(spec, kind="full_vocab")  # suffix tasks: activations of the prompt alone
    selection = ParameterSelection(tuple(parameters["include"]), tuple(parameters["exclude"]))
    n_params = selection.n_parameters(model)
    main_projection = SparseProjection(n_params, projection["dim"], seed=projection["seed"],
                                       density=projection["density"])
    grid_projections = [SparseProjection(n_params, e["dim"], seed=e["seed"], density=e["density"])
                        for e in extra_projections]
    rows = "eps" if cfg.get("eps_rows") else "lrm"
    print(f"{task}/{split}: {len(examples)} examples, {n_params} parameters, rows={rows}")

    def pefs_of(batch, svd_rank=cfg.get("svd_rank"), **extra):
        return compute_pefs(model, batch, formulation, rows=rows, n_eps_rows=cfg.get("eps_rows"),
                            eps_seed=projection["seed"], svd_rank=svd_rank, projection=main_projection,
                            selection=selection, **extra)

    inline_acts = with_baselines and spec.kind != "suffix"  # one sequence per example: acts from the same forward
    G, norms, grads, grad_norms, log_probs, acts, gram_eigenvalues = [], [], [], [], [], [], []
    grid_G = [[] for _ in grid_projections]  # per extra projection: [b, R, d_k] per batch
    full_G = []  # eps_path: [b, R, d] per batch, before the SVD
    order = length_order(spec, tokenizer, [ex["text"] for ex in examples], info["label_names"])
    for lo in tqdm(range(0, len(examples), batch_size), desc="signals", mininterval=10):
        texts = [examples[i]["text"] for i in order[lo:lo + batch_size]]
        batch = {k: v.to(device) for k, v in build_batch(spec, tokenizer, texts, info["label_names"]).items()}
        out = pefs_of(batch, svd_rank=None if eps_path else cfg.get("svd_rank"), with_gradient=with_baselines,
                      with_activations=inline_acts, extra_projections=grid_projections)
        if eps_path is not None:  # keep the full rows, then reduce as compute_pefs would have
            full_G.append(out.G)
            if cfg.get("svd_rank") is not None:
                out.G = reduce_rank(out.G, cfg["svd_rank"])
                out.extra_G = [reduce_rank(E, cfg["svd_rank"]) for E in out.extra_G or []] or None
        if with_baselines and not inline_acts:
            prompts = {k: v.to(device) for k, v in build_batch(prompt_only, tokenizer, texts, []).items()}
            out.activations = final_token_activations(model, prompts)
        G.append(out.G), norms.append(out.frob_norms), log_probs.append(out.log_probs)
        grads.append(out.gradient), grad_norms.append(out.gradient_norms), acts.append(out.activations)
        gram_eigenvalues.append(torch.linalg.eigvalsh(out.gram.double()).flip(-1).float())  # [b, R] descending
        for stored, G_k in zip(grid_G, out.extra_G or []):
            stored.append(G_k)

    in_file_order = torch.argsort(torch.tensor(order))  # the batches ran shortest first

    def stacked(parts):  # per-batch [b, ...] pieces -> [n, ...] in the file's example order
        return torch.cat(parts)[in_file_order]

    timing = {}
    if time_objects:  # Table 7: each object alone, on the (warm) first batch
        texts = [ex["text"] for ex in examples[:batch_size]]
        batch = {k: v.to(device) for k, v in build_batch(spec, tokenizer, texts, info["label_names"]).items()}
        prompts = {k: v.to(device) for k, v in build_batch(prompt_only, tokenizer, texts, []).items()}
        timing = seconds_per_example({
            "pef": lambda: pefs_of(batch),
            "gradient": lambda: compute_pefs(model, batch, formulation, rows="predicted", projection=main_projection,
                                             selection=selection),
            "activation": lambda: final_token_activations(model, prompts)}, len(texts), device)
        print(f"seconds per example: {timing}")

    labels = torch.tensor([int(ex["label"]) for ex in examples])
    ids = [ex["id"] for ex in examples]
    attrs = {"model": model_name, "task": task, "split": split, "dataset": info["dataset"],
             "stands_in_for": info["stands_in_for"], "label_names": info["label_names"] or None,
             "n_parameters": n_params, **selection.attrs(), **main_projection.attrs(), **timing}
    log_probs, norms = stacked(log_probs), stacked(norms)
    pef_attrs = {**attrs, "rows": rows, "n_eps_rows": cfg.get("eps_rows"), "svd_rank": cfg.get("svd_rank")}
    io.write_pefs(pefs_path, stacked(G), norms, log_probs, labels, pef_attrs, ids,
                  gram_eigenvalues=stacked(gram_eigenvalues) if eigenvalues else None)
    if eps_path is not None:
        head = slice(0, eps_examples)  # the file's first examples, as the EPS pass takes them
        io.write_pefs(eps_path, stacked(full_G)[head], norms[head], log_probs[head], labels[head],
                      {**{k: v for k, v in pef_attrs.items() if k not in timing}, "svd_rank": None}, ids[head],
                      gram_eigenvalues=stacked(gram_eigenvalues)[head])
    for path, grid_projection, stored in zip(grid_paths, grid_projections, grid_G):
        io.write_pefs(path, stacked(stored), norms, log_probs, labels,
                      {**{k: v for k, v in pef_attrs.items() if k not in timing}, **grid_projection.attrs()}, ids)
    if with_baselines:
        io.write_pefs(grads_path, stacked(grads), stacked(grad_norms), log_probs, labels,
                      {**attrs, "rows": "predicted"}, ids)
        io.write_artifact(acts_path, "activations", {"acts": stacked(acts), "log_probs": log_probs,
                          "preds": log_probs.argmax(1), "labels": labels, "ids": ids},
                          {**{k: v for k, v in attrs.items() if k not in main_projection.attrs()},  # not projected
                           "layer": "last block output"})
