"""Does Table 2's KL ratio grow as the top examples get rarer? (the pool-size hypothesis)

Table 2 compares a component's top 16 examples with random ones. The paper draws its top 16
from 60,000 examples (0.03% of the pool), the default from a few hundred (4% on SST2), so the
paper's top examples are far more extreme members of their component. This measures how much
that alone moves the ratio, on a finished run, for the components the perturb rule chose:

  1. each component's direction is recovered as the perturb rule does (the config's
     `perturbation` settings) and applied with the sign the rule kept;
  2. KL(perturbed || original) is computed for *every* held-in example, once;
  3. from these, the ratio mean KL(top k by coefficient) / mean KL(rest of the pool) is read off
     (and, in a second column, over the whole pool, top included: what a baseline that draws
     the top examples measures) for
     (a) the whole pool and k = 1 ... 64 (a smaller k is a rarer selection: k/m of the pool), and
     (b) the paper's k = 16 in random sub-pools of m/8 ... m examples (the statistic as a
         smaller run would report it; 200 draws each, ratio of the mean KLs).
Each line is the geometric mean over the components. A ratio that rises as k/m falls says the
default's small pool caps Table 2; a flat one says it does not. Not part of the workflow.

    python benchmarks/perturbation_pool.py results/default --task sst2 --name npeff_c32_s0
"""
import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _perturbation_run import HeldInKL, add_run_arguments, load_perturbation_run  # noqa: E402 (repo on sys.path)

from npeff.analysis.selectivity import geometric_mean  # noqa: E402


def top_k_ratio(kl: np.ndarray, coefficients: np.ndarray, k: int, with_top: bool = False) -> float:
    """mean KL of the k examples with the largest coefficients over the mean KL of the rest of the
    pool (with_top: of the whole pool, top included). kl, coefficients: [m]."""
    top = np.argsort(-coefficients, kind="stable")[:k]
    return float(kl[top].mean() / (kl.mean() if with_top else np.delete(kl, top).mean()))


def subpool_ratio(kl: np.ndarray, coefficients: np.ndarray, pool: int, k: int, draws: int,
                  rng: np.random.Generator, with_top: bool = False) -> float:
    """E[mean KL of the top k of a random pool of `pool` examples] / E[mean KL of the rest of such
    a pool] (with_top: of the whole pool)."""
    top_means, rest_means = [], []
    for _ in range(draws):
        members = rng.choice(kl.size, size=pool, replace=False)
        order = np.argsort(-coefficients[members], kind="stable")
        top_means.append(kl[members[order[:k]]].mean())
        rest_means.append(kl[members].mean() if with_top else kl[members[order[k:]]].mean())
    return float(np.mean(top_means) / np.mean(rest_means))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_run_arguments(ap)
    ap.add_argument("--draws", type=int, default=200)
    args = ap.parse_args()

    settings = yaml.safe_load(args.config.read_text())["perturbation"]
    R, M, task_name = args.results, args.results / args.model, args.task
    with open(M / "perturb" / task_name / f"{args.name}.csv") as f:
        chosen = [(int(row["component"]), int(row["sign"]), float(row["kl_ratio"])) for row in csv.DictReader(f)]
    run = load_perturbation_run(R, args.model, args.resources, task_name, args.name)
    W = run.decomposition["W"]  # [m, C] held-in coefficients
    H = torch.from_numpy(run.decomposition["H"])  # [C, d]
    heldin_kl = HeldInKL(run, args.batch_size)
    m = len(run.examples)
    print(f"{task_name} {args.name}: {m} held-in examples, components {[c for c, _, _ in chosen]}", flush=True)

    ks = [k for k in (1, 2, 4, 8, 16, 32, 64) if k <= m // 2]
    pools = sorted({max(32, m // 8), m // 4, m // 2, m})
    by_k = {(k, with_top): [] for k in ks for with_top in (False, True)}
    by_pool = {(p, with_top): [] for p in pools for with_top in (False, True)}
    rule_ratios = []
    for c, sign, rule_ratio in chosen:
        t0 = time.perf_counter()
        direction = heldin_kl.rule_direction(H, c, settings)
        kl = heldin_kl(sign * direction)
        del direction
        coefficients = W[:, c]
        for k, with_top in by_k:
            by_k[k, with_top].append(top_k_ratio(kl, coefficients, k, with_top))
        for pool, with_top in by_pool:  # the same draws for both columns
            by_pool[pool, with_top].append(subpool_ratio(kl, coefficients, pool, 16, args.draws,
                                                         np.random.default_rng(pool), with_top))
        rule_ratios.append(rule_ratio)
        print(f"  component {c}: pool mean KL {kl.mean():.3g}, {(coefficients > 0).sum()} examples with a positive "
              f"coefficient; top-16/rest {by_k[16, False][-1]:.2f} (perturb rule, top 16/random {rule_ratio:.2f}); "
              f"{time.perf_counter() - t0:.0f} s", flush=True)

    print(f"\n{task_name} {args.name}, geometric mean over {len(chosen)} components "
          f"(perturb rule's Table 2 cell: {geometric_mean(rule_ratios):.2f})")
    print("(a) whole pool, top k:\n| k | k / pool | KL ratio, top / rest | top / pool |\n| --- | --- | --- | --- |")
    for k in ks:
        print(f"| {k} | {k / m:.3f} | {geometric_mean(by_k[k, False]):.2f} | {geometric_mean(by_k[k, True]):.2f} |")
    print(f"(b) top 16 of a random sub-pool ({args.draws} draws):\n"
          "| pool | 16 / pool | KL ratio, top / rest | top / pool |\n| --- | --- | --- | --- |")
    for pool in pools:
        print(f"| {pool} | {16 / pool:.3f} | {geometric_mean(by_pool[pool, False]):.2f} "
              f"| {geometric_mean(by_pool[pool, True]):.2f} |")


if __name__ == "__main__":
    main()
