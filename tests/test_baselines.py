"""Gradient clustering and the TopK SAE recover planted structure."""
import numpy as np
import pytest
import torch

from npeff.baselines.clustering import assign, cluster_scores, kmeans, unit_rows
from npeff.baselines.sae import TopKSAE, sae_latents, train_topk_sae


def planted_clusters(k=6, per=40, d=64, noise=0.15, seed=0):
    gen = torch.Generator().manual_seed(seed)
    centres = unit_rows(torch.randn(k, d, generator=gen))
    truth = torch.arange(k).repeat_interleave(per)
    X = unit_rows(centres[truth] + noise * torch.randn(k * per, d, generator=gen) / d ** 0.5)
    return X, truth, centres


def test_kmeans_recovers_planted_clusters():
    X, truth, centres = planted_clusters()
    clustering = kmeans(X, 6, seed=1)
    # each found cluster is exactly one planted cluster (a bijection)
    pairs = {(int(t), int(a)) for t, a in zip(truth, clustering.assignments)}
    assert len(pairs) == 6 and len({a for _, a in pairs}) == 6
    cos = unit_rows(clustering.centroids) @ centres.T
    assert cos.max(1).values.min() > 0.99
    assert clustering.inertia == pytest.approx(float((clustering.distances ** 2).sum()), rel=1e-4)
    assert all(a >= b - 1e-6 for a, b in zip(clustering.inertia_history, clustering.inertia_history[1:]))


def test_assignment_and_scores_rank_by_proximity():
    X, _, _ = planted_clusters()
    clustering = kmeans(X, 6, seed=0)
    idx, dist = assign(X, clustering.centroids)
    assert torch.equal(idx, clustering.assignments)
    scores = cluster_scores(idx, dist, 6)
    assert ((scores > 0).sum(1) == 1).all()  # members only
    c = int(idx[0])
    members = torch.nonzero(idx == c).flatten()
    by_score = members[scores[members, c].argsort(descending=True)]
    by_distance = members[dist[members].argsort()]
    assert torch.equal(by_score, by_distance)


def test_kmeans_rejects_more_clusters_than_points():
    with pytest.raises(ValueError, match="k-means needs"):
        kmeans(torch.randn(3, 4), 5)


def test_sae_keeps_unit_norms_and_k_active_latents():
    sae = TopKSAE(12, 20, k=3, seed=0)
    assert torch.allclose(sae.decoder, sae.encoder.T)  # decoder initialised to the encoder's transpose
    training = train_topk_sae(torch.randn(200, 12), 20, 3, batch_size=32, n_batches=30, seed=0)
    sae = training.sae
    assert torch.allclose(sae.encoder.norm(dim=1), torch.ones(20), atol=1e-5)
    assert torch.allclose(sae.decoder.norm(dim=0), torch.ones(20), atol=1e-5)
    z, err = sae_latents(sae, torch.randn(50, 12))
    assert ((z > 0).sum(1) <= 3).all() and (z >= 0).all() and (err >= 0).all()
    with pytest.raises(ValueError, match="k < number of latents"):
        TopKSAE(12, 4, k=4)


def test_tangent_projection_removes_the_radial_gradient():
    sae = TopKSAE(6, 8, k=2, seed=0)
    sae.encoder.grad = torch.randn(8, 6)
    sae.decoder.grad = torch.randn(6, 8)
    sae.project_gradients_to_tangent()
    assert torch.allclose((sae.encoder.grad * sae.encoder).sum(1), torch.zeros(8), atol=1e-6)
    assert torch.allclose((sae.decoder.grad * sae.decoder).sum(0), torch.zeros(8), atol=1e-6)


def test_sae_recovers_a_planted_sparse_dictionary():
    gen = torch.Generator().manual_seed(0)
    n_atoms, h, m = 16, 32, 4096
    atoms = unit_rows(torch.randn(n_atoms, h, generator=gen))  # [16, 32]
    codes = torch.zeros(m, n_atoms)
    for i in range(m):  # two active atoms per example, positive magnitudes
        chosen = torch.randperm(n_atoms, generator=gen)[:2]
        codes[i, chosen] = 0.5 + torch.rand(2, generator=gen)
    X = codes @ atoms
    sae = train_topk_sae(X, n_atoms, 2, lr=3e-3, batch_size=256, n_batches=3000, seed=0).sae
    cos = (atoms @ sae.decoder).abs()  # [atoms, latents]: decoder columns are unit
    recovered = (cos.max(1).values > 0.9).float().mean().item()
    assert recovered >= 0.8, f"only {recovered:.0%} of the planted atoms have a decoder column with cos > 0.9"
    np.testing.assert_array_less(sae_latents(sae, X)[1].mean().item(), 0.1)
