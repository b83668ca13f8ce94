"""Linear layers through oneDNN (npeff.cpu_linear) against torch's own F.linear."""
import pytest
import torch
from torch import nn

import npeff.cpu_linear as cpu_linear
from npeff.cpu_linear import input_gradients_only, onednn_available, use_onednn_linears
from npeff.pef import compute_pefs
from npeff.perturb import kl_divergence
from npeff.tasks import LabelTokenTask
from tiny_models import left_padded_batch, tiny_llama

pytestmark = pytest.mark.skipif(not onednn_available(), reason="this torch has no oneDNN")
VOCAB = 48


@pytest.fixture
def onednn_calls(monkeypatch):
    """Counts the oneDNN products the patched layers make."""
    calls = []
    real = cpu_linear._ONEDNN_LINEAR

    def counted(*args):
        calls.append(tuple(args[0].shape))
        return real(*args)

    monkeypatch.setattr(cpu_linear, "_ONEDNN_LINEAR", counted)
    return calls


def test_a_forward_without_gradients_runs_through_onednn_and_equals_f_linear(onednn_calls):
    model = tiny_llama(seed=0, vocab=VOCAB)
    batch = left_padded_batch([5, 7, 3, 6], VOCAB, seed=1)
    with torch.no_grad():
        plain = model(**batch).logits  # [b, T, V]
        handle = use_onednn_linears(model)
        fast = model(**batch).logits
    n_linear = sum(type(m) is nn.Linear for m in model.modules())
    assert len(onednn_calls) == n_linear  # every layer, the unembedding included, once
    torch.testing.assert_close(fast, plain, rtol=1e-5, atol=1e-5)
    handle.remove()
    with torch.no_grad():
        model(**batch)
    assert len(onednn_calls) == n_linear  # removed: F.linear again


def test_weight_gradients_are_torch_s_own(onednn_calls):
    """Outside input_gradients_only a backward that wants weight gradients runs F.linear."""
    torch.manual_seed(0)
    layer = nn.Linear(6, 5)
    x = torch.randn(3, 4, 6)
    expected = torch.autograd.grad(layer(x).square().sum(), [layer.weight, layer.bias])
    use_onednn_linears(layer)
    got = torch.autograd.grad(layer(x).square().sum(), [layer.weight, layer.bias])
    assert onednn_calls == []
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e)


def test_input_gradients_only_gives_the_input_its_gradient_and_the_weight_none(onednn_calls):
    torch.manual_seed(0)
    layer = nn.Linear(6, 5)
    x = torch.randn(3, 4, 6, requires_grad=True)
    out = layer(x)
    grad_out = torch.randn(2, *out.shape)  # [rows, 3, 4, 5]: a batched backward, as the PEF passes run it
    expected, = torch.autograd.grad(out, [x], grad_out, is_grads_batched=True)
    use_onednn_linears(layer)
    with input_gradients_only():
        fast = layer(x)
    got_x, got_w = torch.autograd.grad(fast, [x, layer.weight], grad_out, is_grads_batched=True,
                                       allow_unused=True, materialize_grads=True)
    assert onednn_calls == [(3, 4, 6), (3, 4, 5)]  # forward, then dx = dy W (vmapped over the rows: one row's shape)
    torch.testing.assert_close(fast, out.detach())
    torch.testing.assert_close(got_x, expected)
    assert not got_w.any()


def test_pefs_of_a_patched_model_equal_the_plain_model_s(onednn_calls):
    """compute_pefs through oneDNN (forward and the batched backward) against F.linear's."""
    model = tiny_llama(seed=0, vocab=VOCAB)
    batch = left_padded_batch([5, 7, 3, 6], VOCAB, seed=1)
    task = LabelTokenTask([3, 7, 11])
    plain = compute_pefs(model, batch, task, with_gradient=True)
    use_onednn_linears(model)
    fast = compute_pefs(model, batch, task, with_gradient=True)
    assert len(onednn_calls) > 0
    torch.testing.assert_close(fast.G, plain.G, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(fast.gradient, plain.gradient, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(fast.log_probs, plain.log_probs, rtol=1e-5, atol=1e-6)


def test_a_perturbation_s_kl_is_the_same_through_onednn():
    """What Table 2 measures: KL(perturbed || original) per example, both sides through oneDNN,
    against both through F.linear."""
    model = tiny_llama(seed=0, vocab=VOCAB)
    batch = left_padded_batch([5, 7, 3, 6], VOCAB, seed=1)
    task = LabelTokenTask([3, 7, 11])
    delta = {name: 0.05 * torch.randn_like(p) for name, p in model.named_parameters() if p.ndim == 2}

    def kls():
        with torch.no_grad():
            original = task(model, batch)
            params = dict(model.named_parameters())
            for name, d in delta.items():
                params[name].add_(d)
            perturbed = task(model, batch)
            for name, d in delta.items():
                params[name].sub_(d)
        return kl_divergence(perturbed, original)  # [b]

    plain = kls()
    use_onednn_linears(model)
    fast = kls()
    assert (plain > 1e-4).all()
    torch.testing.assert_close(fast, plain, rtol=1e-4, atol=1e-7)


def test_functorch_transforms_and_other_dtypes_run_f_linear(onednn_calls):
    torch.manual_seed(0)
    layer = nn.Linear(6, 5)
    use_onednn_linears(layer)
    xs = torch.randn(3, 6)
    jac = torch.func.vmap(torch.func.jacrev(layer))(xs)  # [3, 5, 6]
    torch.testing.assert_close(jac, layer.weight.detach().expand(3, 5, 6))
    with torch.no_grad():
        layer.double()(xs.double())
    assert onednn_calls == []
