"""Rule prepare_model: the config's model as a local Hugging Face folder."""
import json

from _common import run_rule  # first: puts the repository on sys.path
from npeff.models import prepare_model


def main(*, infos, outputs, spec, packages_dir):
    """spec: the config's model mapping (source and its keys) plus label_names; infos: the tasks'
    info.json, whose label names a tiny random model's tokenizer also learns."""
    spec = {k: v for k, v in spec.items() if k != "name"}
    for path in infos:
        spec["label_names"] = sorted(set(spec["label_names"]) | set(json.loads(open(path).read())["label_names"] or []))
    prepare_model(outputs[0], packages_dir=packages_dir, **spec)


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
