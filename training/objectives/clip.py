"""CLIP: symmetric InfoNCE with a learnable temperature (Radford et al. 2021, Fig. 3).

    logits = exp(t) * norm(I) @ norm(T)^T            # [B, B], exp(t) clipped at 100
    L = (CE(logits, arange) + CE(logits^T, arange)) / 2

Under DDP every rank scores the whole gathered batch (its own rows carry gradients) and
``as_global_loss`` rescales the gradient, so that with DDP's averaging the update equals
one process on the global batch.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from openeyes.trainer.distributed import as_global_loss
from openeyes.training.objectives.base import FeatureCache, Objective

MAX_LOG_SCALE = math.log(100.0)  # CLIP clips the logit scale at 100


def clip_loss(
    image_embeds: torch.Tensor,  # [N, D]
    text_embeds: torch.Tensor,  # [N, D], row i is the caption of image i
    log_scale: torch.Tensor,  # scalar log temperature
) -> torch.Tensor:
    scale = log_scale.clamp(max=MAX_LOG_SCALE).exp()
    logits_per_image = scale * F.normalize(image_embeds, dim=-1) @ F.normalize(text_embeds, dim=-1).T  # [N, N]
    labels = torch.arange(image_embeds.shape[0], device=image_embeds.device)  # [N]
    return 0.5 * (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_image.T, labels))


class ClipObjective(Objective):
    """The base contrastive objective everything else adds to."""

    name = "clip"

    def forward(self, encoder, batch, cache: FeatureCache) -> dict[str, torch.Tensor]:
        loss = clip_loss(cache.gathered_image_embeds(), cache.gathered_text_embeds(), encoder.logit_scale)
        return {"clip": as_global_loss(loss), "_logit_scale": encoder.logit_scale.detach().exp()}

    def on_step_end(self, encoder) -> None:
        with torch.no_grad():
            encoder.logit_scale.clamp_(0.0, MAX_LOG_SCALE)
