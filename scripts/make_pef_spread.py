"""Rule make_pef_spread: the PEF-spread diagnostic of every task as CSV / Markdown / LaTeX."""
import json
from pathlib import Path

from _common import run_rule  # first: puts the repository on sys.path
from npeff_workflow.registry import TASK_TITLES
from npeff_workflow.tables import write_table


def main(*, inputs, outputs, model_name, config_name):
    rows = [json.loads(Path(path).read_text()) for path in inputs]
    for row in rows:
        row["param_include"] = " ".join(row["param_include"])
        row["param_exclude"] = " ".join(row["param_exclude"])
    header = ["Task", "Mean abs cos", "Top-direction share", "Examples", "Parameters", "Rows"]
    body = [[TASK_TITLES.get(r["task"], r["task"]), f"{r['mean_abs_cos']:.2f}", f"{r['top_direction_share']:.2f}",
             str(r["n_examples"]), f"{r['n_parameters']:,}", str(r["rows"])] for r in rows]
    caption = ("PEF spread: mean |cos| between examples' PEFs and the share of their top direction "
               f"(near 1: nearly parallel PEFs, no selective component possible); model {model_name}, "
               f"config {config_name}"
               + (f", parameters `{rows[0]['param_include']}` except `{rows[0]['param_exclude']}`" if rows else ""))
    write_table(outputs, rows, header, body, caption, "tab:pef_spread")


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
