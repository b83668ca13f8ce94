"""The ground-truth benchmark's pieces: the two-layer compressed-computation model, the
G-NPEFF stand-in gradient, toy spec checks, and one full run of every method."""
import pytest
import torch

from npeff.pef import regression_pef_rows
from npeff_workflow.groundtruth import pef_rows_and_gradients, run_toy
from npeff_workflow.registry import GROUNDTRUTH_METHODS
from npeff.toy.residual_mlp import mechanism_bases, sample_signed_features, train_residual_mlp
from npeff_workflow.toys import check_toy_spec, toy_settings

SMALL = {"seeds": [0], "n_examples": 120, "p_active": 0.05, "train_steps": 300,
         "npeff": {"svd_rank": 4, "h_only_steps": 20, "joint_steps": 60, "h_only_lr": 1e-3, "joint_lr": 1e-2},
         "fpc": {"mu": 1e-3, "max_iter": 30}, "clustering": {"n_init": 2},
         "sae": {"k": 1, "lr": 3e-3, "batch_size": 64, "n_batches": 50},
         "apd": {"components_per_mechanism": 2, "rank": 1, "top_k_per_feature": 1.0, "steps": 30, "lr": 3e-2,
                 "batch_size": 128, "faithfulness_coeff": 1.0, "minimality_coeff": 1.0, "simplicity_coeff": 0.1,
                 "schatten_p": 0.9},
         "toys": {"tms": {"model": "tms", "n_features": 5, "n_hidden": 2, "projected_dim": 12},
                  "mlp": {"model": "residual_mlp", "n_features": 6, "d_embed": 32, "d_mlp": 2, "n_layers": 2,
                          "projected_dim": 64, "apd": {"steps": 10}}}}


def test_two_layer_residual_mlp_computes_its_relus_across_layers():
    model, _ = train_residual_mlp(n_features=20, d_embed=200, d_mlp=5, n_layers=2, steps=2000, seed=0)
    x = sample_signed_features(20000, 20, 0.05, torch.Generator().manual_seed(5))
    target = x + torch.relu(x)
    with torch.no_grad():
        residual_only = ((x @ model.E @ model.E.T - target) ** 2).sum(1).mean()
        trained = ((model(x) - target) ** 2).sum(1).mean()
        per_layer = model.neurons(x).reshape(-1, 2, 5).abs().sum((0, 2))  # [2]: both layers in use
    assert trained < 0.6 * residual_only, (trained, residual_only)
    assert (per_layer > 0.1 * per_layer.sum()).all(), per_layer
    bases = mechanism_bases(model)
    assert bases[0].shape == (2 * (200 * 5 + 5 + 5 * 200), 20)
    torch.testing.assert_close(bases[7].T @ bases[7], torch.eye(20), atol=1e-5, rtol=0)


def test_output_gradients_are_the_gradient_of_half_the_squared_output():
    model, _ = train_residual_mlp(n_features=6, d_embed=16, d_mlp=3, n_layers=2, steps=5)
    X = sample_signed_features(4, 6, 0.5, torch.Generator().manual_seed(0))
    G, g = pef_rows_and_gradients(model, X, svd_rank=2)  # [4, 2, n], [4, n]
    torch.testing.assert_close(G, regression_pef_rows(model, X, svd_rank=2))
    for i in range(4):
        model.zero_grad()
        (0.5 * (model(X[i:i + 1]) ** 2).sum()).backward()
        torch.testing.assert_close(g[i], torch.cat([p.grad.flatten() for p in model.parameters()]))


@pytest.mark.parametrize("spec,message", [
    ({"model": "cnn", "projected_dim": 4}, "groundtruth.toys.x.model"),
    ({"model": "tms", "n_features": 5, "projected_dim": 4}, "missing ['n_hidden']"),
    ({"model": "tms", "n_features": 5, "n_hidden": 2, "projected_dim": 4, "depth": 3}, "unknown ['depth']"),
    ({"model": "tms", "n_features": 5, "n_hidden": 2, "projected_dim": 4, "apd": {"lr2": 1}}, "groundtruth.toys.x.apd"),
])
def test_a_bad_toy_spec_names_its_config_key(spec, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_toy_spec("x", spec, apd_keys=("lr", "steps"))


def test_toy_overrides_replace_the_section_defaults():
    settings = toy_settings(SMALL, "mlp")
    assert settings["apd"]["steps"] == 10 and settings["apd"]["lr"] == 3e-2 and settings["projected_dim"] == 64
    assert toy_settings(SMALL, "tms")["apd"]["steps"] == 30


@pytest.mark.parametrize("toy", ["tms", "mlp"])
def test_a_run_scores_every_method(toy):
    run = run_toy(SMALL, toy, seed=0)
    assert run["n_examples"] == 120 and set(run["methods"]) == set(GROUNDTRUTH_METHODS)
    n_mech = run["n_mechanisms"]
    for method, scores in run["methods"].items():
        assert len(scores["per_mechanism"]["auc"]) == n_mech
        assert 0 <= scores["mean_auc"] <= 1
        if method == "sae":
            assert scores["recovered_fraction"] != scores["recovered_fraction"]  # nan: attribution only
        else:
            assert 0 <= scores["recovered_fraction"] <= 1
            assert 0 < scores["mean_best_concentration"] <= 1
