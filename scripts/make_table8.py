"""Rule make_table8: decomposition step time and total time per method and task (Table 8).

Step times come from the per-step timings each decomposition records (NPEFF variants:
joint steps, H-only steps in parentheses; GC: k-means iterations; SAE: batches); total
times from the rule's benchmark file (loading and writing included).
"""
import numpy as np

from _common import run_rule  # first: puts the repository on sys.path
from npeff import io
from npeff_workflow.registry import METHOD_TITLES, NPEFF_METHODS, TASK_TITLES
from npeff_workflow.settings import benchmark_seconds
from npeff_workflow.tables import pivot, write_table


def main(*, decompositions, benchmarks, outputs, entries, model_name, config_name):
    rows = []
    for entry, dec_path, bench in zip(entries, decompositions, benchmarks):
        arrays, attrs = io.read_decomposition(dec_path)
        steps = np.asarray(arrays["step_seconds"], dtype=float)
        n_h_only = int(attrs.get("n_h_only_steps", 0)) if entry["method"] in NPEFF_METHODS else 0
        total = benchmark_seconds(bench)
        rows.append({**entry, "step_ms": 1e3 * float(steps[n_h_only:].mean()) if len(steps) > n_h_only else None,
                     "h_only_step_ms": 1e3 * float(steps[:n_h_only].mean()) if n_h_only else None,
                     "n_steps": len(steps), "total_s": total, "device": attrs.get("device_name", attrs.get("device"))})

    def step_cell(r):
        if r["step_ms"] is None:
            return "–"
        return f"{r['step_ms']:.3g}" + (f" ({r['h_only_step_ms']:.3g})" if r["h_only_step_ms"] is not None else "")

    methods, tasks, by_key = pivot(rows)
    header = ["Method"] + [f"{TASK_TITLES.get(t, t)} {c}" for t in tasks for c in ("Step (ms)", "Total (s)")]
    body = [[METHOD_TITLES.get(m, m)] + [cell for t in tasks for cell in (step_cell(by_key[(m, t)]),
                                                                          f"{by_key[(m, t)]['total_s']:.3g}")]
            for m in methods]
    devices = ", ".join(sorted({str(r["device"]) for r in rows}))
    caption = (f"Table 8: decomposition step time in ms (NPEFF variants: joint step, H-only step in parentheses; "
               f"GC: one k-means iteration; SAE: one batch) and the rule's total seconds; device {devices}; "
               f"model {model_name}, config {config_name}")
    write_table(outputs, rows, header, body, caption, "tab:decomposition-times")


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
