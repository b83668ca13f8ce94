# Ablation grids (Paramspace over config/ablations/*.tsv) and the inputs of the tables built on them.
from snakemake.utils import Paramspace


from npeff_workflow.config import ablation_task as configured_ablation_task
from npeff_workflow.config import read_grid


def grid_path(path):
    """A grid TSV: absolute, relative to the working directory, or to the workflow (config/ablations/)."""
    if os.path.isabs(path) or os.path.exists(path):
        return path
    return os.path.join(workflow.basedir, path)


def load_grid(name):
    """ablations.<name>.grid as a Paramspace over its (checked) rows."""
    path = config["ablations"][name]["grid"]
    return Paramspace(read_grid(name, path, grid_path(path), TASKS, heldin_count), filename_params="*")


def split_count(task, split):
    """Examples of a task's split ("heldin" or "heldout"), as npeff.data.split_examples splits them."""
    n_in, n_out = split_sizes(task_cfg(task)["n_examples"], task_cfg(task)["heldout_fraction"])
    return n_in if split == "heldin" else n_out


def heldin_count(task):
    return split_count(task, "heldin")


def ablation_task(name):
    """The ablation's task, or None when this config does not run it (the ablation's outputs are then
    left out of `all`, and asking for them says why)."""
    return configured_ablation_task(config, name)


def require_ablation(name, task):
    """Input function of a target: its files, or an error naming the missing task."""

    def check(wildcards):
        if task is None:
            raise ValueError(f"this needs the task '{config['ablations'][name]['task']}' (config key "
                             f"ablations.{name}.task) among the config's tasks {TASKS}")
        return []

    return check


PROJECTION_GRID = load_grid("projection_dim")
COMPONENTS_GRID = load_grid("n_components")
SEEDS_GRID = load_grid("seeds")
EPS_GRID = load_grid("eps_rank")


PROJECTION_TASK = ablation_task("projection_dim")
SEEDS_TASK = ablation_task("seeds")
EPS_TASK = ablation_task("eps_rank")
EPS_SETTINGS = config["ablations"]["eps_rank"]
if EPS_SETTINGS["seeds"][0] == EPS_SETTINGS["seeds"][1]:
    raise ValueError("config key 'ablations.eps_rank.seeds': the two seeds must differ (the second is compared "
                     "with the first)")
EPS_MAX = int(EPS_GRID.dataframe["eps"].astype(int).max())
if EPS_TASK and EPS_SETTINGS["n_examples"] > heldin_count(EPS_TASK):
    raise ValueError(f"config key 'ablations.eps_rank.n_examples': {EPS_SETTINGS['n_examples']} exceeds the "
                     f"{heldin_count(EPS_TASK)} held-in examples of {EPS_TASK}")
if EPS_TASK and EPS_SETTINGS["n_components"] > EPS_SETTINGS["n_examples"]:
    raise ValueError(f"config key 'ablations.eps_rank.n_components': {EPS_SETTINGS['n_components']} components "
                     f"for {EPS_SETTINGS['n_examples']} examples (ablations.eps_rank.n_examples)")


def projection_pefs(wc, split):
    """The main PEFs when the grid point is the task's own projection: computed once."""
    main = task_projection(wc.task)
    if (int(wc.dim), int(wc.density)) == (main["dim"], main["density"]):
        return f"{RESULTS}/{wc.model}/pefs/{wc.task}/{split}.h5"
    return f"{RESULTS}/{wc.model}/ablations/projection/{wc.task}/dim~{wc.dim}_density~{wc.density}/{split}.h5"


def projection_grid_extras():
    """Table 4's grid points other than its task's own projection: [(dim, density)]."""
    if PROJECTION_TASK is None:
        return []
    main = task_projection(PROJECTION_TASK)
    points = {(int(dim), int(density)) for dim, density in
              PROJECTION_GRID.dataframe[["dim", "density"]].itertuples(index=False)}
    return sorted(points - {(main["dim"], main["density"])})


def projection_results(model=MAIN_MODEL):
    task, seed = PROJECTION_TASK, config["decomposition"]["seeds"][0]
    if task is None:
        return []
    C = task_cfg(task)["n_components"]
    return [f"{RESULTS}/{model}/ablations/projection/{task}/{point}/{decomposition_name('npeff', C, seed)}.json"
            for point in PROJECTION_GRID.instance_patterns]


def grid_components(task):
    df = COMPONENTS_GRID.dataframe
    return sorted(int(c) for c in df.loc[df["task"] == task, "n_components"])


def components_entries():
    """(task, C, decomposition name) of every n_components grid row, at the first seed."""
    seed = config["decomposition"]["seeds"][0]
    return [(t, int(c), decomposition_name("npeff", c, seed))
            for t, c in COMPONENTS_GRID.dataframe.itertuples(index=False)]


def seed_entries():
    if SEEDS_TASK is None:
        return []
    C = task_cfg(SEEDS_TASK)["n_components"]
    return [(int(s), decomposition_name("npeff", C, s)) for s in SEEDS_GRID.dataframe["seed"]]


def eps_rank_decompositions():
    """{(eps, svd_rank, seed): path}: every grid point at the first seed, the full-rank points
    (svd_rank = eps) also at the second."""
    first, second = EPS_SETTINGS["seeds"]
    C = EPS_SETTINGS["n_components"]
    base = f"{MAIN}/ablations/eps_rank/{EPS_TASK}"
    paths = {}
    for (eps, rank), point in zip(EPS_GRID.dataframe.astype(int).itertuples(index=False), EPS_GRID.instance_patterns):
        for seed in [first] + ([second] if rank == eps else []):
            paths[(eps, rank, seed)] = f"{base}/{point}/{decomposition_name('npeff', C, seed)}.h5"
    return paths


def timing_entries():
    entries = []
    """Every decomposition Tables 7-8 time, with the benchmark file of the rule that made it."""
    for method, rule_name in METHOD_RULES.items():
        for task, name in main_decompositions(method):
            C, seed = task_cfg(task)["n_components"], config["decomposition"]["seeds"][0]  # as in `name`
            parts = [MAIN_MODEL, task] + ([method] if rule_name == "decompose" else []) + [f"c{C}", f"s{seed}"]
            entries.append({"method": method, "task": task, "decomposition": f"{MAIN}/decomp/{task}/{name}.h5",
                            "benchmark": bench_path(rule_name, *parts)})
    return entries


TABLE9_ENTRIES = [{"model": model, "method": m, "task": t, "decomposition": n} for model, spec in MODELS.items()
                  if model != MAIN_MODEL for m in METHODS for t, n in main_decompositions(m, spec["tasks"])]


SPLIT_TABLES = {12: "sst2", 13: "clinc150"}  # Appendix H: the component-split tables and their tasks


def split_inputs(n):
    task, seed = SPLIT_TABLES[n], config["decomposition"]["seeds"][0]
    return {"coefficients": [f"{MAIN}/coeffs/{task}/{decomposition_name('npeff', c, seed)}.h5"
                             for c in grid_components(task)],
            "heldout": f"{MAIN}/pefs/{task}/heldout.h5"}
