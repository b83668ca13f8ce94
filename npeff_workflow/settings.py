"""The workflow's config sections turned into the library's explicit arguments, and the
Snakemake benchmark files read back (the library takes no config mapping and no Snakemake format)."""
from __future__ import annotations

import csv

FPC_SOLVERS = ("paper_schedule", "l1_optimum")


def npeff_kwargs(decomposition: dict, n_components: int, seed: int) -> dict:
    """npeff.NPEFF's keyword arguments from the config's `decomposition` section."""
    return {"n_components": int(n_components), "n_h_only_steps": decomposition["h_only_steps"],
            "n_joint_steps": decomposition["joint_steps"], "h_only_lr": decomposition["h_only_lr"],
            "joint_lr": decomposition["joint_lr"], "chunk_size": decomposition["chunk_size"], "seed": int(seed)}


def recover_direction(projection, h, fpc: dict, operator_norm: float):
    """The config's `perturbation.fpc` solver on h [d] or [k, d] -> npeff.fpc.FPCResult:
    "paper_schedule" (npeff.fpc.fpc_schedule, Appendix G as run for the perturbations) or
    "l1_optimum" (npeff.fpc.fpc_recover, to its stopping rule). Keys left out take the solver's
    own defaults (Appendix G's)."""
    from npeff.fpc import fpc_recover, fpc_schedule

    solver = fpc.get("solver", "paper_schedule")
    if solver not in FPC_SOLVERS:
        raise ValueError(f"config key 'perturbation.fpc.solver': must be one of {FPC_SOLVERS}, got {solver!r}")
    own = ("inner_iterations",) if solver == "paper_schedule" else ("xtol", "gtol", "max_iter", "max_passes")
    kwargs = {k: fpc[k] for k in ("mu", "gamma", "beta", *own) if k in fpc}
    solve = fpc_schedule if solver == "paper_schedule" else fpc_recover
    return solve(projection, h, operator_norm=operator_norm, **kwargs)


def benchmark_seconds(path) -> float:
    """Wall seconds of a job from the TSV a Snakemake `benchmark:` directive writes."""
    with open(path) as f:
        return float(next(csv.DictReader(f, delimiter="\t"))["s"])
