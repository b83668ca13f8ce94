"""Comparing two decompositions of the same examples through their coefficient vectors.

A component's coefficient vector is its column of W [m, C] over the m examples both
decompositions saw. Appendix E (Figure 2) scores a pair of decompositions by the mean,
over every component of both, of its largest cosine similarity to a component of the
other; Section 4 / Appendix H (Tables 12-13) maps each component of a finer decomposition
to the coarser component of largest cosine ("splits") and asks whether prediction tunings
survive the split.
"""
from __future__ import annotations

import numpy as np

from npeff.analysis.tunings import top_examples


def cosine_matrix(W1: np.ndarray, W2: np.ndarray) -> np.ndarray:
    """[m, C1], [m, C2] -> [C1, C2] cosines of coefficient vectors (0 for an all-zero column)."""
    if W1.shape[0] != W2.shape[0]:
        raise ValueError(f"the decompositions cover different examples: {W1.shape[0]} vs {W2.shape[0]} rows")
    n1 = np.linalg.norm(W1, axis=0)
    n2 = np.linalg.norm(W2, axis=0)
    W1n = W1 / np.where(n1 > 0, n1, 1.0)
    W2n = W2 / np.where(n2 > 0, n2, 1.0)
    return W1n.T.astype(np.float64) @ W2n.astype(np.float64)


def decomposition_similarity(W1: np.ndarray, W2: np.ndarray) -> float:
    """Mean over the C1 + C2 components of each one's max cosine to the other decomposition."""
    cos = cosine_matrix(W1, W2)
    return float(np.concatenate([cos.max(axis=1), cos.max(axis=0)]).mean())


def match_splits(W_coarse: np.ndarray, W_fine: np.ndarray) -> np.ndarray:
    """[C_fine] index of the coarse component whose coefficient vector is closest to each fine one."""
    return cosine_matrix(W_fine, W_coarse).argmax(axis=1)


def predicted_tuning(scores: np.ndarray, preds: np.ndarray, k: int = 16, min_coefficient: float = 0.0) -> np.ndarray:
    """[C] the prediction every top-k example of a component shares, or -1 (not prediction-tuned
    or fewer than k active examples)."""
    tuned = np.full(scores.shape[1], -1)
    for c, top in enumerate(top_examples(scores, k, min_coefficient)):
        if top is not None and np.all(preds[top] == preds[top[0]]):
            tuned[c] = preds[top[0]]
    return tuned


def preserved_tuning(W_coarse: np.ndarray, W_fine: np.ndarray, preds: np.ndarray, k: int = 16,
                     min_coefficient: float = 0.0) -> dict:
    """Appendix H: among fine components whose match is a prediction-tuned coarse component,
    the percentage tuned to the same prediction. n_matches 0 gives percent None."""
    coarse = predicted_tuning(W_coarse, preds, k, min_coefficient)
    fine = predicted_tuning(W_fine, preds, k, min_coefficient)
    match = match_splits(W_coarse, W_fine)
    counted = coarse[match] >= 0
    n = int(counted.sum())
    same = int((fine[counted] == coarse[match][counted]).sum())
    return {"n_matches": n, "n_preserved": same, "percent": 100.0 * same / n if n else None,
            "n_coarse_matched": int(len(set(match.tolist()))), "n_coarse": int(W_coarse.shape[1])}


def abs_cosine_pairs(H: np.ndarray) -> np.ndarray:
    """|cos| of every pair of distinct rows of H [C, d]: [C (C - 1) / 2] (Table 11)."""
    norms = np.linalg.norm(H, axis=1)
    Hn = H / np.where(norms > 0, norms, 1.0)[:, None]
    cos = np.abs(Hn.astype(np.float64) @ Hn.T.astype(np.float64))
    return cos[np.triu_indices(H.shape[0], k=1)]
