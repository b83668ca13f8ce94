"""Synthetic LRM-PEFs with planted rank-1 components and sparse non-negative coefficients."""
from __future__ import annotations

import torch


def planted_pefs(m=600, C=8, d=200, r=3, max_active=2, noise=0.01, seed=0):
    """G [m, r, d] with G_i^T G_i ~ sum_j W_ij h_j h_j^T; returns (G, W_true [m, C], H_true [C, d]).

    Each example uses 1..max_active components (<= r); its rows are sqrt(W_ij) h_j.
    """
    gen = torch.Generator().manual_seed(seed)
    H = torch.randn((C, d), generator=gen)
    H /= H.norm(dim=1, keepdim=True)
    W = torch.zeros((m, C))
    G = torch.zeros((m, r, d))
    for i in range(m):
        n_active = int(torch.randint(1, max_active + 1, (), generator=gen))
        active = torch.randperm(C, generator=gen)[:n_active]
        W[i, active] = torch.rand(n_active, generator=gen) + 0.5
        for row, j in enumerate(active):
            G[i, row] = W[i, j].sqrt() * H[j]
    G += noise * torch.randn(G.shape, generator=gen)
    return G, W, H


def match_components(H_found: torch.Tensor, H_true: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For every true component: (best |cosine| with a found one [C], index of that one [C])."""
    a = H_found / H_found.norm(dim=1, keepdim=True).clamp_min(1e-30)
    b = H_true / H_true.norm(dim=1, keepdim=True)
    cos = (a @ b.T).abs()  # [C_found, C_true]
    best, idx = cos.max(0)
    return best, idx


def planted_sparse(n, k, rows, seed):
    """rows unit vectors [rows, n], each with k random non-zeros at random positions."""
    gen = torch.Generator().manual_seed(seed)
    u = torch.zeros(rows, n)
    for r in range(rows):
        u[r, torch.randperm(n, generator=gen)[:k]] = torch.randn(k, generator=gen)
    return u / u.norm(dim=1, keepdim=True)
