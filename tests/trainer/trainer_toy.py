"""Test fixture for the generic trainer: a two-tower MLP pair with dropout, random paired data,
and an in-batch contrastive loss over the gathered batch (like training/objectives/clip.py).

Used in-process by the tests and by ``train_toy.py`` (the subprocess / ``accelerate launch`` entry).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from openeyes.trainer.distributed import as_global_loss, gather_with_grad

DIM_IN = 12


class ToyPair(nn.Module):
    """Two small towers and a learnable log temperature."""

    def __init__(self, dim: int = 8, dropout: float = 0.2, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.image = nn.Sequential(nn.Linear(DIM_IN, 32), nn.LayerNorm(32), nn.GELU(), nn.Dropout(dropout), nn.Linear(32, dim))
        self.text = nn.Sequential(nn.Linear(DIM_IN, 32), nn.GELU(), nn.Dropout(dropout), nn.Linear(32, dim))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(10.0)))


class ToyPairs(Dataset):
    """``n`` pairs: image features x [12] and text features y = A x + noise [12]."""

    def __init__(self, n: int = 64, seed: int = 0):
        generator = torch.Generator().manual_seed(seed)
        self.images = torch.randn(n, DIM_IN, generator=generator)  # [N, 12]
        mixing = torch.randn(DIM_IN, DIM_IN, generator=generator)
        self.texts = self.images @ mixing + 0.1 * torch.randn(n, DIM_IN, generator=generator)  # [N, 12]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict:
        return {"image": self.images[index], "text": self.texts[index]}


def contrastive_loss(model: ToyPair, batch: dict, augment: float = 0.05) -> dict[str, torch.Tensor]:
    """Random noise augmentation (global RNG) + dropout, then symmetric InfoNCE on the global batch."""
    images = batch["image"]  # [B, 12]
    if augment:
        images = images + augment * torch.randn_like(images)
    image_embeds = gather_with_grad(F.normalize(model.image(images), dim=-1))  # [B * world, D]
    text_embeds = gather_with_grad(F.normalize(model.text(batch["text"]), dim=-1))  # [B * world, D]
    logits = model.logit_scale.exp() * image_embeds @ text_embeds.T  # [N, N]
    labels = torch.arange(logits.shape[0])
    loss = 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))
    accuracy = (logits.argmax(dim=1) == labels).float().mean()
    return {"loss": as_global_loss(loss), "clip": loss.detach(), "_accuracy": accuracy}
