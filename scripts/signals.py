"""Rules signals, projection_signals and eps_pefs: projected LRM-PEFs, predicted-class gradients and
final-token activations. projection_signals is signals for Table 4's task: the same gradients are
also projected into every other point of the projection grid (output `grid`, one PEF file per
params.extra_projections entry), so each example's gradients are computed once. eps_pefs asks
for the PEFs alone (no grads / acts outputs) of the first params.n_examples examples, with the
exact Gram eigenvalues (Figure 3). The held-in split also times each object alone (Table 7).
signals_shard, projection_signals_shard and eps_pefs_shard are the same on one shard's example
range (params.example_range); the gather rules join the shards (scripts/gather_signals.py)."""
import dataclasses
import json

import torch
from _common import start

device = start(snakemake)
from tqdm import tqdm  # noqa: E402

from npeff import io  # noqa: E402
from npeff.data import read_jsonl  # noqa: E402
from npeff.models import ParameterSelection, load_model  # noqa: E402
from npeff.pef import compute_pefs, final_token_activations  # noqa: E402
from npeff.projection import SparseProjection  # noqa: E402
from npeff.runtime import seconds_per_example  # noqa: E402
from npeff.tasks import build_batch, make_task  # noqa: E402
from npeff_workflow.registry import task_spec  # noqa: E402

p = snakemake.params
task_name, cfg = snakemake.wildcards.task, p.task
info = json.loads(open(snakemake.input.info).read())
examples = read_jsonl(snakemake.input.examples)[:getattr(p, "n_examples", None)]
first, end = getattr(p, "example_range", (0, len(examples)))  # a shard: these examples only
examples = examples[first:end]
with_baselines = "grads" in snakemake.output.keys()  # the ablations need the PEFs only
model, tokenizer = load_model(snakemake.input.model, device)
spec = task_spec(task_name)
task = make_task(spec, tokenizer, info["label_names"])
prompt_only = dataclasses.replace(spec, kind="full_vocab")  # suffix tasks: activations of the prompt alone
selection = ParameterSelection(tuple(p.parameters["include"]), tuple(p.parameters["exclude"]))
n_params = selection.n_parameters(model)
projection = SparseProjection(n_params, p.projection["dim"], seed=p.projection["seed"], density=p.projection["density"])
extra_projections = [SparseProjection(n_params, e["dim"], seed=e["seed"], density=e["density"])
                     for e in getattr(p, "extra_projections", [])]  # Table 4's other grid points
grid_outputs = list(snakemake.output.get("grid", []))
if len(grid_outputs) != len(extra_projections):
    raise ValueError(f"{len(extra_projections)} extra projections but {len(grid_outputs)} grid outputs")
rows = "eps" if cfg.get("eps_rows") else "lrm"
print(f"{task_name}/{snakemake.wildcards.split}: {len(examples)} examples, {n_params} parameters, rows={rows}")

inline_acts = with_baselines and spec.kind != "suffix"  # one sequence per example: acts from the same forward
G, norms, grads, grad_norms, log_probs, acts, eigenvalues = [], [], [], [], [], [], []
extra_G = [[] for _ in extra_projections]  # per extra projection: [b, R, d_k] per batch
for lo in tqdm(range(0, len(examples), p.batch_size), desc="signals", mininterval=10):
    texts = [ex["text"] for ex in examples[lo:lo + p.batch_size]]
    batch = {k: v.to(device) for k, v in build_batch(spec, tokenizer, texts, info["label_names"]).items()}
    out = compute_pefs(model, batch, task, rows=rows, n_eps_rows=cfg.get("eps_rows"), eps_seed=p.projection["seed"],
                       svd_rank=cfg.get("svd_rank"), projection=projection, selection=selection,
                       with_gradient=with_baselines, with_activations=inline_acts,
                       extra_projections=extra_projections)
    if with_baselines and not inline_acts:
        prompts = {k: v.to(device) for k, v in build_batch(prompt_only, tokenizer, texts, []).items()}
        out.activations = final_token_activations(model, prompts)
    G.append(out.G), norms.append(out.frob_norms), log_probs.append(out.log_probs)
    grads.append(out.gradient), grad_norms.append(out.gradient_norms), acts.append(out.activations)
    eigenvalues.append(torch.linalg.eigvalsh(out.gram.double()).flip(-1).float())  # [b, R] descending
    for stored, G_k in zip(extra_G, out.extra_G or []):
        stored.append(G_k)

timing = {}
if getattr(p, "time_objects", False):  # Table 7: each object alone, on the (warm) first batch
    texts = [ex["text"] for ex in examples[:p.batch_size]]
    batch = {k: v.to(device) for k, v in build_batch(spec, tokenizer, texts, info["label_names"]).items()}
    prompts = {k: v.to(device) for k, v in build_batch(prompt_only, tokenizer, texts, []).items()}
    timing = seconds_per_example({
        "pef": lambda: compute_pefs(model, batch, task, rows=rows, n_eps_rows=cfg.get("eps_rows"),
                                    eps_seed=p.projection["seed"], svd_rank=cfg.get("svd_rank"),
                                    projection=projection, selection=selection),
        "gradient": lambda: compute_pefs(model, batch, task, rows="predicted", projection=projection,
                                         selection=selection),
        "activation": lambda: final_token_activations(model, prompts)}, len(texts), device)
    print(f"seconds per example: {timing}")

labels = torch.tensor([int(ex["label"]) for ex in examples])
ids = [ex["id"] for ex in examples]
attrs = {"model": p.model_name, "task": task_name, "split": snakemake.wildcards.split, "dataset": info["dataset"],
         "stands_in_for": info["stands_in_for"], "label_names": info["label_names"] or None,
         "n_parameters": n_params, **selection.attrs(), **projection.attrs(), **timing}
log_probs = torch.cat(log_probs)
pef_attrs = {**attrs, "rows": rows, "n_eps_rows": cfg.get("eps_rows"), "svd_rank": cfg.get("svd_rank")}
io.write_pefs(snakemake.output.pefs, torch.cat(G), torch.cat(norms), log_probs, labels, pef_attrs, ids,
              gram_eigenvalues=torch.cat(eigenvalues) if getattr(p, "eigenvalues", False) else None)
for path, proj, stored in zip(grid_outputs, extra_projections, extra_G):
    io.write_pefs(path, torch.cat(stored), torch.cat(norms), log_probs, labels,
                  {**{k: v for k, v in pef_attrs.items() if k not in timing}, **proj.attrs()}, ids)
if with_baselines:
    io.write_pefs(snakemake.output.grads, torch.cat(grads), torch.cat(grad_norms), log_probs, labels,
                  {**attrs, "rows": "predicted"}, ids)
    io.write_artifact(snakemake.output.acts, "activations", {"acts": torch.cat(acts), "log_probs": log_probs,
                      "preds": log_probs.argmax(1), "labels": labels, "ids": ids},
                      {**{k: v for k, v in attrs.items() if k not in projection.attrs()},  # not projected
                       "layer": "last block output"})
