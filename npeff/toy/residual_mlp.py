"""Compressed computation (the APD paper's second and third settings): a residual MLP that
computes ReLU of more input features than it has neurons, in one layer or spread over two.

    r_0 = x E                          residual stream [b, d_embed]; E [n_features, d_embed] fixed, unit rows
    r_l = r_{l-1} + ReLU(r_{l-1} W_in^l + b_in^l) W_out^l      W_in^l [d_embed, d_mlp], W_out^l [d_mlp, d_embed]
    y = r_L E^T                        [b, n_features]; target x + ReLU(x)

Features are active with probability p_active and then uniform in [-1, 1]. Only the
blocks' W_in, b_in and W_out are trained. With two layers the ReLUs can be computed in
either layer or in both (the cross-layer setting).

Mechanisms: feature i's mechanism is the parameter subspace that reads feature i into
the MLPs and writes its ReLU back, in every layer: {W_in^l = e_i v^T} + {W_out^l = u e_i^T}
for v, u in R^d_mlp (e_i = row i of E). `mechanism_bases` gives an orthonormal basis of it
[n_params, 2 d_mlp L] in the flat order of model.parameters(). With d_embed >> n_features
the e_i are nearly orthogonal, and so are the subspaces.
"""
from __future__ import annotations

import torch
from torch import nn

from npeff.toy.training import train_on_fresh_samples


class MLPBlock(nn.Module):
    def __init__(self, d_embed: int, d_mlp: int, gen: torch.Generator):
        super().__init__()
        self.W_in = nn.Parameter(torch.randn(d_embed, d_mlp, generator=gen) / d_embed ** 0.5)
        self.b_in = nn.Parameter(torch.zeros(d_mlp))
        self.W_out = nn.Parameter(torch.randn(d_mlp, d_embed, generator=gen) / d_mlp ** 0.5)

    def neurons(self, r: torch.Tensor) -> torch.Tensor:  # [b, d_embed] -> [b, d_mlp]
        return torch.relu(r @ self.W_in + self.b_in)


class ResidualMLP(nn.Module):
    def __init__(self, n_features: int, d_embed: int, d_mlp: int, n_layers: int = 1, seed: int = 0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        E = torch.randn(n_features, d_embed, generator=gen)
        self.register_buffer("E", E / E.norm(dim=1, keepdim=True))
        self.layers = nn.ModuleList(MLPBlock(d_embed, d_mlp, gen) for _ in range(n_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [b, n] -> [b, n]
        r = x @ self.E
        for block in self.layers:
            r = r + block.neurons(r) @ block.W_out
        return r @ self.E.T

    def neurons(self, x: torch.Tensor) -> torch.Tensor:  # [b, n] -> [b, d_mlp L], every layer's neurons
        r, acts = x @ self.E, []
        for block in self.layers:
            acts.append(block.neurons(r))
            r = r + acts[-1] @ block.W_out
        return torch.cat(acts, dim=1)


def sample_signed_features(n_examples: int, n_features: int, p_active: float, gen: torch.Generator) -> torch.Tensor:
    active = torch.rand(n_examples, n_features, generator=gen) < p_active
    return active * (2 * torch.rand(n_examples, n_features, generator=gen) - 1)


def train_residual_mlp(n_features: int = 20, d_embed: int = 200, d_mlp: int = 10, n_layers: int = 1, *,
                       p_active: float = 0.05, steps: int = 3000, batch_size: int = 1024, lr: float = 3e-3,
                       seed: int = 0) -> tuple[ResidualMLP, list[float]]:
    """Adam on the MSE to x + ReLU(x), fresh samples each step; returns (model, losses)."""
    gen = torch.Generator().manual_seed(seed)
    model = ResidualMLP(n_features, d_embed, d_mlp, n_layers, seed)
    losses = train_on_fresh_samples(model, lambda: sample_signed_features(batch_size, n_features, p_active, gen),
                                    lambda x: x + torch.relu(x), steps=steps, lr=lr)
    return model, losses


def mechanism_bases(model: ResidualMLP) -> list[torch.Tensor]:
    """Per feature, an orthonormal basis [n_params, 2 d_mlp L] of its read-in / write-out subspaces."""
    d_embed, d_mlp = model.layers[0].W_in.shape
    n_in = d_embed * d_mlp
    per_layer = n_in + d_mlp + d_mlp * d_embed  # W_in, b_in, W_out
    bases = []
    for e in model.E:
        basis = torch.zeros(per_layer * len(model.layers), 2 * d_mlp * len(model.layers))
        for layer in range(len(model.layers)):
            start, col = layer * per_layer, 2 * d_mlp * layer
            for j in range(d_mlp):
                read = torch.zeros(d_embed, d_mlp)
                read[:, j] = e  # W_in = e u_j^T
                write = torch.zeros(d_mlp, d_embed)
                write[j] = e  # W_out = u_j e^T
                basis[start:start + n_in, col + j] = read.flatten()
                basis[start + n_in + d_mlp:start + per_layer, col + d_mlp + j] = write.flatten()
        bases.append(basis)
    return bases
