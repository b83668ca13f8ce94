"""Perturbations: rejection, KL, parameter restore, the cached prefix, and a planted direction."""
import math

import pytest
import torch

from npeff._tensors import count_nonzero
from npeff.fpc import fpc_recover
from npeff.models import ParameterSelection
from npeff.pef import compute_pefs
from npeff.perturb import (FrozenPrefix, check_stored_log_probs, kl_divergence, parameter_snapshot,
                           perturbation_effect, perturbation_inputs_differ, perturbed, reject_similar, unit_direction)
from npeff.projection import SparseProjection
from npeff.tasks import LabelTokenTask, SuffixTask, token_batch
from tiny_models import left_padded_batch, tiny_llama

VOCAB = 48
LAST_BLOCK = ParameterSelection(("*layers.1.*",))


@pytest.fixture(scope="module")
def model():
    return tiny_llama(seed=0, vocab=VOCAB)


def test_rejection_follows_the_threshold():
    h = torch.tensor([1.0, 0.0, 0.0])
    close = torch.tensor([0.9, math.sqrt(1 - 0.81), 0.0])  # |cos| 0.9: kept
    far = torch.tensor([0.2, 0.0, math.sqrt(1 - 0.04)])  # |cos| 0.2: rejected
    out = reject_similar(torch.stack([h, close, far]), 0, threshold=0.5)
    expected = h - 0.2 * far
    assert torch.allclose(out, expected, atol=1e-6)
    assert abs(float(out @ far)) < 1e-6 and abs(float(out @ close)) > 0.1


def test_kl_divergence_is_kl():
    p = torch.log_softmax(torch.randn(5, 7), -1)
    q = torch.log_softmax(torch.randn(5, 7), -1)
    expected = (p.exp() * (p - q)).sum(-1)
    assert torch.allclose(kl_divergence(p, q), expected, atol=1e-6)
    assert torch.allclose(kl_divergence(p, p), torch.zeros(5))


def test_perturbed_adds_delta_and_restores(model):
    params = dict(LAST_BLOCK.parameters(model))
    before = {k: v.detach().clone() for k, v in params.items()}
    n = LAST_BLOCK.n_parameters(model)
    delta = torch.arange(n, dtype=torch.float32) / n
    snapshot = parameter_snapshot(model, LAST_BLOCK)
    for original in (None, snapshot):  # a copy taken on entry, or one snapshot reused by every perturbation
        for _ in range(2):
            with perturbed(model, LAST_BLOCK, delta, original):
                flat = torch.cat([(params[b.name] - before[b.name]).flatten() for b in LAST_BLOCK.layout(model)])
                assert torch.allclose(flat, delta, atol=1e-6)
            assert all(torch.equal(params[k], before[k]) for k in params)  # exactly, not up to rounding
    assert all(torch.equal(snapshot[k], before[k]) for k in params)  # the snapshot itself is never written


def test_frozen_prefix_matches_the_full_forward(model):
    prefix = FrozenPrefix(model, LAST_BLOCK)
    assert prefix.start == 1
    batch = left_padded_batch([5, 7, 3, 6], VOCAB, seed=1)
    task = LabelTokenTask([3, 7, 11])
    with torch.no_grad():
        full = task(model, batch)
    assert torch.allclose(prefix.run(task, prefix.encode(batch)), full, atol=1e-6)
    labels = [[12], [30, 31], [8, 40, 41]]
    suffix_batch = token_batch([[5, 9, 2], [7, 1, 4, 4]], 0, labels)  # packed rows: tree attention
    with torch.no_grad():
        full = SuffixTask(labels)(model, suffix_batch)
    assert torch.allclose(prefix.run(SuffixTask(labels), prefix.encode(suffix_batch)), full, atol=1e-6)
    assert FrozenPrefix(model, ParameterSelection(("*",), ())).start == 0  # embeddings selected: no skipping


def planted_setup(model):
    """48 examples; the planted component is the top eigenvector of the summed exact Fisher
    of examples 0-7, the group whose predictions it should move."""
    batch = left_padded_batch([6] * 48, VOCAB, seed=3)
    task = LabelTokenTask([3, 7, 11])
    G = compute_pefs(model, batch, task, rows="lrm", selection=LAST_BLOCK).G  # [48, 3, n]
    group = G[:8].reshape(-1, G.shape[-1])
    planted = torch.linalg.svd(group, full_matrices=False).Vh[0]  # [n]
    prefix = FrozenPrefix(model, LAST_BLOCK)
    top = [prefix.encode({k: v[:8] for k, v in batch.items()})]
    base = [prefix.encode({k: v[lo:lo + 20] for k, v in batch.items()}) for lo in (8, 28)]
    originals = {id(b): prefix.run(task, b) for b in top + base}
    return prefix, task, planted, top, base, originals


def test_planted_direction_is_selective_and_a_random_one_is_not(model):
    prefix, task, planted, top, base, originals = planted_setup(model)
    hit = perturbation_effect(prefix, task, LAST_BLOCK, unit_direction(planted, 0.5), top, base, originals)
    assert hit["kl_ratio"] > 3, hit
    gen = torch.Generator().manual_seed(0)
    ratios = [perturbation_effect(prefix, task, LAST_BLOCK, unit_direction(torch.randn(planted.shape, generator=gen),
                                                                           0.5), top, base, originals)["kl_ratio"]
              for _ in range(8)]
    geometric = math.exp(sum(map(math.log, ratios)) / len(ratios))
    assert 0.5 < geometric < 2, ratios


def test_top_examples_drawn_into_the_baseline_are_left_out_of_its_mean(model):
    prefix, task, planted, top, base, originals = planted_setup(model)
    direction = unit_direction(planted, 0.5)
    apart = perturbation_effect(prefix, task, LAST_BLOCK, direction, top, base, originals)
    drawn_in = top + base  # a small pool's baseline that drew all 8 top examples
    marked = torch.tensor([True] * 8 + [False] * 40)
    # the top examples' KLs come from the baseline's own forwards: no top batch is run apart
    left_out = perturbation_effect(prefix, task, LAST_BLOCK, direction, [], drawn_in, originals,
                                   top_in_baseline=marked)
    kept = perturbation_effect(prefix, task, LAST_BLOCK, direction, top, drawn_in, originals)
    assert left_out["kl_top"] == pytest.approx(apart["kl_top"], rel=1e-5)
    assert left_out["kl_ratio"] == pytest.approx(apart["kl_ratio"], rel=1e-5)
    assert left_out["kl_baseline"] == pytest.approx(apart["kl_baseline"], rel=1e-5)
    assert left_out["kl_ratio_with_top"] == pytest.approx(kept["kl_ratio"], rel=1e-5)
    # a selective direction: counting its top examples in the baseline pulls the ratio towards 1
    assert 1 < kept["kl_ratio"] < left_out["kl_ratio"]
    with pytest.raises(ValueError, match="no baseline is left"):
        perturbation_effect(prefix, task, LAST_BLOCK, direction, [], top, originals,
                            top_in_baseline=torch.ones(8, dtype=torch.bool))


def test_top_examples_in_the_baseline_reuse_its_forwards(model):
    """Of the top examples 0-7, 4-7 are drawn into a baseline of 44: the same numbers as with a
    baseline of the 40 others, from 2 x (4 + 44) perturbed rows, where running all 8 top
    examples apart beside that baseline takes 2 x (8 + 44)."""
    prefix, task, planted, top_all, base, originals = planted_setup(model)
    top_outside, drawn = [{k: v[:4] for k, v in top_all[0].items()}], {k: v[4:] for k, v in top_all[0].items()}
    base_with_top = [drawn] + base
    originals.update({id(b): prefix.run(task, b) for b in top_outside + [drawn]})
    direction = unit_direction(planted, 0.5)
    apart = perturbation_effect(prefix, task, LAST_BLOCK, direction, top_all, base, originals)
    counted = []
    run = prefix.run
    prefix.run = lambda t, b: counted.append(len(b["input_ids"])) or run(t, b)
    try:
        perturbation_effect(prefix, task, LAST_BLOCK, direction, top_all, base_with_top, originals)
        n_top_run_apart = sum(counted)
        counted.clear()
        reused = perturbation_effect(prefix, task, LAST_BLOCK, direction, top_outside, base_with_top, originals,
                                     top_in_baseline=torch.tensor([True] * 4 + [False] * 40))
    finally:
        del prefix.run
    assert (n_top_run_apart, sum(counted)) == (2 * 52, 2 * 48)
    for key in ("sign", "kl_ratio", "kl_top", "kl_baseline"):
        assert reused[key] == pytest.approx(apart[key], rel=1e-5), key


def test_planted_direction_survives_projection_and_fpc(model):
    prefix, task, planted, top, base, originals = planted_setup(model)
    projection = SparseProjection(planted.shape[0], 1024, seed=0, density=8)
    recovered = fpc_recover(projection, projection.project(planted), max_iter=300).u
    hit = perturbation_effect(prefix, task, LAST_BLOCK, unit_direction(recovered, 0.5), top, base, originals)
    assert hit["kl_ratio"] > 2, hit


def test_perturbation_inputs_differ_finds_what_changes_the_experiment():
    """Two decompositions give the same perturbations when their top examples and rejected
    directions agree up to sign; the check names the first thing that differs."""
    gen = torch.Generator().manual_seed(0)
    H = torch.randn(4, 32, generator=gen)  # [C, d]
    W = torch.rand(40, 4, generator=gen).numpy()  # [m, C]
    same = perturbation_inputs_differ(H, W, H.clone(), W.copy(), top_k=5, min_coefficient=0.0)
    assert same is None
    flipped = H * torch.tensor([[1.0], [-1.0], [1.0], [-1.0]])  # h h^T does not see a row's sign
    assert perturbation_inputs_differ(H, W, flipped, W * (1 + 1e-6), top_k=5, min_coefficient=0.0) is None
    moved = H.clone()
    moved[2] += 0.3 * torch.randn(32, generator=gen) * H[2].norm() / 32 ** 0.5
    assert "rejected directions differ" in perturbation_inputs_differ(H, W, moved, W, top_k=5, min_coefficient=0.0)
    swapped = W.copy()
    swapped[:, [1, 3]] = W[:, [3, 1]]
    assert "top examples" in perturbation_inputs_differ(H, W, H, swapped, top_k=5, min_coefficient=0.0)
    assert "shapes" in perturbation_inputs_differ(H, W, H[:3], W[:, :3], top_k=5, min_coefficient=0.0)


def test_unit_direction_in_place_scales_the_same_memory():
    u = torch.randn(1000)
    copy = unit_direction(u, 20.0)
    same = unit_direction(u, 20.0, in_place=True)
    assert same.data_ptr() == u.data_ptr() and copy.data_ptr() != u.data_ptr()
    assert torch.allclose(same, copy) and float(same.norm()) == pytest.approx(20.0, rel=1e-6)
    with pytest.raises(ValueError, match="zero"):
        unit_direction(torch.zeros(5), 1.0, in_place=True)


def test_stored_log_probs_from_other_batches_give_the_same_ratios(model):
    """The perturb rule takes the unperturbed log-probs from the signals pass, which batched the
    examples otherwise (other neighbours, other padding). The ratios equal those against each
    batch's own unperturbed forward, and log-probs of another model or task are refused."""
    prefix, task, planted, top, base, originals = planted_setup(model)
    examples = left_padded_batch([6] * 48, VOCAB, seed=3)  # planted_setup's examples
    padded = {k: torch.cat([torch.zeros(48, 3, dtype=v.dtype), v], dim=1) for k, v in examples.items()}
    with torch.no_grad():  # the signals pass: 3 more padding positions, batches of 16
        stored = torch.cat([task(model, {k: v[lo:lo + 16] for k, v in padded.items()}) for lo in (0, 16, 32)])
    from_store = {id(top[0]): stored[:8], id(base[0]): stored[8:28], id(base[1]): stored[28:48]}
    direction = unit_direction(planted, 0.5)
    own = perturbation_effect(prefix, task, LAST_BLOCK, direction, top, base, originals)
    stored_run = perturbation_effect(prefix, task, LAST_BLOCK, direction, top, base, from_store)
    for key in ("kl_ratio", "kl_top", "kl_baseline"):
        assert stored_run[key] == pytest.approx(own[key], rel=1e-4), key

    check_stored_log_probs(originals[id(base[0])], stored[8:28], "signals.h5")  # the same model: accepted
    with perturbed(model, LAST_BLOCK, direction), torch.no_grad():
        other_model = task(model, {k: v[8:28] for k, v in examples.items()})
    with pytest.raises(ValueError, match="signals.h5 stores log-probs that are not this model's"):
        check_stored_log_probs(other_model, stored[8:28], "signals.h5")
    with pytest.raises(ValueError, match="over 2 categories, the task has 3"):
        check_stored_log_probs(originals[id(base[0])], stored[8:28, :2], "signals.h5")


def test_count_nonzero_counts_as_torch_does():
    x = torch.randn(10_001)
    x[::3] = 0.0
    x[5] = -0.0  # a signed zero is a zero
    assert count_nonzero(x) == int(torch.count_nonzero(x)) == 10_001 - len(range(0, 10_001, 3)) - 1
    assert count_nonzero(torch.zeros(4)) == 0 and isinstance(count_nonzero(x), int)
