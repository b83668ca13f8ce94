"""Parameter selection: which parameters the PEFs are taken over.

The flat parameter vector is the concatenation, in model.named_parameters()
order, of every selected parameter flattened row-major; `layout` records the
offsets so a recovered parameter-space vector can be mapped back to tensors.
"""
from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

import torch

# As the paper (Section 3.1, after Marks et al. 2024): ignore the embeddings
# (and a tied or separate unembedding) and the normalisation layers.
DEFAULT_EXCLUDE = ("*embed*", "*lm_head*", "*wte*", "*wpe*", "*norm*", "*ln_*", "*layernorm*")


@dataclass(frozen=True)
class ParameterBlock:
    name: str
    offset: int
    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n


@dataclass(frozen=True)
class ParameterSelection:
    """Selects parameters by fnmatch patterns on their names.

    A parameter is selected when it matches at least one `include` pattern and
    no `exclude` pattern (matching is case-insensitive).
    """

    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE

    def parameters(self, model: torch.nn.Module) -> list[tuple[str, torch.nn.Parameter]]:
        chosen = [(name, p) for name, p in model.named_parameters()
                  if any(fnmatchcase(name.lower(), pat.lower()) for pat in self.include)
                  and not any(fnmatchcase(name.lower(), pat.lower()) for pat in self.exclude)]
        if not chosen:
            names = [n for n, _ in model.named_parameters()][:8]
            raise ValueError(f"parameter selection include={list(self.include)} exclude={list(self.exclude)} "
                             f"matches no parameter; the model's parameters start with {names}")
        return chosen

    def layout(self, model: torch.nn.Module) -> list[ParameterBlock]:
        blocks, offset = [], 0
        for name, p in self.parameters(model):
            blocks.append(ParameterBlock(name, offset, tuple(p.shape)))
            offset += p.numel()
        return blocks

    def n_parameters(self, model: torch.nn.Module) -> int:
        return sum(p.numel() for _, p in self.parameters(model))

    def attrs(self) -> dict:
        return {"param_include": list(self.include), "param_exclude": list(self.exclude)}


def unflatten(vector: torch.Tensor, layout: list[ParameterBlock]) -> dict[str, torch.Tensor]:
    """Split a flat parameter-space vector [n] into named tensors."""
    n = sum(b.numel for b in layout)
    if vector.shape != (n,):
        raise ValueError(f"vector has shape {tuple(vector.shape)}, the selection has {n} parameters")
    return {b.name: vector[b.offset:b.offset + b.numel].reshape(b.shape) for b in layout}
