"""Rule groundtruth: train one toy model from one seed, run every method, score it (JSON)."""
import json
from pathlib import Path

from _common import run_rule  # first: puts the repository on sys.path
from npeff._atomic import atomic_path
from npeff_workflow.groundtruth import run_toy


def main(*, outputs, groundtruth, toy, seed):
    """groundtruth: the config's `groundtruth` section; toy: the name of one of its toys."""
    result = run_toy(groundtruth, toy, int(seed))
    with atomic_path(Path(outputs[0])) as tmp:
        tmp.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
