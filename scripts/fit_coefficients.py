"""Rule fit_coefficients: held-out coefficients with the pseudo-Fishers frozen."""
import torch

from _common import run_rule  # first: puts the repository on sys.path
from npeff import io
from npeff.decompose import fit_coefficients, reconstruction_losses


def main(*, decomposition, signals, outputs, steps, device):
    """signals: the held-out PEFs (or gradients) of the decomposition's kind; steps: W-only updates."""
    arrays, dec_attrs = io.read_decomposition(decomposition)
    held_out, attrs = io.read_pefs(signals)
    for key in ("projection_seed", "projection_out_dim", "projection_in_dim", "projection_density", "projection_version"):
        if dec_attrs.get(key) != attrs.get(key):
            raise ValueError(f"{signals} and {decomposition} disagree on {key}: "
                             f"{attrs.get(key)} vs {dec_attrs.get(key)}")
    G, H = torch.from_numpy(held_out["G"]), torch.from_numpy(arrays["H"])
    W = fit_coefficients(G, H, n_steps=steps, device=device)
    losses = reconstruction_losses(G, W, H, device=device)
    print(f"held-out mean reconstruction loss {losses.mean():.4f}")
    io.write_coefficients(outputs[0], W, losses, {
        "decomposition": decomposition, "signals": signals, "steps": steps, "method": dec_attrs["method"]},
        ids=held_out.get("ids"))


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
