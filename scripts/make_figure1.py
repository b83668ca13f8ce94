"""Rule make_figure1: top held-out examples of one component per task (Figure 1).

The component shown is, per task, the eligible component (>= top_k active examples)
with the largest mean coefficient over its top_k examples: a rule, not a hand pick.
"""
import json
from pathlib import Path

import numpy as np

from _common import run_rule  # first: puts the repository on sys.path
from npeff import io
from npeff.analysis.tunings import top_examples
from npeff.data import read_jsonl
from npeff_workflow.figures import top_examples_figure
from npeff_workflow.tables import task_title


def main(*, coefficients, examples, infos, outputs, tasks, top_k, min_coefficient, n_examples, config_name):
    panels = []
    for task, coef_path, ex_path, info_path in zip(tasks, coefficients, examples, infos):
        W = io.read_coefficients(coef_path)[0]["W"]
        tops = top_examples(W, k=top_k, min_coefficient=min_coefficient)  # as the tunings rule
        eligible = [c for c, top in enumerate(tops) if top is not None]
        info = json.loads(Path(info_path).read_text())
        texts = [ex["text"] for ex in read_jsonl(Path(ex_path))]
        title = task_title(task, info)
        if not eligible:
            panels.append({"title": f"{title}: no component has {top_k} active examples", "examples": []})
            continue
        best = max(eligible, key=lambda c: float(np.mean(W[tops[c], c])))
        panels.append({"title": f"{title}, component {best}",
                       "examples": [texts[i] for i in tops[best][:n_examples]]})
    top_examples_figure(panels, Path(outputs.pdf), Path(outputs.png),
                        f"Figure 1: top held-out examples of selected NPEFF components (config {config_name}).")


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
