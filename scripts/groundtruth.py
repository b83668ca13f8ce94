"""Rule groundtruth: train one toy model from one seed, run every method, score it (JSON)."""
import json
from pathlib import Path

from _common import start

start(snakemake)
from npeff._atomic import atomic_path  # noqa: E402
from npeff_workflow.groundtruth import run_toy  # noqa: E402

result = run_toy(snakemake.params.groundtruth, snakemake.wildcards.toy, int(snakemake.wildcards.seed))
with atomic_path(Path(snakemake.output[0])) as tmp:
    tmp.write_text(json.dumps(result, indent=1))
