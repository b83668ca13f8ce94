"""FPC recovers sparse vectors from their sparse random projections."""
import pytest
import torch

from npeff.fpc import fpc_recover, fpc_schedule, spectral_norm
from npeff_workflow.settings import recover_direction
from npeff.projection import SparseProjection
from planted import planted_sparse


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


def l1_objective(p, c, u, b, mu):
    """FPC's objective mu |u|_1 + 1/2 |c A u - b|^2 (u unscaled)."""
    return mu * u.abs().sum() + 0.5 * (c * p.project(u) - b).square().sum()


def independent_l1_solution(A, b, mu):
    """The same problem solved by scipy's L-BFGS-B on u = u+ - u- with u+, u- >= 0 (smooth, bounded)."""
    import numpy as np
    from scipy.optimize import minimize

    A = A.astype(np.float64)
    b = b.astype(np.float64)
    n = A.shape[1]

    def fun(z):
        r = A @ (z[:n] - z[n:]) - b
        g = A.T @ r
        return mu * z.sum() + 0.5 * r @ r, np.concatenate([mu + g, mu - g])

    out = minimize(fun, np.zeros(2 * n), jac=True, method="L-BFGS-B", bounds=[(0, None)] * (2 * n),
                   options={"maxiter": 50_000, "maxfun": 100_000, "ftol": 1e-15, "gtol": 1e-12})
    return out.x[:n] - out.x[n:]


def test_solution_matches_an_independent_l1_solver_on_noisy_planted_signals():
    """Both solve mu|u|_1 + 1/2|A~u - b|^2 (unit b, A~ = A/||A||); with noise the optimum is not the
    planted vector, so agreement is about the solver, not about recovery."""
    p = SparseProjection(3000, 200, seed=11, density=4)
    gen = torch.Generator().manual_seed(4)
    u = planted_sparse(3000, 12, rows=3, seed=2)
    h = p.project(u) + 0.02 * torch.randn(3, 200, generator=gen)
    mu = 1e-3
    ours = fpc_recover(p, h, mu=mu, xtol=1e-7, gtol=1e-4)
    assert ours.converged.all() and (ours.n_passes <= 10).all()
    c = 1 / spectral_norm(p)
    A = c * p.dense()
    for r in range(3):
        b = (h[r] / h[r].norm()).numpy()
        reference = torch.from_numpy(independent_l1_solution(A, b, mu)).float()
        scaled = ours.u[r] / (c * h[r].norm())  # back to the unit-target problem
        f_ours, f_ref = l1_objective(p, c, scaled, torch.from_numpy(b), mu), l1_objective(p, c, reference,
                                                                                            torch.from_numpy(b), mu)
        assert f_ours <= f_ref * (1 + 1e-4), (f_ours, f_ref)
        assert (scaled - reference).norm() <= 1e-2 * reference.norm()


def test_planted_recovery_is_as_good_as_the_independent_solver():
    p = SparseProjection(4000, 400, seed=6, density=4)
    u = planted_sparse(4000, 30, rows=2, seed=9)
    h = p.project(u)
    ours = fpc_recover(p, h, xtol=1e-6)  # the paper's mu; a tight rule, so both are at the optimum
    c = 1 / spectral_norm(p)
    A = c * p.dense()
    for r in range(2):
        b = (h[r] / h[r].norm()).numpy()
        reference = torch.from_numpy(independent_l1_solution(A, b, 4e-5)).float()
        scaled = ours.u[r] / (c * h[r].norm())
        f_ours = l1_objective(p, c, scaled, torch.from_numpy(b), 4e-5)
        f_ref = l1_objective(p, c, reference, torch.from_numpy(b), 4e-5)
        assert f_ours <= f_ref * (1 + 1e-3), (f_ours, f_ref)
        cos_ref = float(torch.nn.functional.cosine_similarity(reference, u[r], dim=0))
        cos_ours = float(torch.nn.functional.cosine_similarity(ours.u[r], u[r], dim=0))
        assert cos_ours >= cos_ref - 2e-3 and cos_ours > 0.99, (cos_ours, cos_ref)


def test_working_set_grows_until_optimality_holds_off_it():
    """A target that needs coordinates outside the first working set: the full passes add them,
    and the returned u satisfies |A~^T (A~ u - b)| <= mu (1 + gtol) everywhere."""
    # density 8: the columns are in general position (no two with the same support), so the
    # l1 optimum is unique; at density 2 and d = 100 the 20,000 columns share 2,500 supports
    p = SparseProjection(20_000, 100, seed=1, density=8)
    gen = torch.Generator().manual_seed(0)
    h = torch.randn(100, generator=gen)
    result = fpc_recover(p, h, mu=1e-3, gtol=1e-3, xtol=1e-6)
    assert result.converged.all()
    c = 1 / spectral_norm(p)
    b = h / h.norm()
    scaled = result.u / (c * h.norm())
    g = c * p.transpose(c * p.project(scaled) - b)
    off_support = scaled == 0
    assert float(g[off_support].abs().max()) <= 1e-3 * (1 + 2e-3)
    on = ~off_support  # g_i = -mu sign(u_i) there, up to the stopping rule's tolerance
    torch.testing.assert_close(g[on], -1e-3 * scaled[on].sign(), rtol=0.05, atol=0)
    # an l1 optimum has at most d non-zeros; the stopping rule leaves a few tiny extra ones
    assert int((scaled.abs() > 1e-3 * scaled.abs().max()).sum()) <= 100


def dense_fpc_schedule(A, b, mu, gamma, beta, inner, tau):
    """Hale et al.'s FPC written out on a dense matrix: u = 0, continuation from gamma |A^T b|_inf,
    `inner` shrinkage iterations per stage, stop after the stage at mu. Returns (u, iterations)."""
    import numpy as np

    u = np.zeros(A.shape[1])
    mu_k = gamma * np.abs(A.T @ b).max()
    stages = [mu_k]
    while stages[-1] > mu:
        stages.append(max(stages[-1] / beta, mu))
    for mu_k in stages:
        for _ in range(inner):
            step = u - tau * (A.T @ (A @ u - b))
            u = np.sign(step) * np.maximum(np.abs(step) - tau * mu_k, 0)
    return u, len(stages) * inner


@pytest.mark.parametrize("inner", [1, 3])
def test_paper_schedule_is_fpc_with_that_many_iterations_per_stage(inner):
    p = SparseProjection(5000, 300, seed=3, density=4)
    h = p.project(planted_sparse(5000, 40, rows=2, seed=5)) + 0.01 * torch.randn(2, 300)
    ours = fpc_schedule(p, h, inner_iterations=inner)
    c = 1 / spectral_norm(p)
    A = c * p.dense().astype("float64")
    tau = min(1 + 1.665 * (1 - 300 / 5000), 1.999)
    for r in range(2):
        b = (h[r] / h[r].norm()).double().numpy()
        reference, iterations = dense_fpc_schedule(A, b, 4e-5, 0.99, 4.0, inner, tau)
        assert int(ours.n_iter[r]) == iterations and not ours.converged[r]
        torch.testing.assert_close(ours.u[r] / (c * h[r].norm()), torch.from_numpy(reference).float(),
                                   rtol=1e-3, atol=1e-5)


def test_paper_schedule_with_many_iterations_per_stage_reaches_the_l1_optimum():
    """The schedule is FPC: given enough iterations its last stage lands where fpc_recover does."""
    p = SparseProjection(3000, 200, seed=11, density=4)
    h = p.project(planted_sparse(3000, 12, rows=1, seed=2))[0]
    c, mu = 1 / spectral_norm(p), 1e-3
    b = h / h.norm()
    long = fpc_schedule(p, h, mu=mu, inner_iterations=3000).u / (c * h.norm())
    optimum = fpc_recover(p, h, mu=mu, xtol=1e-7, gtol=1e-4).u / (c * h.norm())
    f_long, f_opt = l1_objective(p, c, long, b, mu), l1_objective(p, c, optimum, b, mu)
    assert f_long <= f_opt * (1 + 1e-3), (f_long, f_opt)
    # with the paper's single iteration it stops far from the optimum: dense, not sparse
    short = fpc_schedule(p, h, mu=mu)
    assert int(short.nonzeros[0]) > 3 * int(fpc_recover(p, h, mu=mu).nonzeros[0])


def test_the_workflow_dispatches_on_the_configured_fpc_solver_and_names_a_bad_one():
    p = SparseProjection(2000, 100, seed=1)
    h = p.project(planted_sparse(2000, 5, rows=1, seed=0))[0]
    norm = spectral_norm(p)
    torch.testing.assert_close(recover_direction(p, h, {"solver": "paper_schedule"}, norm).u,
                               fpc_schedule(p, h, operator_norm=norm).u)
    torch.testing.assert_close(recover_direction(p, h, {"solver": "l1_optimum", "mu": 1e-3}, norm).u,
                               fpc_recover(p, h, mu=1e-3, operator_norm=norm).u)
    assert (fpc_schedule(p, torch.zeros(100)).u == 0).all()
    with pytest.raises(ValueError, match="perturbation.fpc.solver"):
        recover_direction(p, h, {"solver": "lasso"}, norm)
