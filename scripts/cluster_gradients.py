"""Rule cluster_gradients: gradient clustering (k-means on unit-norm projected gradients).

Writes the clustering as a decomposition (W: held-in proximity scores, H: centroids)
and the held-out examples' scores as coefficients, so every later rule reads GC
like (G-)NPEFF.
"""
import torch

from _common import run_rule  # first: puts the repository on sys.path
from npeff import io
from npeff.baselines.clustering import assign, cluster_scores, kmeans, unit_rows
from npeff.runtime import device_name


def main(*, heldin, heldout, outputs, settings, C, seed, device):
    """heldin / heldout: projected-gradient files; settings: the config's `clustering` section; C clusters."""
    C, seed = int(C), int(seed)
    grads_in, attrs = io.read_pefs(heldin)
    grads_out, _ = io.read_pefs(heldout)
    X = unit_rows(torch.from_numpy(grads_in["G"][:, 0, :]))  # [m, d]: one predicted-class gradient per example
    clustering = kmeans(X, C, n_init=settings["n_init"], max_iter=settings["max_iter"], seed=seed, device=device)
    sizes = torch.bincount(clustering.assignments.cpu(), minlength=C)
    print(f"k-means: {len(clustering.inertia_history)} iterations, inertia {clustering.inertia:.4f}, "
          f"cluster sizes {sorted(sizes.tolist(), reverse=True)}")
    attrs = {**attrs, "method": "gc", "n_components": C, "seed": seed, **settings, "device": device,
             "device_name": device_name(device), "source_file": heldin}
    io.write_artifact(outputs.decomposition, "decomposition", {
        "W": cluster_scores(clustering.assignments, clustering.distances, C), "H": clustering.centroids,
        "loss_history": torch.tensor(clustering.inertia_history), "step_seconds": torch.tensor(clustering.step_seconds),
        "pef_norms": grads_in["pef_norms"], "cluster_sizes": sizes}, attrs)

    idx, dist = assign(unit_rows(torch.from_numpy(grads_out["G"][:, 0, :])), clustering.centroids.cpu())
    io.write_coefficients(outputs.coefficients, cluster_scores(idx, dist, C), dist ** 2, {
        "decomposition": outputs.decomposition, "signals": heldout, "method": "gc"},
        ids=grads_out.get("ids"))


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
