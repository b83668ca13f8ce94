# Helpers shared by the rules: paths, targets, the models and tasks of the (checked) config.
import os
import sys

sys.path.insert(0, workflow.basedir)  # npeff's torch-free modules, installed or not
from npeff.data import PACKAGES as SOURCE_PACKAGES  # the PyPI archive each offline source reads
from npeff.data import split_sizes
from npeff_workflow.registry import (METHOD_RULES, METHOD_SIGNALS, METHODS, NPEFF_METHODS, PERTURBED_METHODS,
                                     TWO_LABEL_TASKS, decomposition_name, decomposition_regex, decomposition_wildcards)
from npeff_workflow.toys import toy_settings


RESULTS = f"results/{config['name']}"
RES = config.get("resources_dir", "resources")
TASKS = list(config["tasks"])
# Model-specific results live under results/<cfg>/<model>/ (the {model} wildcard); the tables
# and figures read the main model's. Extra models (Appendix F) run the same rules on their tasks.
MAIN_MODEL = config["model"]["name"]
MODELS = {MAIN_MODEL: {**config["model"], "tasks": TASKS}}
MODELS.update({name: {**spec, "name": name} for name, spec in config.get("extra_models", {}).items()})
MAIN = f"{RESULTS}/{MAIN_MODEL}"
# PEF jobs hold the most memory (YAT's held-in signals: 8.5 GB) and time Table 7's objects, so
# a config can give them more threads than the rest, which then run side by side (README, "One job per core?").
PEF_THREADS = config["threads_per_pef_job"] or config["threads_per_job"]
# and they go first when ready: a job with more threads than the rest waits for every core to be
# free, so run it before the 1-thread jobs that would otherwise leave a core idle beside it
PEF_PRIORITY = 10
# Then the longest jobs first (a scheduling hint: no output depends on the order). On two cores a
# long job that starts last runs alone beside an idle core (SST2's seed-1 perturb job, 95 s of
# 2ed43ab's run, README "Time, 2ed43ab"). The perturb jobs are the longest: the jobs that release
# them (their decompositions, clusters and operator norms) go before them, and of them YAT's go
# first (its prompt lists every label: about twice SST2's tokens per forward; 419-426 s against
# SST2's 220-234 s at 1 thread on the Xeon, README "Time, 2c6b835"); the rest keep the default 0.
RELEASES_PERTURB_PRIORITY = 3
PERTURB_PRIORITY_BY_TASK = {"yat": 2, "sst2": 1}


def perturb_priority(wildcards):
    return PERTURB_PRIORITY_BY_TASK.get(wildcards.task, 0)


def package_dir(requirement):
    return f"{RES}/packages/{requirement.split('==')[0]}"


def requirement_of(package):
    wanted = list(SOURCE_PACKAGES.values())
    wanted += [spec["package"] for spec in MODELS.values() if spec["source"] == "gguf_package"]
    for req in wanted:
        if req.split("==")[0] == package:
            return req
    raise ValueError(f"no pinned requirement for package {package!r}")


def model_spec(model):
    return {k: v for k, v in MODELS[model].items() if k not in ("tasks", "parameters")}


def model_parameters(model):
    """The parameter selection: an extra model's own `parameters` (other layer names), else the config's."""
    own = MODELS[model].get("parameters", {})
    return {**config["parameters"], **own}


def model_label_infos(wildcards):
    """A tiny random model trains its tokenizer on the label names, so it waits for its tasks' info."""
    spec = MODELS[wildcards.model]
    return [f"{RESULTS}/data/{t}/info.json" for t in spec["tasks"]] if spec["source"] == "tiny_random" else []


def model_inputs(wildcards):
    spec = MODELS[wildcards.model]
    return [package_dir(spec["package"])] if spec["source"] == "gguf_package" else []


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


DECOMPOSITION = decomposition_wildcards()  # "{method}_c{C}_s{seed}": a decomposition's file name, as wildcards
NPEFF_DECOMPOSITION = decomposition_wildcards("npeff")  # the ablations' NPEFF decompositions


def main_decompositions(method="npeff", tasks=None):
    """(task, name) of the decomposition each table reports per task: the first seed,
    the task's component count (also the cluster and SAE latent count)."""
    seed = config["decomposition"]["seeds"][0]
    return [(t, decomposition_name(method, task_cfg(t)["n_components"], seed)) for t in (tasks or TASKS)]


def perturbation_setting(task, key):
    """perturbation.<key>, or the task's perturbation_<key> override (CLINC150 in the paper)."""
    return task_cfg(task).get(f"perturbation_{key}", config["perturbation"][key])


def task_projection(task):
    """projection settings of a task: the config's, with the task's projection_dim override."""
    return {**config["projection"], "dim": task_cfg(task).get("projection_dim", config["projection"]["dim"])}


def projection_key(task):
    """The file-name key of a task's projection: every task with the same settings shares one ||A||_2."""
    proj = task_projection(task)
    return f"dim{proj['dim']}_density{proj['density']}_seed{proj['seed']}"


def operator_norm_file(wc):
    return f"{RESULTS}/{wc.model}/perturb/operator_norm_{projection_key(wc.task)}.json"


def operator_norm_pefs(wc):
    """The held-in PEFs of the model's first task with this projection (they carry its attributes)."""
    task = next(t for t in MODELS[wc.model]["tasks"] if projection_key(t) == wc.key)
    return f"{RESULTS}/{wc.model}/pefs/{task}/heldin.h5"


def icl_task():
    """The task of Table 3, or None when the config does not have it."""
    task = config["icl"]["task"]
    return task if task in TASKS else None


def table_files(n, caption=None):
    """Table n's (or a named table's) CSV, in the report when a caption is given, Markdown and LaTeX."""
    name = f"table{n}" if isinstance(n, int) else n
    csv_path = f"{RESULTS}/tables/{name}.csv"
    if caption:
        csv_path = report(csv_path, caption=f"../report/{caption}", category="Tables", labels={"table": name})
    return {"csv": csv_path, "md": f"{RESULTS}/tables/{name}.md", "tex": f"{RESULTS}/tables/{name}.tex"}


def figure_files(name, caption=None, extra=()):
    """A figure's PDF, PNG (in the report when a caption is given) and the extras named (e.g. its data as CSV)."""
    png_path = f"{RESULTS}/figures/{name}.png"
    if caption:
        png_path = report(png_path, caption=f"../report/{caption}", category="Figures", labels={"figure": name})
    files = {"pdf": f"{RESULTS}/figures/{name}.pdf", "png": png_path}
    files.update({ext: f"{RESULTS}/figures/{name}.{ext}" for ext in extra})
    return files


def table_outputs(n):
    return list(table_files(n).values())


def figure_outputs(name):
    return list(figure_files(name).values())


def appendix_j_outputs():
    return [f"{RESULTS}/appendix_j.md"] + figure_outputs("appendix_j")


def groundtruth_runs():
    """One JSON per toy and seed (a toy's own seeds override the section's)."""
    groundtruth = config["groundtruth"]
    return [f"{RESULTS}/groundtruth/{toy}/seed{seed}.json" for toy in groundtruth["toys"]
            for seed in toy_settings(groundtruth, toy)["seeds"]]


def groundtruth_outputs():
    return table_outputs("groundtruth") + figure_outputs("groundtruth")


def comparison_outputs():
    return [f"{RESULTS}/comparison.md", f"{RESULTS}/comparison.csv"]


def table_numbers():
    """The tables this config can make: Table 3 needs the ICL task, Table 9 an extra model, Tables 12
    and 13 at least two component counts of SST2 and CLINC150 in the n_components grid."""
    missing = {3: not icl_task(), 4: PROJECTION_TASK is None, 5: COMPONENTS_GRID.dataframe.empty,
               6: SEEDS_TASK is None, 9: len(MODELS) == 1, 12: len(grid_components("sst2")) < 2,
               13: len(grid_components("clinc150")) < 2}
    return [n for n in range(1, 14) if not missing.get(n)]


def table_target(n):
    """Table n's files, as an input function: a table this config cannot make fails only when asked for."""

    def files(wildcards):
        if n not in table_numbers():
            why = {3: f"the ICL task '{config['icl']['task']}' (config key icl.task) among the config's tasks",
                   4: f"the task '{config['ablations']['projection_dim']['task']}' (ablations.projection_dim.task)",
                   5: "a row of a configured task in the n_components grid (ablations.n_components.grid)",
                   6: f"the task '{config['ablations']['seeds']['task']}' (ablations.seeds.task)",
                   9: "a second model (config key extra_models)",
                   12: "two or more SST2 rows in the n_components grid (config key ablations.n_components.grid)",
                   13: "two or more CLINC150 rows in the n_components grid (config key ablations.n_components.grid)"}
            raise ValueError(f"Table {n} needs {why[n]}")
        return table_outputs(n) + (figure_outputs("table11") if n == 11 else [])

    return files


def all_outputs():
    outputs = figure_outputs("figure1") + appendix_j_outputs() + groundtruth_outputs() + comparison_outputs()
    outputs += figure_outputs("table11") + table_outputs("pef_spread")
    if EPS_TASK:
        outputs += figure_outputs("figure2") + figure_outputs("figure3")
    return outputs + [out for n in table_numbers() for out in table_outputs(n)]


# the decomposition each table cell reads: Table 1 every method, Table 2 those with parameter-space components
TABLE1_ENTRIES = [{"method": m, "task": t, "decomposition": n} for m in METHODS for t, n in main_decompositions(m)]
TABLE2_ENTRIES = [{"method": m, "task": t, "decomposition": n} for m in PERTURBED_METHODS
                  for t, n in main_decompositions(m)]


def table3_inputs(wildcards):
    task = icl_task()
    if task is None:
        raise ValueError(f"Table 3 needs the ICL task '{config['icl']['task']}' (config key icl.task) among the "
                         f"config's tasks {TASKS}")
    names = [main_decompositions(m, [task])[0][1] for m in METHODS]
    return {
        "heldin": f"{RESULTS}/data/{task}/heldin.jsonl",
        "pefs": f"{MAIN}/pefs/{task}/heldout.h5",
        "icl": f"{MAIN}/icl/{task}/predictions.csv",
        "decompositions": [f"{MAIN}/decomp/{task}/{n}.h5" for n in names],
        "coefficients": [f"{MAIN}/coeffs/{task}/{n}.h5" for n in names],
    }
