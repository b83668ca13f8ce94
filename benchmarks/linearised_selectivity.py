"""Table 2's KL ratio to second order, read off the stored projected PEFs (no forward pass).

To second order, a perturbation delta changes example i's predictions by
KL_i ~ 1/2 delta^T F_i delta = 1/2 sum_r (g_ir . delta)^2, with g_ir the rows of its PEF. For
delta = A^T v (v in the projected space) that is exact in projection: g . A^T v = (A g) . v, so
Table 2's KL ratio (top 16 examples over the pool) can be read off the stored projected rows,
for any v, without a forward pass. Per component the perturb rule chose (every eligible one
when the run has not perturbed yet), three directions:

  component  its pseudo-Fisher h, orthogonally rejected from the dissimilar ones (what the
             perturb rule recovers and applies; the FPC section measures A^T h against the
             paper's schedule on real perturbations);
  shared     the top eigenvector of sum_{i in top} F_i / ||F_i||_F: the direction the component's
             top examples share most (the oracle the two-block audit used);
  contrast   the top eigenvector of mean_{i in top} F_i/||F_i||_F - mean_{all i} F_i/||F_i||_F:
             where the top examples hold more (normalised) energy than the pool; cross-validated: fitted on
             half of the top examples, scored on the other half, both ways (fitting and scoring on
             the same examples would reward directions of their individual noise).

The ratio is mean over the top 16 over the mean over the other held-in examples (the perturb
rule's baseline also leaves a component's top examples out). The two oracles
bound nothing (on the default both score below the components themselves); a `contrast` far
above `component` would say the decomposition's directions, not the PEFs, limit Table 2.
Not part of the workflow; reads a finished run, numpy only, seconds:

    python benchmarks/linearised_selectivity.py results/default --tasks sst2 yat

With --components C [C ...] it decomposes each task's held-in PEFs (NPEFF, the config's
`decomposition` settings, seed 0) at those counts instead of reading the run's decompositions,
and scores every eligible component of each: how selective the decomposition can be as its
components get finer, without a forward pass (seconds to a minute per decomposition). With
--pool N as well, only N random held-in examples are decomposed and scored: SST2 at YAT's pool
size separates the pool from the task.
"""
import argparse
import csv
import sys
from pathlib import Path

import numpy as np
import scipy.sparse.linalg
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from npeff import io  # noqa: E402
from npeff.analysis.selectivity import geometric_mean  # noqa: E402
from npeff.analysis.tunings import top_examples  # noqa: E402
from npeff.decompose import pef_frobenius_norms  # noqa: E402
from npeff.perturb import reject_similar  # noqa: E402


def quadratic_forms(G: np.ndarray, v: np.ndarray) -> np.ndarray:
    """G [m, r, d] PEF rows, v [d] -> [m]: v^T F_i v = sum_r (g_ir . v)^2 (twice the linearised KL)."""
    return np.square(G @ v).sum(-1)


def normalised_rows(G: np.ndarray) -> np.ndarray:
    """G [m, r, d] scaled so that each F_i = G_i^T G_i has unit Frobenius norm."""
    norms = pef_frobenius_norms(torch.from_numpy(G)).double().numpy()  # [m]
    return G / np.sqrt(norms)[:, None, None]


def shared_direction(N_top: np.ndarray) -> np.ndarray:
    """N_top [k, r, d] normalised rows -> [d]: top eigenvector of sum_i F^_i (through the rows' Gram matrix)."""
    rows = N_top.reshape(-1, N_top.shape[-1])  # [k r, d]
    _, vectors = np.linalg.eigh(rows @ rows.T)
    return rows.T @ vectors[:, -1]


def contrast_direction(N: np.ndarray, fitted: np.ndarray) -> np.ndarray:
    """N [m, r, d] normalised rows -> [d]: top eigenvector of mean_{fitted} F^_i - mean_{all} F^_i."""
    top_rows = N[fitted].reshape(-1, N.shape[-1])  # [k r, d]
    all_rows = N.reshape(-1, N.shape[-1])  # [m r, d]
    d = N.shape[-1]
    operator = scipy.sparse.linalg.LinearOperator(
        (d, d), dtype=np.float64,
        matvec=lambda v: top_rows.T @ (top_rows @ v) / len(fitted) - all_rows.T @ (all_rows @ v) / len(N))
    _, vectors = scipy.sparse.linalg.eigsh(operator, k=1, which="LA")
    return vectors[:, 0]


def ratio(G: np.ndarray, top: np.ndarray, v: np.ndarray, left_out: np.ndarray | None = None) -> float:
    """Mean quadratic form over `top` over the mean over the examples not in `left_out` (default: top)."""
    q = quadratic_forms(G, v)  # [m]
    return float(q[top].mean() / np.delete(q, top if left_out is None else left_out).mean())


def cross_validated_contrast(G: np.ndarray, N: np.ndarray, top: np.ndarray) -> float:
    """The contrast direction (from N, G's normalised rows) fitted on the top's even ranks, scored
    on G at its odd ranks, and the other way: the geometric mean of the two ratios."""
    halves = (top[0::2], top[1::2])
    return geometric_mean([ratio(G, scored, contrast_direction(N, fitted), left_out=top)
                           for fitted, scored in (halves, halves[::-1])])


def decomposition_settings(config_path: Path) -> dict:
    """The config's `decomposition` section with the schema's defaults filled, as the workflow reads it."""
    import yaml
    from snakemake.utils import validate

    config = yaml.safe_load(config_path.read_text())
    validate(config, str(Path(__file__).resolve().parent.parent / "config" / "schema.yaml"), set_default=True)
    return config["decomposition"]


def decompositions(args, M: Path, task: str, method: str, G, settings: dict | None):
    """(name, {"W", "H"}, {component: measured KL ratio}) of the run's decompositions, or of fresh
    NPEFF decompositions at args.components with `settings` (none measured)."""
    if args.components:
        if method != "npeff":
            return
        from npeff.decompose import NPEFF
        from npeff_workflow.settings import npeff_kwargs

        for C in args.components:
            result = NPEFF(**npeff_kwargs(settings, C, 0)).fit(torch.from_numpy(np.asarray(G, np.float32)))
            yield f"npeff_c{C}_s0 (fresh)", {"W": result.W.numpy(), "H": result.H.numpy()}, {}
        return
    for path in sorted((M / "decomp" / task).glob(f"{method}_c*_s0.h5")):
        csv_path = M / "perturb" / task / f"{path.stem}.csv"
        measured = {}
        if csv_path.exists():  # the components the perturb rule chose, with their measured ratios
            with open(csv_path) as f:
                measured = {int(row["component"]): float(row["kl_ratio"]) for row in csv.DictReader(f)}
        yield path.stem, io.read_decomposition(path)[0], measured


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", type=Path, help="results/<config>")
    ap.add_argument("--model", default="smollm2-135m-instruct", help="the model's name in the config")
    ap.add_argument("--tasks", nargs="+", default=["sst2", "yat", "clinc150", "triviaqa"])
    ap.add_argument("--methods", nargs="+", default=["npeff", "gnpeff"])
    ap.add_argument("--top-k", type=int, default=16)
    ap.add_argument("--min-coefficient", type=float, default=0.0)
    ap.add_argument("--similarity-threshold", type=float, default=0.5)
    ap.add_argument("--components", type=int, nargs="+",
                    help="decompose the held-in PEFs at these component counts (NPEFF only)")
    ap.add_argument("--pool", type=int,
                    help="with --components: decompose and score only this many random held-in examples (seed 0), "
                         "to put two tasks on the same pool size")
    ap.add_argument("--config", type=Path, default=Path("config/config.yaml"), help="its decomposition settings")
    args = ap.parse_args()
    if args.pool and not args.components:
        ap.error("--pool needs --components (the run's own decompositions cover the whole pool)")

    M = args.results / args.model
    settings = decomposition_settings(args.config) if args.components else None
    print("| task | method | pool | components | Table 2 KL ratio (measured) | component h | shared | "
          "contrast (cross-validated) | 16 / pool |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for task in args.tasks:
        signals, _ = io.read_pefs(M / "pefs" / task / "heldin.h5")
        G = np.asarray(signals["G"], np.float64)  # [m, r, d]
        if args.pool:
            if args.pool > len(G):
                raise SystemExit(f"--pool {args.pool}: {task} has {len(G)} held-in examples")
            G = G[np.sort(np.random.default_rng(0).choice(len(G), args.pool, replace=False))]
        N = normalised_rows(G)  # each F_i at unit Frobenius norm
        for method in args.methods:
            for name, decomposition, measured in decompositions(args, M, task, method, G, settings):
                H = torch.from_numpy(decomposition["H"])  # [C, d]
                tops = top_examples(decomposition["W"], args.top_k, args.min_coefficient)
                chosen = list(measured) or [c for c, top in enumerate(tops) if top is not None]  # else every eligible
                if not chosen:
                    continue
                found = {"component": [], "shared": [], "contrast": []}
                for c in chosen:
                    top = tops[c]
                    h = reject_similar(H, c, args.similarity_threshold).double().numpy()
                    found["component"].append(ratio(G, top, h))
                    found["shared"].append(ratio(G, top, shared_direction(N[top])))
                    found["contrast"].append(cross_validated_contrast(G, N, top))
                cells = [f"{geometric_mean(found[k]):.2f} (max {max(found[k]):.2f})" for k in found]
                table2 = f"{geometric_mean(measured.values()):.2f}" if measured else "– (not perturbed yet)"
                print(f"| {task} | {name} | {len(G)} | {len(chosen)} | {table2} | "
                      + " | ".join(cells) + f" | {args.top_k / len(G):.3f} |")


if __name__ == "__main__":
    main()
