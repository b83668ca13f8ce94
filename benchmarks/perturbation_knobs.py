"""How Table 2's KL ratio depends on how the direction is recovered, and on the magnitude.

Reads a finished run's decomposition, held-in examples and operator norm, and for the first
few eligible components (or those given) prints the KL ratio (top held-in examples over a
random held-in baseline, the better sign, as the perturb rule) for:
  - FPC run as Appendix G does (`fpc_schedule`: one iteration per continuation stage; the
    default's `perturbation.fpc.solver: paper_schedule`);
  - FPC run to the l1 optimum (`fpc_recover`; `solver: l1_optimum`);
  - the plain back-projection A^T h (no recovery; <g, A^T h> = <A g, h> exactly);
with the number of non-zeros of each. Not part of the workflow.

    python benchmarks/perturbation_knobs.py results/default --task sst2 --name npeff_c32_s0 \\
        --components 3 --n-baseline 64 --magnitudes 20
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _perturbation_run import load_perturbation_run  # noqa: E402  (puts the repository on sys.path)

from npeff.analysis.tunings import top_examples  # noqa: E402
from npeff.fpc import fpc_recover, fpc_schedule  # noqa: E402
from npeff.perturb import encode_texts, perturbation_effect, reject_similar, unit_direction  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", type=Path, help="results/<config>")
    ap.add_argument("--model", default="smollm2-135m-instruct", help="the model's name in the config")
    ap.add_argument("--resources", type=Path, default=Path("resources"))
    ap.add_argument("--task", default="sst2")
    ap.add_argument("--name", default="npeff_c32_s0")
    ap.add_argument("--components", type=int, default=3, help="first this many eligible components")
    ap.add_argument("--component-ids", type=int, nargs="*", help="these components instead")
    ap.add_argument("--magnitudes", type=float, nargs="+", default=[20.0])
    ap.add_argument("--n-baseline", type=int, default=64)
    ap.add_argument("--top-k", type=int, default=16)
    ap.add_argument("--mu", type=float, default=4e-5)
    ap.add_argument("--similarity-threshold", type=float, default=0.5)
    args = ap.parse_args()

    task_name = args.task
    run = load_perturbation_run(args.results, args.model, args.resources, task_name, args.name)
    decomposition, projection, norm, examples, labels = (run.decomposition, run.projection, run.operator_norm,
                                                         run.examples, run.labels)
    spec, task, selection, prefix, tokenizer = run.spec, run.task, run.selection, run.prefix, run.tokenizer

    def encoded(indices):
        return encode_texts(prefix, spec, tokenizer, [examples[i]["text"] for i in indices], labels, 16)

    rng = np.random.default_rng(0)
    base = encoded(sorted(rng.choice(len(examples), min(args.n_baseline, len(examples)), replace=False).tolist()))
    tops = top_examples(decomposition["W"], args.top_k)
    H = torch.from_numpy(decomposition["H"])
    eligible = [c for c, top in enumerate(tops) if top is not None]
    for c in args.component_ids or eligible[:args.components]:
        top = encoded(tops[c].tolist())
        originals = {id(b): prefix.run(task, b) for b in top + base}
        h = reject_similar(H, int(c), args.similarity_threshold)
        t0 = time.perf_counter()
        scheduled = fpc_schedule(projection, h, mu=args.mu, operator_norm=norm).u
        t1 = time.perf_counter()
        optimum = fpc_recover(projection, h, mu=args.mu, operator_norm=norm).u
        t2 = time.perf_counter()
        candidates = {f"FPC as App. G ({t1 - t0:.0f} s)": scheduled,
                      f"FPC to the l1 optimum ({t2 - t1:.0f} s)": optimum,
                      "back-projection A^T h": projection.transpose(h[None])[0]}
        cells = []
        for label, u in candidates.items():
            for magnitude in args.magnitudes:
                effect = perturbation_effect(prefix, task, selection, unit_direction(u, magnitude), top, base,
                                             originals)
                cells.append(f"{label}, |u|_0 {int((u != 0).sum())}, magnitude {magnitude:g}: KL ratio "
                             f"{effect['kl_ratio']:.2f} (top {effect['kl_top']:.3g}, baseline "
                             f"{effect['kl_baseline']:.3g})")
        print(f"{task_name} {args.name} component {c}:\n  " + "\n  ".join(cells), flush=True)


if __name__ == "__main__":
    main()
