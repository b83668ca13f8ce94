"""Rule prepare_model: the config's model as a local Hugging Face folder."""
from _common import start

start(snakemake)
from npeff.models import prepare_model  # noqa: E402

import json  # noqa: E402

spec = dict(snakemake.params.spec)
for path in snakemake.input.infos:  # label names of the tasks' data (a tiny random model's tokenizer)
    spec["label_names"] = sorted(set(spec["label_names"]) | set(json.load(open(path))["label_names"] or []))
prepare_model(spec, snakemake.output[0], snakemake.params.packages_dir)
