"""Rule make_appendix_j: top held-out examples of random NPEFF components, every task (Appendix J).

Writes a Markdown document (each example with its label and the model's
prediction, components marked with their tunings) and the same panels as a PDF. On tasks
without label names (TriviaQA's next token) the prediction is the decoded token, quoted so that
whitespace and special tokens show.
"""
import json
from pathlib import Path

import numpy as np

from _common import run_rule  # first: puts the repository on sys.path
from npeff import io
from npeff.analysis.tunings import top_examples
from npeff.data import read_jsonl
from npeff_workflow.figures import top_examples_figure
from npeff_workflow.tables import task_title, write_text


def main(*, coefficients, pefs, examples, infos, outputs, tasks, seed, n_components, n_examples, top_k, min_coefficient,
         config_name, model_dir=None):
    rng = np.random.default_rng(seed)
    tokenizer = None
    if model_dir is not None:  # only the tokenizer: to name next-token predictions
        from transformers import AutoTokenizer
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    lines = [f"# Appendix J: top examples of random NPEFF components (config {config_name})", "",
             f"For each task, {n_components} components drawn at random (seed {seed}) among those with at least "
             f"{top_k} held-out examples with a positive coefficient; their top {n_examples} held-out examples by "
             "coefficient. Each example shows its ground-truth label and the model's prediction.", ""]
    panels = []
    for task, coef_path, pef_path, ex_path, info_path in zip(tasks, coefficients, pefs,
                                                              examples, infos):
        W = io.read_coefficients(coef_path)[0]["W"]
        signals, _ = io.read_pefs(pef_path)
        info = json.loads(Path(info_path).read_text())
        names = info["label_names"]
        texts = [ex["text"] for ex in read_jsonl(Path(ex_path))]
        tops = top_examples(W, k=top_k, min_coefficient=min_coefficient)
        eligible = [c for c, top in enumerate(tops) if top is not None]
        chosen = sorted(rng.choice(eligible, size=min(n_components, len(eligible)), replace=False).tolist())
        title = task_title(task, info)
        lines += [f"## {title}", ""]
        if not chosen:
            lines += [f"No component has {top_k} held-out examples with a positive coefficient.", ""]
        for c in chosen:
            shown = tops[c][:n_examples]
            same_pred = len(set(signals["preds"][tops[c]].tolist())) == 1
            lines += [f"### Component {c}" + (" (prediction-tuned)" if same_pred else ""), "",
                      "| # | coefficient | label | prediction | text |", "|---|---|---|---|---|"]
            for rank, i in enumerate(shown, 1):
                label = names[signals["labels"][i]] if names and signals["labels"][i] >= 0 else "–"
                pred = names[signals["preds"][i]] if names else token_name(tokenizer, int(signals["preds"][i]))
                text = texts[i].replace("|", "\\|").replace("\n", " ")
                lines.append(f"| {rank} | {W[i, c]:.3g} | {label} | {pred} | {text} |")
            lines.append("")
            panels.append({"title": f"{title}, component {c}", "examples": [texts[i] for i in shown]})
    write_text(Path(outputs.md), "\n".join(lines))
    top_examples_figure(panels, Path(outputs.pdf), Path(outputs.png),
                        f"Appendix J: top held-out examples of random NPEFF components (config {config_name}).")


def token_name(tokenizer, token_id: int) -> str:
    """A next-token prediction for a Markdown table: `' The'` (token 378), quoted, pipes escaped."""
    if tokenizer is None:
        return f"token {token_id}"
    return f"`{tokenizer.decode([token_id])!r}` (token {token_id})".replace("|", "\\|")


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
