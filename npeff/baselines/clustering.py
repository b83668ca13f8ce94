"""Gradient clustering (GC; Michaud et al. 2023, paper Section 3.1).

k-means on the projected predicted-class gradients, each normalised to unit L2
norm (the same gradients G-NPEFF decomposes). Examples are ranked within a
cluster by their distance to its centroid, closest first; `cluster_scores`
turns that ranking into a non-negative score matrix shaped like NPEFF
coefficients, so the tunings, the ICL classifier and the perturbations read
every method the same way.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from npeff._tensors import as_tensor, unit_norm


@dataclass
class Clustering:
    """centroids [k, d]; assignments [m]; distances [m] to the assigned centroid; final
    inertia; inertia before each Lloyd update and seconds per update (best restart)."""

    centroids: torch.Tensor
    assignments: torch.Tensor
    distances: torch.Tensor
    inertia: float
    inertia_history: list[float]
    step_seconds: list[float]


def unit_rows(X: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit L2 norm (zero rows stay zero). X: [m, d]."""
    return unit_norm(X, dim=1)


def squared_distances(X: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """[m, k] squared Euclidean distances, clamped at 0 against rounding."""
    d2 = (X * X).sum(1, keepdim=True) - 2 * X @ centroids.T + (centroids * centroids).sum(1)[None]
    return d2.clamp_min(0)


def _kmeans_plus_plus(X: torch.Tensor, k: int, gen: torch.Generator) -> torch.Tensor:
    """k-means++ seeding (Arthur & Vassilvitskii 2007): each new centre drawn with
    probability proportional to the squared distance to the nearest chosen one."""
    m = X.shape[0]
    centres = [X[torch.randint(m, (1,), generator=gen).item()]]
    nearest = squared_distances(X, centres[0][None])[:, 0]
    for _ in range(1, k):
        weights = nearest.cpu().double()
        if weights.sum() <= 0:  # every point already a centre
            idx = torch.randint(m, (1,), generator=gen).item()
        else:
            idx = torch.multinomial(weights, 1, generator=gen).item()
        centres.append(X[idx])
        nearest = torch.minimum(nearest, squared_distances(X, X[idx][None])[:, 0])
    return torch.stack(centres)


def kmeans(X, k: int, *, n_init: int = 4, max_iter: int = 300, tol: float = 1e-6, seed: int = 0,
           device="cpu") -> Clustering:
    """Lloyd's k-means with k-means++ seeding; the restart with the lowest inertia wins.

    X: [m, d] (already normalised by the caller). An empty cluster is re-seeded
    at the point farthest from its centroid, so every one of the k clusters is used.
    """
    X = as_tensor(X, name="X").to(device, torch.float32)
    m = X.shape[0]
    if not 1 <= k <= m:
        raise ValueError(f"k-means needs 1 <= k <= number of examples, got k={k}, m={m}")
    gen = torch.Generator().manual_seed(seed)
    best = None
    for _ in range(n_init):
        centroids = _kmeans_plus_plus(X, k, gen)
        history, seconds = [], []
        for _ in range(max_iter):
            start = time.perf_counter()
            dist, labels = squared_distances(X, centroids).min(1)  # [m] each
            sums = torch.zeros_like(centroids).index_add_(0, labels, X)
            counts = torch.bincount(labels, minlength=k).to(X.dtype)
            new = sums / counts.clamp_min(1)[:, None]
            for empty in torch.nonzero(counts == 0).flatten().tolist():
                far = int(dist.argmax())
                new[empty], dist[far] = X[far], 0.0
            history.append(float(dist.sum()))
            shift = float(((new - centroids) ** 2).sum())
            centroids = new
            seconds.append(time.perf_counter() - start)
            if shift <= tol * max(float((centroids ** 2).sum()), 1e-30):
                break
        labels, dist = assign(X, centroids)
        inertia = float((dist ** 2).sum())
        if best is None or inertia < best.inertia:
            best = Clustering(centroids, labels, dist, inertia, history, seconds)
    return best


def assign(X, centroids) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest centroid of each row of X [m, d]: (assignments [m], distances [m])."""
    X = as_tensor(X, name="X").float()
    d2 = squared_distances(X, as_tensor(centroids, name="centroids").float().to(X.device))
    dist, idx = d2.min(1)
    return idx, dist.sqrt()


def cluster_scores(assignments: torch.Tensor, distances: torch.Tensor, k: int) -> torch.Tensor:
    """[m, k] scores: 1 / (1 + distance) in an example's own cluster, 0 elsewhere.

    Larger means closer to the centroid, so ranking by score is ranking by
    proximity, and only members have a positive score."""
    scores = torch.zeros((assignments.shape[0], k), dtype=torch.float32)
    scores[torch.arange(assignments.shape[0]), assignments.cpu()] = 1.0 / (1.0 + distances.cpu().float())
    return scores
