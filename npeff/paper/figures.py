"""Figures: top examples of components, drawn as text panels (Figure 1, Appendix J)."""
from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from npeff._atomic import atomic_path  # noqa: E402


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
    for path in (pdf_path, png_path):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=150)
    plt.close(fig)
