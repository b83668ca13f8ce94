"""Shared start-up of the rule scripts (Snakemake puts this folder on sys.path).

Each script is a `main(...)` with explicit inputs, outputs and parameters, and ends with the
shim `if __name__ == "__main__": run_rule(main, snakemake)`, so a test can import it and call
main without Snakemake.
"""
import inspect
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


def rule_arguments(main, snakemake, device: str | None = None) -> dict:
    """main's arguments, each taken by its name from the rule: `inputs` / `outputs` (the whole
    input / output lists), `device`, `threads`, else the one of the rule's named inputs, outputs,
    params and wildcards that has that name (two with the same name are an error)."""
    sources = {kind: dict(getattr(snakemake, kind).items()) for kind in ("input", "output", "params", "wildcards")}
    arguments = {}
    for name, parameter in inspect.signature(main).parameters.items():
        special = {"inputs": snakemake.input, "outputs": snakemake.output, "device": device,
                   "threads": snakemake.threads}
        if name in special:
            arguments[name] = special[name]
            continue
        found = [kind for kind, values in sources.items() if name in values]
        if len(found) > 1:
            raise TypeError(f"{main.__module__}.main's argument {name!r} is named by the rule's {found}")
        if found:
            arguments[name] = sources[found[0]][name]
        elif parameter.default is inspect.Parameter.empty:
            raise TypeError(f"{main.__module__}.main's argument {name!r} is none of the rule's inputs, outputs, "
                            "params or wildcards")
    return arguments


def run_rule(main, snakemake):
    """The scripts' shim: set up the job (start), then call main with the rule's arguments."""
    device = start(snakemake)
    return main(**rule_arguments(main, snakemake, device))
