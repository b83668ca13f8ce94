"""Rule prepare_model: the config's model as a local Hugging Face folder."""
import json

from _common import run_rule  # first: puts the repository on sys.path
from npeff.models import prepare_model


def main(*, infos, outputs, spec, packages_dir):
    """infos: the tasks' info.json, whose label names a tiny random model's tokenizer learns."""
    spec = dict(spec)
    for path in infos:
        spec["label_names"] = sorted(set(spec["label_names"]) | set(json.loads(open(path).read())["label_names"] or []))
    prepare_model(spec, outputs[0], packages_dir)


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
