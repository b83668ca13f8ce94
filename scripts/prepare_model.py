"""Rule prepare_model: the config's model as a local Hugging Face folder."""
from _common import start

start(snakemake)
from npeff.models import prepare_model  # noqa: E402

prepare_model(snakemake.params.spec, snakemake.output[0], snakemake.params.packages_dir)
