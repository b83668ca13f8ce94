"""Multi-process NPEFF decomposition (Appendix C.3), launched with torchrun:

    torchrun --standalone --nproc_per_node N -m npeff.distributed PEFS.h5 OUT.h5 NPEFF_KWARGS_JSON [ATTRS_JSON]

NPEFF_KWARGS_JSON holds npeff.NPEFF's keyword arguments (n_components, n_h_only_steps, ...);
ATTRS_JSON, extra attributes for the output file.

Each process reads its contiguous slice of the examples from PEFS.h5, runs NPEFF.fit on its
GPU (or the CPU with gloo when there is none), H's gradient is all-reduced every step, and
rank 0 gathers W and writes the decomposition. The result equals a one-process run.
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import torch
import torch.distributed as dist

from npeff import io
from npeff.runtime import device_name
from npeff.decompose import NPEFF


def main(argv: list[str]) -> None:
    pefs_path, out_path, kwargs = argv[0], argv[1], json.loads(argv[2])
    extra_attrs = json.loads(argv[3]) if len(argv) > 3 else {}
    use_cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if use_cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if use_cuda else "cpu"
    if use_cuda:
        torch.cuda.set_device(device)
    _, _, m = io.pef_rows(pefs_path, 0, 0)
    bounds = np.linspace(0, m, world + 1).astype(int)
    G, attrs, _ = io.pef_rows(pefs_path, bounds[rank], bounds[rank + 1])
    npeff = NPEFF(**kwargs, device=device, progress=rank == 0)
    result = npeff.fit(torch.from_numpy(G))
    parts = [None] * world
    dist.all_gather_object(parts, (result.W, result.pef_norms))
    if rank == 0:
        result.W = torch.cat([w for w, _ in parts])
        result.pef_norms = torch.cat([n for _, n in parts])
        io.write_decomposition(out_path, result, {**attrs, **npeff.settings(), **extra_attrs,
                                                  "source_file": pefs_path, "device": device, "n_processes": world,
                                                  "device_name": device_name(device)})
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1:])
