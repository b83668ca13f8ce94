"""Regression PEFs: J^T J of a unit-variance Gaussian likelihood, against brute force."""
import torch
from torch import nn

from npeff.models import ParameterSelection
from npeff.pef import regression_pef_rows
from npeff.projection import SparseProjection


def tiny_mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))


def brute_force_fisher(model, x, params):
    """J^T J from one backward per output."""
    out = model(x[None])[0]
    rows = [torch.cat([g.flatten() for g in torch.autograd.grad(o, params, retain_graph=True)]) for o in out]
    J = torch.stack(rows)  # [o, n]
    return J.T @ J


def test_rows_give_the_brute_force_fisher():
    model = tiny_mlp()
    X = torch.randn(5, 4)
    G = regression_pef_rows(model, X)  # [5, 3, n]
    params = list(model.parameters())
    assert G.shape == (5, 3, sum(p.numel() for p in params))
    for i in range(5):
        torch.testing.assert_close(G[i].T @ G[i], brute_force_fisher(model, X[i], params), atol=1e-5, rtol=1e-5)


def test_fisher_is_the_expected_score_outer_product():
    # E_{y ~ N(f, I)} [s s^T] with s = J^T (y - f) equals J^T J (Monte Carlo, 20k draws)
    model = tiny_mlp(1)
    x = torch.randn(4)
    G = regression_pef_rows(model, x[None])[0]  # [3, n]
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(20000, 3, generator=gen)  # y - f
    scores = noise @ G  # [draws, n]
    empirical = scores.T @ scores / scores.shape[0]
    exact = G.T @ G
    assert (empirical - exact).abs().max() < 0.05 * exact.abs().max()


def test_selection_projection_and_rank():
    model = tiny_mlp()
    X = torch.randn(3, 4)
    last = ParameterSelection(("2.*",), ())
    G = regression_pef_rows(model, X, selection=last)
    assert G.shape == (3, 3, 6 * 3 + 3)
    full = regression_pef_rows(model, X)
    torch.testing.assert_close(G, full[..., -21:])  # the last layer's columns, same order
    projection = SparseProjection(21, 8, seed=0, density=2)
    torch.testing.assert_close(regression_pef_rows(model, X, selection=last, projection=projection),
                               projection.project(G))
    R = regression_pef_rows(model, X, selection=last, svd_rank=2)
    assert R.shape == (3, 2, 21)
    # the rank-2 Fisher is the best rank-2 approximation: its error is the smallest eigenvalue
    F, F2 = G[0].T @ G[0], R[0].T @ R[0]
    smallest = torch.linalg.eigvalsh(F.double())[-3]
    assert abs(torch.linalg.matrix_norm((F - F2).double(), ord=2) - smallest) < 1e-4
