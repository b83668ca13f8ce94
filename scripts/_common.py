"""Shared start-up of the rule scripts (Snakemake puts this folder on sys.path)."""
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))  # the npeff package, installed or not


def subprocess_env(base=None) -> dict:
    """The environment for a subprocess that imports npeff (torchrun workers): the repository
    first on PYTHONPATH, so it needs neither an install nor the repository as working directory."""
    env = dict(os.environ if base is None else base)
    inherited = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *inherited])
    return env


def start(snakemake):
    """Send output to the rule's log, use the rule's threads; return the torch device name."""
    log = open(snakemake.log[0], "w", buffering=1)
    sys.stdout = sys.stderr = log
    import numba
    import torch

    threads = max(1, snakemake.threads)
    torch.set_num_threads(threads)
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"device: {device}, threads: {threads}")
    return device
