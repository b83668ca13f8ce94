"""Toy models with planted mechanisms train to what the literature reports."""
import math

import pytest
import torch

from npeff.toy.tms import mechanism_parameters, train_tms


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sparse_tms_5_2_stores_all_five_features_as_a_pentagon(seed):
    model, losses = train_tms(5, 2, p_active=0.05, seed=seed)
    W = model.W.detach()
    norms = W.norm(dim=0)
    assert ((norms > 0.9) & (norms < 1.4)).all(), norms  # every feature represented
    angles = sorted(math.degrees(math.atan2(W[1, i], W[0, i])) % 360 for i in range(5))
    gaps = [(angles[(i + 1) % 5] - angles[i]) % 360 for i in range(5)]
    assert all(abs(g - 72) < 8 for g in gaps), gaps  # a regular pentagon
    assert (model.b.detach() < 0).all()  # negative biases filter the interference
    assert sum(losses[-100:]) / 100 < 0.5 * sum(losses[:100]) / 100


def test_dense_tms_keeps_only_as_many_features_as_dimensions():
    # without sparsity there is no superposition: two features, the rest dropped
    model, _ = train_tms(5, 2, p_active=1.0, seed=0)
    assert int((model.W.detach().norm(dim=0) > 0.5).sum()) == 2


def test_tms_mechanisms_partition_the_parameters():
    model, _ = train_tms(5, 2, steps=1)
    mechanisms = mechanism_parameters(model)
    flat = torch.cat(mechanisms)
    n = sum(p.numel() for p in model.parameters())
    assert sorted(flat.tolist()) == list(range(n))
    # feature 3's mechanism is column 3 of W and b_3
    params = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert torch.equal(params[mechanisms[3]], torch.cat([model.W.detach()[:, 3], model.b.detach()[3:4]]))


def test_residual_mlp_computes_more_relus_than_it_has_neurons():
    from npeff.toy.residual_mlp import mechanism_bases, sample_signed_features, train_residual_mlp

    model, _ = train_residual_mlp(n_features=20, d_embed=200, d_mlp=10, seed=0)
    x = sample_signed_features(20000, 20, 0.05, torch.Generator().manual_seed(5))
    target = x + torch.relu(x)
    with torch.no_grad():
        residual_only = ((x @ model.E @ model.E.T - target) ** 2).sum(1).mean()
        trained = ((model(x) - target) ** 2).sum(1).mean()
    assert trained < 0.5 * residual_only  # measured 0.069 vs 0.198: 10 neurons carry 20 ReLUs
    bases = mechanism_bases(model)
    assert len(bases) == 20 and bases[0].shape == (200 * 10 + 10 + 10 * 200, 20)
    torch.testing.assert_close(bases[3].T @ bases[3], torch.eye(20), atol=1e-5, rtol=0)
