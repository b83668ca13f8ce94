"""Rule make_table7: seconds per example to compute a PEF, a gradient and an activation (Table 7).

The signals rule times each object alone on its first held-in batch (attributes of the
held-in PEF file); its benchmark files (one per split, or one per shard) give the whole rule's
wall time (all three objects from one pass, model loading included) per example.
"""
from _common import start

start(snakemake)
from npeff import io  # noqa: E402
from npeff.data import read_jsonl  # noqa: E402
from npeff_workflow.registry import TASK_TITLES  # noqa: E402
from npeff_workflow.settings import benchmark_seconds  # noqa: E402
from npeff_workflow.tables import write_table  # noqa: E402

p, inp = snakemake.params, snakemake.input
objects = ["pef", "gradient", "activation"]


rows = []
first_benchmark = [sum(p.n_benchmarks[:i]) for i in range(len(p.tasks))]
for i, (task, pefs_path) in enumerate(zip(p.tasks, inp.pefs)):
    attrs = io.read_pefs(pefs_path)[1]
    missing = [o for o in objects if f"seconds_per_example_{o}" not in attrs]
    if missing:
        raise ValueError(f"{pefs_path} has no timing of {missing}: it was made before the signals rule timed "
                         "each object; delete it to rebuild")
    first = first_benchmark[i]
    seconds = sum(benchmark_seconds(b) for b in inp.benchmarks[first:first + p.n_benchmarks[i]])
    n_examples = sum(len(read_jsonl(e)) for e in inp.examples[2 * i:2 * i + 2])
    rows.append({"task": task, **{o: attrs[f"seconds_per_example_{o}"] for o in objects},
                 "signals_rule_per_example": seconds / n_examples, "device": attrs["timing_device"]})

header = ["Object"] + [TASK_TITLES.get(r["task"], r["task"]) for r in rows]
titles = {"pef": "PEF", "gradient": "Gradient", "activation": "Activation",
          "signals_rule_per_example": "All three (signals rule)"}
body = [[title] + [f"{r[key]:.2g}" for r in rows] for key, title in titles.items()]
devices = ", ".join(sorted({r["device"] for r in rows}))
caption = (f"Table 7: seconds per example to compute each object alone (first held-in batch, after the pass) "
           f"and the whole signals rule per example (one pass for all three, model loading included, from its "
           f"benchmark file); device {devices}; model {p.model_name}, config {p.config_name}")
write_table(snakemake.output, rows, header, body, caption, "tab:object-times")
