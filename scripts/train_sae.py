"""Rule train_sae: TopK SAE on held-in final-token activations (Appendix I).

Writes the SAE as a decomposition (W: held-in latents, H: decoder directions [C, h],
plus the encoder and biases) and the held-out latents as coefficients.
"""
import torch
from _common import start

device = start(snakemake)
from npeff import io  # noqa: E402
from npeff.baselines.sae import sae_latents, train_topk_sae  # noqa: E402
from npeff.runtime import device_name  # noqa: E402

s, w = snakemake.params.settings, snakemake.wildcards
C, seed = int(w.C), int(w.seed)
heldin, attrs = io.read_artifact(snakemake.input.heldin, "activations")
heldout, _ = io.read_artifact(snakemake.input.heldout, "activations")
training = train_topk_sae(torch.from_numpy(heldin["acts"]), C, s["k"], lr=s["lr"], batch_size=s["batch_size"],
                          n_batches=s["n_batches"], seed=seed, device=device)
sae = training.sae
print(f"SAE: {s['n_batches']} batches, MSE first {training.loss_history[0]:.4f}, last {training.loss_history[-1]:.4f}")
z_in, _ = sae_latents(sae, torch.from_numpy(heldin["acts"]))
io.write_artifact(snakemake.output.decomposition, "decomposition", {
    "W": z_in, "H": sae.decoder.detach().T, "encoder": sae.encoder.detach(), "b_enc": sae.b_enc.detach(),
    "b_dec": sae.b_dec.detach(), "loss_history": torch.tensor(training.loss_history),
    "step_seconds": torch.tensor(training.step_seconds)},
    {**attrs, "method": "sae", "n_components": C, "seed": seed, **s, "device": device,
     "device_name": device_name(device), "source_file": snakemake.input.heldin})
z_out, errors = sae_latents(sae, torch.from_numpy(heldout["acts"]))
io.write_coefficients(snakemake.output.coefficients, z_out, errors, {
    "decomposition": snakemake.output.decomposition, "signals": snakemake.input.heldout, "method": "sae"},
    ids=heldout.get("ids"))
