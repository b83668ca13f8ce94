"""nn.Linear forwards through oneDNN on the CPU wherever no gradient is taken.

torch's CPU `F.linear` calls MKL's sgemm, and MKL runs its AVX2 kernels on AMD CPUs (it
dispatches AVX-512 by vendor); oneDNN, which ships inside the same torch wheel, dispatches by the
CPU's features. On a 2-core AMD EPYC (Zen 5, AVX-512) the SmolLM2-135M shapes ([480 tokens, 576]
times [576, 1536] and the like) ran at 106-216 GFLOP/s through `F.linear` and at 440-500 through
oneDNN's `mkldnn::_linear_pointwise` (`benchmarks/cpu_linear.py` prints both, and the model's
forward with each). Both compute in float32 and agree to float32 rounding (~1e-6 relative).

The oneDNN op has no autograd formula, so a patched layer calls it where no gradient can flow
(grad mode off, or nothing requires grad) and, inside `input_gradients_only()`, through
`_InputGradientLinear`, whose backward propagates the input's gradient through oneDNN as well and
gives the weight none: the PEF passes form per-example weight gradients from the layers' inputs and
output gradients themselves (npeff.pef), so a summed weight gradient would be wasted work.
Everywhere else (a backward that wants weight gradients, torch.func transforms, CUDA, other
dtypes) it is `F.linear`, unchanged.
"""
from __future__ import annotations

import contextlib
import functools
import threading

import torch
import torch.nn.functional as F
from torch import nn


def _find_op():
    try:
        return torch.ops.mkldnn._linear_pointwise if torch.backends.mkldnn.is_available() else None
    except (AttributeError, RuntimeError):  # a torch built without oneDNN
        return None


_ONEDNN_LINEAR = _find_op()


def onednn_available() -> bool:
    return _ONEDNN_LINEAR is not None


_state = threading.local()


@contextlib.contextmanager
def input_gradients_only():
    """Within it, a backward through a patched layer gives its input a gradient and its weight and
    bias none (zero): for passes that read only the gradients of activations or layer outputs."""
    before = getattr(_state, "input_gradients_only", False)
    _state.input_gradients_only = True
    try:
        yield
    finally:
        _state.input_gradients_only = before


def onednn_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """x W^T + b by oneDNN (float32, CPU; no autograd): x [..., in], weight [out, in] -> [..., out]."""
    return _ONEDNN_LINEAR(x, weight, bias, "none", [], "")


class _InputGradientLinear(torch.autograd.Function):
    """y = x W^T + b by oneDNN; backward: dx = dy W by oneDNN (W^T as a strided view: oneDNN reads
    it in place), and no gradient for W and b."""

    @staticmethod
    def forward(x, weight, bias):
        return onednn_linear(x, weight, bias)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[1])

    @staticmethod
    def backward(ctx, grad_output):
        weight, = ctx.saved_tensors
        grad_input = onednn_linear(grad_output, weight.t(), None) if ctx.needs_input_grad[0] else None  # [..., in]
        return grad_input, None, None


def _forward(module: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    weight, bias = module.weight, module.bias
    if not (x.device.type == "cpu" and x.dtype == torch.float32 and weight.dtype == torch.float32 and x.numel() > 0
            and torch._C._functorch.maybe_current_level() is None):  # not inside vmap / grad / jacrev
        return F.linear(x, weight, bias)
    if not torch.is_grad_enabled() or not (x.requires_grad or weight.requires_grad
                                           or (bias is not None and bias.requires_grad)):
        return onednn_linear(x, weight, bias)
    if getattr(_state, "input_gradients_only", False):
        return _InputGradientLinear.apply(x, weight, bias)
    return F.linear(x, weight, bias)


class OneDNNLinears:
    """Handle of `use_onednn_linears`: `remove()` gives every patched layer its own forward back."""

    def __init__(self, modules: list[nn.Linear]):
        self.modules = modules

    def remove(self) -> None:
        for module in self.modules:
            if module.__dict__.get("forward") is not None:
                del module.forward
        self.modules = []


def use_onednn_linears(model: nn.Module) -> OneDNNLinears:
    """Routes the gradient-free forwards of every nn.Linear in `model` through oneDNN (see the
    module docstring); a no-op handle where this torch has no oneDNN. Hooks on the layers still
    run: the patch replaces `forward`, not `__call__`."""
    if not onednn_available():
        return OneDNNLinears([])
    patched = [m for m in model.modules() if type(m) is nn.Linear and "forward" not in m.__dict__]
    for module in patched:
        module.forward = functools.partial(_forward, module)  # a partial, unlike a bound method, survives deepcopy
    return OneDNNLinears(patched)
