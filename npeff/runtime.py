"""Timing helpers for the runtime tables (Appendix E, Tables 7-8)."""
from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable

import torch


def device_name(device: str | torch.device) -> str:
    """'NVIDIA H100 80GB HBM3', or 'CPU (x86_64, 2 threads)'."""
    if torch.device(device).type == "cuda":
        return torch.cuda.get_device_name(torch.device(device))
    return f"CPU ({platform.machine() or 'unknown'}, {torch.get_num_threads()} threads of {os.cpu_count()})"


def is_timing_attribute(name: str) -> bool:
    """Whether an artifact attribute is one seconds_per_example wrote (it differs between runs)."""
    return name.startswith("seconds_per_example_") or name == "timing_device"


def is_timing_dataset(name: str) -> bool:
    """Whether an artifact dataset holds wall times (a decomposition's step_seconds, npeff.io)."""
    return name == "step_seconds"


def seconds_per_example(jobs: dict[str, Callable[[], object]], n_examples: int, device) -> dict:
    """Wall time of each job divided by the examples it covers, keyed seconds_per_example_<name>,
    plus timing_device. CUDA work is synchronised so the clock sees it."""
    timing = {}
    for name, job in jobs.items():
        _sync(device)
        start = time.perf_counter()
        job()
        _sync(device)
        timing[f"seconds_per_example_{name}"] = (time.perf_counter() - start) / n_examples
    return {**timing, "timing_device": device_name(device)}


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
