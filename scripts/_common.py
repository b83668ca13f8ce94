"""Shared start-up of the rule scripts (Snakemake puts this folder on sys.path)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the npeff package, installed or not


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
