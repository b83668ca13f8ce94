"""Rule make_figure3: mean decay of the PEFs' normalised eigenvalues at the largest EPS (Figure 3).

Each example's eigenvalues are those of the exact Gram matrix G G^T of its EPS rows (the PEF's
nonzero spectrum, before projection), divided by the largest; the curve is their mean.
"""
from pathlib import Path

import matplotlib
import numpy as np

from _common import run_rule  # first: puts the repository on sys.path
from npeff import io
from npeff_workflow.figures import save_figure
from npeff_workflow.registry import TASK_TITLES
from npeff_workflow.tables import write_csv

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)


def main(*, inputs, outputs, task, eps, config_name):
    arrays, _ = io.read_pefs(inputs[0])
    if "gram_eigenvalues" not in arrays:
        raise ValueError(f"{inputs[0]} has no gram_eigenvalues: it was not made by the EPS pass "
                         "(rule eps_pefs or eps_signals)")
    eig = np.clip(arrays["gram_eigenvalues"].astype(np.float64), 0, None)  # [m, R] descending
    top = eig[:, :1]
    normalised = eig[top[:, 0] > 0] / top[top[:, 0] > 0]
    mean, std = normalised.mean(0), normalised.std(0)
    write_csv(Path(outputs.csv), [{"index": i + 1, "mean_normalised_eigenvalue": float(v), "std": float(s),
                                   "n_examples": len(normalised)} for i, (v, s) in enumerate(zip(mean, std))])
    fig, ax = plt.subplots(figsize=(4.2, 3.0))
    ax.semilogy(np.arange(1, len(mean) + 1), np.maximum(mean, 1e-12), marker="o", markersize=3)
    ax.set_xlabel("eigenvalue index"), ax.set_ylabel("mean normalised eigenvalue")
    ax.set_title(f"{TASK_TITLES.get(task, task)}, EPS {eps}: {len(normalised)} PEFs (config {config_name})",
                 fontsize=8)
    fig.tight_layout()
    save_figure(fig, outputs.pdf, outputs.png)


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
