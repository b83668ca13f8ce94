"""Rule make_table8: decomposition step time and total time per method and task (Table 8).

Step times come from the per-step timings each decomposition records (NPEFF variants:
joint steps, H-only steps in parentheses; GC: k-means iterations; SAE: batches); total
times from the rule's benchmark file (loading and writing included).
"""
import numpy as np
from _common import start

start(snakemake)
from npeff import io  # noqa: E402
from npeff_workflow.registry import METHOD_TITLES, NPEFF_METHODS, TASK_TITLES  # noqa: E402
from npeff_workflow.settings import benchmark_seconds  # noqa: E402
from npeff_workflow.tables import write_table  # noqa: E402

p, inp = snakemake.params, snakemake.input
rows = []
for entry, dec_path, bench in zip(p.entries, inp.decompositions, inp.benchmarks):
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


tasks = list(dict.fromkeys(r["task"] for r in rows))
methods = list(dict.fromkeys(r["method"] for r in rows))
by_key = {(r["method"], r["task"]): r for r in rows}
header = ["Method"] + [f"{TASK_TITLES.get(t, t)} {c}" for t in tasks for c in ("Step (ms)", "Total (s)")]
body = [[METHOD_TITLES.get(m, m)] + [cell for t in tasks for cell in (step_cell(by_key[(m, t)]),
                                                                      f"{by_key[(m, t)]['total_s']:.3g}")]
        for m in methods]
devices = ", ".join(sorted({str(r["device"]) for r in rows}))
caption = (f"Table 8: decomposition step time in ms (NPEFF variants: joint step, H-only step in parentheses; "
           f"GC: one k-means iteration; SAE: one batch) and the rule's total seconds; device {devices}; "
           f"model {p.model_name}, config {p.config_name}")
write_table(snakemake.output, rows, header, body, caption, "tab:decomposition-times")
