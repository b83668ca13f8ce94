"""Rule tunings: prediction / label / LnP tuning of every component on held-out examples."""
from pathlib import Path

from _common import start

start(snakemake)
from npeff import io  # noqa: E402
from npeff.analysis.tunings import component_tunings, tuning_percentages  # noqa: E402
from npeff_workflow.tables import write_csv  # noqa: E402

coefficients, _ = io.read_coefficients(snakemake.input.coefficients)
signals, _ = io.read_pefs(snakemake.input.pefs)
rows = component_tunings(coefficients["W"], signals["preds"], signals["labels"], k=snakemake.params.top_k,
                         min_coefficient=snakemake.params.min_coefficient)
write_csv(Path(snakemake.output[0]), rows)
print(tuning_percentages(rows))
