# Which tasks' signals are sharded and how (rules/shards.smk has the rules): functions only.


def examples_per_shard(task):
    return task_cfg(task).get("examples_per_shard", config["examples_per_shard"])


def example_ranges(n, size):
    """[(first, end)] of n examples cut into shards of `size`, in example order."""
    return [(lo, min(lo + size, n)) for lo in range(0, n, size)]


def shard_ranges(task, split):
    return example_ranges(split_count(task, split), examples_per_shard(task))


def eps_shard_ranges():
    """The EPS pass's shards (its first n_examples held-in examples)."""
    return example_ranges(EPS_SETTINGS["n_examples"], EPS_SETTINGS["examples_per_shard"])


def shard_example_range(wc):
    """params.example_range of a signals shard job."""
    return shard_ranges(wc.task, wc.split)[int(wc.shard)]


def shard_times_objects(wc):
    """Table 7 times each object on the first held-in batch: the first held-in shard's."""
    return wc.split == "heldin" and wc.shard == "0"


def check_whole_batches(key, size, task):
    batch = task_cfg(task).get("batch_size", config["batch_size"])
    if size % batch:
        raise ValueError(f"config key '{key}': {size} is not a multiple of the batch size {batch} of task {task} "
                         "(a shard must hold whole batches to give the unsharded result)")


SHARDED_TASKS = [t for t in TASKS if examples_per_shard(t) and examples_per_shard(t) < heldin_count(t)]
for _task in SHARDED_TASKS:
    check_whole_batches(f"tasks.{_task}.examples_per_shard" if "examples_per_shard" in task_cfg(_task)
                        else "examples_per_shard", examples_per_shard(_task), _task)
EPS_SHARDED = bool(EPS_TASK and EPS_SETTINGS["examples_per_shard"]
                   and EPS_SETTINGS["examples_per_shard"] < EPS_SETTINGS["n_examples"])
if EPS_SHARDED:
    check_whole_batches("ablations.eps_rank.examples_per_shard", EPS_SETTINGS["examples_per_shard"], EPS_TASK)


def eps_pass_in_signals():
    """The EPS grid's pass is the task's held-in signals pass (rule eps_signals) when that pass
    forms the same rows: the task's own EPS is the grid's largest, neither pass is sharded, and
    the task is not Table 4's (whose signals rule is projection_signals). Else eps_pefs runs."""
    return bool(EPS_TASK and task_cfg(EPS_TASK).get("eps_rows") == EPS_MAX and not EPS_SHARDED
                and EPS_TASK not in SHARDED_TASKS and not (projection_grid_extras() and EPS_TASK == PROJECTION_TASK))


def shard_files(wc, kind):
    """One shard file per shard of the split: `kind` is pefs, grads, acts or a grid point's name."""
    return [f"{RESULTS}/{wc.model}/shards/{wc.task}/{wc.split}/{i}/{kind}.h5"
            for i in range(len(shard_ranges(wc.task, wc.split)))]


def signals_benchmarks(model, task):
    """Benchmark files of every job that computed the task's signals (both splits, every shard)."""
    if task not in SHARDED_TASKS:
        return [bench_path("signals", model, task, split) for split in ("heldin", "heldout")]
    return [bench_path("signals", model, task, split, f"shard{i}")
            for split in ("heldin", "heldout") for i in range(len(shard_ranges(task, split)))]


def grid_point_name(dim, density):
    return f"grid_dim~{dim}_density~{density}"
