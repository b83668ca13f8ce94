"""Rule decompose: NPEFF (Algorithm 1) on held-in PEFs or gradients.

With decomposition.gpus > 1 the examples are split across that many processes launched
with torchrun (npeff/distributed.py, Appendix C.3).
"""
import json
import subprocess
import sys

import torch
from _common import start, subprocess_env

device = start(snakemake)
from npeff import io  # noqa: E402
from npeff.decompose import NPEFF  # noqa: E402
from npeff.runtime import device_name  # noqa: E402
from npeff_workflow.settings import npeff_kwargs  # noqa: E402

s = snakemake.params.settings
w = snakemake.wildcards
kwargs = npeff_kwargs(s, w.C, w.seed)
if s["gpus"] > 1:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={s['gpus']}",
               "-m", "npeff.distributed", snakemake.input[0], snakemake.output[0], json.dumps(kwargs),
               json.dumps({"method": w.method})]
    print(" ".join(command))
    subprocess.run(command, check=True, stdout=sys.stdout, stderr=sys.stderr, env=subprocess_env())
else:
    arrays, attrs = io.read_pefs(snakemake.input[0])
    npeff = NPEFF(**kwargs, device=device, progress=True)
    print(f"decomposing G {arrays['G'].shape} into {w.C} components")
    result = npeff.fit(torch.from_numpy(arrays["G"]))
    print(f"loss: first {result.loss_history[0]:.4f}, last {result.loss_history[-1]:.4f}")
    io.write_decomposition(snakemake.output[0], result, {**attrs, **npeff.settings(), "method": w.method,
                                                         "source_file": snakemake.input[0], "device": device,
                                                         "device_name": device_name(device)})
