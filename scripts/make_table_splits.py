"""Rules make_table12 / make_table13: preserved prediction tunings across component splits (Appendix H).

For every pair of NPEFF decompositions with C1 < C2 components (the n_components grid), each fine
component is matched to the coarse one whose held-out coefficient vector is most similar; among
matches to prediction-tuned coarse components, the percentage tuned to the same prediction.
"""
import itertools

from _common import start

start(snakemake)
from npeff import io  # noqa: E402
from npeff.analysis.similarity import preserved_tuning  # noqa: E402
from npeff_workflow.registry import TASK_TITLES  # noqa: E402
from npeff_workflow.tables import fmt, write_table  # noqa: E402

p = snakemake.params
preds = io.read_pefs(snakemake.input.heldout)[0]["preds"]
W = {c: io.read_coefficients(path)[0]["W"] for c, path in zip(p.components, snakemake.input.coefficients)}
rows = [{"task": p.task, "n_components_1": c1, "n_components_2": c2,
         **preserved_tuning(W[c1], W[c2], preds, k=p.top_k, min_coefficient=p.min_coefficient)}
        for c1, c2 in itertools.combinations(sorted(W), 2)]
header = ["NPEFF comps 1", "NPEFF comps 2", "Percent of tuned matches", "Matches counted"]
body = [[str(r["n_components_1"]), str(r["n_components_2"]), fmt(r["percent"]), str(r["n_matches"])] for r in rows]
caption = (f"Table {p.number}: percentage of components of NPEFF decomposition 2 matched to a prediction-tuned "
           f"component of decomposition 1 that keep its prediction tuning, {TASK_TITLES.get(p.task, p.task)}; "
           f"model {p.model_name}, config {p.config_name}")
write_table(snakemake.output, rows, header, body, caption, f"tab:splits-{p.task}")
