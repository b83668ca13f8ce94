"""Why NPEFF misses the compressed-computation mechanisms: where a one-feature example's
Fisher puts its mass.

For each default toy (config/schema.yaml), examples with exactly one active feature i: the
share of the PEF's trace (J^T J) on mechanism i's parameters, and of its top eigenvector's
squared mass. On TMS both
are near 1; on the residual MLP the Fisher also covers every other output's write-out
weights (a ⊗ e_k for k != i: changing them changes output k on this example), so neither is.

    python benchmarks/groundtruth_fisher_spread.py
"""
from pathlib import Path

import torch
import yaml

from npeff.pef import regression_pef_rows
from npeff.toy.scores import mass_concentration
from npeff_workflow.groundtruth import benchmark_examples, build_toy

SCHEMA = yaml.safe_load((Path(__file__).resolve().parent.parent / "config" / "schema.yaml").read_text())
GROUNDTRUTH = SCHEMA["properties"]["groundtruth"]["properties"]

for name, spec in GROUNDTRUTH["toys"]["default"].items():
    toy = build_toy(spec, p_active=GROUNDTRUTH["p_active"]["default"],
                    train_steps=GROUNDTRUTH["train_steps"]["default"], seed=0)
    X = benchmark_examples(toy, 400, seed=1)
    X = X[(X != 0).sum(1) == 1]  # one active feature
    feature = (X != 0).float().argmax(1)  # [m]
    J = regression_pef_rows(toy.model, X)  # [m, o, n]
    used = (J ** 2).sum((1, 2)) > 0  # TMS: a small feature leaves its ReLU off and has zero Fisher
    X, feature, J = X[used], feature[used], J[used]
    trace_share, top_share = [], []
    for j, i in zip(J, feature.tolist()):
        rows = mass_concentration(j, toy.mechanisms)[:, i]  # [o]: each row's share on mechanism i
        trace_share.append(float((rows * (j ** 2).sum(1)).sum() / (j ** 2).sum()))
        top = torch.linalg.svd(j, full_matrices=False).Vh[:1]  # top eigenvector of J^T J
        top_share.append(float(mass_concentration(top, toy.mechanisms)[0, i]))
    t, e = torch.tensor(trace_share), torch.tensor(top_share)
    print(f"{name}: {len(X)} one-feature examples with non-zero Fisher ({int((~used).sum())} with zero); "
          f"share of the Fisher's trace on the active feature's mechanism: median {t.median():.3f}; "
          f"of its top eigenvector: median {e.median():.3f}")
