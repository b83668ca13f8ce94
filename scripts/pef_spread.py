"""Rule pef_spread: how parallel a task's held-in PEFs are (npeff.analysis.spread), as JSON."""
import json
from pathlib import Path

from _common import run_rule  # first: puts the repository on sys.path
from npeff import io
from npeff._atomic import atomic_path
from npeff.analysis.spread import pef_spread


def main(*, pefs, outputs, settings, task, model):
    """settings: the config's `pef_spread` section (n_sample, seed)."""
    signals, attrs = io.read_pefs(pefs)
    spread = pef_spread(signals["G"], n_sample=settings["n_sample"], seed=settings["seed"])
    result = {"task": task, "model": model, **spread,
              "n_parameters": int(attrs["n_parameters"]), "param_include": [str(s) for s in attrs["param_include"]],
              "param_exclude": [str(s) for s in attrs["param_exclude"]],
              "projected_dim": int(attrs["projection_out_dim"]), "rows": int(signals["G"].shape[1])}
    with atomic_path(Path(outputs[0])) as tmp:
        tmp.write_text(json.dumps(result, indent=1))
    print(result)


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
