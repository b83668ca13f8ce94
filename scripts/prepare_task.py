"""Rule prepare_task: load a dataset, sample a fixed-seed held-in / held-out split."""
import json
from pathlib import Path

from _common import run_rule  # first: puts the repository on sys.path
from npeff.data import load_dataset, split_examples, write_jsonl
from npeff_workflow.registry import TASK_REGISTRY


def main(*, inputs, outputs, task, task_settings, max_text_chars, seed):
    """inputs: the source's package folder, if it has one; task_settings: the config's tasks.<task>."""
    cfg = task_settings
    dataset = load_dataset(cfg["source"], packages_dir=inputs[0] if inputs else None,
                           path=cfg.get("path"), label_names=cfg.get("label_names"))
    if TASK_REGISTRY[task].labelled and not dataset.label_names:
        raise ValueError(f"task {task} needs labelled data; source {cfg['source']!r} has no label names")
    for ex in dataset.examples:
        ex["text"] = ex["text"][:max_text_chars]
    heldin, heldout = split_examples(dataset.examples, cfg["n_examples"], cfg["heldout_fraction"], seed)
    write_jsonl(Path(outputs.heldin), heldin)
    write_jsonl(Path(outputs.heldout), heldout)
    info = {"task": task, "source": cfg["source"], "dataset": dataset.name, "stands_in_for": dataset.stands_in_for,
            "label_names": dataset.label_names, "n_heldin": len(heldin), "n_heldout": len(heldout)}
    Path(outputs.info).write_text(json.dumps(info, indent=2))
    print(json.dumps(info))


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
