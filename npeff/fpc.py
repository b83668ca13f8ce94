"""Compressed-sensing recovery of parameter-space pseudo-Fishers (paper 2.2.1, App. G).

Solves, for each projected pseudo-Fisher h, FPC's problem (Hale, Yin & Zhang 2007)

    min_u  mu ||u||_1 + 1/2 ||A~ u - h~||_2^2

(the paper's ||u||_1 + 1/(2 mu) ||A u - f||^2 times mu) to its optimality conditions,
using only the seeded projection. Scaling, as before: A~ = c A with c = 1 / ||A||_2, so
FPC's step-size rule holds, and h~ = h / ||h||, so mu sets the same relative sparsity at
any scale (FPC is scale-equivariant); the solution is scaled back.

Why not plain FPC iterations over all n coordinates: n is 10^8 and each iteration needs a
full A and A^T pass, while the solution has at most d non-zeros and plain FPC needs
thousands of iterations to reach it (10 iterations left a relative residual of 0.06 and
millions of non-zeros). So, as in FPC's active-set variant (FPC_AS, Wen, Yin, Goldfarb &
Zhang 2010), the work is split:

  1. working set: the coordinates where |A~^T h~| is largest (4 d of them);
  2. on the working set W, FPC's shrinkage iteration
        u <- shrink(y - tau A~_W^T (A~_W y - h~), tau mu_k)
     with Nesterov momentum (y extrapolates the last two iterates; FISTA) and FPC's
     continuation (mu_1 = gamma ||A~_W^T h~||_inf, divided by beta per stage down to mu,
     one iteration per stage as in Appendix G), on the columns A~_W materialised from the
     hash (d x |W|, density non-zeros a column), until ||u_new - u|| <= xtol ||u|| (FPC's rule);
  3. one full pass g = A~^T (A~ u - h~) checks optimality everywhere: u is optimal when
     |g_i| <= mu off the support (and g_i = -mu sign(u_i) on it, which step 2 ensures).
     The (up to 2 d) largest violators, |g_i| > (1 + gtol) mu, join W and step 2 resumes from u.
Converged means no violator is left after step 2 stopped by its rule: the l1 solution.

fpc_schedule is the other solver: FPC as Appendix G runs it for the perturbations (one plain
iteration per continuation stage over all n, then stop); the workflow picks one by its config.
On whole-model PEFs its dense direction perturbs selectively and the l1 optimum does not
(README, "FPC").
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from npeff._tensors import as_tensor
from npeff.projection import SparseProjection

_FULL_PASS_COLUMNS = 2**23  # columns of A^T y formed at once in a full pass (memory: rows x this x 4 B)


@dataclass
class FPCResult:
    """Per row: the recovered vector, sparse (`indices` [nnz] into the n parameters, `values`
    [nnz]; fpc_recover) or dense (`dense` [k, n]; fpc_schedule, whose rows are dense: listing
    their tens of millions of non-zeros would cost more than the solve), shrinkage iterations,
    full optimality passes, convergence, relative residual ||A u - h|| / ||h||. `u` is the
    rows as one dense tensor [k, n] (or [n] for a single target)."""

    indices: list | None
    values: list | None
    n: int
    n_iter: torch.Tensor
    n_passes: torch.Tensor
    converged: torch.Tensor
    relative_residual: torch.Tensor
    single: bool = False
    dense: torch.Tensor | None = None

    @property
    def u(self) -> torch.Tensor:
        if self.dense is not None:
            return self.dense[0] if self.single else self.dense
        device = self.values[0].device if self.values else "cpu"
        dense = torch.zeros((len(self.values), self.n), dtype=torch.float32, device=device)
        for row, (idx, val) in enumerate(zip(self.indices, self.values)):
            dense[row, idx] = val
        return dense[0] if self.single else dense

    @property
    def nonzeros(self) -> torch.Tensor:
        """[k] non-zero coordinates per row."""
        if self.dense is not None:
            return torch.count_nonzero(self.dense, dim=1).cpu()
        return torch.tensor([len(idx) for idx in self.indices])


def fpc_recover(projection: SparseProjection, h, *, mu: float = 4e-5, gamma: float = 0.99,
                beta: float = 4.0, xtol: float = 1e-4, gtol: float = 1e-2, max_iter: int = 20_000,
                max_passes: int = 30, operator_norm: float | None = None) -> FPCResult:
    """Recover sparse u with A u ~ h for projected vectors h [d] or [k, d], to the l1 optimum.

    mu, gamma, beta: FPC's (Appendix G: 4e-5, 0.99, 4). xtol: stopping rule of the shrinkage
    iterations (relative change). gtol: tolerated relative violation of the optimality
    conditions off the support. max_iter: cap on shrinkage iterations per row; max_passes: cap
    on full optimality passes. operator_norm: ||A||_2 when known (spectral_norm). Runs on h's device.
    """
    h = as_tensor(h, name="h")
    single = h.ndim == 1
    h = h.reshape(-1, h.shape[-1]).float()
    if h.shape[-1] != projection.out_dim:
        raise ValueError(f"h has dimension {h.shape[-1]}, the projection outputs {projection.out_dim}")
    if mu <= 0 or not 0 < gamma <= 1 or beta <= 1 or xtol <= 0 or gtol < 0 or max_iter < 1 or max_passes < 1:
        raise ValueError("need mu > 0, 0 < gamma <= 1, beta > 1, xtol > 0, gtol >= 0, max_iter >= 1, "
                         "max_passes >= 1")
    c = 1.0 / (operator_norm or spectral_norm(projection, device=h.device))
    k, d = h.shape
    h_norm = h.norm(dim=1)  # [k]
    b = h / h_norm.clamp_min(1e-30)[:, None]  # [k, d] unit targets

    # 1. initial working sets: the largest |A~^T b| per row (also gives FPC's first threshold)
    candidates, grad0_max = _largest_full_gradient(projection, c, -b, torch.zeros(k, device=h.device),
                                                   4 * d, [np.empty(0, np.int64)] * k)
    working = [np.sort(cand) for cand in candidates]
    on_cpu = not h.is_cuda
    values = [np.zeros(len(w), np.float32) if on_cpu else torch.zeros(len(w), device=h.device) for w in working]
    mu_start = torch.maximum(gamma * grad0_max, torch.full_like(grad0_max, mu))
    n_iter = torch.zeros(k, dtype=torch.long)
    n_passes = torch.zeros(k, dtype=torch.long)
    converged = grad0_max == 0  # h = 0: u = 0 is optimal
    active = [r for r in range(k) if not bool(converged[r])]
    residual = -b.clone()
    for _ in range(max_passes):
        if not active:
            break
        stopped = {}
        for r in active:  # 2. solve on the working set, warm started
            columns = _Columns(c * projection.columns(working[r], device=h.device))  # [d, |W|]
            target = b[r].cpu().numpy() if on_cpu else b[r]
            values[r], iters, stopped[r] = _shrinkage_on_working_set(
                columns, target, values[r], mu, float(mu_start[r]), beta, xtol, max_iter - int(n_iter[r]))
            n_iter[r] += iters
            residual[r] = torch.as_tensor(columns.matvec(values[r]) - target, device=h.device)
            mu_start[r] = mu  # later passes resume at the final threshold
        # 3. one full pass for the rows still working: violators join the working set
        rows = torch.tensor(active, device=h.device)
        violators, _ = _largest_full_gradient(projection, c, residual[rows], torch.full((len(active),), mu * (1 + gtol),
                                              device=h.device), 2 * d, [working[r] for r in active])
        still = []
        for i, r in enumerate(active):
            n_passes[r] += 1
            new = violators[i]
            if len(new) == 0 and stopped[r]:
                converged[r] = True
                continue
            if int(n_iter[r]) >= max_iter:
                continue  # out of iterations: not converged
            keep = np.union1d(working[r], new)  # the violators join (dropping zeros could cycle)
            grown = np.zeros(len(keep), np.float32) if on_cpu else torch.zeros(len(keep), device=h.device)
            grown[np.searchsorted(keep, working[r])] = values[r]  # warm start: the old values in place
            working[r], values[r] = keep, grown
            still.append(r)
        active = still
    relative_residual = residual.norm(dim=1) / b.norm(dim=1).clamp_min(1e-30)
    indices, kept = [], []
    for r in range(k):  # c A u_hat ~ h / ||h||  =>  A (c ||h|| u_hat) ~ h
        value = torch.as_tensor(values[r], device=h.device)
        nonzero = value != 0
        indices.append(torch.from_numpy(working[r]).to(h.device)[nonzero])
        kept.append(value[nonzero] * (c * h_norm[r]))
    return FPCResult(indices=indices, values=kept, n=projection.in_dim, n_iter=n_iter, n_passes=n_passes,
                     converged=converged.cpu(), relative_residual=relative_residual.cpu(), single=single)


class _Columns:
    """A~_W [d, w] for the shrinkage iterations: scipy CSR on the CPU (torch's sparse products are
    ~30x slower there), torch sparse on CUDA."""

    def __init__(self, coo: torch.Tensor):
        self.device = coo.device
        if coo.is_cuda:
            self.A, self.At = coo.to_sparse_csr(), coo.t().coalesce().to_sparse_csr()
        else:
            import scipy.sparse

            idx, val = coo.indices().numpy(), coo.values().numpy()
            self.A = scipy.sparse.csr_matrix((val, (idx[0], idx[1])), shape=tuple(coo.shape))
            self.At = self.A.T.tocsr()
        self.shape = tuple(coo.shape)

    def matvec(self, x):
        return self.A @ x

    def rmatvec(self, y):
        return self.At @ y


def _shrinkage_on_working_set(A_w: _Columns, b, u, mu: float, mu_first: float, beta: float, xtol: float,
                              max_iter: int):
    """FPC's shrinkage iteration with momentum and continuation on min mu|u|_1 + 1/2|A_w u - b|^2.

    A_w [d, w], b [d], u [w] warm start (numpy on the CPU, torch on CUDA).
    Returns (u, iterations, stopped by the rule)."""
    xp = np if isinstance(u, np.ndarray) else torch
    tau = 1.0 / max(_norm_squared(A_w, xp, u), 1e-12)  # step 1/L, L = ||A_w||^2 <= 1
    mu_k = max(mu_first, mu)
    y, t = u.copy() if xp is np else u.clone(), 1.0
    for it in range(1, max_iter + 1):
        step = y - tau * A_w.rmatvec(A_w.matvec(y) - b)
        u_new = xp.sign(step) * xp.clip(xp.abs(step) - tau * mu_k, 0, None)
        diff = u_new - u
        change, size = float((diff * diff).sum()) ** 0.5, float((u_new * u_new).sum()) ** 0.5
        if float((diff * (y - u_new)).sum()) > 0:  # momentum points uphill: restart it (O'Donoghue & Candes)
            t = 1.0
        t_next = (1 + math.sqrt(1 + 4 * t * t)) / 2
        y = u_new + ((t - 1) / t_next) * diff
        u, t = u_new, t_next
        if mu_k > mu:  # continuation: one iteration per stage (Appendix G), momentum restarted
            mu_k, y, t = max(mu_k / beta, mu), u, 1.0
        elif change <= xtol * max(size, 1e-30):
            return u, it, True
    return u, max_iter, False


def _norm_squared(A_w: _Columns, xp, like, n_iter: int = 30) -> float:
    """||A_w||_2^2 by power iteration on A_w^T A_w, with a 2% margin."""
    w = A_w.shape[1]
    v = xp.ones(w, dtype=like.dtype) if xp is np else torch.ones(w, device=like.device)
    v = v / max(1, w) ** 0.5
    estimate = 0.0
    for _ in range(n_iter):
        z = A_w.rmatvec(A_w.matvec(v))
        estimate = float((z * z).sum()) ** 0.5
        if estimate == 0:
            return 0.0
        v = z / estimate
    return 1.02 * estimate


def _largest_full_gradient(projection: SparseProjection, c: float, residual: torch.Tensor, threshold: torch.Tensor,
                           count: int, exclude: list) -> tuple[list, torch.Tensor]:
    """One full pass g = c A^T residual ([k, n], formed a block of columns at a time). Per row: the
    (at most `count`) coordinates outside `exclude` where |g| exceeds threshold, largest first, and
    max |g| over all coordinates [k]."""
    k, n = residual.shape[0], projection.in_dim
    best = [(np.empty(0, np.int64), np.empty(0, np.float32)) for _ in range(k)]
    g_max = torch.zeros(k, device=residual.device)
    for start in range(0, n, _FULL_PASS_COLUMNS):
        length = min(_FULL_PASS_COLUMNS, n - start)
        g = (c * projection.transpose(residual, start=start, length=length)).abs()  # [k, length]
        g_max = torch.maximum(g_max, g.amax(1))
        for r in range(k):
            over = torch.nonzero(g[r] > threshold[r]).flatten()
            if len(over) == 0:
                continue
            top = over[torch.topk(g[r, over], min(count, len(over))).indices].cpu().numpy() + start
            top = top[~np.isin(top, exclude[r])]
            idx = np.concatenate([best[r][0], top])
            val = np.concatenate([best[r][1], g[r, torch.from_numpy(top - start).to(g.device)].cpu().numpy()])
            order = np.argsort(-val, kind="stable")[:count]
            best[r] = (idx[order], val[order])
    return [idx for idx, _ in best], g_max


def spectral_norm(projection: SparseProjection, *, n_iter: int = 30, seed: int = 0, device="cpu") -> float:
    """||A||_2 by power iteration on A A^T (d-dimensional), with a 2% safety margin."""
    gen = torch.Generator().manual_seed(seed)
    v = torch.randn((1, projection.out_dim), generator=gen).to(device)
    estimate = 0.0
    u = None  # [1, n]: A^T v, one buffer for every iteration
    for _ in range(n_iter):
        u = projection.transpose(v, out=u)
        w = projection.project(u)  # A A^T v
        estimate = w.norm().item()
        v = w / max(estimate, 1e-30)
    return 1.02 * math.sqrt(estimate)


def fpc_schedule(projection: SparseProjection, h, *, mu: float = 4e-5, gamma: float = 0.99, beta: float = 4.0,
                 inner_iterations: int = 1, operator_norm: float | None = None) -> FPCResult:
    """FPC as Appendix G runs it for the perturbations: plain shrinkage iterations over all n
    coordinates from u = 0, with FPC's continuation (first threshold gamma ||A~^T h~||_inf, divided
    by beta per stage down to mu) and `inner_iterations` iterations per stage (the paper: 1),
    returning after the last stage. Step tau = min(1 + 1.665 (1 - d/n), 1.999) (Hale et al.
    eq. 73). Same scaling as fpc_recover. h: [d] or [k, d], one row at a time (u is dense, [n]).

    This is not the l1 optimum (fpc_recover): it stops after a handful of iterations with a
    dense, thresholded back-projection. The paper found that "a single inner iteration ...
    produce[s] the best results in our perturbation experiments"; on the default, so do we
    (README, "FPC"). n_iter = n_passes = the iterations (each is one full A and A^T pass).
    """
    h = as_tensor(h, name="h")
    single = h.ndim == 1
    h = h.reshape(-1, h.shape[-1]).float()
    if h.shape[-1] != projection.out_dim:
        raise ValueError(f"h has dimension {h.shape[-1]}, the projection outputs {projection.out_dim}")
    if mu <= 0 or not 0 < gamma <= 1 or beta <= 1 or inner_iterations < 1:
        raise ValueError("need mu > 0, 0 < gamma <= 1, beta > 1, inner_iterations >= 1")
    c = 1.0 / (operator_norm or spectral_norm(projection, device=h.device))
    d, n = projection.out_dim, projection.in_dim
    tau = min(1 + 1.665 * (1 - d / n), 1.999)
    k = h.shape[0]
    dense = torch.zeros((k, n), device=h.device)  # [k, n]: row r is u_r, updated in place
    n_iter, residuals = [], []
    # Every n-long step works in place on u and g. Written as the textbook lines (u - tau g,
    # sign * (|.| - t)+, c * A^T r), each allocated and touched 425 MB at n = 10^8, and the
    # schedule took ~10 s per component on 2 CPU cores, as long as its 432 perturbed forwards.
    for r, row in enumerate(h):
        h_norm = row.norm()
        b = (row / h_norm.clamp_min(1e-30))[None]  # [1, d] unit target
        u = dense[r:r + 1]  # [1, n], a view: the updates land in `dense`
        g = projection.transpose(-b).mul_(c)  # gradient of 1/2 |A~ u - b|^2 at u = 0, [1, n]
        g_max = _abs_max(g)
        residual = -b
        thresholds = _continuation(max(gamma * g_max, mu), mu, beta, inner_iterations) if g_max > 0 else []
        for i, mu_k in enumerate(thresholds):  # none where h = 0: u = 0 is the answer
            u.sub_(g.mul_(tau))  # u - tau g (g is overwritten below)
            torch.nn.functional.softshrink(u, tau * mu_k, out=u)  # sign * (|.| - tau mu_k)+
            residual = c * projection.project(u) - b  # [1, d]
            if i + 1 < len(thresholds):  # the last iteration's gradient would go unused: a full A^T pass saved
                g = projection.transpose(residual, out=g).mul_(c)
        u.mul_(c * h_norm)  # c A u_hat ~ h / ||h||  =>  A (c ||h|| u_hat) ~ h
        n_iter.append(len(thresholds))
        residuals.append(float(residual.norm()))
        del g
    return FPCResult(indices=None, values=None, n=n, n_iter=torch.tensor(n_iter),
                     n_passes=torch.tensor(n_iter), converged=torch.zeros(k, dtype=torch.bool),
                     relative_residual=torch.tensor(residuals), single=single, dense=dense)


def _continuation(mu_first: float, mu: float, beta: float, inner_iterations: int) -> list[float]:
    """FPC's thresholds, one per shrinkage iteration: mu_first, divided by beta per stage down to mu
    (the last stage), each stage `inner_iterations` times."""
    stages = [mu_first]
    while stages[-1] > mu:
        stages.append(max(stages[-1] / beta, mu))
    return [mu_k for mu_k in stages for _ in range(inner_iterations)]


def _abs_max(g: torch.Tensor) -> float:
    """max |g| in one pass, without an |g| temporary of g's size."""
    low, high = torch.aminmax(g)
    return max(-float(low), float(high))
