"""Every CUDA path equals its CPU path: PEFs (both backends, the CuPy projection fused into the
pass), Algorithm 1, coefficient fitting and FPC. Skipped cleanly without CUDA and CuPy; the CPU
paths themselves are held to brute force in test_pef, test_decompose and test_fpc."""
import numpy as np
import pytest
import torch

from npeff.decompose import NPEFF, fit_coefficients, reconstruction_losses
from npeff.fpc import fpc_recover, spectral_norm
from npeff.models import ParameterSelection
from npeff.pef import compute_pefs
from npeff.projection import SparseProjection
from npeff.tasks import FullVocabTask, LabelTokenTask
from planted import match_components, planted_pefs, planted_sparse
from tiny_models import left_padded_batch, tiny_llama


def _cuda_and_cupy() -> bool:
    try:
        import cupy  # noqa: F401
    except ImportError:
        return False
    return torch.cuda.is_available()


pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not _cuda_and_cupy(), reason="needs CUDA and CuPy")]

VOCAB = 48


def on(device, batch: dict) -> dict:
    return {k: v.to(device) for k, v in batch.items()}


@pytest.mark.parametrize("backend", ["hooks", "functional"])
@pytest.mark.parametrize("rows,task", [("lrm", LabelTokenTask([3, 7, 11])), ("eps", FullVocabTask())])
def test_projected_pefs_on_cuda_equal_the_cpu_pass(backend, rows, task):
    model = tiny_llama(seed=0, vocab=VOCAB)
    batch = left_padded_batch([5, 7, 3, 6], VOCAB, seed=1)
    n = ParameterSelection().n_parameters(model)
    projection = SparseProjection(n, 256, seed=2, density=8)
    kwargs = dict(rows=rows, n_eps_rows=4, eps_seed=3, backend=backend, projection=projection,
                  max_block_elems=500, with_gradient=True)  # many blocks: the kernel's start offsets
    cpu = compute_pefs(model, batch, task, **kwargs)
    gpu = compute_pefs(model.cuda(), on("cuda", batch), task, **kwargs)
    torch.testing.assert_close(gpu.G.cpu(), cpu.G, rtol=1e-3, atol=1e-5)
    torch.testing.assert_close(gpu.gradient.cpu(), cpu.gradient, rtol=1e-3, atol=1e-5)
    torch.testing.assert_close(gpu.frob_norms.cpu(), cpu.frob_norms, rtol=1e-3, atol=1e-7)
    torch.testing.assert_close(gpu.log_probs.cpu(), cpu.log_probs, rtol=1e-4, atol=1e-5)


def test_decomposition_on_cuda_recovers_planted_components_as_on_cpu():
    G, W_true, H_true = planted_pefs(m=600, C=8, d=200, seed=0)
    fit = dict(n_h_only_steps=100, n_joint_steps=400, h_only_lr=1e-3, joint_lr=1e-2, seed=0)
    cpu = NPEFF(8, device="cpu", **fit).fit(G)
    gpu = NPEFF(8, device="cuda", **fit).fit(G)
    best, idx = match_components(gpu.H, H_true)
    assert (best >= 0.95).all() and len(set(idx.tolist())) == 8, best
    # same start, same steps: the trajectories agree up to float32 reduction order
    np.testing.assert_allclose(gpu.loss_history, cpu.loss_history, rtol=1e-3)
    W = fit_coefficients(G, gpu.H, n_steps=200, device="cuda")
    torch.testing.assert_close(W.cpu(), fit_coefficients(G, gpu.H, n_steps=200, device="cpu"), rtol=1e-3, atol=1e-5)
    torch.testing.assert_close(reconstruction_losses(G, W, gpu.H, device="cuda").cpu(),
                               reconstruction_losses(G, W.cpu(), gpu.H, device="cpu"), rtol=1e-3, atol=1e-6)


def test_fpc_on_cuda_recovers_what_the_cpu_recovers():
    p = SparseProjection(20_000, 2000, seed=5)
    u = planted_sparse(20_000, 40, rows=2, seed=0)  # as test_fpc's CPU recovery
    h = p.project(u)  # [2, 2000]
    norm = spectral_norm(p)
    assert abs(spectral_norm(p, device="cuda") - norm) < 1e-3 * norm
    cpu = fpc_recover(p, h, max_iter=3000, operator_norm=norm)
    gpu = fpc_recover(p, h.cuda(), max_iter=3000, operator_norm=norm)
    assert gpu.converged.all()
    torch.testing.assert_close(gpu.u.cpu(), cpu.u, rtol=1e-3, atol=1e-4)
    cos = (gpu.u.cpu() * u).sum(1) / gpu.u.cpu().norm(dim=1)
    assert (cos > 0.999).all(), cos
