"""Rule recover_directions: parameter-space directions of randomly chosen components (Section 3.2).

Each chosen component's projected pseudo-Fisher (a centroid for GC) is orthogonally
rejected from the dissimilar ones, then recovered by FPC into the selected
parameters, solved to FPC's stopping rule. Only components with at least top_k held-in
examples (coefficient above min_coefficient) are eligible.
"""
import json
from pathlib import Path

import numpy as np
import torch
from _common import start

device = start(snakemake)
from npeff import io  # noqa: E402
from npeff.analysis.tunings import top_examples  # noqa: E402
from npeff.fpc import fpc_recover  # noqa: E402
from npeff.perturb import reject_similar  # noqa: E402
from npeff.projection import SparseProjection  # noqa: E402

p = snakemake.params
decomposition, attrs = io.read_decomposition(snakemake.input.decomposition)
H = torch.from_numpy(decomposition["H"])  # [C, d]
eligible = [c for c, top in enumerate(top_examples(decomposition["W"], p.top_k, p.min_coefficient)) if top is not None]
rng = np.random.default_rng(p.settings["seed"])
chosen = sorted(rng.choice(eligible, size=min(p.n_components, len(eligible)), replace=False).tolist())
print(f"{len(eligible)} of {H.shape[0]} components have >= {p.top_k} held-in examples; perturbing {chosen}")
if not chosen:  # an empty file: Table 2 shows the cell as missing instead of failing the run
    print(f"WARNING: no component has {p.top_k} held-in examples with a coefficient above {p.min_coefficient}; "
          "nothing to perturb (use more examples or fewer components)")

projection = SparseProjection.from_attrs(attrs)
fpc = p.settings["fpc"]
norm_info = json.loads(Path(snakemake.input.operator_norm).read_text())
if {k: norm_info[k] for k in projection.attrs()} != projection.attrs():
    raise ValueError(f"{snakemake.input.operator_norm} is for another projection than {snakemake.input.decomposition}")
operator_norm = norm_info["operator_norm"]
targets = [reject_similar(H, c, p.settings["similarity_threshold"]) for c in chosen]
targets = torch.stack(targets).to(device) if targets else torch.zeros(0, H.shape[1])
rows, n_iter, n_passes, residual, converged = [], [], [], [], []
for lo in range(0, len(chosen), fpc["batch_rows"]):
    result = fpc_recover(projection, targets[lo:lo + fpc["batch_rows"]], mu=fpc["mu"], xtol=fpc["xtol"],
                         gtol=fpc["gtol"], max_iter=fpc["max_iter"], max_passes=fpc["max_passes"],
                         operator_norm=operator_norm)
    rows += [(idx.cpu().numpy(), val.cpu().numpy()) for idx, val in zip(result.indices, result.values)]
    n_iter += result.n_iter.tolist()
    n_passes += result.n_passes.tolist()
    residual += result.relative_residual.tolist()
    converged += result.converged.tolist()
print(f"FPC iterations {n_iter}, full passes {n_passes}, converged {converged}, "
      f"relative residuals {np.round(residual, 4).tolist()}, non-zeros {[len(idx) for idx, _ in rows]}")
io.write_recovered_sparse(snakemake.output[0], chosen, rows, projection.in_dim, {
    **{k: v for k, v in attrs.items() if k.startswith(("projection_", "param_", "model", "task"))},
    "method": attrs.get("method"), "decomposition": snakemake.input.decomposition,
    "similarity_threshold": p.settings["similarity_threshold"], "fpc_mu": fpc["mu"], "fpc_xtol": fpc["xtol"],
    "fpc_gtol": fpc["gtol"], "fpc_max_iter": fpc["max_iter"], "fpc_iterations": n_iter, "fpc_passes": n_passes,
    "fpc_relative_residual": residual,
    "fpc_converged": [int(c) for c in converged], "operator_norm": operator_norm})
