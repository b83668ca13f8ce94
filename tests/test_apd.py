"""APD (npeff.toy.apd): attributions against a brute-force Jacobian, batch top-k, component
layout, and the objective ranking the planted TMS decomposition above a random faithful one."""
import torch
from torch.func import functional_call, jacrev, vmap

from npeff.toy.apd import APD, attributions, batch_top_k, train_apd
from npeff.toy.residual_mlp import ResidualMLP
from npeff.toy.tms import sample_features, train_tms


def test_attributions_equal_squared_jacobian_products():
    model = ResidualMLP(6, 16, 3, n_layers=2, seed=0)
    apd = APD(model, 4, 2, seed=1)
    x = torch.randn(5, 6)

    def output(theta, xi):
        return functional_call(model, theta, (xi[None],))[0]

    jac = vmap(jacrev(output), in_dims=(None, 0))(apd.target, x)  # name -> [b, o, a, b']
    mats = apd.matrices()
    jp = sum(torch.einsum("boij,cij->boc", jac[n], mats[n]) for n in apd.names)  # [b, o, C]
    torch.testing.assert_close(attributions(model, apd, x), (jp ** 2).mean(1), rtol=1e-4, atol=1e-6)


def test_batch_top_k_keeps_k_per_example_on_average():
    A = torch.rand(8, 5)
    mask = batch_top_k(A, 1.5)
    assert int(mask.sum()) == 12 and A[mask].min() >= A[~mask].max()
    assert int(batch_top_k(A, 0.01).sum()) == 1


def test_components_sit_at_their_parameter_offsets():
    model, _ = train_tms(5, 2, steps=1)
    apd = APD(model, 3, 1, seed=0)
    flat = apd.flat_components(model)  # [C, 15]: W (10) then b (5)
    torch.testing.assert_close(flat[:, :10], apd.matrices()["W"].detach().reshape(3, 10))
    assert (flat[:, 10:] == 0).all()  # biases are not decomposed


def test_the_planted_decomposition_beats_a_random_faithful_one():
    model, _ = train_tms(5, 2, seed=0)
    W = model.W.detach()
    planted, random_split = APD(model, 5, 1), APD(model, 5, 1, seed=3)
    with torch.no_grad():  # planted: component i = W[:, i] e_i^T
        planted.U[0].copy_(W.T[:, :, None])
        planted.V[0].copy_(torch.eye(5)[:, None, :])
        # random rank-1 pieces, the last one fixed up so they still sum to W
        random_split.U[0][:, :, 0] = torch.randn(5, 2)
        random_split.V[0][:, 0, :] = torch.randn(5, 5)
        rest = W - random_split.matrices()["W"][:4].sum(0)
        u, s, vh = torch.linalg.svd(rest)
        random_split.U[0][4, :, 0], random_split.V[0][4, 0, :] = u[:, 0] * s[0], vh[0]
    x = sample_features(4096, 5, 0.05, torch.Generator().manual_seed(0))

    def minimality(apd):
        mask = batch_top_k(attributions(model, apd, x), 0.25).float()
        per_example = {"W": torch.einsum("bc,cij->bij", mask, apd.matrices()["W"])}
        y = vmap(lambda th, xi: functional_call(model, th, (xi[None],))[0])(per_example, x)
        return float(((y - model(x)) ** 2).sum(1).mean().detach())

    torch.testing.assert_close(planted.matrices()["W"].sum(0), W)
    assert minimality(planted) < 0.5 * minimality(random_split)
    assert planted.schatten(0.9).sum().item() < random_split.schatten(0.9).sum().item()


def test_training_is_faithful_and_reports_losses():
    model, _ = train_tms(5, 2, seed=0)
    gen = torch.Generator().manual_seed(1)
    apd, result = train_apd(model, lambda: sample_features(256, 5, 0.05, gen), 10, steps=300, top_k=0.25)
    assert result.components.shape == (10, 15) and len(result.losses) == 300
    torch.testing.assert_close(apd.matrices()["W"].sum(0).detach(), model.W.detach(), atol=0.05, rtol=0)
    assert result.losses[-1]["minimality"] < result.losses[0]["minimality"]
