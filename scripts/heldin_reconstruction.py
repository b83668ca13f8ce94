"""Rule heldin_reconstruction: each held-in example's reconstruction loss under its decomposition
(Table 5's Recon-In; the held-out losses come with the coefficients), as JSON."""
import json
from pathlib import Path

import torch

from _common import run_rule  # first: puts the repository on sys.path
from npeff import io
from npeff._atomic import atomic_path
from npeff.decompose import reconstruction_losses


def main(*, decomposition, pefs, outputs, device):
    """decomposition: an NPEFF decomposition of the held-in PEFs `pefs`."""
    arrays, attrs = io.read_decomposition(decomposition)
    signals, _ = io.read_pefs(pefs)
    if str(attrs.get("method")) != "npeff" or signals["G"].shape[0] != arrays["W"].shape[0]:
        raise ValueError(f"{decomposition} is not an NPEFF decomposition of the {signals['G'].shape[0]} PEFs of {pefs}")
    losses = reconstruction_losses(torch.from_numpy(signals["G"]), torch.from_numpy(arrays["W"]),
                                   torch.from_numpy(arrays["H"]), device=device)  # [m]
    with atomic_path(Path(outputs[0])) as tmp:
        tmp.write_text(json.dumps({"mean_loss": float(losses.mean()), "losses": losses.tolist()}))
    print(f"held-in mean reconstruction loss {float(losses.mean()):.4f}")


if __name__ == "__main__":
    run_rule(main, snakemake)  # noqa: F821 (defined by Snakemake's script directive)
