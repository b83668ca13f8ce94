"""Rule fit_coefficients: held-out coefficients with the pseudo-Fishers frozen."""
import torch
from _common import start

device = start(snakemake)
from npeff import io  # noqa: E402
from npeff.decompose import fit_coefficients, reconstruction_losses  # noqa: E402

decomposition, dec_attrs = io.read_decomposition(snakemake.input.decomposition)
signals, attrs = io.read_pefs(snakemake.input.signals)
for key in ("projection_seed", "projection_out_dim", "projection_in_dim"):
    if dec_attrs.get(key) != attrs.get(key):
        raise ValueError(f"{snakemake.input.signals} and {snakemake.input.decomposition} disagree on {key}: "
                         f"{attrs.get(key)} vs {dec_attrs.get(key)}")
G, H = torch.from_numpy(signals["G"]), torch.from_numpy(decomposition["H"])
W = fit_coefficients(G, H, n_steps=snakemake.params.steps, device=device)
losses = reconstruction_losses(G, W, H, device=device)
print(f"held-out mean reconstruction loss {losses.mean():.4f}")
io.write_coefficients(snakemake.output[0], W, losses, {
    "decomposition": snakemake.input.decomposition, "signals": snakemake.input.signals,
    "steps": snakemake.params.steps, "method": dec_attrs["method"]}, ids=signals.get("ids"))
