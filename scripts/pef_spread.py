"""Rule pef_spread: how parallel a task's held-in PEFs are (npeff.analysis.spread), as JSON."""
import json
from pathlib import Path

from _common import start

start(snakemake)
from npeff import io  # noqa: E402
from npeff._atomic import atomic_path  # noqa: E402
from npeff.analysis.spread import pef_spread  # noqa: E402

signals, attrs = io.read_pefs(snakemake.input[0])
settings = snakemake.params.settings
spread = pef_spread(signals["G"], n_sample=settings["n_sample"], seed=settings["seed"])
result = {"task": snakemake.wildcards.task, "model": snakemake.wildcards.model, **spread,
          "n_parameters": int(attrs["n_parameters"]), "param_include": [str(s) for s in attrs["param_include"]],
          "param_exclude": [str(s) for s in attrs["param_exclude"]], "projected_dim": int(attrs["projection_out_dim"]),
          "rows": int(signals["G"].shape[1])}
with atomic_path(Path(snakemake.output[0])) as tmp:
    tmp.write_text(json.dumps(result, indent=1))
print(result)
