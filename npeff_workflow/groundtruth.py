"""The ground-truth benchmark (issue 7): train a toy model, decompose it with every method,
score each decomposition against the planted mechanisms.

A toy is a config mapping: `model` (tms | residual_mlp) and that model's sizes. Examples are
drawn from the training distribution, keeping those with at least one active feature (an
empty input has zero Fisher and zero gradient; every method would give it zero coefficients).
Feature i is active when x_i != 0; mechanism i is feature i's parameters (npeff.toy.tms,
npeff.toy.residual_mlp). Every method decomposes the same examples with C = number of
mechanisms components (APD: `components_per_mechanism` times that; it needs spare ones):

- npeff: NPEFF on the exact regression LRM-PEF rows (rows of J, SVD-reduced to `svd_rank`);
- npeff_fpc: the same rows through a sparse random projection to `projected_dim`, NPEFF in
  the projected space, then FPC recovery of each component in parameter space;
- gnpeff: NPEFF on one row per example, the gradient of 1/2 ||f(x)||^2, J^T f(x): the
  regression stand-in for G-NPEFF's grad log p(y_hat|x) (J^T J's rank-one part along f);
- gc: k-means on the unit-normalised gradients J^T f(x), centroids as components;
- sae: TopK SAE on the hidden activations (TMS: W x; residual MLP: every neuron), latents as
  coefficients; it has no parameter-space components, so it gets attribution scores only;
- apd: APD on the weight matrices (npeff.toy.apd), attributions as coefficients.

Attribution matches each mechanism to the component with the most mass on it; the SAE,
which has no mass, is matched by AUC on half of the examples and scored on the other half.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from npeff.baselines.clustering import cluster_scores, kmeans, unit_rows
from npeff.baselines.sae import sae_latents, train_topk_sae
from npeff.decompose import NPEFF
from npeff.fpc import fpc_recover
from npeff.pef import reduce_rank, regression_pef_rows
from npeff.projection import SparseProjection
from npeff.toy import residual_mlp, tms
from npeff.toy.apd import attributions, train_apd
from npeff.toy.scores import attribution_aucs, recovery, roc_auc
from npeff_workflow.registry import GROUNDTRUTH_METHODS
from npeff_workflow.toys import TOY_SIZES, toy_settings



@dataclass
class Toy:
    """A trained toy model with its mechanisms and data."""

    model: torch.nn.Module
    mechanisms: list[torch.Tensor]  # per mechanism: flat indices or an orthonormal basis [n, k]
    sample: Callable[[int, torch.Generator], torch.Tensor]  # (n, gen) -> X [n, n_features]
    hidden: Callable[[torch.Tensor], torch.Tensor]  # X -> activations the SAE reads [m, h]
    final_loss: float  # mean training loss over the last 100 steps


@dataclass
class MethodResult:
    coefficients: torch.Tensor  # [m, K] on the benchmark examples
    components: torch.Tensor | None  # [K, n_params], None for the SAE
    seconds: float


def build_toy(spec: dict, *, p_active: float, train_steps: int, seed: int) -> Toy:
    """Train the toy described by spec (a config mapping, see check_toy_spec) from seed."""
    sizes = {k: spec[k] for k in TOY_SIZES[spec["model"]]}
    if spec["model"] == "tms":
        model, losses = tms.train_tms(**sizes, p_active=p_active, steps=train_steps, seed=seed)
        return Toy(model, tms.mechanism_parameters(model),
                   lambda n, gen: tms.sample_features(n, sizes["n_features"], p_active, gen),
                   model.hidden, float(np.mean(losses[-100:])))
    model, losses = residual_mlp.train_residual_mlp(**sizes, p_active=p_active, steps=train_steps, seed=seed)
    return Toy(model, residual_mlp.mechanism_bases(model),
               lambda n, gen: residual_mlp.sample_signed_features(n, sizes["n_features"], p_active, gen),
               model.neurons, float(np.mean(losses[-100:])))


def benchmark_examples(toy: Toy, n_examples: int, seed: int) -> torch.Tensor:
    """X [n_examples, n_features]: draws from the training distribution with >= 1 active feature."""
    gen = torch.Generator().manual_seed(seed)
    kept, n_kept = [], 0
    while n_kept < n_examples:
        X = toy.sample(4 * n_examples, gen)
        kept.append(X[(X != 0).any(1)])
        n_kept += kept[-1].shape[0]
    return torch.cat(kept)[:n_examples]


def pef_rows_and_gradients(model: torch.nn.Module, X: torch.Tensor, svd_rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """From one Jacobian J [m, o, n]: the PEF rows G [m, min(svd_rank, o), n] (best rank-k rows
    of J) and g [m, n] = J^T f(x), the gradient of 1/2 ||f(x)||^2 per example."""
    J = regression_pef_rows(model, X)  # [m, o, n]
    with torch.no_grad():
        f = model(X)  # [m, o]
    G = reduce_rank(J, svd_rank) if svd_rank < J.shape[1] else J
    return G, torch.einsum("mo,mon->mn", f, J)


def _npeff(G: torch.Tensor, C: int, settings: dict, seed: int):
    dec = NPEFF(C, n_h_only_steps=settings["h_only_steps"], n_joint_steps=settings["joint_steps"],
                h_only_lr=settings["h_only_lr"], joint_lr=settings["joint_lr"], seed=seed).fit(G)
    return dec.W, dec.H


def run_method(method: str, toy: Toy, X: torch.Tensor, G: torch.Tensor, g: torch.Tensor, C: int, settings: dict,
               seed: int) -> MethodResult:
    """One method on the examples X [m, n_features], whose PEF rows G [m, r, n] and output
    gradients g [m, n] are shared by the methods (pef_rows_and_gradients); settings: the config's
    groundtruth section with the toy's own overrides applied (toy_settings). The seconds
    exclude that shared Jacobian."""
    start = time.perf_counter()
    model, npeff_settings = toy.model, settings["npeff"]
    if method in ("npeff", "npeff_fpc"):
        if method == "npeff":
            W, H = _npeff(G, C, npeff_settings, seed)
        else:
            projection = SparseProjection(G.shape[2], min(settings["projected_dim"], G.shape[2]), seed=seed)
            W, H_projected = _npeff(projection.project(G), C, npeff_settings, seed)
            fpc = settings["fpc"]
            H = fpc_recover(projection, H_projected, mu=fpc["mu"], max_iter=fpc["max_iter"]).u
        return MethodResult(W, H, time.perf_counter() - start)
    if method in ("gnpeff", "gc"):
        if method == "gnpeff":
            W, H = _npeff(g[:, None, :], C, npeff_settings, seed)
            return MethodResult(W, H, time.perf_counter() - start)
        clustering = kmeans(unit_rows(g), C, n_init=settings["clustering"]["n_init"], seed=seed)
        scores = cluster_scores(clustering.assignments, clustering.distances, C)
        return MethodResult(scores, clustering.centroids, time.perf_counter() - start)
    if method == "sae":
        sae = settings["sae"]
        with torch.no_grad():
            acts = toy.hidden(X)
        training = train_topk_sae(acts, C, min(sae["k"], C - 1), lr=sae["lr"], batch_size=sae["batch_size"],
                                  n_batches=sae["n_batches"], seed=seed)
        return MethodResult(sae_latents(training.sae, acts)[0], None, time.perf_counter() - start)
    if method == "apd":
        apd = settings["apd"]
        n_features = X.shape[1]
        gen = torch.Generator().manual_seed(seed + 7)
        decomposition, result = train_apd(
            model, lambda: toy.sample(apd["batch_size"], gen), apd["components_per_mechanism"] * C,
            rank=apd["rank"], top_k=apd["top_k_per_feature"] * n_features * settings["p_active"],
            steps=apd["steps"], lr=apd["lr"], faithfulness_coeff=apd["faithfulness_coeff"],
            minimality_coeff=apd["minimality_coeff"], simplicity_coeff=apd["simplicity_coeff"],
            schatten_p=apd["schatten_p"], seed=seed)
        return MethodResult(attributions(model, decomposition, X), result.components, time.perf_counter() - start)
    raise ValueError(f"unknown method {method!r}; expected one of {GROUNDTRUTH_METHODS}")


def score(result: MethodResult, toy: Toy, X: torch.Tensor, seed: int) -> dict:
    """Recovery (parameter-space methods) and attribution scores of one method's result."""
    active = (X != 0).numpy()  # [m, M]
    coefficients = result.coefficients.detach().numpy()
    n_mech = len(toy.mechanisms)
    if result.components is not None:
        rec = recovery(result.components.detach(), toy.mechanisms)
        rows = np.arange(len(X))
        best = rec["best_component"]
    else:
        rec = {"recovered_fraction": float("nan"), "mean_best_concentration": float("nan"),
               "best_concentration": [float("nan")] * n_mech}
        # no parameter mass to match on: pick each mechanism's latent by AUC on one half,
        # score it on the other
        rows = np.random.default_rng(seed).permutation(len(X))
        select, rows = rows[: len(X) // 2], rows[len(X) // 2:]
        best = _latents_matched_by_auc(coefficients[select], active[select])
    aucs = attribution_aucs(coefficients[rows], active[rows], best)
    polygenic = attribution_aucs(coefficients[rows], active[rows], best, min_active=2)
    return {"recovered_fraction": rec["recovered_fraction"], "mean_best_concentration": rec["mean_best_concentration"],
            "mean_auc": float(np.nanmean(aucs)), "mean_polygenic_auc": float(np.nanmean(polygenic)),
            "per_mechanism": {"best_concentration": rec["best_concentration"], "auc": aucs, "polygenic_auc": polygenic},
            "seconds": result.seconds}


def _latents_matched_by_auc(coefficients: np.ndarray, active: np.ndarray) -> list[int]:
    """Per mechanism, the latent (column of coefficients [m, K]) with the highest AUC for its
    feature (active [m, M]); a latent that never fires, or a feature never active, counts as 0.5."""
    def auc(c, i):
        value = roc_auc(coefficients[:, c], active[:, i]) if coefficients[:, c].any() else 0.5
        return 0.5 if np.isnan(value) else value

    return [max(range(coefficients.shape[1]), key=lambda c: auc(c, i)) for i in range(active.shape[1])]


def run_toy(groundtruth: dict, name: str, seed: int, methods=GROUNDTRUTH_METHODS) -> dict:
    """Train toy `name` from seed, run every method on its examples, score them:
    {"toy", "seed", "n_examples", "n_params", "n_mechanisms", "final_loss", "methods": {method: scores}}."""
    settings = toy_settings(groundtruth, name)
    spec = groundtruth["toys"][name]
    torch.manual_seed(seed)
    toy = build_toy(spec, p_active=settings["p_active"], train_steps=settings["train_steps"], seed=seed)
    X = benchmark_examples(toy, settings["n_examples"], seed=10_000 + seed)  # [m, n_features]
    G, g = pef_rows_and_gradients(toy.model, X, settings["npeff"]["svd_rank"])  # [m, r, n], [m, n]
    C = len(toy.mechanisms)
    scores = {}
    for method in methods:
        scores[method] = score(run_method(method, toy, X, G, g, C, settings, seed), toy, X, seed)
        print(f"{name} seed {seed} {method}: recovered {scores[method]['recovered_fraction']:.2f}, "
              f"AUC {scores[method]['mean_auc']:.3f}, {scores[method]['seconds']:.1f} s", flush=True)
    return {"toy": name, "seed": seed, "model": spec["model"], "n_examples": len(X),
            "n_params": sum(p.numel() for p in toy.model.parameters()), "n_mechanisms": C,
            "final_loss": toy.final_loss, "methods": scores}
