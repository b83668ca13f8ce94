"""FPC's Appendix G schedule (the perturbations' recovery step) against the same iteration written
as plain tensor lines, in one run, interleaved.

    python benchmarks/fpc_schedule_cost.py [--n 106168320] [--dim 4096] [--density 8] [--repeat 3]

The default n is the whole-model selection of SmolLM2-135M (every non-embedding, non-norm
parameter). `npeff.fpc.fpc_schedule` updates u and the gradient in place and reuses the
transpose's output buffer; `plain_schedule` below is the textbook form it replaced (each
n-long step allocates and first-touches 4n bytes). Both run the same A and A^T passes, so the
ratio is what the in-place steps save. Prints seconds per component, the ratio, and whether
the two solutions are bitwise equal.
"""
import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import cpu_model  # noqa: E402
from npeff.fpc import fpc_schedule, spectral_norm  # noqa: E402
from npeff.projection import SparseProjection  # noqa: E402


def plain_schedule(projection: SparseProjection, h: torch.Tensor, c: float, *, mu=4e-5, gamma=0.99,
                   beta=4.0) -> torch.Tensor:
    """One row h [d] -> u [n], one shrinkage iteration per continuation stage, textbook lines."""
    d, n = projection.out_dim, projection.in_dim
    tau = min(1 + 1.665 * (1 - d / n), 1.999)
    h_norm = h.norm()
    b = (h / h_norm)[None]  # [1, d]
    u = torch.zeros((1, n))
    g = c * projection.transpose(-b)  # [1, n]
    mu_k = max(gamma * float(g.abs().max()), mu)
    while float(g.abs().max()) > 0:
        step = u - tau * g
        u = step.sign() * (step.abs() - tau * mu_k).clamp_min(0)
        del step
        g = c * projection.transpose(c * projection.project(u) - b)
        if mu_k <= mu:
            break
        mu_k = max(mu_k / beta, mu)
    return (u * (c * h_norm))[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=106_168_320, help="parameters (default: SmolLM2-135M's selection)")
    ap.add_argument("--dim", type=int, default=4096)
    ap.add_argument("--density", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    projection = SparseProjection(args.n, args.dim, seed=0, density=args.density)
    h = torch.randn(args.dim, generator=torch.Generator().manual_seed(0))
    norm = spectral_norm(projection, n_iter=5)
    projection.project(torch.zeros(1, 1000)), projection.transpose(torch.zeros(1, args.dim), length=1000)  # compile
    ours, plain, equal = [], [], True
    for _ in range(args.repeat):  # interleaved: load on a shared machine hits both alike
        start = time.perf_counter()
        u_ours = fpc_schedule(projection, h, operator_norm=norm).u
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        u_plain = plain_schedule(projection, h, 1.0 / norm)
        plain.append(time.perf_counter() - start)
        equal &= torch.equal(u_ours, u_plain)
        del u_ours, u_plain
    print(f"n {args.n:,}, d {args.dim}, density {args.density}; {torch.get_num_threads()} threads, {cpu_model()}")
    print(f"fpc_schedule {min(ours):.2f} s per component, plain lines {min(plain):.2f} s "
          f"(min of {args.repeat}): {min(plain) / min(ours):.1f}x; solutions bitwise equal: {equal}")


if __name__ == "__main__":
    main()
