"""Perturbations along recovered pseudo-Fishers (paper Section 3.2, Appendix G).

For a component with projected pseudo-Fisher h:
  1. orthogonal rejection (in the projected space): for every other component i
     in order, with unit vector h_i, if |h . h_i| / ||h|| < threshold, h <- h - (h . h_i) h_i;
  2. FPC recovery of the parameter-space direction u with A u ~ h (npeff.fpc);
  3. perturb the selected parameters by +-magnitude * u / ||u||;
  4. per example, KL(perturbed || original) of the task distribution (the
     direction the authors' code uses); the KL ratio is the mean over the
     component's top examples over the mean over a random baseline set (less the
     component's own top examples, which the paper's 60,000-example pools all but never
     draw), and the larger of the two signs is kept (h h^T does not know h's sign);
  5. the PEF-norm ratio: mean PEF Frobenius norm of the top examples over the
     baseline's, to show the top examples are not just more sensitive overall;
  6. over the perturbed components, the geometric mean of each ratio (the paper's Table 2).
The KL ratio is computed here (`perturbation_effect`); which components, which baseline
examples, the norm ratio and the geometric mean in npeff.analysis.selectivity (torch-free, for
the table makers).

The blocks before the first perturbed parameter do not change, so their
output is computed once per example (`FrozenPrefix`) and each perturbed
forward runs only the blocks from there on.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

from npeff.models import ParameterSelection, unflatten
from npeff.tasks import TaskSpec, build_batch, lm_logits


def reject_similar(H: torch.Tensor, index: int, threshold: float = 0.5) -> torch.Tensor:
    """Row `index` of H [C, d] orthogonally rejected from every other row whose absolute
    cosine with the (current) vector is below `threshold`. Returns [d]."""
    h = H[index].double().clone()
    for i in range(H.shape[0]):
        if i == index:
            continue
        unit = H[i].double() / H[i].double().norm().clamp_min(1e-30)
        dot = h @ unit
        if dot.abs() / h.norm().clamp_min(1e-30) < threshold:
            h = h - dot * unit
    return h.float()


def kl_divergence(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) per row of log-probabilities [b, r] -> [b] (0 * log 0 taken as 0)."""
    p = log_p.exp()
    return (p * (log_p - log_q)).nan_to_num(0.0).sum(-1).clamp_min(0)


def parameter_snapshot(model: nn.Module, selection: ParameterSelection) -> dict:
    """{name: copy} of the selected parameters, for `perturbed` to restore from."""
    return {name: p.detach().clone() for name, p in selection.parameters(model)}


@contextmanager
def perturbed(model: nn.Module, selection: ParameterSelection, delta: torch.Tensor, original: dict | None = None):
    """Adds delta [n] (the selection's flat layout) to the selected parameters, restores them after
    (exactly: from `original`, a parameter_snapshot of the unperturbed model, or a copy taken
    here; a job that perturbs many times takes one snapshot instead of copying n floats each time)."""
    params = dict(selection.parameters(model))
    saved = original if original is not None else parameter_snapshot(model, selection)
    try:
        with torch.no_grad():
            for name, block in unflatten(delta, selection.layout(model)).items():
                params[name].add_(block.to(params[name].device, params[name].dtype))
        yield model
    finally:
        with torch.no_grad():
            for name, p in params.items():
                p.copy_(saved[name])


class _Captured(Exception):
    """Stops a forward once the first perturbed block's input is captured."""


class FrozenPrefix:
    """Caches the input of the first transformer block that holds a selected parameter.

    Works for decoder-only models with `model.model.layers` (Llama, SmolLM2) that
    accept `inputs_embeds`; for any other model (or a selection touching the
    embeddings) `start` is 0 and every forward runs in full.
    """

    def __init__(self, model: nn.Module, selection: ParameterSelection):
        self.model = model
        base = getattr(model, "model", None)
        layers = getattr(base, "layers", None)
        self.base, self.layers, self.start = base, layers, 0
        if not isinstance(layers, nn.ModuleList) or not hasattr(base, "embed_tokens"):
            return
        selected = {id(p) for _, p in selection.parameters(model)}
        first = next((i for i, layer in enumerate(layers) if any(id(p) in selected for p in layer.parameters())),
                     None)
        before = list(base.embed_tokens.parameters()) + [p for layer in layers[:first or 0] for p in layer.parameters()]
        if first is not None and not any(id(p) in selected for p in before):
            self.start = first

    @torch.no_grad()
    def encode(self, batch: dict) -> dict:
        """The batch, plus `inputs_embeds`: the hidden states entering block `start` [B, T, h]."""
        if self.start == 0:
            return dict(batch)
        captured = {}

        def grab(module, args, kwargs):
            captured["h"] = args[0] if args else kwargs["hidden_states"]
            raise _Captured

        handle = self.layers[self.start].register_forward_pre_hook(grab, with_kwargs=True)
        try:
            lm_logits(self.model, batch, keep_last=1)
        except _Captured:
            pass
        finally:
            handle.remove()
        return {**batch, "inputs_embeds": captured["h"]}

    @torch.no_grad()
    def run(self, task, encoded: dict) -> torch.Tensor:
        """task(model, batch) -> log_probs [b, r], running only blocks start.. on cached inputs."""
        if self.start == 0:
            return task(self.model, encoded)
        full = self.base.layers
        self.base.layers = nn.ModuleList(list(full)[self.start:])
        try:
            return task(self.model, encoded)
        finally:
            self.base.layers = full


def encode_texts(prefix: FrozenPrefix, spec: TaskSpec, tokenizer, texts: list[str], label_names,
                 batch_size: int) -> list[dict]:
    """The task's token batches of `texts`, batch_size at a time, on the model's device and
    encoded up to the first perturbed block (FrozenPrefix.encode)."""
    device = next(prefix.model.parameters()).device
    return [prefix.encode({k: v.to(device) for k, v in
                           build_batch(spec, tokenizer, texts[lo:lo + batch_size], label_names).items()})
            for lo in range(0, len(texts), batch_size)]


def unit_direction(u: torch.Tensor, magnitude: float, in_place: bool = False) -> torch.Tensor:
    """u [n] rescaled to L2 norm `magnitude`; in_place scales u itself (at n = 10^8 a copy is
    another 425 MB to allocate and fault in, per perturbed component)."""
    norm = u.norm()
    if norm == 0:
        raise ValueError("the recovered direction is zero; FPC found nothing to perturb along")
    return u.mul_(magnitude / norm) if in_place else u * (magnitude / norm)


def check_stored_log_probs(recomputed: torch.Tensor, stored: torch.Tensor, source, max_kl: float = 1e-4) -> None:
    """Raises unless stored log-probs [b, r] (a signals pass's, from `source`) are the model's own:
    recomputed [b, r] from the same examples. They come from other batches (other padding), so
    they agree to float32 rounding, KL ~1e-10; another model's or task's differ by far more."""
    if recomputed.shape != stored.shape:
        raise ValueError(f"{source} stores log-probs over {stored.shape[-1]} categories, the task has "
                         f"{recomputed.shape[-1]}")
    kl = float(kl_divergence(recomputed.float(), stored.float()).max())
    if not kl <= max_kl:
        raise ValueError(f"{source} stores log-probs that are not this model's on the same examples (KL up to "
                         f"{kl:.2e}, more than {max_kl:g}): were its PEFs computed with another model or task?")


def perturbation_effect(prefix: FrozenPrefix, task, selection: ParameterSelection, direction: torch.Tensor,
                        top_batches: list[dict], base_batches: list[dict], originals: dict,
                        snapshot: dict | None = None, top_in_baseline: torch.Tensor | None = None) -> dict:
    """KL ratios for +direction and -direction; returns the better sign's numbers.

    base_batches: the baseline, FrozenPrefix-encoded; originals maps id(batch) to the unperturbed
    log_probs [b, r]; snapshot: the unperturbed parameters (parameter_snapshot).
    top_in_baseline: bool [n_base] in base_batches' order, True where a baseline example is one of
    the component's top examples. Those are left out of the baseline mean: in the paper's pools
    (1,000 random of 60,000) a baseline holds ~0.3 of a component's top 16, in a pool of a few
    hundred it holds half of them or all, and counting them twice pulls the ratio towards 1.
    kl_ratio_with_top keeps them, for comparison. Their KLs are also the top mean's: each
    example is run once per sign, so top_batches holds only the top examples the baseline does
    not (every top example when top_in_baseline is None; may be empty)."""
    best = None
    for sign in (1.0, -1.0):
        with perturbed(prefix.model, selection, sign * direction, snapshot):
            kl_base = torch.cat([kl_divergence(prefix.run(task, b), originals[id(b)]) for b in base_batches])
            kl_outside = [kl_divergence(prefix.run(task, b), originals[id(b)]) for b in top_batches]
        in_base = torch.zeros(len(kl_base), dtype=torch.bool) if top_in_baseline is None else top_in_baseline
        in_base = in_base.to(kl_base.device)
        kl_top = torch.cat(kl_outside + [kl_base[in_base]])  # [n_top]
        others = kl_base[~in_base]  # [n_base - n_top_in_baseline]
        if others.numel() == 0:
            raise ValueError("every baseline example is a top example of the component; no baseline is left")
        if kl_top.numel() == 0:
            raise ValueError("no top examples: top_batches is empty and top_in_baseline marks none")
        ratio = float(kl_top.mean() / others.mean().clamp_min(1e-30))
        if best is None or ratio > best["kl_ratio"]:
            best = {"sign": int(sign), "kl_ratio": ratio, "kl_top": float(kl_top.mean()),
                    "kl_baseline": float(others.mean()),
                    "kl_ratio_with_top": float(kl_top.mean() / kl_base.mean().clamp_min(1e-30))}
    return best


def perturbation_inputs_differ(H_a: torch.Tensor, W_a, H_b: torch.Tensor, W_b, top_k: int, min_coefficient: float,
                               threshold: float = 0.5, tolerance: float = 1e-4) -> str | None:
    """Why two decompositions (H [C, d], W [m, C] as numpy) would give different perturbation
    experiments, or None where they give the same one: the same components with the same top
    examples (so the same random components and baseline are drawn), and each such component's
    rejected direction (reject_similar) the same up to sign (both signs are tried) within
    1 - |cos| <= tolerance. Used where two methods decompose the same matrices (NPEFF and G-NPEFF
    on a two-label task), to perturb once."""
    from npeff.analysis.tunings import top_examples  # torch-free; imported here to keep this module's imports small

    if H_a.shape != H_b.shape or W_a.shape != W_b.shape:
        return f"shapes differ: H {tuple(H_a.shape)} vs {tuple(H_b.shape)}, W {W_a.shape} vs {W_b.shape}"
    tops_a, tops_b = top_examples(W_a, top_k, min_coefficient), top_examples(W_b, top_k, min_coefficient)
    for c, (top_a, top_b) in enumerate(zip(tops_a, tops_b)):
        if (top_a is None) != (top_b is None) or (top_a is not None and set(top_a) != set(top_b)):
            return f"component {c} has other top examples"
    for c, top in enumerate(tops_a):
        if top is None:
            continue
        a, b = reject_similar(H_a, c, threshold).double(), reject_similar(H_b, c, threshold).double()  # [d]
        cosine = float((a @ b).abs() / (a.norm() * b.norm()).clamp_min(1e-300))
        if 1 - cosine > tolerance:
            return f"component {c}'s rejected directions differ: |cos| {cosine:.6f}"
    return None
