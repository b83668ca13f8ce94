"""Rule train_sae: TopK SAE on held-in final-token activations (Appendix I).

Writes the SAE as a decomposition (W: held-in latents, H: decoder directions [C, h],
plus the encoder and biases) and the held-out latents as coefficients.
"""
import torch

from _common import run_rule  # first: puts the repository on sys.path
from npeff import io
from npeff.baselines.sae import sae_latents, train_topk_sae
from npeff.runtime import device_name


def main(*, heldin, heldout, outputs, settings, C, seed, device):
    """heldin / heldout: activation files; settings: the config's `sae` section; C latents."""
    s, C, seed = settings, int(C), int(seed)
    acts_in, attrs = io.read_artifact(heldin, "activations")
    acts_out, _ = io.read_artifact(heldout, "activations")
    training = train_topk_sae(torch.from_numpy(acts_in["acts"]), C, s["k"], lr=s["lr"], batch_size=s["batch_size"],
                              n_batches=s["n_batches"], seed=seed, device=device)
    sae = training.sae
    print(f"SAE: {s['n_batches']} batches, MSE first {training.loss_history[0]:.4f}, "
          f"last {training.loss_history[-1]:.4f}")
    z_in, _ = sae_latents(sae, torch.from_numpy(acts_in["acts"]))
    io.write_artifact(outputs.decomposition, "decomposition", {
        "W": z_in, "H": sae.decoder.detach().T, "encoder": sae.encoder.detach(), "b_enc": sae.b_enc.detach(),
        "b_dec": sae.b_dec.detach(), "loss_history": torch.tensor(training.loss_history),
        "step_seconds": torch.tensor(training.step_seconds)},
        {**attrs, "method": "sae", "n_components": C, "seed": seed, **s, "device": device,
         "device_name": device_name(device), "source_file": heldin})
    z_out, errors = sae_latents(sae, torch.from_numpy(acts_out["acts"]))
    io.write_coefficients(outputs.coefficients, z_out, errors, {
        "decomposition": outputs.decomposition, "signals": heldout, "method": "sae"},
        ids=acts_out.get("ids"))


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
