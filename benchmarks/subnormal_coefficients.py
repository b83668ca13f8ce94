"""NPEFF's W update with and without subnormal coefficients set to 0, on a run's decompositions.

    python benchmarks/subnormal_coefficients.py results/default [--tasks sst2 yat] [--threads 1]

For each NPEFF and G-NPEFF decomposition of seed 0 in the run (every model, every component count),
the decomposition is fitted again from its own held-in signals and settings, once with the plain
multiplicative update W * N / (W M) and once with npeff.decompose.w_update (which sets a
coefficient below the smallest normal float to 0), one after the other in this process. It
prints, per fit: seconds, the median H-only and joint step, the share of W left subnormal, and
whether the current update gives the same H and the same top-16 examples per component as the
plain one. On Intel CPUs an operation on a subnormal float takes a microcode assist, so the plain
update's joint steps slow down as its unused coefficients decay; H-only steps do not touch W.
"""
import argparse
import glob
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import npeff.decompose as decompose  # noqa: E402
from bench_core import cpu_model  # noqa: E402
from npeff import io  # noqa: E402
from npeff.analysis.tunings import top_examples  # noqa: E402

CURRENT_UPDATE = decompose.w_update


def plain_update(W, N, M, eps):
    return W * N / (W @ M).clamp_min(eps)


def fit(G, attrs, update):
    decompose.w_update = update  # step_pass looks the update up in its module
    try:
        return decompose.NPEFF(int(attrs["n_components"]), n_h_only_steps=int(attrs["n_h_only_steps"]),
                               n_joint_steps=int(attrs["n_joint_steps"]), h_only_lr=float(attrs["h_only_lr"]),
                               joint_lr=float(attrs["joint_lr"]), eps=float(attrs["eps"]),
                               seed=int(attrs["seed"])).fit(G)
    finally:
        decompose.w_update = CURRENT_UPDATE


def same_tops(a: np.ndarray, b: np.ndarray, k: int = 16) -> bool:
    return all((x is None) == (y is None) and (x is None or np.array_equal(x, y))
               for x, y in zip(top_examples(a, k), top_examples(b, k)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path, help="a run's results folder, e.g. results/default")
    parser.add_argument("--tasks", nargs="*", default=None)
    parser.add_argument("--threads", type=int, default=1, help="the default's decompose jobs run with 1")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tiny = torch.finfo(torch.float32).tiny
    print(f"{cpu_model()}, {args.threads} thread(s)")
    paths = sorted(glob.glob(str(args.results / "*" / "decomp" / "*" / "*npeff_c*_s0.h5")))
    for path in paths:
        with h5py.File(path) as f:
            attrs = dict(f.attrs)
        if attrs["method"] not in ("npeff", "gnpeff") or (args.tasks and attrs["task"] not in args.tasks):
            continue
        G = torch.from_numpy(io.read_pefs(attrs["source_file"])[0]["G"])  # [m, r, d]
        h = int(attrs["n_h_only_steps"])
        label = "/".join(Path(path).parts[-4:]).replace("/decomp", "")  # model/task/file
        fits = {}
        for name, update in (("plain", plain_update), ("current", CURRENT_UPDATE)):
            start = time.perf_counter()
            fits[name] = result = fit(G, attrs, update)
            steps = np.array(result.step_seconds)
            subnormal = float(((result.W > 0) & (result.W < tiny)).float().mean())
            print(f"{label} {name:7s}: {time.perf_counter() - start:5.1f} s, "
                  f"H-only step {1e3 * np.median(steps[:h]):6.2f} ms, joint step {1e3 * np.median(steps[h:]):6.2f} ms, "
                  f"W subnormal {subnormal:.3f}", flush=True)
        plain, current = fits["plain"], fits["current"]
        dH = float((plain.H - current.H).abs().max() / plain.H.abs().max())
        print(f"  same H: {torch.equal(plain.H, current.H)} (max |dH| / max |H| {dH:.1e}), same top 16: "
              f"{same_tops(plain.W.numpy(), current.W.numpy())}, final loss {plain.loss_history[-1]:.6f} -> "
              f"{current.loss_history[-1]:.6f}")


if __name__ == "__main__":
    main()
