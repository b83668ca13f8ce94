"""The workflow config, checked once before any rule reads it, so every fault names its key:
the schema (config/schema.yaml), the relations between keys that a schema cannot express, the
model names and the ablation grids' TSV files (the ground-truth toys: npeff_workflow.toys, once
defaults are filled).
Torch-free: the Snakefile's own process runs it."""
from __future__ import annotations

import jsonschema
import pandas as pd
import yaml

from npeff.data import PACKAGES, split_sizes
from npeff_workflow.registry import TASKS as KNOWN_TASKS

RESULT_FOLDERS = ("data", "tables", "figures", "logs", "benchmarks")  # results/<name>/ folders a model cannot be
GRID_COLUMNS = {"projection_dim": ["dim", "density"], "n_components": ["task", "n_components"], "seeds": ["seed"],
                "eps_rank": ["eps", "svd_rank"]}


def check_config(cfg, schema_path):
    """Fail with every schema violation named by its config key (before validate() fills defaults),
    then with every choice the schema cannot express (check_config_relations)."""
    with open(schema_path) as f:
        schema = yaml.safe_load(f)
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(cfg), key=lambda e: list(e.path))
    lines = [f"  config key '{'.'.join(map(str, e.path)) or '<top level>'}': {e.message}" for e in errors]
    if not lines:
        heldout_default = schema["$defs"]["task"]["properties"]["heldout_fraction"]["default"]
        lines = [f"  config key '{key}': {message}"
                 for key, message in check_config_relations(cfg, heldout_default)]
        lines += [f"  {message}" for message in model_name_errors(cfg)]
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
            yield f"{where}.svd_rank", (f"{task['svd_rank']} exceeds eps_rows {task['eps_rows']}: the SVD keeps "
                                        "at most as many rows as the expectation projection makes")
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


def model_name_errors(cfg):
    """Messages for model names that clash: an extra model named like the main one or like a
    results folder, or running a task the config does not have."""
    main = cfg["model"]["name"]
    tasks = list(cfg["tasks"])
    models = {main: tasks, **{name: spec["tasks"] for name, spec in cfg.get("extra_models", {}).items()}}
    if main in cfg.get("extra_models", {}):
        yield f"config key 'extra_models.{main}': is the main model's name; give the extra model another"
    for name, model_tasks in models.items():
        if name in RESULT_FOLDERS:
            yield f"model name {name!r} is also a folder of results/{cfg['name']}/; rename the model"
        if not set(model_tasks) <= set(tasks):
            yield (f"config key 'extra_models.{name}.tasks': {sorted(set(model_tasks) - set(tasks))} "
                   f"not among the config's tasks {tasks}")


def read_grid(name: str, path: str, where_path: str, config_tasks: list[str], heldin_count) -> pd.DataFrame:
    """ablations.<name>.grid (read from where_path) as a table of its rows, each setting checked
    with a clear message; rows of tasks this config does not run are left out (a grid serves many
    configs). heldin_count(task) -> the task's held-in examples."""
    where = f"config key 'ablations.{name}.grid' ({path})"
    try:
        df = pd.read_csv(where_path, sep="\t", dtype=str)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise ValueError(f"{where}: cannot read a tab-separated grid: {e}") from None
    if list(df.columns) != GRID_COLUMNS[name]:
        raise ValueError(f"{where}: columns must be {GRID_COLUMNS[name]}, found {list(df.columns)}")
    if df.empty or df.duplicated().any():
        raise ValueError(f"{where}: needs at least one row and no repeated rows")
    for col in df.columns:
        if col == "task":
            bad = sorted(set(df[col]) - set(KNOWN_TASKS))
            if bad:
                raise ValueError(f"{where}: tasks {bad} are none of {list(KNOWN_TASKS)}")
        elif not df[col].str.fullmatch(r"[1-9]\d*|0").all():
            raise ValueError(f"{where}: column {col!r} must hold non-negative integers, found {df[col].tolist()}")
    if name == "eps_rank" and (df["svd_rank"].astype(int) > df["eps"].astype(int)).any():
        raise ValueError(f"{where}: svd_rank must not exceed eps in any row")
    if name in ("projection_dim", "eps_rank") and (df[GRID_COLUMNS[name]].astype(int) < 1).any().any():
        raise ValueError(f"{where}: every value must be >= 1")
    if "task" in df.columns:
        df = df[df["task"].isin(config_tasks)].reset_index(drop=True)
    if name == "n_components":
        for task, C in df.itertuples(index=False):
            if int(C) > heldin_count(task):
                raise ValueError(f"{where}: {C} components for task {task}, which has {heldin_count(task)} held-in "
                                 "examples")
    return df


def ablation_task(cfg: dict, name: str) -> str | None:
    """The ablation's task, or None when this config does not run it."""
    task = cfg["ablations"][name]["task"]
    if task not in KNOWN_TASKS:
        raise ValueError(f"config key 'ablations.{name}.task': {task!r} is none of {list(KNOWN_TASKS)}")
    return task if task in cfg["tasks"] else None
