"""Rule icl_predictions: the best of n random k-shot contexts, and its predictions (Section 3.3).

Contexts are drawn from held-in examples and scored on a disjoint random held-in
subset (Zhang et al. 2022); the winner predicts every held-out example.
"""
import json
from pathlib import Path

import numpy as np
from _common import start

device = start(snakemake)
from npeff._atomic import atomic_path  # noqa: E402
from npeff.analysis.icl import context_text, icl_log_probs  # noqa: E402
from npeff.data import read_jsonl  # noqa: E402
from npeff.models import load_model  # noqa: E402
from npeff_workflow.registry import task_spec  # noqa: E402
from npeff_workflow.tables import write_csv  # noqa: E402

s = snakemake.params.settings
heldin, heldout = read_jsonl(snakemake.input.heldin), read_jsonl(snakemake.input.heldout)
labels = json.loads(Path(snakemake.input.info).read_text())["label_names"]
spec = task_spec(snakemake.wildcards.task)
model, tokenizer = load_model(snakemake.input.model, device)

rng = np.random.default_rng(s["seed"])
order = rng.permutation(len(heldin))
n_select = min(s["selection_examples"], len(heldin) - s["n_shots"])
selection, pool = order[:n_select], order[n_select:]
if len(pool) < s["n_shots"]:
    raise ValueError(f"{snakemake.input.heldin}: {len(heldin)} held-in examples cannot give {n_select} "
                     f"selection examples and {s['n_shots']}-shot contexts")
select_texts = [heldin[i]["text"] for i in selection]
select_labels = np.array([heldin[i]["label"] for i in selection])
candidates = []
for trial in range(s["n_contexts"]):
    shots = [heldin[i] for i in rng.choice(pool, size=s["n_shots"], replace=False)]
    context = context_text(spec, [(ex["text"], labels[ex["label"]]) for ex in shots], labels)
    preds = icl_log_probs(model, tokenizer, spec, context, select_texts, labels).argmax(1).numpy()
    accuracy = 100.0 * float((preds == select_labels).mean())
    candidates.append({"trial": trial, "accuracy": accuracy, "shot_ids": [ex["id"] for ex in shots],
                       "context": context})
    print(f"context {trial}: accuracy {accuracy:.1f}% on {n_select} held-in examples")
best = max(candidates, key=lambda c: c["accuracy"])
log_probs = icl_log_probs(model, tokenizer, spec, best["context"], [ex["text"] for ex in heldout], labels)
rows = [{"id": ex["id"], "label": ex["label"], "icl_pred": int(pred)}
        for ex, pred in zip(heldout, log_probs.argmax(1).tolist())]
print(f"best context {best['trial']}: held-out accuracy "
      f"{100 * np.mean([r['label'] == r['icl_pred'] for r in rows]):.1f}%")
write_csv(Path(snakemake.output.predictions), rows)
with atomic_path(Path(snakemake.output.contexts)) as tmp:
    tmp.write_text(json.dumps({"best_trial": best["trial"], "selection_examples": n_select,
                               "candidates": candidates}, indent=1))
