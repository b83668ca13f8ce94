"""Algorithm 1: its H gradient, its W update, planted recovery, coefficient fitting."""
import numpy as np
import pytest
import torch

from npeff.decompose import (NPEFF, fit_coefficients, normalize_components, pef_frobenius_norms,
                             reconstruction_losses, step_pass, w_update)
from planted import match_components, planted_pefs

FIT = dict(n_h_only_steps=100, n_joint_steps=400, h_only_lr=1e-3, joint_lr=1e-2)


def dense_loss(G, W, H):
    """Equation (3) with every PEF normalised to unit Frobenius norm, d x d matrices formed."""
    F = G.transpose(1, 2) @ G  # [m, d, d]
    F = F / torch.linalg.matrix_norm(F)[:, None, None]
    recon = torch.einsum("mc,cd,ce->mde", W, H, H)
    return ((F - recon) ** 2).sum()


def test_h_gradient_equals_autograd_of_equation_3():
    torch.manual_seed(0)
    G = torch.randn(7, 3, 5, dtype=torch.float64).float()
    W = torch.rand(7, 4)
    H = torch.randn(4, 5)
    norms = pef_frobenius_norms(G)
    loss, grad = step_pass(G, norms, W.clone(), H, update_w=False, eps=1e-12, chunk_size=3, device="cpu")

    H_var = H.clone().double().requires_grad_()
    reference = dense_loss(G.double(), W.double(), H_var)
    (expected,) = torch.autograd.grad(reference, H_var)
    assert loss == pytest.approx(reference.item(), rel=1e-4)
    torch.testing.assert_close(grad.double(), expected, rtol=1e-4, atol=1e-5)


def test_w_update_never_increases_loss_and_keeps_w_nonnegative():
    G, _, _ = planted_pefs(m=50, C=4, d=30, seed=1)
    H = torch.randn(4, 30) * 0.3
    W = torch.rand(50, 4)
    norms = pef_frobenius_norms(G)
    previous = dense_loss(G, W, H).item()
    for _ in range(30):
        step_pass(G, norms, W, H, update_w=True, eps=1e-12, chunk_size=16, device="cpu")
        current = dense_loss(G, W, H).item()
        assert current <= previous + 1e-5 * abs(previous)
        assert (W >= 0).all()
        previous = current


def test_w_update_sets_subnormal_coefficients_to_zero_and_keeps_the_rest_exact():
    torch.manual_seed(0)
    W, N = torch.rand(40, 6), torch.rand(40, 6)
    M = torch.rand(6, 6) + torch.eye(6)
    W[:20, :2] = 1e-20  # small coefficients
    N[:10, 0] = 1e-10  # W N / (W M) ~ 1e-30: above float32's smallest normal (1.2e-38), kept
    N[10:20, 1] = 1e-20  # ~ 1e-40: in the subnormal range
    plain = W * N / (W @ M).clamp_min(1e-12)
    subnormal = (plain > 0) & (plain < torch.finfo(torch.float32).tiny)
    assert subnormal[10:20, 1].any() and not subnormal[:10, 0].any()
    updated = w_update(W, N, M, 1e-12)
    assert (updated[subnormal] == 0).all()
    assert torch.equal(updated[~subnormal], plain[~subnormal])
    # a coefficient set to 0 stays 0
    assert (w_update(updated, N, M, 1e-12)[subnormal] == 0).all()


def test_decomposition_and_coefficients_hold_no_subnormal_numbers():
    G, _, _ = planted_pefs(m=60, C=4, d=30, seed=2)
    tiny = torch.finfo(torch.float32).tiny
    # many steps at a large learning rate: unused coefficients decay through the subnormal range
    W = NPEFF(6, n_h_only_steps=10, n_joint_steps=600, h_only_lr=1e-3, joint_lr=5e-2, seed=0).fit(G).W
    coefficients = fit_coefficients(G, torch.randn(6, 30), n_steps=3000)
    for values in (W, coefficients):
        assert not ((values > 0) & (values < tiny)).any()
        assert (values == 0).any()  # the decay happened, and ended at 0


def test_zero_and_tiny_pefs_produce_no_nan():
    G, _, _ = planted_pefs(m=40, C=3, d=20, seed=2)
    G[0] = 0
    G[1] *= 1e-30
    result = NPEFF(3, n_h_only_steps=10, n_joint_steps=20, h_only_lr=1e-3, joint_lr=1e-2).fit(G)
    assert torch.isfinite(result.W).all() and torch.isfinite(result.H).all()
    assert np.isfinite(result.loss_history).all()
    assert (result.W[0] == 0).all()
    assert torch.isfinite(fit_coefficients(G, result.H, n_steps=20)).all()


def test_planted_components_are_recovered():
    G, W_true, H_true = planted_pefs(m=600, C=8, d=200, seed=0)
    result = NPEFF(8, seed=0, **FIT).fit(G)
    best, idx = match_components(result.H, H_true)
    assert (best >= 0.95).all(), best
    assert len(set(idx.tolist())) == 8  # a distinct found component for every planted one
    for j in range(8):
        corr = np.corrcoef(result.W[:, idx[j]].numpy(), W_true[:, j].numpy())[0, 1]
        assert corr > 0.9, (j, corr)
    # the loss goes down, the warm-up first
    assert result.loss_history[-1] < 0.2 * result.loss_history[0]
    assert len(result.loss_history) == 500 and len(result.step_seconds) == 500


def test_components_are_normalised_without_changing_the_reconstruction():
    H = torch.randn(3, 6)
    W = torch.rand(5, 3)
    Hn, Wn = normalize_components(H, W)
    torch.testing.assert_close((Hn * Hn).sum(1), torch.ones(3))
    torch.testing.assert_close(torch.einsum("mc,cd,ce->mde", W, H, H), torch.einsum("mc,cd,ce->mde", Wn, Hn, Hn))


def test_fit_coefficients_recovers_planted_coefficients_with_true_h():
    G, W_true, H_true = planted_pefs(m=200, C=6, d=100, noise=0.0, seed=3)
    W = fit_coefficients(G, H_true, n_steps=2000)
    # PEFs are normalised to unit Frobenius norm before fitting
    F = torch.einsum("mc,cd,ce->mde", W_true, H_true, H_true)
    scale = torch.linalg.matrix_norm(F)
    torch.testing.assert_close(W, W_true / scale[:, None], atol=2e-2, rtol=0)
    assert reconstruction_losses(G, W, H_true).max() < 1e-2


def test_fit_coefficients_rejects_mismatched_dimensions():
    with pytest.raises(ValueError, match="same projection"):
        fit_coefficients(torch.randn(4, 2, 10), torch.randn(3, 11))


def test_numpy_input_and_bad_shapes():
    G, _, _ = planted_pefs(m=30, C=2, d=10, seed=4)
    result = NPEFF(2, n_h_only_steps=2, n_joint_steps=2).fit(G.numpy())
    assert result.W.shape == (30, 2) and result.H.shape == (2, 10)
    with pytest.raises(ValueError, match="3 dimensions"):
        NPEFF(2).fit(torch.randn(5, 10))
    with pytest.raises(ValueError, match="n_components"):
        NPEFF(0)


def test_divergence_is_reported():
    G, _, _ = planted_pefs(m=100, C=4, d=50, seed=5)
    with pytest.raises(FloatingPointError, match="learning rate"):
        NPEFF(4, n_h_only_steps=50, n_joint_steps=0, h_only_lr=100.0).fit(G)
