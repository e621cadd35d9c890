"""Auxiliary supervision from structured labels (the synthetic world's zoo recipe only).

A linear head on the image embedding predicts which categories and colours are present
(multi-label binary cross-entropy over ``batch["label_hot"]`` [B, K]). It stands in for the
category knowledge a web-scale CLIP brings (shared/WORLD.md: plain contrastive training of a
tiny ViT on CPU learns colour but hardly shape). The head belongs to the objective and is
dropped at export, so the encoder artifact stays a standard CLIPModel.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from openeyes.errors import UserError
from openeyes.training.objectives.base import FeatureCache, Objective


@dataclass
class LabelsConfig:
    num_labels: int = 24  # width of batch["label_hot"] (world: 14 categories + 10 colours)


class LabelsObjective(Objective):
    """BCE of a linear head on the (unnormalized) image embedding against present labels."""

    name = "labels"

    def __init__(self, config: LabelsConfig, encoder):
        super().__init__()
        self.config = config
        self.head = nn.Linear(encoder.embed_dim, config.num_labels)  # [D] -> [K]

    def forward(self, encoder, batch, cache: FeatureCache) -> dict[str, torch.Tensor]:
        if "label_hot" not in batch:
            raise UserError("the labels objective needs structured labels (data.source=world)")
        logits = self.head(cache.image_embeds().float())  # [B, K]
        target = batch["label_hot"].to(logits.device)  # [B, K]
        loss = F.binary_cross_entropy_with_logits(logits, target)
        accuracy = ((logits > 0).float() == target).float().mean()
        return {"labels": loss, "_labels_acc": accuracy.detach()}
