"""How spread out a set of PEFs is: the diagnostic that says whether components can be selective.

If every example's PEF points the same way, no direction in parameter space can change the
predictions on some examples more than on others, whatever the decomposition finds: the
perturbation KL ratios of Table 2 then stay near 1. Two numbers measure it, on the rows
G_i [r, d] of a sample of examples (projected rows are fine: the projection preserves inner
products, so the Gram matrices below are preserved too):

  mean |cos|  the mean over pairs i < j of sqrt(<F_i, F_j>_F / (||F_i||_F ||F_j||_F)) with
              F_i = G_i^T G_i; for rank-one PEFs (two-label tasks) this is exactly
              |cos(g_i, g_j)| of their single rows, and it is 1 for parallel PEFs;
  top share   the largest eigenvalue of sum_i F_i / ||F_i||_F over its trace: the share of the
              (normalised) PEFs' energy held by one direction, 1 for parallel rank-one PEFs.

Both need only the Gram matrix of the normalised rows, [sum r_i, sum r_i].
"""
from __future__ import annotations

import numpy as np
import torch


def pef_spread(G, n_sample: int | None = None, seed: int = 0) -> dict:
    """G [m, r, d] (LRM-PEF rows, projected or not) -> {"mean_abs_cos", "top_direction_share", "n_examples"}.

    n_sample: examples drawn at random without replacement (all when None or larger than m).
    Examples whose PEF is zero are skipped."""
    G = torch.as_tensor(np.asarray(G) if not isinstance(G, torch.Tensor) else G).double()
    if G.ndim != 3:
        raise ValueError(f"pef_spread expects G [m, r, d], got shape {tuple(G.shape)}")
    m, r, _ = G.shape
    if n_sample is not None and n_sample < m:
        G = G[np.sort(np.random.default_rng(seed).choice(m, size=n_sample, replace=False))]
    norms = torch.linalg.matrix_norm(G @ G.transpose(1, 2))  # [m'] = ||F_i||_F
    G = G[norms > 0] / norms[norms > 0].sqrt()[:, None, None]  # each F_i now has unit Frobenius norm
    k = G.shape[0]
    if k < 2:
        raise ValueError("pef_spread needs at least two examples with a non-zero PEF")
    rows = G.reshape(k * r, -1)
    gram = rows @ rows.T  # [k r, k r]
    blocks = gram.reshape(k, r, k, r).permute(0, 2, 1, 3)  # [k, k, r, r]: G_i G_j^T
    inner = blocks.square().sum((-1, -2))  # <F_i, F_j>_F, 1 on the diagonal
    pairs = torch.triu_indices(k, k, offset=1)
    mean_abs_cos = inner[pairs[0], pairs[1]].clamp_min(0).sqrt().mean()
    eigenvalues = torch.linalg.eigvalsh(gram)  # those of sum_i F_i (same non-zero spectrum)
    return {"mean_abs_cos": float(mean_abs_cos), "top_direction_share": float(eigenvalues[-1] / eigenvalues.sum()),
            "n_examples": int(k)}
