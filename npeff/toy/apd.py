"""Attribution-based Parameter Decomposition (APD; Braun et al. 2025), from the summary in
shared/paper/apd-summary.txt, for the toy models.

The model's weight matrices (its 2-D parameters) are written as a sum of C parameter
components, each matrix of component c a rank-r product U_c V_c; the other parameters
(biases) stay at their trained values in every forward, as in the APD paper. Three losses:

- faithfulness: mean squared difference between sum_c P_c and the trained weights;
- minimality: per batch, gradient attributions A[x, c] = mean_o (d f_o(x) / d theta . P_c)^2
  at the trained weights pick the top k * batch (example, component) pairs (batch top-k);
  a second forward runs each example on the sum of its selected components only, and its
  outputs are pulled towards the trained model's (MSE summed over outputs);
- simplicity: the Schatten-p quasi-norm of the selected components' matrices, through the
  factor bound sum_r (||U[:, r]||^2 ||V[r, :]||^2)^(p/2), averaged over the batch.

An example's coefficient on component c is its attribution A[x, c]; a component's
parameter-space vector puts its matrices at their flat offsets and zeros on the biases.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, jvp, vmap


@dataclass
class APDResult:
    components: torch.Tensor  # [C, n_params], flat parameter order of model.parameters()
    losses: list[dict]  # per step: faithfulness, minimality, simplicity


class APD(nn.Module):
    def __init__(self, model: nn.Module, n_components: int, rank: int, *, init_scale: float = 0.1, seed: int = 0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.target = {n: p.detach() for n, p in model.named_parameters() if p.ndim == 2}  # decomposed matrices
        if not self.target:
            raise ValueError("APD decomposes weight matrices; the model has no 2-D parameters")
        self.names = list(self.target)
        self.U = nn.ParameterList(nn.Parameter(init_scale * torch.randn(n_components, w.shape[0], rank, generator=gen))
                                  for w in self.target.values())
        self.V = nn.ParameterList(nn.Parameter(init_scale * torch.randn(n_components, rank, w.shape[1], generator=gen))
                                  for w in self.target.values())

    def matrices(self) -> dict[str, torch.Tensor]:  # name -> [C, a, b]
        return {n: U @ V for n, U, V in zip(self.names, self.U, self.V)}

    def schatten(self, p: float) -> torch.Tensor:  # [C]: sum over matrices and rank-1 factors
        return sum(((U ** 2).sum(1) * (V ** 2).sum(2) + 1e-12) ** (p / 2) for U, V in zip(self.U, self.V)).sum(1)

    def flat_components(self, model: nn.Module) -> torch.Tensor:
        """[C, n_params]: each component's matrices at their offsets in model.parameters(), zeros elsewhere."""
        mats = self.matrices()
        C = next(iter(mats.values())).shape[0]
        parts = [mats[n].detach().reshape(C, -1) if n in mats else torch.zeros(C, p.numel())
                 for n, p in model.named_parameters()]
        return torch.cat(parts, dim=1)


def attributions(model: nn.Module, apd: APD, x: torch.Tensor) -> torch.Tensor:
    """A [b, C] = mean over outputs of (J_o(x) . P_c)^2, J at the trained weights (one JVP per component)."""
    def outputs(theta):  # -> [b, o]
        return functional_call(model, theta, (x,))

    with torch.no_grad():
        jp = vmap(lambda tangent: jvp(outputs, (apd.target,), (tangent,))[1])(apd.matrices())  # [C, b, o]
    return (jp ** 2).mean(2).T


def batch_top_k(A: torch.Tensor, k: float) -> torch.Tensor:
    """mask [b, C] of the round(k * b) largest attributions in the batch (at least one)."""
    n_keep = max(1, round(k * A.shape[0]))
    mask = torch.zeros(A.numel(), dtype=torch.bool)
    mask[A.flatten().topk(n_keep).indices] = True
    return mask.reshape(A.shape)


def train_apd(model: nn.Module, sample: Callable[[], torch.Tensor], n_components: int, *, rank: int = 1,
              top_k: float = 1.0, steps: int = 2000, lr: float = 3e-2, faithfulness_coeff: float = 1.0,
              minimality_coeff: float = 1.0, simplicity_coeff: float = 0.1, schatten_p: float = 0.9,
              init_scale: float = 0.1, seed: int = 0) -> tuple[APD, APDResult]:
    """APD of the model's weight matrices; sample() gives a fresh input batch [b, i] each step.
    top_k: components kept per example on average (batch top-k). The defaults are the
    ground-truth benchmark's (tuned on TMS 5-2, README "Ground truth")."""
    torch.manual_seed(seed)
    apd = APD(model, n_components, rank, init_scale=init_scale, seed=seed)
    opt = torch.optim.Adam(apd.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)  # cosine decay to zero, as APD

    def masked_output(theta, xi):  # per-example weights -> [o]
        return functional_call(model, theta, (xi[None],))[0]

    history = []
    for _ in range(steps):
        x = sample()
        with torch.no_grad():
            y = model(x)  # [b, o]
        mask = batch_top_k(attributions(model, apd, x), top_k).to(x.dtype)  # [b, C]
        mats = apd.matrices()
        faithfulness = sum(((mats[n].sum(0) - apd.target[n]) ** 2).sum() for n in apd.names) / sum(
            w.numel() for w in apd.target.values())
        per_example = {n: torch.einsum("bc,cij->bij", mask, mats[n]) for n in apd.names}  # [b, a, b']
        y_active = vmap(masked_output)(per_example, x)
        minimality = ((y_active - y) ** 2).sum(1).mean()
        simplicity = (mask * apd.schatten(schatten_p)).sum(1).mean()
        loss = faithfulness_coeff * faithfulness + minimality_coeff * minimality + simplicity_coeff * simplicity
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
        history.append({"faithfulness": faithfulness.item(), "minimality": minimality.item(),
                        "simplicity": simplicity.item()})
    return apd, APDResult(components=apd.flat_components(model), losses=history)
