"""Small conversions shared by the public API: numpy or torch in, torch out."""
from __future__ import annotations

import numpy as np
import torch


def as_tensor(a, *, name: str, ndim: int | None = None, dtype=torch.float32) -> torch.Tensor:
    """A float torch tensor view of `a` (numpy array or tensor), shape-checked."""
    if isinstance(a, np.ndarray):
        a = torch.from_numpy(a)
    if not isinstance(a, torch.Tensor):
        raise TypeError(f"{name} must be a numpy array or torch tensor, got {type(a).__name__}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(a.shape)}")
    if not torch.is_floating_point(a):
        raise TypeError(f"{name} must hold floating point values, got {a.dtype}")
    return a.to(dtype)


def unit_norm(x: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """x scaled to unit L2 norm along `dim` (rows by default); zero slices stay zero."""
    return x / x.norm(dim=dim, keepdim=True).clamp_min(1e-30)


def resolve_device(device) -> torch.device:
    """None means CUDA when present, else CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def count_nonzero(x: torch.Tensor) -> int:
    """The non-zero entries of x. On the CPU through numpy: torch's count_nonzero took 0.46 s for
    10^8 floats on one core, numpy's 0.05 s (a perturbed direction is counted once per component)."""
    if x.device.type == "cpu":
        return int(np.count_nonzero(x.detach().numpy()))
    return int(torch.count_nonzero(x))
