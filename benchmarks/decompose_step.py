"""Algorithm 1's step time at the paper's sizes, beside the paper's Table 8 (one A6000).

Random LRM-PEF rows of each task's held-in size under config/paper.yaml (80% of its examples,
its rows per example, projected dims and component count) are decomposed for a few H-only
steps and a few joint steps with npeff.decompose.NPEFF, as the decompose rule runs it; the
median recorded step time of each kind is printed beside the paper's. The step's cost does not
depend on the values of G, only on its shape. Needs the device memory for G: SST2 3 GB,
CLINC150 5 GB, TriviaQA 14 GB, YAT 47 GB (float32).

    python benchmarks/decompose_step.py --device cuda [--tasks sst2 clinc150] [--steps 3]
"""
import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from npeff.decompose import NPEFF  # noqa: E402
from npeff.runtime import device_name  # noqa: E402

# held-in examples (80% of config/paper.yaml's n_examples), rows, dims, components;
# the paper's Table 8 NPEFF step and H-only step in ms
PAPER_SIZES = {
    "sst2": dict(m=48_000, r=1, d=16_192, C=512, step_ms=310, h_only_ms=260),
    "yat": dict(m=80_000, r=9, d=16_192, C=2048, step_ms=3600, h_only_ms=3150),
    "clinc150": dict(m=18_960, r=4, d=16_192, C=512, step_ms=205, h_only_ms=185),
    "triviaqa": dict(m=107_070, r=4, d=8192, C=2048, step_ms=2940, h_only_ms=2900),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tasks", nargs="+", default=list(PAPER_SIZES))
    ap.add_argument("--steps", type=int, default=3, help="of each kind (H-only, joint)")
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the examples (for a small machine)")
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device here: skipping the GPU benchmark")
        return
    print(f"device {device_name(args.device)}; paper: one A6000 (Table 8)")
    print("| task | m | rows | dims | components | H-only step ms (paper) | joint step ms (paper) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for task in args.tasks:
        size = PAPER_SIZES[task]
        m = max(1, int(size["m"] * args.scale))
        gen = torch.Generator(device=args.device).manual_seed(0)
        G = torch.randn((m, size["r"], size["d"]), generator=gen, device=args.device)  # [m, r, d]
        result = NPEFF(size["C"], n_h_only_steps=args.steps, n_joint_steps=args.steps, device=args.device).fit(G)
        seconds = list(result.step_seconds)
        h_only, joint = seconds[:args.steps], seconds[args.steps:]
        print(f"| {task} | {m:,} | {size['r']} | {size['d']:,} | {size['C']} | "
              f"{1e3 * statistics.median(h_only):.0f} ({size['h_only_ms']}) | "
              f"{1e3 * statistics.median(joint):.0f} ({size['step_ms']}) |")
        del G, result
        if args.device == "cuda":
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
