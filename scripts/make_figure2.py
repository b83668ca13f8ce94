"""Rule make_figure2: similarity of NPEFF decompositions under SVD rank reduction, per EPS (Figure 2).

Within each EPS row, each rank's decomposition is compared with the full-rank one (SVD rank =
EPS, same seed); the row's last value compares two full-rank decompositions with different seeds.
Full-rank decompositions of each EPS are also compared with the largest EPS's (Appendix E's text).
"""
from pathlib import Path

import matplotlib

from _common import run_rule  # first: puts the repository on sys.path
from npeff import io
from npeff.analysis.similarity import decomposition_similarity
from npeff_workflow.figures import save_figure
from npeff_workflow.registry import TASK_TITLES
from npeff_workflow.tables import write_csv

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)


def main(*, decompositions, outputs, settings, points, task, config_name):
    first, second = settings["seeds"]
    W = {tuple(point): io.read_decomposition(path)[0]["W"] for point, path in zip(points, decompositions)}
    eps_values = sorted({e for e, _, _ in W}, reverse=True)
    largest = eps_values[0]
    rows = []
    for eps in eps_values:
        full = W[(eps, eps, first)]
        for rank in sorted(r for e, r, s in W if e == eps and s == first):
            rows.append({"eps": eps, "svd_rank": rank, "comparison": "rank_vs_full_rank",
                         "similarity": decomposition_similarity(W[(eps, rank, first)], full)})
        rows.append({"eps": eps, "svd_rank": eps, "comparison": "seed_vs_seed",
                     "similarity": decomposition_similarity(W[(eps, eps, second)], full)})
        if eps != largest:
            rows.append({"eps": eps, "svd_rank": eps, "comparison": f"full_rank_vs_eps{largest}",
                         "similarity": decomposition_similarity(full, W[(largest, largest, first)])})
    write_csv(Path(outputs.csv), rows)

    ranks = sorted({r["svd_rank"] for r in rows})
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * (len(ranks) + 1), 0.9 + 0.45 * len(eps_values)))
    ax.set_xlim(-0.5, len(ranks) + 0.5), ax.set_ylim(len(eps_values) - 0.5, -0.5)
    for i, eps in enumerate(eps_values):
        for r in rows:
            if r["eps"] != eps or r["comparison"].startswith("full_rank_vs"):
                continue
            col = ranks.index(r["svd_rank"]) + (1 if r["comparison"] == "seed_vs_seed" else 0)
            seed_cell = r["comparison"] == "seed_vs_seed"
            ax.add_patch(plt.Rectangle((col - 0.5, i - 0.5), 1, 1, color=plt.cm.viridis(r["similarity"]), alpha=0.6))
            ax.text(col, i, f"{r['similarity']:.2f}", ha="center", va="center", fontsize=8,
                    style="italic" if seed_cell else "normal")
    ax.set_xticks(range(len(ranks) + 1), [str(r) for r in ranks] + ["seed"])
    ax.set_yticks(range(len(eps_values)), [str(e) for e in eps_values])
    ax.set_xlabel("SVD rank (last column: full rank, another seed)"), ax.set_ylabel("EPS")
    ax.set_title(f"{TASK_TITLES.get(task, task)}: similarity to the full-rank decomposition\n"
                 f"({settings['n_examples']} held-in examples max, {settings['n_components']} components; "
                 f"config {config_name})", fontsize=8)
    fig.tight_layout()
    save_figure(fig, outputs.pdf, outputs.png)


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
