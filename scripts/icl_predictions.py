"""Rule icl_predictions: the best of n random k-shot contexts, and its predictions (Section 3.3).

Contexts are drawn from held-in examples and scored on a disjoint random held-in
subset (Zhang et al. 2022); the winner predicts every held-out example.
"""
import json
from pathlib import Path

import numpy as np

from _common import run_rule  # first: puts the repository on sys.path
from npeff._atomic import atomic_path
from npeff.analysis.icl import context_text, icl_log_probs
from npeff.data import read_jsonl
from npeff.models import load_model
from npeff_workflow.registry import task_spec
from npeff_workflow.tables import write_csv


def main(*, model_dir, heldin, heldout, info, outputs, settings, task, device):
    """settings: the config's `icl` section (seed, n_shots, n_contexts, selection_examples)."""
    s = settings
    train, test = read_jsonl(heldin), read_jsonl(heldout)
    labels = json.loads(Path(info).read_text())["label_names"]
    spec = task_spec(task)
    model, tokenizer = load_model(model_dir, device)

    rng = np.random.default_rng(s["seed"])
    order = rng.permutation(len(train))
    n_select = min(s["selection_examples"], len(train) - s["n_shots"])
    selection, pool = order[:n_select], order[n_select:]
    if len(pool) < s["n_shots"]:
        raise ValueError(f"{heldin}: {len(train)} held-in examples cannot give {n_select} "
                         f"selection examples and {s['n_shots']}-shot contexts")
    select_texts = [train[i]["text"] for i in selection]
    select_labels = np.array([train[i]["label"] for i in selection])
    candidates = []
    for trial in range(s["n_contexts"]):
        shots = [train[i] for i in rng.choice(pool, size=s["n_shots"], replace=False)]
        context = context_text(spec, [(ex["text"], labels[ex["label"]]) for ex in shots], labels)
        preds = icl_log_probs(model, tokenizer, spec, context, select_texts, labels).argmax(1).numpy()
        accuracy = 100.0 * float((preds == select_labels).mean())
        candidates.append({"trial": trial, "accuracy": accuracy, "shot_ids": [ex["id"] for ex in shots],
                           "context": context})
        print(f"context {trial}: accuracy {accuracy:.1f}% on {n_select} held-in examples")
    best = max(candidates, key=lambda c: c["accuracy"])
    log_probs = icl_log_probs(model, tokenizer, spec, best["context"], [ex["text"] for ex in test], labels)
    rows = [{"id": ex["id"], "label": ex["label"], "icl_pred": int(pred)}
            for ex, pred in zip(test, log_probs.argmax(1).tolist())]
    print(f"best context {best['trial']}: held-out accuracy "
          f"{100 * np.mean([r['label'] == r['icl_pred'] for r in rows]):.1f}%")
    write_csv(Path(outputs.predictions), rows)
    with atomic_path(Path(outputs.contexts)) as tmp:
        tmp.write_text(json.dumps({"best_trial": best["trial"], "selection_examples": n_select,
                                   "candidates": candidates}, indent=1))


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
