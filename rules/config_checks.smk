# Config checks that run before anything reads the config, so every fault names its key.
import sys

import jsonschema
import yaml

sys.path.insert(0, workflow.basedir)  # npeff's torch-free modules, installed or not
from npeff.data import PACKAGES, split_sizes


def check_config(cfg, schema_path):
    """Fail with every schema violation named by its config key (before validate() fills defaults),
    then with every choice the schema cannot express (check_config_relations)."""
    with open(schema_path) as f:
        schema = yaml.safe_load(f)
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(cfg), key=lambda e: list(e.path))
    lines = [f"  config key '{'.'.join(map(str, e.path)) or '<top level>'}': {e.message}" for e in errors]
    if not lines:
        heldout_default = schema["$defs"]["task"]["properties"]["heldout_fraction"]["default"]
        lines = [f"  config key '{key}': {message}" for key, message in check_config_relations(cfg, heldout_default)]
    if lines:
        raise ValueError("invalid workflow configuration:\n" + "\n".join(lines))


def check_config_relations(cfg, heldout_default):
    """(key, message) for each choice that is valid alone but not with the rest of the config.
    Runs on the config as written (no defaults yet): an icl.task that names no task is a typo only
    when the user wrote it (the default, sst2, may simply not be configured: Table 3 is skipped)."""
    tasks = cfg.get("tasks", {})
    known = ["jsonl", "hub:<dataset>", *sorted(PACKAGES)]
    for name, task in tasks.items():
        where = f"tasks.{name}"
        source = task["source"]
        if source not in PACKAGES and source != "jsonl" and not (source.startswith("hub:") and len(source) > 4):
            yield f"{where}.source", f"unknown data source {source!r}; one of {known}"
        if source == "jsonl" and "path" not in task:
            yield f"{where}.path", "source 'jsonl' needs the file's path"
        if "svd_rank" in task and "eps_rows" in task and task["svd_rank"] > task["eps_rows"]:
            yield f"{where}.svd_rank", (f"{task['svd_rank']} exceeds eps_rows {task['eps_rows']}: the SVD keeps at most "
                                        "as many rows as the expectation projection makes")
        n_in, n_out = split_sizes(task["n_examples"], task.get("heldout_fraction", heldout_default))
        if task["n_components"] > n_in:
            yield f"{where}.n_components", (f"{task['n_components']} components for {n_in} held-in examples "
                                            f"(n_examples {task['n_examples']} less the held-out share); use at "
                                            f"most {n_in}")
        if min(n_in, n_out) < 1:
            yield f"{where}.heldout_fraction", f"leaves {n_in} held-in and {n_out} held-out examples; both need one"
    icl_task = cfg.get("icl", {}).get("task")
    if icl_task is not None and icl_task not in tasks:
        yield "icl.task", f"{icl_task!r} is not among the configured tasks {sorted(tasks)}"
