"""How the KL ratio of Table 2 responds to the perturbation's magnitude and to the FPC budget.

Reads a finished run's decomposition, coefficients and recovered directions, and for each
recovered component prints the KL ratio (top examples over a random held-out baseline, the
better sign) for the recovered direction at several magnitudes, for FPC re-run with other
iteration caps, and for the plain back-projection A^T h. Not part of the workflow.

    python benchmarks/perturbation_knobs.py results/default --model smollm2-135m-instruct \\
        --task yat --name npeff_c32_s0 --magnitudes 1 5 20 --fpc-iterations 100
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from npeff import io  # noqa: E402
from npeff.analysis.tunings import top_examples  # noqa: E402
from npeff.data import read_jsonl  # noqa: E402
from npeff.fpc import fpc_recover  # noqa: E402
from npeff.models import ParameterSelection, load_model  # noqa: E402
from npeff.perturb import (FrozenPrefix, encode_texts, perturbation_effect, reject_similar,  # noqa: E402
                           unit_direction)
from npeff.projection import SparseProjection  # noqa: E402
from npeff.tasks import TASK_SPECS, make_task  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", type=Path, help="results/<config>")
    ap.add_argument("--model", default="smollm2-135m-instruct", help="the model's name in the config")
    ap.add_argument("--resources", type=Path, default=Path("resources"))
    ap.add_argument("--task", default="yat")
    ap.add_argument("--name", default="npeff_c32_s0")
    ap.add_argument("--magnitudes", type=float, nargs="+", default=[1.0, 5.0, 20.0])
    ap.add_argument("--fpc-iterations", type=int, nargs="*", default=[100])
    ap.add_argument("--n-baseline", type=int, default=48)
    ap.add_argument("--top-k", type=int, default=16)
    args = ap.parse_args()

    R, M, task_name = args.results, args.results / args.model, args.task
    decomposition, dec_attrs = io.read_decomposition(M / "decomp" / task_name / f"{args.name}.h5")
    component_ids, directions, attrs = io.read_recovered(M / "recovered" / task_name / f"{args.name}.h5")
    W = io.read_coefficients(M / "coeffs" / task_name / f"{args.name}.h5")[0]["W"]
    examples = read_jsonl(R / "data" / task_name / "heldout.jsonl")
    labels = json.loads((R / "data" / task_name / "info.json").read_text())["label_names"]
    model, tokenizer = load_model(args.resources / "models" / args.model)
    selection = ParameterSelection(tuple(attrs["param_include"]), tuple(attrs["param_exclude"]))
    spec = TASK_SPECS[task_name]
    task = make_task(spec, tokenizer, labels)
    prefix = FrozenPrefix(model, selection)

    def encoded(indices):
        return encode_texts(prefix, spec, tokenizer, [examples[i]["text"] for i in indices], labels, 16)

    rng = np.random.default_rng(0)
    base = encoded(sorted(rng.choice(len(examples), min(args.n_baseline, len(examples)), replace=False).tolist()))
    tops = top_examples(W, args.top_k)
    projection = SparseProjection.from_attrs(dec_attrs)
    H = torch.from_numpy(decomposition["H"])
    for i, c in enumerate(component_ids):
        top = encoded(tops[c].tolist())
        originals = {id(b): prefix.run(task, b) for b in top + base}

        def ratio(u, magnitude):
            effect = perturbation_effect(prefix, task, selection, unit_direction(u, magnitude), top, base, originals)
            return effect["kl_ratio"]

        recovered = torch.from_numpy(directions[i])
        cells = [f"recovered, magnitude {m:g}: {ratio(recovered, m):.2f}" for m in args.magnitudes]
        h = reject_similar(H, int(c), attrs["similarity_threshold"])
        for n_iter in args.fpc_iterations:
            u = fpc_recover(projection, h[None], mu=attrs["fpc_mu"], max_iter=n_iter,
                            operator_norm=attrs["operator_norm"]).u[0]
            cells.append(f"FPC {n_iter} iterations: {ratio(u, max(args.magnitudes)):.2f}")
        cells.append(f"back-projection A^T h: {ratio(projection.transpose(h[None])[0], max(args.magnitudes)):.2f}")
        print(f"{task_name} {args.name} component {c}: " + "; ".join(cells), flush=True)


if __name__ == "__main__":
    main()
