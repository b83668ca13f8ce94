"""Rule make_table4: NPEFF tunings as the projected dimension varies (Table 4)."""
import json
from pathlib import Path

from _common import run_rule  # first: puts the repository on sys.path
from npeff_workflow.tables import fmt, task_title, write_table


def main(*, results, info, outputs, task, model_name, config_name):
    rows = [json.loads(Path(path).read_text()) for path in results]
    rows = sorted(({k: r[k] for k in ("dim", "density", "n_components", "pred_pct", "lnp_pct", "n_eligible",
                                      "recon_in", "recon_out")} | {"dense": r["density"] >= r["dim"]} for r in rows),
                  key=lambda r: (r["dim"], r["density"]))
    dataset = json.loads(Path(info).read_text())
    header = ["Projected dim", "Projection", "Pred", "LnP"]
    body = [[str(r["dim"]), "dense" if r["dense"] else f"sparse, density {r['density']}", fmt(r["pred_pct"]),
             fmt(r["lnp_pct"])] for r in rows]
    caption = (f"Table 4: held-out component tunings (%) of NPEFF on {task_title(task, dataset)} with "
               f"{rows[0]['n_components']} components as the random projection's dimension varies; "
               f"model {model_name}, config {config_name}")
    write_table(outputs, rows, header, body, caption, "tab:projection-dim")


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
