"""TopK sparse autoencoder on final-token activations (Gao et al. 2024; paper Appendix I).

    z = TopK_k(ReLU(W_enc (x - b_dec) + b_enc))      latents [b, C], k non-zero
    x_hat = W_dec z + b_dec                          reconstruction [b, h]

Trained with MSE on activations normalised to unit L2 norm. The decoder starts
as the encoder's transpose; encoder rows and decoder columns stay on the unit
sphere: each gradient is projected onto the sphere's tangent space before Adam
(Bricken et al. 2023), and the rows/columns are renormalised after each step.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from npeff._tensors import as_tensor, unit_norm


@dataclass
class SAETraining:
    """A trained SAE and its per-batch MSE and seconds."""

    sae: "TopKSAE"
    loss_history: list[float]
    step_seconds: list[float]


class TopKSAE(torch.nn.Module):
    """encoder [C, h] (unit rows), decoder [h, C] (unit columns), biases b_enc [C], b_dec [h]."""

    def __init__(self, n_inputs: int, n_latents: int, k: int, seed: int = 0):
        super().__init__()
        if not 1 <= k < n_latents:
            raise ValueError(f"TopK SAE needs 1 <= k < number of latents, got k={k}, latents={n_latents}")
        gen = torch.Generator().manual_seed(seed)
        enc = unit_norm(torch.randn(n_latents, n_inputs, generator=gen), dim=1)
        self.k = k
        self.encoder = torch.nn.Parameter(enc)
        self.decoder = torch.nn.Parameter(enc.T.clone())
        self.b_enc = torch.nn.Parameter(torch.zeros(n_latents))
        self.b_dec = torch.nn.Parameter(torch.zeros(n_inputs))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x [b, h] -> z [b, C] with at most k positive entries per row."""
        pre = torch.relu((x - self.b_dec) @ self.encoder.T + self.b_enc)
        top = pre.topk(self.k, dim=1)
        return torch.zeros_like(pre).scatter_(1, top.indices, top.values)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encode(x)
        return z @ self.decoder.T + self.b_dec, z

    @torch.no_grad()
    def project_gradients_to_tangent(self) -> None:
        """Remove each unit row's (column's) radial gradient component: g -= (g . w) w."""
        for p, dim in ((self.encoder, 1), (self.decoder, 0)):
            if p.grad is not None:
                p.grad -= (p.grad * p).sum(dim, keepdim=True) * p

    @torch.no_grad()
    def renormalise(self) -> None:
        self.encoder.copy_(unit_norm(self.encoder, dim=1))
        self.decoder.copy_(unit_norm(self.decoder, dim=0))


def normalise_activations(acts) -> torch.Tensor:
    """[m, h] activations scaled to unit L2 norm, as for training and top examples."""
    return unit_norm(as_tensor(acts, name="activations"), dim=1)


def train_topk_sae(acts, n_latents: int, k: int, *, lr: float = 1e-3, batch_size: int = 4096,
                   n_batches: int = 51200, seed: int = 0, device="cpu") -> SAETraining:
    """Train on unit-norm activations [m, h]; each batch samples examples with replacement."""
    X = normalise_activations(acts).to(device)
    sae = TopKSAE(X.shape[1], n_latents, k, seed=seed).to(device)
    opt = torch.optim.Adam(sae.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    losses, seconds = [], []
    for _ in range(n_batches):
        start = time.perf_counter()
        batch = X[torch.randint(X.shape[0], (batch_size,), generator=gen).to(device)]
        recon, _ = sae(batch)
        loss = ((recon - batch) ** 2).sum(1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        sae.project_gradients_to_tangent()
        opt.step()
        sae.renormalise()
        losses.append(float(loss.detach()))
        seconds.append(time.perf_counter() - start)
    return SAETraining(sae.cpu(), losses, seconds)


@torch.no_grad()
def sae_latents(sae: TopKSAE, acts) -> tuple[torch.Tensor, torch.Tensor]:
    """(latents [m, C], per-example squared reconstruction error [m]) on unit-norm activations."""
    X = normalise_activations(acts)
    recon, z = sae(X)
    return z, ((recon - X) ** 2).sum(1)
