"""Rule make_figure1: top held-out examples of one component per task (Figure 1).

The component shown is, per task, the eligible component (>= top_k active examples)
with the largest mean coefficient over its top_k examples: a rule, not a hand pick.
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
from npeff_workflow.tables import task_title  # noqa: E402

p = snakemake.params
panels = []
for task, coef_path, ex_path, info_path in zip(p.tasks, snakemake.input.coefficients, snakemake.input.examples,
                                                snakemake.input.infos):
    W = io.read_coefficients(coef_path)[0]["W"]
    tops = top_examples(W, k=p.top_k, min_coefficient=p.min_coefficient)  # as the tunings rule
    eligible = [c for c, top in enumerate(tops) if top is not None]
    info = json.loads(Path(info_path).read_text())
    examples = read_jsonl(Path(ex_path))
    title = task_title(task, info)
    if not eligible:
        panels.append({"title": f"{title}: no component has {p.top_k} active examples", "examples": []})
        continue
    best = max(eligible, key=lambda c: float(np.mean(W[tops[c], c])))
    panels.append({"title": f"{title}, component {best}",
                   "examples": [examples[i]["text"] for i in tops[best][:p.n_examples]]})
top_examples_figure(panels, Path(snakemake.output.pdf), Path(snakemake.output.png),
                    f"Figure 1: top held-out examples of selected NPEFF components (config {p.config_name}).")
