"""Rule decompose: NPEFF (Algorithm 1) on held-in PEFs or gradients."""
import torch
from _common import start

device = start(snakemake)
from npeff import io  # noqa: E402
from npeff.decompose import NPEFF  # noqa: E402

arrays, attrs = io.read_pefs(snakemake.input[0])
s = snakemake.params.settings
w = snakemake.wildcards
npeff = NPEFF(int(w.C), n_h_only_steps=s["h_only_steps"], n_joint_steps=s["joint_steps"], h_only_lr=s["h_only_lr"],
              joint_lr=s["joint_lr"], chunk_size=s["chunk_size"], seed=int(w.seed), device=device, progress=True)
print(f"decomposing G {arrays['G'].shape} into {w.C} components")
result = npeff.fit(torch.from_numpy(arrays["G"]))
print(f"loss: first {result.loss_history[0]:.4f}, last {result.loss_history[-1]:.4f}")
keep = {k: v for k, v in attrs.items() if k not in ("kind", "ids", "npeff_version")}
io.write_decomposition(snakemake.output[0], result, {**keep, **npeff.settings(), "method": w.method,
                                                     "source_file": snakemake.input[0], "device": device})
