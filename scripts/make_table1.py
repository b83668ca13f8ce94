"""Rules make_table1 and make_table9 (the extra models: Appendix F): percent of prediction- and LnP-tuned
components, CSV / Markdown / LaTeX."""
import json
from pathlib import Path

from _common import run_rule  # first: puts the repository on sys.path
from npeff import io
from npeff.analysis.tunings import purity_chance, random_majority_share, read_tunings, tuning_percentages
from npeff_workflow.registry import METHOD_TITLES, TASK_TITLES
from npeff_workflow.tables import fmt, latex_table, markdown_table, pivot, tuning_table, write_csv, write_text


def main(*, tunings, infos, outputs, entries, model_name, config_name, heldout=(), top_k=None, number=1):
    """heldout: Table 1's held-out PEF files, for the chance that top_k random ones look tuned
    (Table 9 has none)."""
    rows, stand_ins = [], []
    for entry, path, info_path in zip(entries, tunings, infos):
        info = json.loads(Path(info_path).read_text())
        rows.append({**entry, "dataset": info["dataset"], "stands_in_for": info["stands_in_for"],
                     **tuning_percentages(read_tunings(path))})
        if info["stands_in_for"]:
            stand_ins.append(f"{TASK_TITLES[entry['task']]}: {info['dataset']}")
    stand_ins = list(dict.fromkeys(stand_ins))
    write_csv(Path(outputs.csv), rows)

    if len({r.get("model") for r in rows}) > 1:  # several extra models: a row per model and method
        for r in rows:
            r["method"] = f"{r['method']} ({r['model']})"
    methods, tasks, by_key = pivot(rows)
    caption = (f"Table {number}: percentages of components exhibiting tunings "
               f"(Pred; LnP = label- but not prediction-tuned), "
               f"model {model_name}, config {config_name}")
    if stand_ins:
        caption += "; stand-in datasets: " + ", ".join(stand_ins)
    header, body = tuning_table(rows, tasks, methods, caption)
    chance = []  # Table 1 only: how likely k random held-out examples look tuned, per task
    for path in heldout:
        signals, attrs = io.read_pefs(path)
        task = str(attrs["task"])
        has_labels = bool((signals["labels"] >= 0).any())
        chance.append([TASK_TITLES.get(task, task), str(len(signals["preds"])),
                       f"{purity_chance(signals['preds'], top_k):.2g}",
                       f"{purity_chance(signals['labels'], top_k):.2g}" if has_labels else "-",
                       fmt(random_majority_share(signals["preds"], top_k), 2)]
                      + [fmt(r["pred_majority_share"], 2) if (r := by_key.get((m, task))) else "–" for m in methods])
    text = markdown_table(header, body, caption)
    if chance:
        text += "\n" + markdown_table(
            ["Task", "Held-out examples", "P(prediction-pure)", "P(label-pure)", "Random majority share"]
            + [f"{METHOD_TITLES.get(m, m)} majority share" for m in methods], chance,
            f"Chance that {top_k} random held-out examples all share the model's prediction "
            "(would look prediction-tuned) or the gold label (LnP needs label-pure top examples); "
            f"majority share: the share of {top_k} examples holding their most common prediction, "
            f"expected for {top_k} random ones and averaged over each method's eligible components' "
            f"top {top_k} (above the random share: the components follow the predictions, purity aside)")
    write_text(Path(outputs.md), text)
    write_text(Path(outputs.tex), latex_table(header, body, caption, f"tab:tunings{number}"))
    print(text)


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
