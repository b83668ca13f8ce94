"""Writing tables as CSV, Markdown and LaTeX from tidy rows."""
from __future__ import annotations

import csv
import math
from pathlib import Path

from npeff._atomic import atomic_path
from npeff.analysis.selectivity import geometric_mean
from npeff_workflow.registry import METHOD_TITLES, TASK_TITLES



def task_title(task: str, info: dict) -> str:
    """'SST2', or 'SST2 (stand-in: rotten_tomatoes)' when the data stand in for the paper's."""
    return TASK_TITLES.get(task, task) + (f" (stand-in: {info['dataset']})" if info["stands_in_for"] else "")


def fmt(value, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def pivot(rows: list[dict], row_key: str = "method", column_key: str = "task"):
    """The tables' method x task layout of tidy rows: (row values, column values, each in order of
    first appearance, and {(row value, column value): row})."""
    row_values = list(dict.fromkeys(r[row_key] for r in rows))
    column_values = list(dict.fromkeys(r[column_key] for r in rows))
    return row_values, column_values, {(r[row_key], r[column_key]): r for r in rows}


def read_perturbations(path) -> dict:
    """A perturb rule's CSV (one row per component) -> n_components, n_baseline (the random baseline
    drawn, before each component's own top examples are left out of it), the mean number of top
    examples it held, and the geometric means of the KL and PEF-norm ratios (Tables 2, 6, 10); also
    of the KL ratio with the top examples kept in the baseline, where the CSV has it."""
    with open(path) as f:
        components = list(csv.DictReader(f))
    in_baseline = [int(c.get("n_top_in_baseline") or 0) for c in components]
    with_top = [c["kl_ratio_with_top"] for c in components if c.get("kl_ratio_with_top")]
    return {"n_components": len(components),
            "n_baseline": int(components[0]["n_baseline"]) + in_baseline[0] if components else 0,
            "mean_top_in_baseline": sum(in_baseline) / len(in_baseline) if in_baseline else 0.0,
            "kl_ratio": geometric_mean(float(c["kl_ratio"]) for c in components),
            "norm_ratio": geometric_mean(float(c["norm_ratio"]) for c in components),
            "kl_ratio_with_top": geometric_mean(float(v) for v in with_top) if len(with_top) == len(components)
            else None}


def write_table(outputs, rows: list[dict], header: list[str], body: list[list[str]], caption: str, label: str) -> None:
    """rows to outputs.csv; the formatted table to outputs.md and outputs.tex."""
    write_csv(Path(outputs.csv), rows)
    write_text(Path(outputs.md), markdown_table(header, body, caption))
    write_text(Path(outputs.tex), latex_table(header, body, caption, label))
    print(markdown_table(header, body, caption))


def write_csv(path: Path, rows: list[dict], fieldnames: list[str] | None = None) -> None:
    """rows as CSV; fieldnames default to the first row's keys (needed when rows is empty)."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fieldnames or list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def markdown_table(header: list[str], body: list[list[str]], caption: str) -> str:
    lines = [f"**{caption}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def latex_table(header: list[str], body: list[list[str]], caption: str, label: str) -> str:
    def esc(s: str) -> str:
        return s.replace("&", r"\&").replace("%", r"\%").replace("_", r"\_").replace("–", "--")

    cols = "l" + "r" * (len(header) - 1)
    lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{esc(caption)}}}", rf"\label{{{label}}}",
             rf"\begin{{tabular}}{{{cols}}}", r"\toprule", " & ".join(esc(h) for h in header) + r" \\", r"\midrule"]
    lines += [" & ".join(esc(c) for c in row) + r" \\" for row in body]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def tuning_table(rows: list[dict], tasks: list[str], methods: list[str], caption: str):
    """Table 1's layout: a row per method, Pred and LnP per task (Pred only without labels).

    rows: tidy dicts with method, task, pred_pct, lnp_pct. Returns (header, body).
    """
    _, _, by_key = pivot(rows)
    # LnP columns only for tasks with labels (not TriviaQA)
    has_lnp = {t: any(by_key.get((m, t), {}).get("lnp_pct") is not None for m in methods) for t in tasks}
    header = ["Method"]
    for task in tasks:
        title = TASK_TITLES.get(task, task)
        header += [f"{title} Pred"] + ([f"{title} LnP"] if has_lnp[task] else [])
    body = []
    for method in methods:
        line = [METHOD_TITLES.get(method, method)]
        for task in tasks:
            r = by_key.get((method, task), {})
            line += [fmt(r.get("pred_pct"))] + ([fmt(r.get("lnp_pct"))] if has_lnp[task] else [])
        body.append(line)
    return header, body
