"""The prior's training losses: denoising (+ the spectral regularizer), and the tiny VAE's.

Denoising (per batch of images [B, 3, S, S] in [0, 1] and captions):
    x0 = to_model_space(images); t ~ p(t); eps ~ N(0, I); x_t = add_noise(x0, eps, t)
    c  = text_encoder(caption), the caption replaced by "" with probability ``condition_dropout``
         (so the empty prompt is the unconditional model, used by guidance and by DCR)
    L_diff = || prediction(x_t, c, t) - target(x0, eps, t) ||^2   (mean over elements)
With the spectral option a second view x_t' = add_noise(x0, eps', t) goes through the same
UNet call (batch 2B); L_diff is taken on the first view only (Eq. 15 as written) and the
hidden states of both views give L_s (Eq. 14): loss = L_diff + lambda * L_s.

VAE: loss = ||decode(z) - x||^2 + kl_weight * KL(q(z|x) || N(0, I)) with z ~ q(z|x).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from openeyes.training.objectives.spectral import HiddenStateTap, SpectralConfig, SpectralRegularizer
from openeyes.training.prior.model import DiffusionPrior


@dataclass
class DenoiseConfig:
    condition_dropout: float = 0.1  # probability a caption is replaced by the empty prompt
    timesteps: Literal["uniform", "logit_normal"] = "uniform"  # training distribution of t


class DenoisingObjective(nn.Module):
    """``loss_fn(prior, batch)`` for the trainer; owns the spectral head when enabled."""

    def __init__(self, config: DenoiseConfig, spectral: SpectralConfig, prior: DiffusionPrior):
        super().__init__()
        self.config = config
        self.spectral_config = spectral
        self.spectral = None
        if spectral.enabled:
            channels = SpectralRegularizer.channels_of(prior.unet, spectral.layer, lambda: self._probe(prior))
            self.spectral = SpectralRegularizer(spectral, channels)

    @staticmethod
    def _probe(prior: DiffusionPrior) -> None:
        x0 = prior.to_model_space(torch.zeros(1, 3, prior.image_size, prior.image_size))
        prior.predict(x0, prior.schedule.sample_times(1, device=x0.device), prior.encode_text([""]))

    def _captions(self, texts: list[str]) -> list[str]:
        keep = torch.rand(len(texts)) >= self.config.condition_dropout  # [B]
        return [text if kept else "" for text, kept in zip(texts, keep.tolist())]

    def forward(self, prior: DiffusionPrior, batch: dict) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            x0 = prior.to_model_space(batch["images"])  # [B, c, h, w]
        size = x0.shape[0]
        condition = prior.encode_text(self._captions(list(batch["texts"])))  # [B, L, C]
        t = prior.schedule.sample_times(size, self.config.timesteps, device=x0.device)  # [B]
        noise = torch.randn_like(x0)
        x_t = prior.schedule.add_noise(x0, noise, t)
        target = prior.schedule.target(x0, noise, t)
        if self.spectral is None:
            diffusion = F.mse_loss(prior.predict(x_t, t, condition).float(), target.float())
            return {"loss": diffusion, "diffusion": diffusion}
        x_t_prime = prior.schedule.add_noise(x0, torch.randn_like(x0), t)  # second view, same x0 and t
        tap = HiddenStateTap(prior.unet.get_submodule(self.spectral_config.layer))
        try:
            prediction = prior.predict(torch.cat([x_t, x_t_prime]), torch.cat([t, t]), torch.cat([condition, condition]))
        finally:
            tap.remove()
        diffusion = F.mse_loss(prediction[:size].float(), target.float())
        spectral = self.spectral.loss(tap.value.float(), prior.schedule.model_time(t))
        return {"loss": diffusion + self.spectral_config.weight * spectral, "diffusion": diffusion, "spectral": spectral}


@dataclass
class VaeTrainSettings:
    steps: int = 2000  # optimizer steps of the VAE pre-stage (latent priors without a given VAE)
    lr: float = 1e-3  # its learning rate (AdamW, cosine)
    kl_weight: float = 1e-4  # weight of the KL term
    batch_size: int = 64  # images per step


class VaeObjective(nn.Module):
    """``loss_fn(vae, batch)``: reconstruction + kl_weight * KL, images in [-1, 1]."""

    def __init__(self, image_size: int, kl_weight: float):
        super().__init__()
        self.image_size = image_size
        self.kl_weight = kl_weight

    def forward(self, vae: nn.Module, batch: dict) -> dict[str, torch.Tensor]:
        images = batch["images"]
        if images.shape[-1] != self.image_size:
            images = F.interpolate(images, size=(self.image_size, self.image_size), mode="bilinear", antialias=True)
        pixels = images * 2.0 - 1.0  # [B, 3, S, S]
        posterior = vae.encode(pixels).latent_dist
        reconstruction = vae.decode(posterior.sample()).sample
        recon = F.mse_loss(reconstruction, pixels)
        kl = posterior.kl().mean() / posterior.mean[0].numel()  # per latent element
        return {"loss": recon + self.kl_weight * kl, "reconstruction": recon, "kl": kl}


@torch.no_grad()
def calibrate_scaling_factor(vae: nn.Module, images01: torch.Tensor) -> float:
    """Set ``vae.config.scaling_factor`` to 1 / std of the latent means of ``images01`` (SD's rule)."""
    latents = vae.encode(images01 * 2.0 - 1.0).latent_dist.mean
    factor = float(1.0 / latents.float().std().clamp_min(1e-6))
    vae.register_to_config(scaling_factor=factor)
    return factor
