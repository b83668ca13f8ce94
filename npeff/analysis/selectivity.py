"""The paper's perturbation statistics around npeff.perturb: which components are perturbed,
which random examples form the baseline, the PEF-norm ratio and how the components' ratios are
averaged (the KL ratio itself: npeff.perturb.perturbation_effect). Torch-free, so a table maker
can read a perturbation CSV without torch."""
from __future__ import annotations

import math

import numpy as np


def choose_components(rng: np.random.Generator, eligible: list[int], n_components: int) -> list[int]:
    """n_components of the eligible components (those with enough top examples), drawn at
    random without replacement, sorted; all of them when there are fewer."""
    if not eligible:
        return []
    return sorted(rng.choice(eligible, size=min(n_components, len(eligible)), replace=False).tolist())


def draw_baseline(rng: np.random.Generator, n_examples: int, size: int) -> list[int]:
    """The random baseline: `size` of the n_examples held-in examples (all when fewer), sorted."""
    return sorted(rng.choice(n_examples, size=min(size, n_examples), replace=False).tolist())


def geometric_mean(values) -> float | None:
    """Of positive ratios (floored at 1e-30): how Table 2 averages the components' KL and
    PEF-norm ratios. None for no values, so an empty cell shows as missing."""
    values = list(values)
    return math.exp(sum(math.log(max(v, 1e-30)) for v in values) / len(values)) if values else None


def baseline_without(baseline: list[int], top: list[int]) -> list[int]:
    """The baseline examples that are not among `top`: the set a component's KL and norm ratios
    compare its top examples against (npeff.perturb.perturbation_effect says why)."""
    top = set(int(i) for i in top)
    return [i for i in baseline if int(i) not in top]


def norm_ratio(pef_norms: np.ndarray, top: list[int], baseline: list[int]) -> float:
    """Mean PEF Frobenius norm of the top examples over the baseline's (Table 2's Norm column):
    near 1 says the top examples are not just more sensitive to every perturbation.
    pef_norms: [m], the held-in examples' exact norms."""
    return float(pef_norms[top].mean() / pef_norms[baseline].mean())
