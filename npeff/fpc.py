"""Compressed-sensing recovery of parameter-space pseudo-Fishers (paper 2.2.1, App. G).

Fixed point continuation (Hale, Yin & Zhang 2007) for

    min_u  ||u||_1 + 1/(2 mu) ||A~ u - h~||_2^2

using only products with A and A^T. FPC's step size rule (tau < 2 / lambda_max(A~^T A~))
assumes A~ has orthonormal rows; our projection preserves inner products in
the *input* space (E[A^T A] = I), so its rows have squared norm ~ n/d and are
only nearly orthogonal. The solver therefore works with A~ = c A,
c = 1 / ||A||_2 (estimated by power iteration), so that
lambda_max(A~ A~^T) = 1 and FPC's tau is valid. Each target is scaled to
unit norm, h~ = h / ||h||, and the solution scaled back: FPC is scale-equivariant
(h -> s h, mu -> s mu gives u -> s u), so mu sets the same relative sparsity
whatever the pseudo-Fisher's scale. With mu taken against the raw scale, a
unit-norm h projected from 7M to 4096 dimensions has ||A~^T h~||_inf ~ mu and
FPC returns u ~ 0 (relative residual 0.99 after 300 iterations).

Iteration (one inner iteration per continuation stage, as in Appendix G):
    v = u - tau A~^T (A~ u - h~);   u = sign(v) * max(|v| - tau * mu_k, 0)
Continuation: the first threshold tau*mu_1 is gamma * tau * ||A~^T h~||_inf, so
the first iterate keeps only the largest entries; each stage divides mu_k by
beta until it reaches mu. tau = min(1 + 1.665 (1 - d/n), 1.999) (their eq. 73).
Stopping rule: once mu_k = mu, stop when ||u_new - u|| <= xtol * max(||u||, tiny),
or after max_iter iterations.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from npeff._tensors import as_tensor
from npeff.projection import SparseProjection


@dataclass
class FPCResult:
    """u [k, n] (or [n]) recovered vectors; per-row iterations, convergence and relative residual."""

    u: torch.Tensor
    n_iter: torch.Tensor
    converged: torch.Tensor
    relative_residual: torch.Tensor


def fpc_recover(projection: SparseProjection, h, *, mu: float = 4e-5, gamma: float = 0.99,
                beta: float = 4.0, tau: float | None = None, xtol: float = 1e-4,
                max_iter: int = 1000, operator_norm: float | None = None) -> FPCResult:
    """Recover sparse u with A u ~ h for projected vectors h [d] or [k, d].

    Rows are solved together (the CPU twin reuses each hash for every row) and
    each row keeps its own continuation state. Runs on h's device.
    operator_norm: ||A||_2 when already known (spectral_norm), to skip the power iteration.
    """
    h = as_tensor(h, name="h")
    single = h.ndim == 1
    h = h.reshape(-1, h.shape[-1])
    if h.shape[-1] != projection.out_dim:
        raise ValueError(f"h has dimension {h.shape[-1]}, the projection outputs {projection.out_dim}")
    if mu <= 0 or not 0 < gamma <= 1 or beta <= 1 or xtol <= 0 or max_iter < 1:
        raise ValueError("need mu > 0, 0 < gamma <= 1, beta > 1, xtol > 0, max_iter >= 1")
    n, d = projection.in_dim, projection.out_dim
    c = 1.0 / (operator_norm or spectral_norm(projection, device=h.device))
    if tau is None:
        tau = min(1.0 + 1.665 * (1.0 - d / n), 1.999)

    def A(u):  # [k, n] -> [k, d]
        return c * projection.project(u)

    def At(v):  # [k, d] -> [k, n]
        return c * projection.transpose(v)

    # a unit-norm target per row, so mu means the same sparsity whatever h's scale
    # (FPC is scale-equivariant: h -> s h with mu -> s mu gives u -> s u)
    h_norm = h.norm(dim=1, keepdim=True)  # [k, 1]
    b = h / h_norm.clamp_min(1e-30)  # [k, d], unit rows
    k = b.shape[0]
    u = torch.zeros((k, n), dtype=torch.float32, device=h.device)
    grad0_max = At(b).abs().amax(1)  # ||A~^T h~||_inf per row: [k]
    mu_k = torch.maximum(gamma * grad0_max, torch.full_like(grad0_max, mu))  # threshold / tau
    done = grad0_max == 0  # h = 0 recovers u = 0
    n_iter = torch.zeros(k, dtype=torch.long)
    for _ in range(max_iter):
        if bool(done.all()):
            break
        active = ~done
        v = u - tau * At(A(u) - b)
        u_new = torch.sign(v) * (v.abs() - (tau * mu_k)[:, None]).clamp_min(0)
        change = (u_new - u).norm(dim=1)
        at_final = mu_k <= mu
        converged_now = at_final & (change <= xtol * u.norm(dim=1).clamp_min(1e-30))
        u = torch.where(active[:, None], u_new, u)
        n_iter += active.to(torch.long).cpu()
        done = done | converged_now
        mu_k = torch.where(active, torch.clamp(mu_k / beta, min=mu), mu_k)
        if not bool(torch.isfinite(u).all()):
            raise FloatingPointError("FPC diverged; pass a smaller tau")
    residual = (A(u) - b).norm(dim=1) / b.norm(dim=1).clamp_min(1e-30)
    u = u * (c * h_norm)  # c A u_hat ~ h / ||h||  =>  A (c ||h|| u_hat) ~ h
    result = FPCResult(u=u, n_iter=n_iter, converged=done.cpu(), relative_residual=residual.cpu())
    if single:
        result.u = result.u[0]
    return result


def spectral_norm(projection: SparseProjection, *, n_iter: int = 30, seed: int = 0, device="cpu") -> float:
    """||A||_2 by power iteration on A A^T (d-dimensional), with a 2% safety margin."""
    gen = torch.Generator().manual_seed(seed)
    v = torch.randn((1, projection.out_dim), generator=gen).to(device)
    estimate = 0.0
    for _ in range(n_iter):
        w = projection.project(projection.transpose(v))  # A A^T v
        estimate = w.norm().item()
        v = w / max(estimate, 1e-30)
    return 1.02 * math.sqrt(estimate)
