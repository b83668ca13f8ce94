"""Rule cluster_gradients: gradient clustering (k-means on unit-norm projected gradients).

Writes the clustering as a decomposition (W: held-in proximity scores, H: centroids)
and the held-out examples' scores as coefficients, so every later rule reads GC
like (G-)NPEFF.
"""
import torch
from _common import start

device = start(snakemake)
from npeff import io  # noqa: E402
from npeff.baselines.clustering import assign, cluster_scores, kmeans, unit_rows  # noqa: E402
from npeff.runtime import device_name  # noqa: E402

p, w = snakemake.params, snakemake.wildcards
C, seed = int(w.C), int(w.seed)
heldin, attrs = io.read_pefs(snakemake.input.heldin)
heldout, _ = io.read_pefs(snakemake.input.heldout)
X = unit_rows(torch.from_numpy(heldin["G"][:, 0, :]))  # [m, d]: one predicted-class gradient per example
clustering = kmeans(X, C, n_init=p.settings["n_init"], max_iter=p.settings["max_iter"], seed=seed, device=device)
sizes = torch.bincount(clustering.assignments.cpu(), minlength=C)
print(f"k-means: {len(clustering.inertia_history)} iterations, inertia {clustering.inertia:.4f}, "
      f"cluster sizes {sorted(sizes.tolist(), reverse=True)}")
settings = {**attrs, "method": "gc", "n_components": C, "seed": seed, **p.settings, "device": device,
            "device_name": device_name(device), "source_file": snakemake.input.heldin}
io.write_artifact(snakemake.output.decomposition, "decomposition", {
    "W": cluster_scores(clustering.assignments, clustering.distances, C), "H": clustering.centroids,
    "loss_history": torch.tensor(clustering.inertia_history), "step_seconds": torch.tensor(clustering.step_seconds),
    "pef_norms": heldin["pef_norms"], "cluster_sizes": sizes}, settings)

idx, dist = assign(unit_rows(torch.from_numpy(heldout["G"][:, 0, :])), clustering.centroids.cpu())
io.write_coefficients(snakemake.output.coefficients, cluster_scores(idx, dist, C), dist ** 2, {
    "decomposition": snakemake.output.decomposition, "signals": snakemake.input.heldout, "method": "gc"},
    ids=heldout.get("ids"))
