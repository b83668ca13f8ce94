"""Per-example Fishers (paper Section 2.1, Appendix B) and the per-example signals of the baselines.

For an example x with category distribution p [r], the PEF is
F = sum_y p_y g_y g_y^T with g_y = grad log p_y, represented by the LRM-PEF
G [r, n] whose rows are sqrt(p_y) g_y (F = G^T G). Every representation here is
the gradient of a few scalars per example ("rows"):

  lrm        d_k = log p_k - log p_argmax, k != argmax            -> exact LRM-PEF, stored as r - 1 rows
             (the r rows sqrt(p_y) g_y have rank r - 1; both they and grad log p_argmax
             are fixed combinations of the d_k's gradients, see difference_coefficients)
  eps        s = A q, q_y = stop_grad(sqrt p_y) log p_y, A [r', r] -> expectation projection, r' rows
  predicted  s = log p_argmax                                      -> G-NPEFF / gradient clustering, 1 row

Gradients are taken per example and per row in one vectorised backward
(`is_grads_batched`) with respect to the outputs of the selected nn.Linear
modules (so no summed weight gradient is formed: npeff.cpu_linear.input_gradients_only);
the per-example weight gradient is then sum_t g_t a_t^T. Each
parameter block is projected as soon as it is formed, so no full n-vector per
row is kept. A torch.func backend (vmap over examples of jacrev over rows)
handles models whose selected parameters are not all nn.Linear.
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from npeff.cpu_linear import input_gradients_only
from npeff.models import ParameterSelection
from npeff.projection import SparseProjection
from npeff.tasks import lm_logits

ROW_KINDS = ("lrm", "eps", "predicted")


# ---------------------------------------------------------------- row scalars
def lrm_rows(log_probs: torch.Tensor) -> torch.Tensor:
    """[b, r] -> [b, r]: stop_grad(sqrt p) * log p, whose gradients are the LRM-PEF rows."""
    return (0.5 * log_probs).exp().detach() * log_probs


def eps_matrix(n_rows: int, n_categories: int, seed: int) -> torch.Tensor:
    """Rademacher A [r', r] with entries +-1/sqrt(r'), so E[A^T A] = I (Appendix B)."""
    gen = torch.Generator().manual_seed(seed)
    signs = torch.randint(0, 2, (n_rows, n_categories), generator=gen).to(torch.float32) * 2 - 1
    return signs / n_rows ** 0.5


def eps_rows(log_probs: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """[b, r] -> [b, r']: A q with q = stop_grad(sqrt p) log p (the expectation projection)."""
    return lrm_rows(log_probs) @ A.to(log_probs.device).T


def eps_subset(G: torch.Tensor, n_rows: int) -> torch.Tensor:
    """EPS rows G [b, R', d] made with eps_matrix(R', .., seed) -> the rows eps_matrix(n_rows, .., seed)
    would have made [b, n_rows, d]. Its signs are drawn row by row, so the smaller matrix is the
    first n_rows rows of the larger, rescaled from 1/sqrt(R') to 1/sqrt(n_rows)."""
    if not 1 <= n_rows <= G.shape[1]:
        raise ValueError(f"an EPS subset needs 1 <= n_rows <= {G.shape[1]} (the rows computed), got {n_rows}")
    return G[:, :n_rows] * (G.shape[1] / n_rows) ** 0.5


def difference_rows(log_probs: torch.Tensor) -> torch.Tensor:
    """[b, r] -> [b, r - 1]: d_k = log p_k - log p_ref for k != ref, ref = the argmax category.

    Their gradients span every LRM-PEF row and the predicted-class gradient, so r - 1
    backward rows give both exactly (`difference_coefficients`); the r LRM rows plus the
    gradient would be r + 1 rows of the same (r - 1)-dimensional span, because
    sum_y sqrt(p_y) * (sqrt(p_y) grad log p_y) = grad sum_y p_y = 0."""
    ref = log_probs.argmax(1, keepdim=True).detach()  # [b, 1]
    others = _other_categories(ref, log_probs.shape[1])  # [b, r - 1]
    return log_probs.gather(1, others) - log_probs.gather(1, ref)


def difference_coefficients(log_probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """M [b, r, r - 1] and c [b, r - 1] with LRM-PEF rows G = M D and grad log p_argmax = c D,
    where D [b, r - 1, n] are the gradients of difference_rows.

    grad log p_y = grad d_y - sum_k p_k grad d_k (d_ref = 0), so
    M[y, k] = sqrt(p_y) (1[y = k] - p_k) and c[k] = -p_k."""
    p = log_probs.double().exp()  # [b, r]
    b, r = p.shape
    ref = p.argmax(1, keepdim=True)
    others = _other_categories(ref, r)  # [b, r - 1]
    p_others = p.gather(1, others)  # [b, r - 1]
    indicator = torch.zeros((b, r, r - 1), dtype=p.dtype, device=p.device)
    indicator.scatter_(1, others[:, None, :], 1.0)  # [y, k] = 1 where y is the k-th other category
    M = p.sqrt()[:, :, None] * (indicator - p_others[:, None, :])
    return M, -p_others


def _other_categories(ref: torch.Tensor, r: int) -> torch.Tensor:
    """[b, 1] -> [b, r - 1]: every category index except ref, ascending."""
    k = torch.arange(r - 1, device=ref.device)[None, :]
    return k + (k >= ref).long()


def _from_difference_rows(D: torch.Tensor, gram: torch.Tensor, log_probs: torch.Tensor, activations,
                          with_gradient: bool, extras=()) -> tuple["PEFBatch", list[torch.Tensor]]:
    """PEFBatch from the difference rows' (projected) gradients D [b, r-1, d] and exact Gram [b, r-1, r-1].

    The r LRM rows M D have rank r - 1, so they are stored as r - 1 rows S D with
    S = (M^T M)^(1/2): (S D)^T (S D) = D^T M^T M D = G^T G, the same PEF exactly. extras: the same
    gradients under other projections [b, r-1, d_k], returned as their stored rows S D_k."""
    M, c = difference_coefficients(log_probs)
    evals, evecs = torch.linalg.eigh(M.transpose(1, 2) @ M)  # [b, r-1], [b, r-1, r-1]
    S = evecs @ (evals.clamp_min(0).sqrt()[:, :, None] * evecs.transpose(1, 2))  # symmetric square root
    stored_extras = [(S.cpu() @ E.double()).float() for E in extras]
    S, c, gram = S.to(gram.device), c.to(gram.device), gram.double()
    pef_gram = S @ gram @ S  # [b, r-1, r-1] exact G G^T of the stored rows
    D64 = D.double()
    result = PEFBatch(G=(S.cpu() @ D64).float(), frob_norms=torch.linalg.matrix_norm(pef_gram).float().cpu(),
                      log_probs=log_probs.cpu(), activations=activations, gram=pef_gram.float().cpu())
    if with_gradient:
        result.gradient = (c.cpu()[:, None, :] @ D64).float()  # [b, 1, d]
        result.gradient_norms = (c[:, None, :] @ gram @ c[:, :, None])[:, 0, 0].float().cpu()
    return result, stored_extras


def predicted_rows(log_probs: torch.Tensor) -> torch.Tensor:
    """[b, r] -> [b, 1]: log p of the predicted (argmax) category."""
    return log_probs.gather(1, log_probs.argmax(1, keepdim=True).detach())


def reduce_rank(G: torch.Tensor, rank: int) -> torch.Tensor:
    """Best rank-k LRM-PEF (Section 2.1.2): G [b, R, d] -> G' = S_k V_k^T [b, k, d].

    Uses the small Gram matrix G G^T = U S^2 U^T, so G' = U_k^T G and
    G'^T G' is the best rank-k approximation of G^T G.
    """
    if not 1 <= rank <= G.shape[1]:
        raise ValueError(f"SVD rank must be in [1, {G.shape[1]}] (the number of rows), got {rank}")
    gram = (G @ G.transpose(1, 2)).double()  # [b, R, R]
    _, vecs = torch.linalg.eigh(gram)  # ascending eigenvalues
    top = vecs[..., -rank:].flip(-1).to(G.dtype)  # [b, R, k]
    return top.transpose(1, 2) @ G


# ---------------------------------------------------------------- results
@dataclass
class PEFBatch:
    """PEFs of one batch of examples.

    G : [b, R, d] LRM-PEF rows (projected when a projection was given, else d = n).
    frob_norms : [b] exact ||G^T G||_F over the selected parameters, before projection,
        SVD reduction or any normalisation.
    log_probs : [b, r] the model's log p(y|x) over the task's categories.
    """

    G: torch.Tensor
    frob_norms: torch.Tensor
    log_probs: torch.Tensor
    gradient: torch.Tensor | None = None  # [b, 1, d] grad log p_argmax (with_gradient)
    gradient_norms: torch.Tensor | None = None  # [b] ||g g^T||_F = ||g||^2, before projection
    activations: torch.Tensor | None = None  # [b, hidden] final-token block output (with_activations)
    gram: torch.Tensor | None = None  # [b, R, R] exact G G^T of the PEF rows, before projection and SVD
    extra_G: list[torch.Tensor] | None = None  # [b, R, d_k] per extra projection (compute_pefs' extra_projections)


def compute_pefs(model: nn.Module, batch: Mapping[str, torch.Tensor], task: Callable, *,
                 rows: str = "lrm", n_eps_rows: int | None = None, eps_seed: int = 0,
                 svd_rank: int | None = None, projection: SparseProjection | None = None,
                 selection: ParameterSelection | None = None, backend: str = "auto",
                 max_block_elems: int | None = None, with_gradient: bool = False,
                 with_activations: bool = False, timings: dict | None = None,
                 extra_projections: Sequence[SparseProjection] = ()) -> PEFBatch:
    """LRM-PEFs (or EPS rows, or predicted-class gradients) of one batch.

    model : any nn.Module; `task(model, batch)` must return log-probs [b, r]
        normalised over the r categories (see npeff.tasks).
    rows : "lrm" (exact, r rows), "eps" (n_eps_rows rows, Appendix B) or
        "predicted" (1 row: grad log p_argmax, for G-NPEFF and gradient clustering).
    svd_rank : keep the best rank-k rows after projection (Section 2.1.2).
    projection : SparseProjection over the selected parameters (in_dim must equal their count).
    backend : "hooks" (nn.Linear parameters), "functional" (torch.func, any module) or "auto".
    max_block_elems : bound on the elements of a per-example gradient block held at once
        (default: BLOCK_ELEMS for the model's device).
    with_gradient : also return grad log p_argmax (G-NPEFF's row) from the same backward.
    with_activations : also return the last block's output at the final token (hooks
        backend, one sequence per example), from the same forward.
    timings : when a dict, seconds per stage are added to it (hooks backend): "forward",
        "backward" (output gradients of every row), "per_example_grads" (weight gradients from
        activations and output gradients), "gram", "projection": where a PEF's time goes.
    extra_projections : more projections of the same gradients (e.g. a grid of projected
        dimensions): result.extra_G[k] is exactly what `projection=extra_projections[k]` would
        give as G, from the same forward and backward.
    """
    if rows not in ROW_KINDS:
        raise ValueError(f"rows must be one of {ROW_KINDS}, got {rows!r}")
    if rows == "eps" and not n_eps_rows:
        raise ValueError("rows='eps' needs n_eps_rows (the number of expectation projections)")
    selection = selection or ParameterSelection()
    params = selection.parameters(model)
    n_params = sum(p.numel() for _, p in params)
    if extra_projections and projection is None:
        raise ValueError("extra_projections need a projection (the main one)")
    projections = [projection, *extra_projections] if projection is not None else []
    for proj in projections:
        if proj.in_dim != n_params:
            raise ValueError(f"projection.in_dim is {proj.in_dim} but the selection has {n_params} parameters")

    eps_A = {}

    def pef_rows(log_probs):  # [b, r] -> [b, R]
        if rows == "lrm":
            return difference_rows(log_probs)  # r - 1 rows span the r LRM rows and the gradient
        if rows == "eps":
            if "A" not in eps_A:  # drawn on the first (never vmapped) call
                eps_A["A"] = eps_matrix(n_eps_rows, log_probs.shape[-1], eps_seed)
            return eps_rows(log_probs, eps_A["A"])
        return predicted_rows(log_probs)

    def row_fn(log_probs):  # [b, r] -> [b, R (+1)]
        if with_gradient and rows != "lrm":
            return torch.cat([pef_rows(log_probs), predicted_rows(log_probs)], dim=1)
        return pef_rows(log_probs)

    owners = _linear_owners(model, params)  # None unless every selected parameter is an nn.Linear's
    if backend == "auto":
        backend = "hooks" if owners is not None else "functional"
    if with_activations and (backend != "hooks" or not getattr(task, "last_position_is_prompt_end", True)):
        raise ValueError("with_activations needs the hooks backend and a task whose last position ends the prompt "
                         "(a suffix task's is its last label's); use final_token_activations on a prompt-only "
                         "batch instead")
    if with_activations:
        _require_left_padding(batch, "with_activations")
    clock = _StageClock(timings)
    if max_block_elems is None:
        max_block_elems = BLOCK_ELEMS["cuda" if params and params[0][1].is_cuda else "cpu"]
    sink = _RowSink(projections, max_block_elems, clock)
    activations = None
    with _only_selected_require_grad(model, params):
        if backend == "hooks":
            log_probs, activations = _hooked_row_gradients(model, batch, task, row_fn, params, owners, sink,
                                                           _last_block(model) if with_activations else None, clock)
        elif backend == "functional":
            log_probs = _functional_row_gradients(model, batch, task, row_fn, params, sink)
        else:
            raise ValueError(f"backend must be 'auto', 'hooks' or 'functional', got {backend!r}")
    (G, *extras), gram = sink.result(), sink.gram
    if rows == "lrm":
        result, stored = _from_difference_rows(G, gram, log_probs.float(), activations, with_gradient, extras)
    else:
        R = G.shape[1] - int(with_gradient)
        result = PEFBatch(G=G[:, :R], frob_norms=torch.linalg.matrix_norm(gram[:, :R, :R]).cpu(),
                          log_probs=log_probs.float().cpu(), activations=activations, gram=gram[:, :R, :R].cpu())
        if with_gradient:
            result.gradient = G[:, R:]
            result.gradient_norms = gram[:, R, R].cpu()
        stored = [E[:, :R] for E in extras]
    if svd_rank is not None and not (rows == "lrm" and svd_rank >= result.G.shape[1]):  # r - 1 LRM rows are exact
        result.G, stored = reduce_rank(result.G, svd_rank), [reduce_rank(E, svd_rank) for E in stored]
    if extra_projections:
        result.extra_G = stored
    return result


def final_token_activations(model: nn.Module, batch: Mapping[str, torch.Tensor],
                            module: nn.Module | None = None) -> torch.Tensor:
    """Residual-stream output of `module` (default: the last transformer block) at the
    final token of each left-padded prompt: [b, hidden] (the SAE baseline's input)."""
    _require_left_padding(batch, "final_token_activations")
    captured = {}
    handle = (module or _last_block(model)).register_forward_hook(
        lambda _m, _inp, out: captured.update(h=_final_token(out)))
    try:
        with torch.no_grad():
            lm_logits(model, batch, keep_last=1)
    finally:
        handle.remove()
    return captured["h"]


def _require_left_padding(batch: Mapping[str, torch.Tensor], what: str) -> None:
    if not bool((batch["attention_mask"][:, -1] == 1).all()):
        raise ValueError(f"{what} needs left-padded batches (attention_mask[:, -1] == 1)")


def _final_token(block_output) -> torch.Tensor:
    """A transformer block's output (a tensor or a tuple starting with one) at position -1:
    [b, hidden], detached, float32, on the CPU."""
    hidden = block_output[0] if isinstance(block_output, tuple) else block_output
    return hidden[:, -1, :].detach().float().cpu()


# ---------------------------------------------------------------- internals
# Elements of a per-example gradient block. On the CPU a block of 2**21 floats (8 MiB) is read
# by the Gram and the projection from the last-level cache right after the batched product
# writes it; 2**26 (256 MiB) went through memory each time: CLINC150, TriviaQA and YAT PEFs took
# 12-22% longer (README, "Gradient blocks that stay in the cache"). A GPU wants few large launches.
BLOCK_ELEMS = {"cpu": 2**21, "cuda": 2**26}
_GRAM_PIECES = 64  # CUDA: a [c, R, K] x [c, K, R] product with K ~ 10^6 runs on c blocks unless K is split


def batched_gram(block: torch.Tensor, pieces: int = 1) -> torch.Tensor:
    """block [c, R, K] -> its Gram matrices block block^T [c, R, R], with K cut into `pieces`
    products summed after (the GPU's batched product parallelises over c and R only)."""
    c, R, K = block.shape
    if pieces <= 1 or K < 16 * pieces:
        return block @ block.transpose(1, 2)
    block = torch.nn.functional.pad(block, (0, (-K) % pieces))  # zeros change no inner product
    parts = block.reshape(c, R, pieces, -1).transpose(1, 2)  # [c, pieces, R, K / pieces]
    return (parts @ parts.transpose(-1, -2)).sum(1)


class _RowSink:
    """Receives each parameter's per-example gradient [b, R, numel], in example chunks and
    in parameter order; projects every chunk at once (into each projection) and accumulates
    the exact Gram G G^T [b, R, R] (before projection) for the PEF norms.

    projections: SparseProjections to project into; none keeps the unprojected rows."""

    def __init__(self, projections: list, max_block_elems: int, clock=None):
        self.clock = clock or _StageClock(None)
        self.projections = projections
        self.max_block_elems = max_block_elems
        self.offset = 0
        self.gram = None
        self.projected = []  # [b, R, d_k] per projection
        self.blocks = []  # unprojected [b, R, numel] per parameter

    def add_parameter(self, chunks, b: int, R: int, numel: int, device) -> None:
        """chunks: iterable of (example slice, first column, gradient [c, R, width]): the
        parameter's columns [first, first + width) of examples `slice`, in any cut."""
        if self.gram is None:
            self.gram = torch.zeros((b, R, R), device=device)
            self.projected = [torch.zeros((b, R, p.out_dim), device=device) for p in self.projections]
        whole = None if self.projections else torch.empty((b, R, numel))  # [b, R, numel], unprojected rows
        chunks = iter(chunks)
        while True:
            with self.clock("per_example_grads"):
                rows, first, block = next(chunks, (None, None, None))
            if block is None:
                break
            with self.clock("gram"):
                block = block.float()
                self.gram[rows] += batched_gram(block, pieces=_GRAM_PIECES if block.is_cuda else 1)
            if whole is not None:  # a copy: the block's memory is reused for the next one
                whole[rows, :, first:first + block.shape[2]] = block.detach().cpu()
            with self.clock("projection"):
                for projection, projected in zip(self.projections, self.projected):
                    projected[rows] = projection.project(block, start=self.offset + first) + projected[rows]
        if whole is not None:
            self.blocks.append(whole)
        self.offset += numel

    def result(self) -> list[torch.Tensor]:
        """[b, R, d_k] per projection, or [the unprojected [b, R, n]]."""
        if not self.projections:
            return [torch.cat(self.blocks, dim=2)]
        return [projected.cpu() for projected in self.projected]


class _StageClock:
    """Adds each `with clock(stage):` block's wall seconds to timings[stage] (no-op when None);
    waits for CUDA work so the seconds belong to the stage."""

    def __init__(self, timings: dict | None):
        self.timings = timings

    @contextlib.contextmanager
    def __call__(self, stage: str):
        if self.timings is None:
            yield
            return
        import time

        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        try:
            yield
        finally:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - start


def _linear_owners(model: nn.Module, params) -> dict | None:
    """{param name: (module, 'weight'|'bias')} when every selected parameter belongs to an nn.Linear."""
    owners = {}
    modules = dict(model.named_modules())
    for name, _ in params:
        module_name, _, attr = name.rpartition(".")
        module = modules.get(module_name)
        if not isinstance(module, nn.Linear) or attr not in ("weight", "bias"):
            return None
        owners[name] = (module, attr)
    return owners


@contextlib.contextmanager
def _only_selected_require_grad(model: nn.Module, params):
    """Backward then stops at the earliest selected parameter."""
    saved = {name: p.requires_grad for name, p in model.named_parameters()}
    selected = {name for name, _ in params}
    try:
        for name, p in model.named_parameters():
            p.requires_grad_(name in selected)
        yield
    finally:
        for name, p in model.named_parameters():
            p.requires_grad_(saved[name])


def _hooked_row_gradients(model, batch, task, row_fn, params, owners, sink: _RowSink, activation_module=None,
                          clock=None):
    """Runs the forward and the batched backward; returns (log_probs [b, r], activations or None).

    owners: _linear_owners(model, params)."""
    if owners is None:
        raise ValueError("backend='hooks' needs every selected parameter to belong to an nn.Linear; "
                         "use backend='functional'")
    calls: dict[nn.Module, list] = {m: [] for m, _ in owners.values()}

    def hook(module, inputs, output):
        calls[module].append((inputs[0].detach(), output))

    captured = {}
    handles = [m.register_forward_hook(hook) for m in calls]
    if activation_module is not None:
        handles.append(activation_module.register_forward_hook(
            lambda _m, _inp, out: captured.update(h=_final_token(out))))
    clock = clock or _StageClock(None)
    try:  # layers patched by npeff.cpu_linear then run forward and backward through oneDNN
        with torch.enable_grad(), input_gradients_only(), clock("forward"):
            log_probs = task(model, batch)  # [b, r]
            S = row_fn(log_probs)  # [b, R]
    finally:
        for h in handles:
            h.remove()
    b, R = S.shape
    outputs = [out for m in calls for _, out in calls[m]]
    grad_outputs = torch.eye(R, device=S.device, dtype=S.dtype)[:, None, :].expand(R, b, R)
    with clock("backward"):
        grads = _batched_grad(S, outputs, grad_outputs)  # each [R, B, ..., out]
    by_module, i, buffer = {}, 0, _BlockBuffer()
    for m in calls:
        by_module[m] = []
        for a, _ in calls[m]:
            by_module[m].append((_per_example(a, b), _per_example_rows(grads[i], b)))
            i += 1
    for name, p in params:
        module, attr = owners[name]
        sink.add_parameter(_linear_param_blocks(by_module[module], attr, sink.max_block_elems, buffer),
                           b, R, p.numel(), S.device)
    return log_probs.detach(), captured.get("h")


def _batched_grad(S, outputs, grad_outputs):
    """Gradients of every row of S w.r.t. `outputs`, rows vectorised with vmap."""
    try:
        return torch.autograd.grad(S, outputs, grad_outputs=grad_outputs, is_grads_batched=True,
                                   allow_unused=True, materialize_grads=True)
    except RuntimeError:  # an op without a batching rule: fall back to one backward per row
        per_row = [torch.autograd.grad(S, outputs, grad_outputs=grad_outputs[r], retain_graph=True,
                                       allow_unused=True, materialize_grads=True)
                   for r in range(grad_outputs.shape[0])]
        return [torch.stack(gs) for gs in zip(*per_row)]


def _per_example(a: torch.Tensor, b: int) -> torch.Tensor:
    """Module input [b, ..., in] -> [b, tokens, in] (one batch row per example)."""
    return a.reshape(b, -1, a.shape[-1])


def _per_example_rows(g: torch.Tensor, b: int) -> torch.Tensor:
    """Output gradient [R, b, ..., out] -> [R, b, tokens, out]."""
    return g.reshape(g.shape[0], b, -1, g.shape[-1])


class _BlockBuffer:
    """One buffer that every per-example weight-gradient block of a compute_pefs call is written
    into, in turn; a block is valid until the next `take`. When blocks were up to 2**26 floats,
    each allocated afresh was mapped from the kernel (glibc serves allocations above 32 MiB with
    mmaps), and faulting in and zeroing its pages took longer than computing it (TriviaQA
    stand-in on 2 cores: 13.4M page faults and 26 s in the kernel for 16 examples; the pass
    38.5 s, with this buffer 20.9 s). The CPU's blocks are smaller now (BLOCK_ELEMS), the GPU's
    are not, and reusing one buffer costs nothing in either case."""

    def __init__(self):
        self.flat = None  # [capacity]

    def take(self, shape: tuple, dtype, device) -> torch.Tensor:
        n = math.prod(shape)
        if self.flat is None or self.flat.numel() < n or self.flat.dtype != dtype or self.flat.device != device:
            self.flat = None  # free the old one first
            self.flat = torch.empty(n, dtype=dtype, device=device)
        return self.flat[:n].view(shape)


def _linear_param_blocks(uses, attr: str, max_elems: int, buffer: _BlockBuffer):
    """Per-example, per-row gradient of a Linear's weight [out, in] or bias [out], summed over
    the module's uses, yielded in pieces of at most max_elems (example slice, first column,
    [c, R, width]). A weight is cut into ranges of output rows first, every example in each (a
    row range's columns are contiguous: the projection's hashing and the batched product are
    shared by the most rows), into example chunks only when one output row of every example is
    still too large. A weight's piece is written into `buffer`: use it before asking for the next."""
    a0, g0 = uses[0]
    R, b, _, n_out = g0.shape
    n_in = a0.shape[-1]
    if attr == "bias":
        chunk = max(1, max_elems // max(1, R * n_out))
        for lo in range(0, b, chunk):
            hi = min(b, lo + chunk)
            yield slice(lo, hi), 0, sum(g[:, lo:hi].sum(2).transpose(0, 1) for _, g in uses)  # [c, R, out]
        return
    out_step = min(n_out, max(1, max_elems // (b * R * n_in)))
    chunk = min(b, max(1, max_elems // (R * out_step * n_in)))
    for lo in range(0, b, chunk):
        hi = min(b, lo + chunk)
        c = hi - lo
        for o0 in range(0, n_out, out_step):
            o1 = min(n_out, o0 + out_step)
            # sum_t g[r, e, t, o] a[e, t, i], as one batched product per use: [c, R*w, t] @ [c, t, in]
            total = buffer.take((c, R * (o1 - o0), n_in), g0.dtype, g0.device)
            for k, (a, g) in enumerate(uses):
                left = g[:, lo:hi, :, o0:o1].permute(1, 0, 3, 2).reshape(c, R * (o1 - o0), -1)  # [c, R*w, t]
                right = a[lo:hi].to(g.dtype)  # [c, t, in]
                if k == 0:
                    torch.bmm(left, right, out=total)
                else:
                    total.baddbmm_(left, right)
            yield slice(lo, hi), o0 * n_in, total.view(c, R, (o1 - o0) * n_in)


def _functional_row_gradients(model, batch, task, row_fn, params, sink: _RowSink) -> torch.Tensor:
    from torch.func import functional_call, jacrev, vmap

    names = [name for name, _ in params]
    values = {name: p.detach() for name, p in params}

    def rows_of(theta, example):
        one = {k: v.unsqueeze(0) for k, v in example.items()}
        log_probs = functional_call(_TaskModule(model, task), {f"model.{k}": v for k, v in theta.items()}, (one,))
        return row_fn(log_probs)[0]  # [R]

    with torch.no_grad():  # the plain log-probs; also draws the EPS matrix outside vmap
        log_probs = task(model, batch)
        row_fn(log_probs)
    jac = vmap(jacrev(rows_of), in_dims=(None, 0))(values, dict(batch))  # name -> [b, R, *shape]
    for name in names:
        j = jac[name]  # [b, R, *shape]
        b, R = j.shape[:2]
        sink.add_parameter([(slice(0, b), 0, j.reshape(b, R, -1))], b, R, j[0, 0].numel(), j.device)
    return log_probs


class _TaskModule(nn.Module):
    """Wraps (model, task) so torch.func.functional_call can swap the model's parameters."""

    def __init__(self, model: nn.Module, task: Callable):
        super().__init__()
        self.model = model
        self.task = task

    def forward(self, batch):
        return self.task(self.model, batch)


def _last_block(model: nn.Module) -> nn.Module:
    """The last element of the model's deepest-named ModuleList of blocks (e.g. model.layers)."""
    lists = [m for name, m in model.named_modules()
             if isinstance(m, nn.ModuleList) and name.split(".")[-1] in ("layers", "h", "blocks", "layer")]
    if not lists:
        raise ValueError("could not find the model's transformer blocks; pass module= explicitly")
    return lists[-1][-1]


# ---------------------------------------------------------------- regression outputs
def regression_pef_rows(model: nn.Module, inputs: torch.Tensor, *, selection: ParameterSelection | None = None,
                        projection: SparseProjection | None = None, svd_rank: int | None = None) -> torch.Tensor:
    """LRM-PEF rows of a regression model under a unit-variance Gaussian likelihood.

    With p(y|x) = N(f(x), I), the score is J^T (y - f) and its expectation over y gives
    F = J^T J, J = d f(x) / d theta [o, n]: the rows of J are exact LRM-PEF rows (no
    sampling, unlike the categorical case's sqrt(p) weighting). inputs [m, i] -> G [m, o, n]
    (or [m, svd_rank, ...], projected to [.., d] when a projection is given). Selected
    parameters only (selection defaults to every parameter: toy models have no embeddings).
    """
    from torch.func import functional_call, jacrev, vmap

    selection = selection or ParameterSelection(("*",), ())
    theta = {k: v.detach() for k, v in selection.parameters(model)}

    def output(theta, x):  # [i] -> [o]; parameters not in theta (and buffers) come from the model
        return functional_call(model, theta, (x[None],))[0]

    jac = vmap(jacrev(output), in_dims=(None, 0))(theta, inputs)  # name -> [m, o, *shape]
    G = torch.cat([jac[b.name].reshape(inputs.shape[0], -1, b.numel) for b in selection.layout(model)], dim=-1)
    if svd_rank is not None and svd_rank < G.shape[1]:
        G = reduce_rank(G, svd_rank)
    if projection is not None:
        G = projection.project(G)
    return G.detach()
