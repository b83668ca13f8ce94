"""Training loop shared by the toy models."""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def train_on_fresh_samples(model: nn.Module, sample: Callable[[], torch.Tensor],
                           target: Callable[[torch.Tensor], torch.Tensor], *, steps: int,
                           lr: float) -> list[float]:
    """Adam on the summed-over-outputs MSE to target(x), a fresh batch x = sample() each step;
    leaves the model in eval mode and returns the per-step losses."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        x = sample()
        loss = ((model(x) - target(x)) ** 2).sum(1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    model.eval()
    return losses
