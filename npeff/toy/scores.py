"""Scores of a decomposition against planted mechanisms (issue 7).

mechanisms: one per mechanism, either an index tensor into the flat parameter vector
(a set of coordinates) or an orthonormal basis [n, k] of a parameter subspace.
components: parameter-space vectors [K, n] (pseudo-Fishers, centroids, APD components).
A component recovers mechanism i when at least `threshold` of its squared mass
lies on mechanism i's parameters. Example attribution: for each mechanism, the
ROC AUC of the best component's coefficient (the component with the largest mass
on that mechanism) for "this mechanism's feature is active in the example".
"""
from __future__ import annotations

import numpy as np
import torch


def mass_concentration(components: torch.Tensor, mechanisms: list[torch.Tensor]) -> torch.Tensor:
    """[K, M]: share of each component's squared mass on each mechanism's parameters
    (coordinates) or subspace (the squared norm of its projection onto the basis)."""
    comps = components.double()
    total = (comps ** 2).sum(1).clamp_min(1e-300)  # [K]

    def mass(mech):
        if mech.ndim == 1:
            return (comps[:, mech] ** 2).sum(1)
        return ((comps @ mech.double()) ** 2).sum(1)

    return torch.stack([mass(mech) for mech in mechanisms], dim=1) / total[:, None]


def recovery(components: torch.Tensor, mechanisms: list[torch.Tensor], threshold: float = 0.9) -> dict:
    """fraction of mechanisms recovered, mean best concentration, and each mechanism's best component."""
    mass = mass_concentration(components, mechanisms)  # [K, M]
    best_mass, best = mass.max(0)
    return {"recovered_fraction": float((best_mass >= threshold).double().mean()),
            "mean_best_concentration": float(best_mass.mean()), "best_component": best.tolist(),
            "best_concentration": best_mass.tolist()}


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with tied ranks averaged); nan without both classes."""
    scores, positive = np.asarray(scores, float), np.asarray(positive, bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):  # average ranks over ties
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def attribution_aucs(coefficients: np.ndarray, active: np.ndarray, best_component: list[int],
                     min_active: int = 1) -> list[float]:
    """Per mechanism i: AUC of coefficients[:, best_component[i]] for active[:, i], over the
    examples with at least min_active active features (2: the polygenic subset)."""
    keep = active.sum(1) >= min_active
    return [roc_auc(coefficients[keep, c], active[keep, i]) for i, c in enumerate(best_component)]
