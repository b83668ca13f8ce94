"""Rule make_appendix_j: top held-out examples of random NPEFF components, every task (Appendix J).

Writes a Markdown document (each example with its label and the model's
prediction, components marked with their tunings) and the same panels as a PDF.
"""
import json
from pathlib import Path

import numpy as np
from _common import start

start(snakemake)
from npeff import io  # noqa: E402
from npeff.analysis.tunings import top_examples  # noqa: E402
from npeff.data import read_jsonl  # noqa: E402
from npeff_workflow.figures import top_examples_figure  # noqa: E402
from npeff_workflow.tables import task_title, write_text  # noqa: E402

p = snakemake.params
rng = np.random.default_rng(p.seed)
lines = [f"# Appendix J: top examples of random NPEFF components (config {p.config_name})", "",
         f"For each task, {p.n_components} components drawn at random (seed {p.seed}) among those with at least "
         f"{p.top_k} held-out examples with a positive coefficient; their top {p.n_examples} held-out examples by "
         "coefficient. Each example shows its ground-truth label and the model's prediction.", ""]
panels = []
for task, coef_path, pef_path, ex_path, info_path in zip(p.tasks, snakemake.input.coefficients, snakemake.input.pefs,
                                                          snakemake.input.examples, snakemake.input.infos):
    W = io.read_coefficients(coef_path)[0]["W"]
    signals, _ = io.read_pefs(pef_path)
    info = json.loads(Path(info_path).read_text())
    names = info["label_names"]
    examples = read_jsonl(Path(ex_path))
    tops = top_examples(W, k=p.top_k, min_coefficient=p.min_coefficient)
    eligible = [c for c, top in enumerate(tops) if top is not None]
    chosen = sorted(rng.choice(eligible, size=min(p.n_components, len(eligible)), replace=False).tolist())
    title = task_title(task, info)
    lines += [f"## {title}", ""]
    if not chosen:
        lines += [f"No component has {p.top_k} held-out examples with a positive coefficient.", ""]
    for c in chosen:
        shown = tops[c][:p.n_examples]
        same_pred = len(set(signals["preds"][tops[c]].tolist())) == 1
        lines += [f"### Component {c}" + (" (prediction-tuned)" if same_pred else ""), "",
                  "| # | coefficient | label | prediction | text |", "|---|---|---|---|---|"]
        for rank, i in enumerate(shown, 1):
            label = names[signals["labels"][i]] if names and signals["labels"][i] >= 0 else "–"
            pred = names[signals["preds"][i]] if names else f"token {signals['preds'][i]}"
            text = examples[i]["text"].replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {rank} | {W[i, c]:.3g} | {label} | {pred} | {text} |")
        lines.append("")
        panels.append({"title": f"{title}, component {c}", "examples": [examples[i]["text"] for i in shown]})
write_text(Path(snakemake.output.md), "\n".join(lines))
top_examples_figure(panels, Path(snakemake.output.pdf), Path(snakemake.output.png),
                    f"Appendix J: top held-out examples of random NPEFF components (config {p.config_name}).")
