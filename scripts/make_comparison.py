"""Rule make_comparison: every number the paper reports next to ours, and its claims checked (comparison.md)."""
from pathlib import Path

import yaml

from _common import run_rule  # first: puts the repository on sys.path
from npeff_workflow.comparison import CLAIMS, check_claim, compare, read_cells, read_rows
from npeff_workflow.tables import fmt, markdown_table, write_csv, write_text


def main(*, paper, tables, figures, pef_spread, outputs, table_numbers, config_name):
    paper_cells = yaml.safe_load(Path(paper).read_text())
    paths = {f"table{n}": path for n, path in zip(table_numbers, tables)}
    paths.update({Path(path).stem: path for path in figures})
    ours = read_cells(paths)
    rows = compare(paper_cells, ours)
    write_csv(Path(outputs.csv), rows)

    verdict = {True: "pass", False: "FAIL", None: "not checked (cells missing)"}
    claim_rows = [(c, check_claim(c, ours), check_claim(c, paper_cells)) for c in CLAIMS]
    n_pass = sum(r is True for _, r, _ in claim_rows)
    n_checked = sum(r is not None for _, r, _ in claim_rows)
    lines = [f"# Reproduced vs paper (config {config_name})", "",
             f"{sum(r['status'] == 'compared' for r in rows)} cells compared; "
             f"{n_pass} of {n_checked} checked claims hold on our numbers ({len(CLAIMS)} claims in all). "
             "The paper's numbers are `config/paper_numbers.yaml` (SmolLM2-360M on the full datasets; Tables 7-8 "
             "on an A6000); a scaled-down config is not expected to match them cell by cell: the claims are "
             "what should carry over.", "", "## Claims", ""]
    lines += [markdown_table(["Section", "Claim", "Ours", "Paper"],
                             [[c.section, c.text, verdict[ours_ok], verdict[paper_ok]]
                              for c, ours_ok, paper_ok in claim_rows],
                             "Qualitative claims checked on the reproduced cells and on the paper's own")]
    # the PEF-spread diagnostic of the task each cell belongs to: near 1, no component can be selective
    spread = {r["task"]: float(r["mean_abs_cos"]) for r in read_rows(Path(pef_spread))}
    lines += ["## PEF spread", "", markdown_table(
        ["Task", "Mean abs cos between examples' PEFs", "Top-direction share"],
        [[r["task"], fmt(float(r["mean_abs_cos"]), 2), fmt(float(r["top_direction_share"]), 2)]
         for r in read_rows(Path(pef_spread))],
        "How parallel each task's PEFs are (tables/pef_spread.md); the last column of every table below repeats it")]

    def cell_spread(cell: str) -> str:
        tasks = [part for part in cell.split("/") if part in spread]
        return fmt(spread[tasks[0]], 2) if tasks else ""

    for table in dict.fromkeys(r["table"] for r in rows):
        body = [[r["cell"], fmt(r["paper"], 3), fmt(r["ours"], 3), fmt(r["difference"], 3), r["status"],
                 cell_spread(r["cell"])] for r in rows if r["table"] == table]
        if body:
            lines += [f"## {table.capitalize()}", "",
                      markdown_table(["Cell", "Paper", "Ours", "Ours - paper", "Status", "PEF mean abs cos"], body,
                                     table)]
    write_text(Path(outputs.md), "\n".join(lines))
    print("\n".join(lines[:3]))


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
