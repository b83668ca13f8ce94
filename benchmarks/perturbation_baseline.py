"""How noisy is Table 2's KL ratio at a given perturbation baseline size? (the `n_baseline` knob)

The perturb rule compares a component's top 16 held-in examples with a random baseline of
`perturbation.n_baseline` held-in examples (less the component's own top examples), for both
signs, and keeps the larger ratio; Table 2's cell is the geometric mean over the perturbed
components. A smaller baseline is cheaper (its forwards are most of a perturb job) and aims at the
same quantity, the pool's mean KL; what it costs is noise. This measures that noise on a
finished run, for the components the perturb rule chose:

  1. each component's direction is recovered as the perturb rule does and applied with both signs;
  2. KL(perturbed || original) is computed for *every* held-in example, once per sign;
  3. the rule's statistic is recomputed for many random baselines of each size (one draw per
     job, shared by its components, as in the rule): the cell's mean, standard deviation and
     5th-95th percentiles over the draws.
Not part of the workflow.

    python benchmarks/perturbation_baseline.py results/default --task sst2 --name npeff_c32_s0 \\
        --sizes 50 100 150 200
"""
import argparse
import csv
import sys
import time
from pathlib import Path

import numba
import numpy as np
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _perturbation_run import HeldInKL, add_run_arguments, load_perturbation_run  # noqa: E402 (repo on sys.path)

from npeff.analysis.selectivity import baseline_without, draw_baseline, geometric_mean  # noqa: E402
from npeff.analysis.tunings import top_examples  # noqa: E402


def cell(kl: np.ndarray, tops: list[np.ndarray], baseline: list[int]) -> float:
    """Table 2's cell for one baseline draw: kl [C, 2, m] per component, sign and held-in example;
    tops: each component's top example indices. The better sign's ratio, geometric mean over C."""
    ratios = []
    for c, top in enumerate(tops):
        others = baseline_without(baseline, top.tolist())
        ratios.append(max(kl[c, s, top].mean() / max(kl[c, s, others].mean(), 1e-30) for s in range(2)))
    return geometric_mean(ratios)


def per_example_kls(args, settings: dict, tunings: dict, chosen: list[int]):
    """KL [C, 2, m] of every held-in example under each chosen component's perturbation, both
    signs, and each component's top examples (as the perturb rule picks them)."""
    run = load_perturbation_run(args.results, args.model, args.resources, args.task, args.name)
    all_tops = top_examples(run.decomposition["W"], tunings["top_k"], tunings["min_coefficient"])
    tops = [np.asarray(all_tops[c]) for c in chosen]
    H = torch.from_numpy(run.decomposition["H"])  # [C, d]
    heldin_kl = HeldInKL(run, args.batch_size)
    print(f"{args.task} {args.name}: {len(run.examples)} held-in examples, components {chosen}", flush=True)

    kl = np.zeros((len(chosen), 2, len(run.examples)))  # [C, sign, example]
    for i, c in enumerate(chosen):
        t0 = time.perf_counter()
        direction = heldin_kl.rule_direction(H, c, settings)
        for s, sign in enumerate((1.0, -1.0)):
            kl[i, s] = heldin_kl(sign * direction)
        del direction
        print(f"  component {c}: {time.perf_counter() - t0:.0f} s", flush=True)
    if args.save:
        np.savez(args.save, kl=kl, components=np.asarray(chosen), tops=np.asarray(tops))
    return kl, tops


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_run_arguments(ap)
    ap.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 150, 200])
    ap.add_argument("--draws", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=1, help="torch and numba threads (the perturb rule's: 1)")
    ap.add_argument("--save", type=Path, help="write the per-example KLs here (.npz)")
    ap.add_argument("--load", type=Path, help="read them from a --save file instead of perturbing again")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    numba.set_num_threads(args.threads)

    from snakemake.utils import validate

    config = yaml.safe_load(args.config.read_text())
    validate(config, str(Path(__file__).resolve().parent.parent / "config" / "schema.yaml"), set_default=True)
    settings, tunings = config["perturbation"], config["tunings"]  # as the workflow reads them (defaults filled)
    M = args.results / args.model
    with open(M / "perturb" / args.task / f"{args.name}.csv") as f:
        rule_rows = list(csv.DictReader(f))
    chosen = [int(row["component"]) for row in rule_rows]
    if args.load:
        saved = np.load(args.load)
        if saved["components"].tolist() != chosen:
            raise ValueError(f"{args.load} holds components {saved['components'].tolist()}, the rule chose {chosen}")
        kl, tops = saved["kl"], list(saved["tops"])
    else:
        kl, tops = per_example_kls(args, settings, tunings, chosen)
    m = kl.shape[-1]

    rule_cell = geometric_mean(float(row["kl_ratio"]) for row in rule_rows)
    print(f"\n{args.task} {args.name}: Table 2 KL-ratio cell over {len(chosen)} components "
          f"(the perturb rule's: {rule_cell:.2f}, n_baseline {rule_rows[0]['n_baseline']} after the tops)")
    print(f"whole pool as the baseline: {cell(kl, tops, list(range(m))):.2f}")
    print(f"{args.draws} random baselines per size:\n| n_baseline | mean | sd | sd / mean | 5% | 95% |\n"
          "| --- | --- | --- | --- | --- | --- |")
    for size in args.sizes:
        rng = np.random.default_rng(size)
        cells = np.array([cell(kl, tops, draw_baseline(rng, m, size)) for _ in range(args.draws)])
        print(f"| {min(size, m)} | {cells.mean():.2f} | {cells.std():.2f} | {cells.std() / cells.mean():.3f} "
              f"| {np.percentile(cells, 5):.2f} | {np.percentile(cells, 95):.2f} |")


if __name__ == "__main__":
    main()
