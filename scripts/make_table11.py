"""Rule make_table11: histograms of |cos| between the pseudo-Fishers of the perturbed decompositions
(Table 11), as a CSV / Markdown / LaTeX table of bin fractions and as a grid of histograms."""
import matplotlib
import numpy as np

from _common import run_rule  # first: puts the repository on sys.path
from npeff import io
from npeff.analysis.similarity import abs_cosine_pairs
from npeff_workflow.figures import save_figure
from npeff_workflow.registry import METHOD_TITLES, TASK_TITLES
from npeff_workflow.tables import pivot, write_table

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)


def main(*, decompositions, outputs, bins, entries, model_name, config_name):
    edges = np.linspace(0.0, 1.0, bins + 1)
    rows, histograms = [], {}
    for entry, path in zip(entries, decompositions):
        cosines = abs_cosine_pairs(io.read_decomposition(path)[0]["H"])  # [C (C - 1) / 2]
        counts, _ = np.histogram(cosines, bins=edges)
        fractions = counts / max(len(cosines), 1)
        histograms[(entry["method"], entry["task"])] = fractions
        rows += [{**entry, "bin_lo": float(lo), "bin_hi": float(hi), "count": int(c), "fraction": float(f)}
                 for lo, hi, c, f in zip(edges[:-1], edges[1:], counts, fractions)]

    methods, tasks, _ = pivot(rows)
    header = ["Method", "Task"] + [f"{lo:.2f}-{hi:.2f}" for lo, hi in zip(edges[:-1], edges[1:])]
    body = [[METHOD_TITLES.get(m, m), TASK_TITLES.get(t, t)] + [f"{f:.3f}" for f in histograms[(m, t)]]
            for m in methods for t in tasks if (m, t) in histograms]
    caption = (f"Table 11: fraction of pairs of distinct pseudo-Fisher vectors (GC: centroids) per |cos| bin, "
               f"for the decompositions of Table 2; model {model_name}, config {config_name}")
    write_table(outputs, rows, header, body, caption, "tab:cosines")

    fig, axes = plt.subplots(len(methods), len(tasks), figsize=(2.6 * len(tasks), 1.9 * len(methods)),
                             squeeze=False, sharex=True)
    for i, m in enumerate(methods):
        for j, t in enumerate(tasks):
            ax = axes[i][j]
            if (m, t) in histograms:
                ax.bar(edges[:-1], histograms[(m, t)], width=np.diff(edges), align="edge", color="C0")
            ax.set_xlim(0, 1)
            ax.set_title(f"{METHOD_TITLES.get(m, m)} / {TASK_TITLES.get(t, t)}", fontsize=8)
            ax.tick_params(labelsize=7)
    fig.supxlabel("|cos| of pseudo-Fisher pairs", fontsize=8)
    fig.supylabel("fraction of pairs", fontsize=8)
    fig.tight_layout()
    save_figure(fig, outputs.figure_pdf, outputs.figure_png)


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
