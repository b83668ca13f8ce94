"""NPEFF decomposition (paper Algorithm 1, Appendix C) and coefficient fitting.

Minimises  L(W, H) = sum_i || G_i^T G_i - sum_j W_ij h_j h_j^T ||_F^2,  W >= 0,
over LRM-PEFs G [m, r, d] without forming any d x d matrix. With
B_i = G_i H^T [r, C], N_ij = ||B_i[:, j]||^2 and M = (H H^T) ** 2 (elementwise):

    L = sum_i ||G_i G_i^T||_F^2 - 2 sum_ij W_ij N_ij + sum_i W_i M W_i^T

so the loss, the multiplicative W update (W <- W * N / (W M)) and the H
gradient T1 + T2 (Appendix C.2) all come from B, a batched matmul. Examples are
processed in chunks, so memory is bounded by the chunk size; under
torch.distributed each process holds a slice of the examples and the H
gradient, W^T W and the loss are all-reduced (Appendix C.3).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from npeff._tensors import as_tensor, resolve_device


@dataclass
class Decomposition:
    """Result of NPEFF.fit.

    W : [m, C] non-negative coefficients (this process's examples under torch.distributed).
    H : [C, d] pseudo-Fisher vectors, each h h^T of unit Frobenius norm.
    loss_history : mean per-example loss after each step's W update (before its H update).
    pef_norms : [m] Frobenius norm of each input PEF G_i^T G_i before normalisation.
    step_seconds : wall time of every step (H-only steps first).
    """

    W: torch.Tensor
    H: torch.Tensor
    loss_history: list[float]
    pef_norms: torch.Tensor
    step_seconds: list[float] = field(default_factory=list)
    n_h_only_steps: int = 0


def pef_frobenius_norms(G: torch.Tensor, chunk_size: int = 1024) -> torch.Tensor:
    """||G_i^T G_i||_F = ||G_i G_i^T||_F for every example: G [m, r, d] -> [m]."""
    norms = []
    for lo in range(0, G.shape[0], chunk_size):
        g = G[lo:lo + chunk_size].to(torch.float32)
        norms.append(torch.linalg.matrix_norm(g @ g.transpose(1, 2)).cpu())
    return torch.cat(norms) if norms else torch.zeros(0)


def normalized_chunks(G: torch.Tensor, norms: torch.Tensor, chunk_size: int, device: torch.device):
    """Yield (slice, G_chunk [c, r, d]) with every G_i^T G_i scaled to unit norm.

    Zero PEFs stay zero instead of becoming NaN.
    """
    for lo in range(0, G.shape[0], chunk_size):
        hi = min(lo + chunk_size, G.shape[0])
        scale = torch.where(norms[lo:hi] > 0, norms[lo:hi].clamp_min(1e-30).rsqrt(), torch.zeros(()))
        yield slice(lo, hi), G[lo:hi].to(device, torch.float32, non_blocking=True) * scale.to(device)[:, None, None]


def chunk_products(G: torch.Tensor, norms: torch.Tensor, H: torch.Tensor, chunk_size: int, device):
    """Yield (slice, G_chunk [c, r, d], B = G_chunk H^T [c, r, C], N [c, C]) over normalised PEFs;
    N_ij = ||G_i h_j||^2 is the numerator of the W update."""
    for rows, g in normalized_chunks(G, norms, chunk_size, device):
        B = g @ H.T
        yield rows, g, B, (B * B).sum(1)


def w_update(W: torch.Tensor, N: torch.Tensor, M: torch.Tensor, eps: float) -> torch.Tensor:
    """Multiplicative update W * N / (W M), the denominator guarded by eps. Shapes [c, C].

    A coefficient below the dtype's smallest normal number (float32: 1.2e-38) is set to 0, where
    the update keeps it. The update drives unused coefficients towards 0 through the subnormal
    range, and on Intel CPUs every operation on a subnormal float takes a microcode assist: with
    13-37% of W subnormal, NPEFF's joint steps ran 3-10x slower than its H-only steps (README,
    "Subnormal coefficients"). Such a coefficient weighs nothing against the normal ones.
    """
    W = W * N / (W @ M).clamp_min(eps)
    return W.masked_fill_(W < torch.finfo(W.dtype).tiny, 0.0)


def example_losses(W: torch.Tensor, N: torch.Tensor, M: torch.Tensor, nonzero: torch.Tensor) -> torch.Tensor:
    """||G_i^T G_i - sum_j W_ij h_j h_j^T||_F^2 per example of a chunk [c], for normalised PEFs
    (||G_i^T G_i||_F^2 is 1, or 0 for a zero PEF: `nonzero` [c])."""
    return nonzero.to(W.dtype) - 2 * (W * N).sum(1) + ((W @ M) * W).sum(1)


class NPEFF:
    """Non-negative per-example Fisher factorisation (Algorithm 1).

    Parameters
    ----------
    n_components : C, the number of rank-1 pseudo-Fisher components.
    n_h_only_steps : N1, warm-up steps that update H with W frozen (paper: 1000).
    n_joint_steps : N2, steps updating W then H (paper: 3000).
    h_only_lr, joint_lr : H learning rates of the two phases (paper: 1e-5, 3e-4).
    eps : guard on the W update's denominator.
    chunk_size : examples per chunk; bounds memory at about chunk_size * r * d floats.
    device : torch device for the computation (default: CUDA when present).
    seed : initialisation seed. W ~ U[0, 1], H ~ N(0, sqrt(2) / sqrt(C d)) (Appendix C.4).
    progress : show a progress bar.

    Under an initialised torch.distributed process group every process passes
    its own slice of the examples (contiguous, in rank order); H is replicated
    and the result equals a single-process run on the concatenated examples.
    """

    def __init__(self, n_components: int, *, n_h_only_steps: int = 1000, n_joint_steps: int = 3000,
                 h_only_lr: float = 1e-5, joint_lr: float = 3e-4, eps: float = 1e-12,
                 chunk_size: int = 2048, device=None, seed: int = 0, progress: bool = False):
        if n_components < 1:
            raise ValueError(f"n_components must be >= 1, got {n_components}")
        if n_h_only_steps < 0 or n_joint_steps < 0:
            raise ValueError("step counts must be >= 0")
        if h_only_lr <= 0 or joint_lr <= 0 or eps <= 0 or chunk_size < 1:
            raise ValueError("learning rates, eps and chunk_size must be positive")
        self.n_components = n_components
        self.n_h_only_steps = n_h_only_steps
        self.n_joint_steps = n_joint_steps
        self.h_only_lr = h_only_lr
        self.joint_lr = joint_lr
        self.eps = eps
        self.chunk_size = chunk_size
        self.device = device
        self.seed = seed
        self.progress = progress

    def settings(self) -> dict:
        """The hyperparameters, for HDF5 attributes."""
        return {k: getattr(self, k) for k in ("n_components", "n_h_only_steps", "n_joint_steps",
                                              "h_only_lr", "joint_lr", "eps", "seed")}

    def fit(self, G) -> Decomposition:
        """Decompose LRM-PEFs G [m, r, d] (numpy or torch, any device)."""
        G = as_tensor(G, name="G", ndim=3)
        device = resolve_device(self.device)
        m, _, d = G.shape
        C = self.n_components
        offset, m_total = _example_offset(m)

        norms = pef_frobenius_norms(G, self.chunk_size)
        H, W = initial_factors(m_total, C, d, self.seed, device)
        W = W[offset:offset + m].clone()

        losses, seconds = [], []
        n_steps = self.n_h_only_steps + self.n_joint_steps
        for t in tqdm(range(n_steps), desc="NPEFF", disable=not self.progress, mininterval=5):
            start = time.perf_counter()
            joint = t >= self.n_h_only_steps
            loss, grad = step_pass(G, norms, W, H, update_w=joint, eps=self.eps,
                                   chunk_size=self.chunk_size, device=device)
            H = H - (self.joint_lr if joint else self.h_only_lr) * grad
            losses.append(loss / max(m_total, 1))
            seconds.append(time.perf_counter() - start)
            if not math.isfinite(losses[-1]):
                raise FloatingPointError(f"NPEFF loss became {losses[-1]} at step {t}; lower the learning rate")

        H, W = normalize_components(H, W)
        return Decomposition(W=W.cpu(), H=H.cpu(), loss_history=losses, pef_norms=norms,
                             step_seconds=seconds, n_h_only_steps=self.n_h_only_steps)


def step_pass(G: torch.Tensor, norms: torch.Tensor, W: torch.Tensor, H: torch.Tensor, *, update_w: bool,
              eps: float, chunk_size: int, device) -> tuple[float, torch.Tensor]:
    """One pass of Algorithm 1 over the examples, W updated in place when `update_w`.

    Returns (loss, dL/dH): the loss after the W update and before the H update,
    summed over all examples (all processes), and the H gradient T1 + T2 [C, d].
    """
    C, d = H.shape
    HHt = H @ H.T  # [C, C]
    M = HHt ** 2
    T2 = torch.zeros_like(H)  # [C, d]
    WtW = torch.zeros((C, C), device=H.device)
    loss = torch.zeros((), device=H.device)
    for rows, g, B, N in chunk_products(G, norms, H, chunk_size, device):  # B [c, r, C], N [c, C]
        w = W[rows]
        if update_w:
            w = w_update(w, N, M, eps)
            W[rows] = w
        loss += example_losses(w, N, M, norms[rows].to(H.device) > 0).sum()
        WtW += w.T @ w
        # T2[j] = -4 sum_i sum_r W_ij B_irj G_ir: one [C, c*r] x [c*r, d] matmul
        T2 -= 4 * (B * w[:, None, :]).reshape(-1, C).T @ g.reshape(-1, d)
    _all_reduce(T2, WtW, loss)
    T1 = 4 * (WtW * HHt) @ H
    return loss.item(), T1 + T2


def initial_factors(m: int, C: int, d: int, seed: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """H [C, d] ~ N(0, sqrt(2)/sqrt(C d)) and W [m, C] ~ U[0, 1], from one CPU generator."""
    gen = torch.Generator().manual_seed(seed)
    H = torch.randn((C, d), generator=gen) * (math.sqrt(2.0) / math.sqrt(C * d))
    W = torch.rand((m, C), generator=gen)
    return H.to(device), W.to(device)


def normalize_components(H: torch.Tensor, W: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale each h_j so ||h_j h_j^T||_F = ||h_j||^2 = 1 and W[:, j] so W_ij h_j h_j^T is unchanged."""
    sq = (H * H).sum(1)  # [C]
    safe = torch.where(sq > 0, sq, torch.ones_like(sq))
    return H / safe.sqrt()[:, None], W * torch.where(sq > 0, sq, torch.zeros_like(sq))[None, :]


def fit_coefficients(G, H, *, n_steps: int = 1000, eps: float = 1e-12, chunk_size: int = 2048,
                     device=None, seed: int = 0) -> torch.Tensor:
    """Fit non-negative coefficients W [m, C] to PEFs G [m, r, d] with H [C, d] frozen.

    Only the W update of Algorithm 1 is run. B = G H^T does not change with H
    frozen, so N is computed once per chunk and the n_steps updates are cheap.
    PEFs are normalised to unit Frobenius norm, as in the decomposition.
    """
    G = as_tensor(G, name="G", ndim=3)
    device = resolve_device(device)
    H = as_tensor(H, name="H", ndim=2).to(device)
    if G.shape[2] != H.shape[1]:
        raise ValueError(f"G has dimension {G.shape[2]} but H has {H.shape[1]}: "
                         "were they projected with the same projection?")
    m, C = G.shape[0], H.shape[0]
    M = (H @ H.T) ** 2
    W = torch.rand((m, C), generator=torch.Generator().manual_seed(seed)).to(device)
    norms = pef_frobenius_norms(G, chunk_size)
    for rows, _, _, N in chunk_products(G, norms, H, chunk_size, device):
        w = W[rows]
        for _ in range(n_steps):
            w = w_update(w, N, M, eps)
        W[rows] = w
    return W.cpu()


def reconstruction_losses(G, W, H, *, chunk_size: int = 2048, device=None) -> torch.Tensor:
    """Per-example loss ||G_i^T G_i / ||G_i^T G_i||_F - sum_j W_ij h_j h_j^T||_F^2: [m]."""
    G = as_tensor(G, name="G", ndim=3)
    device = resolve_device(device)
    H = as_tensor(H, name="H", ndim=2).to(device)
    W = as_tensor(W, name="W", ndim=2).to(device)
    M = (H @ H.T) ** 2
    norms = pef_frobenius_norms(G, chunk_size)
    out = []
    for rows, _, _, N in chunk_products(G, norms, H, chunk_size, device):
        out.append(example_losses(W[rows], N, M, norms[rows].to(device) > 0))
    return torch.cat(out).cpu()


def _example_offset(m_local: int) -> tuple[int, int]:
    """(index of this process's first example, total examples) under torch.distributed."""
    if not (dist.is_available() and dist.is_initialized()):
        return 0, m_local
    counts = [None] * dist.get_world_size()
    dist.all_gather_object(counts, m_local)
    return sum(counts[:dist.get_rank()]), sum(counts)


def _all_reduce(*tensors: torch.Tensor) -> None:
    if dist.is_available() and dist.is_initialized():
        for t in tensors:
            dist.all_reduce(t)
