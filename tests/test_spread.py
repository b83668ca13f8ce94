"""The PEF-spread diagnostic on planted parallel and spread PEFs."""
import numpy as np
import pytest
import torch

from npeff.analysis.spread import pef_spread
from npeff.projection import SparseProjection


def test_parallel_rank_one_pefs_have_cos_one_and_one_direction():
    gen = torch.Generator().manual_seed(0)
    g = torch.randn(50, generator=gen)
    scales = torch.rand(20, generator=gen) + 0.1
    signs = torch.where(torch.rand(20, generator=gen) > 0.5, 1.0, -1.0)
    G = (scales * signs)[:, None, None] * g[None, None, :]  # [20, 1, 50], all along +-g
    out = pef_spread(G)
    assert out["mean_abs_cos"] == pytest.approx(1.0, abs=1e-9)
    assert out["top_direction_share"] == pytest.approx(1.0, abs=1e-9)


def test_orthogonal_pefs_have_cos_zero_and_an_even_spread():
    G = torch.eye(8)[:, None, :] * torch.arange(1, 9, dtype=torch.float64)[:, None, None]  # [8, 1, 8]
    out = pef_spread(G)
    assert out["mean_abs_cos"] == pytest.approx(0.0, abs=1e-12)
    assert out["top_direction_share"] == pytest.approx(1 / 8)


def test_rank_one_value_is_the_abs_cosine_of_the_rows_and_brute_force_for_rank_two():
    gen = torch.Generator().manual_seed(1)
    g = torch.randn(6, 1, 30, generator=gen, dtype=torch.float64)
    unit = g[:, 0] / g[:, 0].norm(dim=1, keepdim=True)
    cos = (unit @ unit.T).abs()
    expected = cos[np.triu_indices(6, 1)].mean()
    assert pef_spread(g)["mean_abs_cos"] == pytest.approx(float(expected))
    G = torch.randn(5, 2, 30, generator=gen, dtype=torch.float64)  # rank-two PEFs: the Fisher matrices' cosine
    F = G.transpose(1, 2) @ G
    Fn = F / torch.linalg.matrix_norm(F)[:, None, None]
    brute = [float((Fn[i] * Fn[j]).sum().sqrt()) for i in range(5) for j in range(i + 1, 5)]
    summed = Fn.sum(0)
    eig = torch.linalg.eigvalsh(summed)
    out = pef_spread(G)
    assert out["mean_abs_cos"] == pytest.approx(np.mean(brute))
    assert out["top_direction_share"] == pytest.approx(float(eig[-1] / eig.sum()))


def test_projection_preserves_the_diagnostic_and_sampling_is_seeded():
    gen = torch.Generator().manual_seed(2)
    shared = torch.randn(4000, generator=gen)
    G = (0.8 * shared + torch.randn(40, 1, 4000, generator=gen) * 0.05)  # nearly parallel
    spread = torch.randn(40, 1, 4000, generator=gen)  # independent directions
    p = SparseProjection(4000, 1024, seed=0, density=8)
    for planted in (G, spread):
        exact, projected = pef_spread(planted), pef_spread(p.project(planted.float()))
        assert projected["mean_abs_cos"] == pytest.approx(exact["mean_abs_cos"], abs=0.05)
        assert projected["top_direction_share"] == pytest.approx(exact["top_direction_share"], abs=0.05)
    assert pef_spread(G)["mean_abs_cos"] > 0.99 and pef_spread(spread)["mean_abs_cos"] < 0.05
    assert pef_spread(spread, n_sample=10, seed=3) == pef_spread(spread, n_sample=10, seed=3)
    assert pef_spread(spread, n_sample=10)["n_examples"] == 10
    with pytest.raises(ValueError, match="G \\[m, r, d\\]"):
        pef_spread(torch.zeros(3, 4))
