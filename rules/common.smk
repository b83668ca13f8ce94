# Helpers shared by the rules: config checks with clear messages, paths, targets.
import sys

import jsonschema
import yaml

sys.path.insert(0, workflow.basedir)  # npeff's torch-free modules, installed or not
from npeff.data import PACKAGES as SOURCE_PACKAGES  # the PyPI archive each offline source reads


def check_config(cfg, schema_path):
    """Fail with every schema violation named by its config key (before validate() fills defaults)."""
    with open(schema_path) as f:
        schema = yaml.safe_load(f)
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(cfg), key=lambda e: list(e.path))
    if errors:
        lines = [f"  config key '{'.'.join(map(str, e.path)) or '<top level>'}': {e.message}" for e in errors]
        raise ValueError("invalid workflow configuration:\n" + "\n".join(lines))


RESULTS = f"results/{config['name']}"
RES = config.get("resources_dir", "resources")
TASKS = list(config["tasks"])
MODEL_DIR = f"{RES}/models/{config['model']['name']}"


def package_dir(requirement):
    return f"{RES}/packages/{requirement.split('==')[0]}"


def requirement_of(package):
    wanted = list(SOURCE_PACKAGES.values())
    if config["model"]["source"] == "gguf_package":
        wanted.append(config["model"]["package"])
    for req in wanted:
        if req.split("==")[0] == package:
            return req
    raise ValueError(f"no pinned requirement for package {package!r}")


def model_inputs(wildcards):
    if config["model"]["source"] == "gguf_package":
        return [package_dir(config["model"]["package"])]
    return []


def data_inputs(wildcards):
    source = task_cfg(wildcards.task)["source"]
    if source in SOURCE_PACKAGES:
        return [package_dir(SOURCE_PACKAGES[source])]
    if source == "jsonl":
        return [task_cfg(wildcards.task)["path"]]
    return []


def task_cfg(task):
    return config["tasks"][task]


def decomposition_gpus(task):
    """Processes (GPUs) for a task's decompositions: > 1 splits the examples (torchrun)."""
    return task_cfg(task).get("decomposition_gpus", config["decomposition"]["gpus"])


def log_path(rule_name, *parts):
    return f"{RESULTS}/logs/{rule_name}/{'_'.join(parts) or 'main'}.log"


def bench_path(rule_name, *parts):
    return f"{RESULTS}/benchmarks/{rule_name}/{'_'.join(parts) or 'main'}.tsv"


def main_decompositions(method="npeff"):
    """The decomposition of each task that Table 1 and Figure 1 report: the first seed."""
    seed = config["decomposition"]["seeds"][0]
    return [(t, f"{method}_c{task_cfg(t)['n_components']}_s{seed}") for t in TASKS]


def table1_outputs():
    return expand(f"{RESULTS}/tables/table1.{{ext}}", ext=["csv", "md", "tex"])


def figure1_outputs():
    return expand(f"{RESULTS}/figures/figure1.{{ext}}", ext=["pdf", "png"])
