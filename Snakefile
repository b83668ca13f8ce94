# NPEFF reproduction workflow. See README.md.
#   snakemake --cores all                       everything, embedded default config
#   snakemake --cores all table1                one target
#   snakemake --cores all --configfile config/paper.yaml
import re
import sys

from snakemake.utils import min_version, validate

min_version("9.0")


# The embedded default, unless --configfile names another config: Snakemake would otherwise
# deep-merge the two, and e.g. a config with one task would inherit the default's four.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"



sys.path.insert(0, workflow.basedir)  # npeff_workflow and npeff's torch-free modules, installed or not
from npeff_workflow.config import check_config

check_config(config, workflow.source_path("config/schema.yaml"))  # every fault, named by its key
validate(config, "config/schema.yaml", set_default=True)  # then the defaults


include: "rules/common.smk"


include: "rules/grids.smk"  # reads the validated config (defaults filled)
include: "rules/sharding.smk"


wildcard_constraints:
    model="|".join(re.escape(m) for m in MODELS),


include: "rules/resources.smk"
include: "rules/data.smk"
include: "rules/signals.smk"
include: "rules/decompose.smk"
include: "rules/baselines.smk"
include: "rules/experiments.smk"
include: "rules/analysis.smk"
include: "rules/groundtruth.smk"
include: "rules/ablations.smk"
include: "rules/shards.smk"  # after signals and projection_signals, which it shards
include: "rules/paper.smk"


rule all:
    default_target: True
    input:
        all_outputs(),


# Everything that reads from the internet (datasets, models): `snakemake download` on a machine
# that has it, before a cluster run whose compute nodes have none.
rule download:
    input:
        [f"{RESULTS}/data/{t}/{s}.jsonl" for t in TASKS for s in ("heldin", "heldout")],
        [f"{RES}/models/{m}" for m in MODELS],


localrules:
    download,


# One target per artifact; each builds only what it needs (e.g. `snakemake --cores all table5`).
for _n in range(1, 14):

    rule:
        name:
            f"table{_n}"
        input:
            table_target(_n),


rule figure1:
    input:
        figure_outputs("figure1"),


rule figure2:
    input:
        require_ablation("eps_rank", EPS_TASK),
        figure_outputs("figure2"),


rule figure3:
    input:
        require_ablation("eps_rank", EPS_TASK),
        figure_outputs("figure3"),


rule appendix_j:
    input:
        appendix_j_outputs(),


rule comparison:
    input:
        comparison_outputs(),


rule groundtruth:
    input:
        groundtruth_outputs(),
