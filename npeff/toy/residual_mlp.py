"""Compressed computation (the APD paper's second setting): a residual MLP that computes
ReLU of more input features than it has neurons.

    r = x E                      residual stream [b, d_embed]; E [n_features, d_embed] fixed, unit rows
    r' = r + ReLU(r W_in + b_in) W_out        W_in [d_embed, d_mlp], W_out [d_mlp, d_embed]
    y = r' E^T                   [b, n_features]; target x + ReLU(x)

Features are active with probability p_active and then uniform in [-1, 1]. Only
W_in, b_in and W_out are trained.

Mechanisms: feature i's mechanism is the parameter subspace that reads feature i into
the MLP and writes its ReLU back, {W_in = e_i v^T} + {W_out = u e_i^T} for v, u in
R^d_mlp (e_i = row i of E); `mechanism_bases` gives an orthonormal basis of it
[n_params, 2 d_mlp] in the flat order of model.parameters() (W_in, b_in, W_out). With
d_embed >> n_features the e_i are nearly orthogonal, and so are the subspaces.
"""
from __future__ import annotations

import torch
from torch import nn

from npeff.toy import train_on_fresh_samples


class ResidualMLP(nn.Module):
    def __init__(self, n_features: int, d_embed: int, d_mlp: int, seed: int = 0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        E = torch.randn(n_features, d_embed, generator=gen)
        self.register_buffer("E", E / E.norm(dim=1, keepdim=True))
        self.W_in = nn.Parameter(torch.randn(d_embed, d_mlp, generator=gen) / d_embed ** 0.5)
        self.b_in = nn.Parameter(torch.zeros(d_mlp))
        self.W_out = nn.Parameter(torch.randn(d_mlp, d_embed, generator=gen) / d_mlp ** 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [b, n] -> [b, n]
        r = x @ self.E
        return (r + self.neurons(x) @ self.W_out) @ self.E.T

    def neurons(self, x: torch.Tensor) -> torch.Tensor:  # [b, n] -> [b, d_mlp]
        return torch.relu(x @ self.E @ self.W_in + self.b_in)


def sample_signed_features(n_examples: int, n_features: int, p_active: float, gen: torch.Generator) -> torch.Tensor:
    active = torch.rand(n_examples, n_features, generator=gen) < p_active
    return active * (2 * torch.rand(n_examples, n_features, generator=gen) - 1)


def train_residual_mlp(n_features: int = 20, d_embed: int = 200, d_mlp: int = 10, *, p_active: float = 0.05,
                       steps: int = 3000, batch_size: int = 1024, lr: float = 3e-3,
                       seed: int = 0) -> tuple[ResidualMLP, list[float]]:
    """Adam on the MSE to x + ReLU(x), fresh samples each step; returns (model, losses)."""
    gen = torch.Generator().manual_seed(seed)
    model = ResidualMLP(n_features, d_embed, d_mlp, seed)
    losses = train_on_fresh_samples(model, lambda: sample_signed_features(batch_size, n_features, p_active, gen),
                                    lambda x: x + torch.relu(x), steps=steps, lr=lr)
    return model, losses


def mechanism_bases(model: ResidualMLP) -> list[torch.Tensor]:
    """Per feature, an orthonormal basis [n_params, 2 d_mlp] of its read-in / write-out subspace."""
    d_embed, d_mlp = model.W_in.shape
    n_in, n_b = d_embed * d_mlp, d_mlp
    n = n_in + n_b + d_mlp * d_embed
    bases = []
    for e in model.E:
        basis = torch.zeros(n, 2 * d_mlp)
        for j in range(d_mlp):
            read = torch.zeros(d_embed, d_mlp)
            read[:, j] = e  # W_in = e u_j^T
            write = torch.zeros(d_mlp, d_embed)
            write[j] = e  # W_out = u_j e^T
            basis[:n_in, j] = read.flatten()
            basis[n_in + n_b:, d_mlp + j] = write.flatten()
        bases.append(basis)
    return bases
