"""CLIP: symmetric InfoNCE with a learnable temperature (Radford et al. 2021, Fig. 3).

    logits = exp(t) * norm(I) @ norm(T)^T            # [B, B], exp(t) clipped at 100
    L = (CE(logits, arange) + CE(logits^T, arange)) / 2

Under DDP each rank scores its local rows against the gathered batch (labels offset by
rank * B) so that, with DDP's gradient averaging, the update equals one process on the
global batch.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from openeyes.trainer.distributed import rank
from openeyes.training.objectives.base import FeatureCache, Objective

MAX_LOG_SCALE = math.log(100.0)  # CLIP clips the logit scale at 100


def clip_loss(
    image_embeds: torch.Tensor,  # [B, D] this rank's rows
    text_embeds: torch.Tensor,  # [B, D]
    all_image_embeds: torch.Tensor,  # [N, D] gathered (N = B * world), or the local ones
    all_text_embeds: torch.Tensor,  # [N, D]
    log_scale: torch.Tensor,  # scalar log temperature
    offset: int = 0,  # index of this rank's first row in the gathered batch
) -> torch.Tensor:
    scale = log_scale.clamp(max=MAX_LOG_SCALE).exp()
    image_n = F.normalize(image_embeds, dim=-1)
    text_n = F.normalize(text_embeds, dim=-1)
    logits_per_image = scale * image_n @ F.normalize(all_text_embeds, dim=-1).T  # [B, N]
    logits_per_text = scale * text_n @ F.normalize(all_image_embeds, dim=-1).T  # [B, N]
    labels = torch.arange(image_embeds.shape[0], device=image_embeds.device) + offset  # [B]
    return 0.5 * (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels))


class ClipObjective(Objective):
    """The base contrastive objective everything else adds to."""

    name = "clip"

    def forward(self, encoder, batch, cache: FeatureCache) -> dict[str, torch.Tensor]:
        image_embeds, text_embeds = cache.image_embeds(), cache.text_embeds()
        loss = clip_loss(
            image_embeds,
            text_embeds,
            cache.gathered_image_embeds(),
            cache.gathered_text_embeds(),
            encoder.logit_scale,
            offset=rank() * image_embeds.shape[0],
        )
        return {"clip": loss, "_logit_scale": encoder.logit_scale.detach().exp()}

    def on_step_end(self, encoder) -> None:
        with torch.no_grad():
            encoder.logit_scale.clamp_(0.0, MAX_LOG_SCALE)
