"""Toy model of superposition (Elhage et al. 2022; the APD paper's first setting).

    y = ReLU(W^T W x + b),  W [m_hidden, n_features], b [n_features]

trained with MSE to reconstruct x, whose features are each active with
probability p_active and then uniform in [0, 1]. With n = 5, m = 2 and sparse
features the five columns of W settle at the vertices of a regular pentagon.

Mechanisms: feature i's mechanism is column i of W together with b_i
(`mechanism_parameters`), in the flat order of model.parameters() (W, then b).
"""
from __future__ import annotations

import torch
from torch import nn

from npeff.toy.training import train_on_fresh_samples


class TMS(nn.Module):
    def __init__(self, n_features: int, n_hidden: int, seed: int = 0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.W = nn.Parameter(torch.randn(n_hidden, n_features, generator=gen) * (2 / (n_hidden + n_features)) ** 0.5)
        self.b = nn.Parameter(torch.zeros(n_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x [b, n] -> [b, n]
        return torch.relu((x @ self.W.T) @ self.W + self.b)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:  # [b, n] -> [b, m]
        return x @ self.W.T


def sample_features(n_examples: int, n_features: int, p_active: float, gen: torch.Generator) -> torch.Tensor:
    """X [n_examples, n_features]: each feature active with probability p_active, magnitude U[0, 1]."""
    active = torch.rand(n_examples, n_features, generator=gen) < p_active
    return active * torch.rand(n_examples, n_features, generator=gen)


def train_tms(n_features: int, n_hidden: int, *, p_active: float = 0.05, steps: int = 4000, batch_size: int = 1024,
              lr: float = 1e-2, seed: int = 0) -> tuple[TMS, list[float]]:
    """Adam on the reconstruction MSE with fresh samples each step; returns (model, losses)."""
    gen = torch.Generator().manual_seed(seed)
    model = TMS(n_features, n_hidden, seed)
    losses = train_on_fresh_samples(model, lambda: sample_features(batch_size, n_features, p_active, gen),
                                    lambda x: x, steps=steps, lr=lr)
    return model, losses


def mechanism_parameters(model: TMS) -> list[torch.Tensor]:
    """For each feature i, the flat indices (W then b, row-major) of W[:, i] and b_i."""
    m, n = model.W.shape
    return [torch.tensor([r * n + i for r in range(m)] + [m * n + i]) for i in range(n)]
