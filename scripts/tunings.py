"""Rule tunings: prediction / label / LnP tuning of every component on held-out examples."""
from pathlib import Path

from _common import run_rule  # first: puts the repository on sys.path
from npeff import io
from npeff.analysis.tunings import component_tunings, tuning_percentages
from npeff_workflow.tables import write_csv


def main(*, coefficients, pefs, outputs, top_k, min_coefficient):
    """pefs: the held-out PEF file, for the examples' predictions and labels."""
    arrays, _ = io.read_coefficients(coefficients)
    signals, _ = io.read_pefs(pefs)
    rows = component_tunings(arrays["W"], signals["preds"], signals["labels"], k=top_k,
                             min_coefficient=min_coefficient)
    write_csv(Path(outputs[0]), rows)
    print(tuning_percentages(rows))


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
