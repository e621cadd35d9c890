"""Spectral (Neural-Eigenmap) regularizer for diffusion training (spectral paper, Eqs. 14-15).

For two i.i.d. perturbations x_t, x_t' of the same clean batch at the same t, a time-conditioned
head psi(., t) maps a chosen hidden state of the denoiser to K eigenfunction values. With
psi, psi' in R^{B x K} (rows = samples) and R = psi^T psi' / B (Eq. 10, K x K):

    L_s = -Tr(R) + alpha * sum_j sum_{i<j} ( (sg(psi)^T psi' / B)_{i,j} )^2          (Eq. 14)
    L   = L_diff + lambda * L_s                                                     (Eq. 15)

The head follows "Implementation Details": a two-layer MLP whose hidden layer is modulated
by the timestep (DiT adaLN: LayerNorm then (1 + scale), shift from an MLP of the timestep
embedding), L2-BN on the output (each eigenfunction has unit mean square over the batch,
NeuralEF) and, optionally, each embedding normalised to unit length to bound its magnitude.
The hidden state is read with a forward hook on a named sub-module of the denoiser (REPA's
recipe) and mean-pooled over space / tokens.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

TIME_EMBED_DIM = 128  # sinusoidal timestep features fed to the head's modulation MLP


@dataclass
class SpectralConfig:
    enabled: bool = False  # add lambda * L_s to the prior's denoising loss
    weight: float = 0.1  # lambda of Eq. 15
    alpha: float = 1.0  # weight of the orthogonality term of Eq. 14
    num_eigenfunctions: int = 32  # K
    hidden: int = 256  # width of the head's hidden layer
    layer: str = "mid_block"  # dotted name of the denoiser sub-module whose output is aligned
    normalize_rows: bool = True  # scale each psi(x_t, t) to unit L2 norm after L2-BN


def l2_batch_norm(psi: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """L2-BN: each column (eigenfunction) divided by its root mean square over the batch ([B, K])."""
    return psi / psi.pow(2).mean(dim=0, keepdim=True).add(eps).sqrt()


def spectral_loss(psi: torch.Tensor, psi_prime: torch.Tensor, alpha: float) -> torch.Tensor:
    """Eq. 14 for one t: psi, psi' [B, K] of the two perturbed views."""
    batch = psi.shape[0]
    alignment = torch.einsum("bk,bk->", psi, psi_prime) / batch  # Tr(psi^T psi' / B)
    cross = psi.detach().T @ psi_prime / batch  # [K, K], stop-gradient on the first factor
    orthogonality = torch.triu(cross, diagonal=1).pow(2).sum()  # sum_j sum_{i<j} R_ij^2
    return -alignment + alpha * orthogonality


class SpectralHead(nn.Module):
    """psi(h, t): pooled hidden state [B, C] and timestep [B] -> [B, K] (see module docstring)."""

    def __init__(self, in_channels: int, hidden: int, num_eigenfunctions: int, normalize_rows: bool = True):
        super().__init__()
        self.inner = nn.Linear(in_channels, hidden)
        self.norm = nn.LayerNorm(hidden, elementwise_affine=False)
        self.modulation = nn.Sequential(nn.Linear(TIME_EMBED_DIM, hidden), nn.SiLU(), nn.Linear(hidden, 2 * hidden))
        self.outer = nn.Linear(hidden, num_eigenfunctions)
        self.normalize_rows = normalize_rows
        nn.init.zeros_(self.modulation[-1].weight)  # adaLN-zero style start: no modulation
        nn.init.zeros_(self.modulation[-1].bias)

    def forward(self, hidden_state: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        from diffusers.models.embeddings import get_timestep_embedding

        pooled = pool_hidden_state(hidden_state)  # [B, C]
        time = get_timestep_embedding(timesteps.float().reshape(-1), TIME_EMBED_DIM).to(pooled.dtype)  # [B, 128]
        shift, scale = self.modulation(time).chunk(2, dim=-1)  # [B, H] each
        inner = self.norm(self.inner(pooled)) * (1.0 + scale) + shift  # [B, H]
        psi = l2_batch_norm(self.outer(F.gelu(inner)))  # [B, K]
        return F.normalize(psi, dim=-1) if self.normalize_rows else psi


def pool_hidden_state(hidden_state: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] (UNet) or [B, N, C] (DiT tokens) or [B, C] -> [B, C]."""
    if hidden_state.dim() == 4:
        return hidden_state.mean(dim=(2, 3))
    if hidden_state.dim() == 3:
        return hidden_state.mean(dim=1)
    return hidden_state


class HiddenStateTap:
    """Forward hook that keeps the latest output of ``module`` (first element of a tuple output)."""

    def __init__(self, module: nn.Module):
        self.value: torch.Tensor | None = None
        self._handle = module.register_forward_hook(self._keep)

    def _keep(self, module, inputs, output) -> None:
        self.value = output[0] if isinstance(output, (tuple, list)) else getattr(output, "sample", output)

    def remove(self) -> None:
        self._handle.remove()


class SpectralRegularizer(nn.Module):
    """Owns the head; ``loss(hidden [2B, ...], t [B])`` splits the two views and returns L_s."""

    def __init__(self, config: SpectralConfig, in_channels: int):
        super().__init__()
        self.config = config
        self.head = SpectralHead(in_channels, config.hidden, config.num_eigenfunctions, config.normalize_rows)

    @staticmethod
    def channels_of(denoiser: nn.Module, layer: str, probe) -> int:
        """The channel count of ``layer``'s output, by running ``probe()`` once with a tap."""
        tap = HiddenStateTap(denoiser.get_submodule(layer))
        try:
            with torch.no_grad():
                probe()
        finally:
            tap.remove()
        if tap.value is None:
            raise ValueError(f"layer {layer!r} produced no output during the probe")
        value = tap.value
        return int(value.shape[1] if value.dim() == 4 else value.shape[-1])

    def loss(self, hidden_state: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        first, second = hidden_state.chunk(2, dim=0)  # views x_t and x_t' of the same x0
        return spectral_loss(self.head(first, timesteps), self.head(second, timesteps), self.config.alpha)
