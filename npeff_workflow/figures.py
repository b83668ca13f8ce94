"""Figures: top examples of components as text panels (Figure 1, Appendix J); the ground-truth bars."""
from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from npeff._atomic import atomic_path  # noqa: E402


def save_figure(fig, *paths) -> None:
    """Write fig to each path (format from its suffix) atomically, then close it."""
    for path in paths:
        with atomic_path(Path(path)) as tmp:
            fig.savefig(tmp, format=Path(path).suffix[1:], dpi=150)
    plt.close(fig)


def top_examples_figure(panels: list[dict], pdf_path: Path, png_path: Path, caption: str) -> None:
    """panels: {"title": str, "examples": [str, ...]} each; one panel per row, like Figure 1."""
    lines_per_panel = [1 + sum(len(textwrap.wrap(e, 90)) or 1 for e in p["examples"]) for p in panels]
    height = 0.6 + 0.22 * (sum(lines_per_panel) + len(panels))
    fig = plt.figure(figsize=(8.5, height))
    y = 1.0 - 0.25 / height
    step = 0.22 / height
    for panel in panels:
        fig.text(0.04, y, panel["title"], fontsize=10, fontweight="bold", va="top")
        y -= step
        for example in panel["examples"]:
            for i, line in enumerate(textwrap.wrap(example, 90) or [""]):
                fig.text(0.07, y, line, fontsize=8.5, va="top", family="DejaVu Sans")
                y -= step
        y -= step
    fig.text(0.04, 0.1 / height, caption, fontsize=7, color="0.35", va="bottom")
    save_figure(fig, pdf_path, png_path)


def groundtruth_figure(rows: list[dict], method_titles: list[str], pdf_path: Path, png_path: Path,
                       caption: str) -> None:
    """Two panels of grouped bars, one group per toy, one bar per method: mechanisms
    recovered (%) and mean attribution AUC. rows: the ground-truth table's rows, methods in order."""
    import numpy as np

    toys = list(dict.fromkeys(r["toy"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    value = {(r["toy"], r["method"]): r for r in rows}
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    width = 0.8 / len(methods)
    x = np.arange(len(toys))
    for ax, key, scale, label in ((axes[0], "recovered_fraction", 100, "mechanisms recovered (%)"),
                                  (axes[1], "mean_auc", 1, "attribution ROC AUC")):
        for j, (method, title) in enumerate(zip(methods, method_titles)):
            heights = [scale * value[(t, method)][key] for t in toys]
            ax.bar(x + (j - (len(methods) - 1) / 2) * width, np.nan_to_num(heights), width, label=title)
        ax.set_xticks(x, toys, fontsize=8)
        ax.set_ylabel(label)
        if key == "mean_auc":
            ax.set_ylim(0.4, 1.0)
            ax.axhline(0.5, color="0.5", lw=0.8, ls="--")
    axes[0].legend(fontsize=7, ncol=2)
    fig.text(0.01, 0.01, caption, fontsize=7, color="0.35")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    save_figure(fig, pdf_path, png_path)
