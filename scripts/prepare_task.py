"""Rule prepare_task: load a dataset, sample a fixed-seed held-in / held-out split."""
import json
from pathlib import Path

from _common import start

start(snakemake)
from npeff.data import load_dataset, split_examples, write_jsonl  # noqa: E402
from npeff_workflow.registry import TASK_REGISTRY  # noqa: E402

task, cfg = snakemake.wildcards.task, snakemake.params.task
dataset = load_dataset(cfg["source"], packages_dir=snakemake.input[0] if snakemake.input else None,
                       path=cfg.get("path"), label_names=cfg.get("label_names"))
if TASK_REGISTRY[task].labelled and not dataset.label_names:
    raise ValueError(f"task {task} needs labelled data; source {cfg['source']!r} has no label names")
for ex in dataset.examples:
    ex["text"] = ex["text"][:snakemake.params.max_text_chars]
heldin, heldout = split_examples(dataset.examples, cfg["n_examples"], cfg["heldout_fraction"], snakemake.params.seed)
write_jsonl(Path(snakemake.output.heldin), heldin)
write_jsonl(Path(snakemake.output.heldout), heldout)
info = {"task": task, "source": cfg["source"], "dataset": dataset.name, "stands_in_for": dataset.stands_in_for,
        "label_names": dataset.label_names, "n_heldin": len(heldin), "n_heldout": len(heldout)}
Path(snakemake.output.info).write_text(json.dumps(info, indent=2))
print(json.dumps(info))
