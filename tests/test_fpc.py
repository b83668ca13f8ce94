"""FPC recovers sparse vectors from their sparse random projections."""
import pytest
import torch

from npeff.fpc import fpc_recover, spectral_norm
from npeff.projection import SparseProjection


def planted_sparse(n, k, rows, seed):
    gen = torch.Generator().manual_seed(seed)
    u = torch.zeros(rows, n)
    for r in range(rows):
        u[r, torch.randperm(n, generator=gen)[:k]] = torch.randn(k, generator=gen)
    return u / u.norm(dim=1, keepdim=True)


def test_planted_sparse_vectors_are_recovered_with_the_paper_defaults():
    p = SparseProjection(20_000, 2000, seed=5)
    u = planted_sparse(20_000, 40, rows=2, seed=0)
    result = fpc_recover(p, p.project(u), max_iter=3000)  # mu = 4e-5, gamma 0.99, beta 4
    assert result.converged.all()
    cos = (result.u * u).sum(1) / result.u.norm(dim=1)
    assert (cos > 0.999).all(), cos
    # the support is found: no entry outside it carries real mass
    outside = result.u.abs() * (u == 0)
    assert (outside.norm(dim=1) < 0.01).all()


def test_rows_are_solved_independently():
    p = SparseProjection(5000, 600, seed=2)
    u = planted_sparse(5000, 15, rows=3, seed=1)
    h = p.project(u)
    together = fpc_recover(p, h, mu=1e-4)
    alone = fpc_recover(p, h[1], mu=1e-4)
    assert alone.u.shape == (5000,)
    torch.testing.assert_close(together.u[1], alone.u, rtol=1e-4, atol=1e-6)


def test_zero_vector_recovers_zero_and_bad_input_is_reported():
    p = SparseProjection(1000, 100, seed=0)
    assert (fpc_recover(p, torch.zeros(100)).u == 0).all()
    with pytest.raises(ValueError, match="dimension"):
        fpc_recover(p, torch.zeros(99))


def test_spectral_norm_matches_the_dense_matrix():
    p = SparseProjection(3000, 300, seed=8)
    exact = torch.linalg.matrix_norm(torch.from_numpy(p.dense()), ord=2).item()
    assert exact <= spectral_norm(p) <= 1.05 * exact
