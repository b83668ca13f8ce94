"""Rule make_table7: seconds per example to compute a PEF, a gradient and an activation (Table 7).

The signals rule times each object alone on its first held-in batch (attributes of the
held-in PEF file); its benchmark files (one per split, or one per shard) give the whole rule's
wall time (all three objects from one pass, model loading included) per example.
"""

from _common import run_rule  # first: puts the repository on sys.path
from npeff import io
from npeff.data import read_jsonl
from npeff_workflow.registry import TASK_TITLES
from npeff_workflow.settings import benchmark_seconds
from npeff_workflow.tables import write_table


def main(*, pefs, benchmarks, examples, outputs, n_benchmarks, tasks, model_name, config_name):
    objects = ["pef", "gradient", "activation"]

    rows = []
    first_benchmark = [sum(n_benchmarks[:i]) for i in range(len(tasks))]
    for i, (task, pefs_path) in enumerate(zip(tasks, pefs)):
        attrs = io.read_pefs(pefs_path)[1]
        missing = [o for o in objects if f"seconds_per_example_{o}" not in attrs]
        if missing:
            raise ValueError(f"{pefs_path} has no timing of {missing}: it was made before the signals rule timed "
                             "each object; delete it to rebuild")
        first = first_benchmark[i]
        seconds = sum(benchmark_seconds(b) for b in benchmarks[first:first + n_benchmarks[i]])
        n_examples = sum(len(read_jsonl(e)) for e in examples[2 * i:2 * i + 2])
        rows.append({"task": task, **{o: attrs[f"seconds_per_example_{o}"] for o in objects},
                     "signals_rule_per_example": seconds / n_examples, "device": attrs["timing_device"]})

    header = ["Object"] + [TASK_TITLES.get(r["task"], r["task"]) for r in rows]
    titles = {"pef": "PEF", "gradient": "Gradient", "activation": "Activation",
              "signals_rule_per_example": "All three (signals rule)"}
    body = [[title] + [f"{r[key]:.2g}" for r in rows] for key, title in titles.items()]
    devices = ", ".join(sorted({r["device"] for r in rows}))
    caption = (f"Table 7: seconds per example to compute each object alone (first held-in batch, after the pass) "
               f"and the whole signals rule per example (one pass for all three, model loading included, from its "
               f"benchmark file); device {devices}; model {model_name}, config {config_name}")
    write_table(outputs, rows, header, body, caption, "tab:object-times")


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
