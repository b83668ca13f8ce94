"""Rule decompose: NPEFF (Algorithm 1) on held-in PEFs or gradients.

With decomposition.gpus > 1 the examples are split across that many processes launched
with torchrun (npeff/distributed.py, Appendix C.3).
"""
import json
import subprocess
import sys

import torch

from _common import run_rule, subprocess_env  # first: puts the repository on sys.path
from npeff import io
from npeff.decompose import NPEFF
from npeff.runtime import device_name
from npeff_workflow.settings import npeff_kwargs


def main(*, signals, outputs, settings, method, C, seed, device):
    """signals: held-in PEFs (npeff) or gradients (gnpeff); settings: the config's `decomposition`
    section plus `gpus`; writes outputs[0]."""
    kwargs = npeff_kwargs(settings, C, seed)
    if settings["gpus"] > 1:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   f"--nproc_per_node={settings['gpus']}", "-m", "npeff.distributed", signals, outputs[0],
                   json.dumps(kwargs), json.dumps({"method": method})]
        print(" ".join(command))
        subprocess.run(command, check=True, stdout=sys.stdout, stderr=sys.stderr, env=subprocess_env())
        return
    arrays, attrs = io.read_pefs(signals)
    npeff = NPEFF(**kwargs, device=device, progress=True)
    print(f"decomposing G {arrays['G'].shape} into {C} components")
    result = npeff.fit(torch.from_numpy(arrays["G"]))
    print(f"loss: first {result.loss_history[0]:.4f}, last {result.loss_history[-1]:.4f}")
    io.write_decomposition(outputs[0], result, {**attrs, **npeff.settings(), "method": method,
                                                "source_file": signals, "device": device,
                                                "device_name": device_name(device)})


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
