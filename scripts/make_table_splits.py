"""Rules make_table12 / make_table13: preserved prediction tunings across component splits (Appendix H).

For every pair of NPEFF decompositions with C1 < C2 components (the n_components grid), each fine
component is matched to the coarse one whose held-out coefficient vector is most similar; among
matches to prediction-tuned coarse components, the percentage tuned to the same prediction.
"""
import itertools

from _common import run_rule  # first: puts the repository on sys.path
from npeff import io
from npeff.analysis.similarity import preserved_tuning
from npeff_workflow.registry import TASK_TITLES
from npeff_workflow.tables import fmt, write_table


def main(*, heldout, coefficients, outputs, components, task, top_k, min_coefficient, number, model_name, config_name):
    preds = io.read_pefs(heldout)[0]["preds"]
    W = {c: io.read_coefficients(path)[0]["W"] for c, path in zip(components, coefficients)}
    rows = [{"task": task, "n_components_1": c1, "n_components_2": c2,
             **preserved_tuning(W[c1], W[c2], preds, k=top_k, min_coefficient=min_coefficient)}
            for c1, c2 in itertools.combinations(sorted(W), 2)]
    header = ["NPEFF comps 1", "NPEFF comps 2", "Percent of tuned matches", "Matches counted"]
    body = [[str(r["n_components_1"]), str(r["n_components_2"]), fmt(r["percent"]), str(r["n_matches"])] for r in rows]
    caption = (f"Table {number}: percentage of components of NPEFF decomposition 2 matched to a prediction-tuned "
               f"component of decomposition 1 that keep its prediction tuning, {TASK_TITLES.get(task, task)}; "
               f"model {model_name}, config {config_name}")
    write_table(outputs, rows, header, body, caption, f"tab:splits-{task}")


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
