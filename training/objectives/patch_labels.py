"""Dense auxiliary supervision from the world's layout (the zoo base CLIP's recipe only).

Two linear heads on the vision tower's patch tokens (hidden states of ``layer``, CLS
dropped) classify, per patch, which category and which colour cover it, or background
(``batch["patch_nouns"]`` / ``batch["patch_colors"]`` [B, G * G] from the collate). Image-level
presence labels (``labels.py``) leave credit assignment to a from-scratch tiny ViT and it
never finds shape on a CPU budget (shared/WORLD.md's probes; our own: shape recall 0.12 after
1,500 steps); per-patch targets put the signal where an MLLM reads the tower. The heads are
dropped at export: the artifact stays a standard CLIPModel.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from openeyes.errors import UserError
from openeyes.training.objectives.base import FeatureCache, Objective
from openeyes.world.patch_labels import BACKGROUND_COLOR, BACKGROUND_NOUN


@dataclass
class PatchLabelsConfig:
    layer: int = -1  # vision hidden state the heads read (an MLLM reading this layer gets the signal)
    color_weight: float = 1.0  # weight of the per-patch colour term next to the category term


class PatchLabelsObjective(Objective):
    """Per-patch cross-entropy over categories + background and colours + background."""

    name = "patch_labels"

    def __init__(self, config: PatchLabelsConfig, encoder):
        super().__init__()
        self.config = config
        self.token_layer = config.layer  # read by Composite: fetched in the embeddings' vision pass
        width = encoder.model.config.vision_config.hidden_size
        self.noun_head = nn.Linear(width, BACKGROUND_NOUN + 1)  # [W] -> [nouns + background]
        self.color_head = nn.Linear(width, BACKGROUND_COLOR + 1)  # [W] -> [colours + background]

    def forward(self, encoder, batch, cache: FeatureCache) -> dict[str, torch.Tensor]:
        if "patch_nouns" not in batch:
            raise UserError("the patch_labels objective needs per-patch world labels (data.source=world)")
        tokens = cache.image_tokens(self.config.layer).float()  # [B, N, W]
        nouns = batch["patch_nouns"].to(tokens.device)  # [B, P]
        colors = batch["patch_colors"].to(tokens.device)  # [B, P]
        patches = tokens[:, tokens.shape[1] - nouns.shape[1]:]  # [B, P, W]: drop CLS (and any prefix)
        noun_logits = self.noun_head(patches)  # [B, P, nouns + 1]
        color_logits = self.color_head(patches)  # [B, P, colours + 1]
        noun_loss = F.cross_entropy(noun_logits.flatten(0, 1), nouns.flatten())
        color_loss = F.cross_entropy(color_logits.flatten(0, 1), colors.flatten())
        on_object = nouns != BACKGROUND_NOUN
        object_accuracy = (noun_logits.argmax(-1)[on_object] == nouns[on_object]).float().mean()
        return {"patch_nouns": noun_loss, "patch_colors": self.config.color_weight * color_loss,
                "_patch_noun_acc": object_accuracy.detach()}
