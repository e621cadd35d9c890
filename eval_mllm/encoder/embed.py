"""Batched embedding through the Encoder protocol, under ``torch.inference_mode``.

Embeddings come back unnormalised, float32, on the CPU; every scorer normalises as its
reference does.
"""
from __future__ import annotations

from typing import Sequence

import torch

from openeyes.errors import UserError
from openeyes.eval_mllm.encoder.data.images import ImageStore


def encoder_device(encoder) -> torch.device:
    """Where the encoder's parameters live (CPU for a parameterless encoder)."""
    parameters = getattr(encoder, "parameters", None)
    if callable(parameters):
        for parameter in parameters():
            return parameter.device
    return torch.device("cpu")


def embed_images(encoder, images: ImageStore, batch_size: int) -> torch.Tensor:
    """All images of ``images`` -> [N, D]."""
    device = encoder_device(encoder)
    chunks = []
    with torch.inference_mode():
        for batch in images.iter_batches(batch_size):
            pixels = encoder.preprocess(batch).to(device)  # [B, 3, H, W]
            chunks.append(encoder.encode_image(pixels).float().cpu())  # [B, D]
    return torch.cat(chunks) if chunks else torch.zeros(0, encoder.embed_dim)


def embed_image_patches(encoder, images: ImageStore, batch_size: int, layer: int, flatten: bool = False) -> torch.Tensor:
    """All images -> the patch tokens of vision hidden state ``layer`` (CLS left out): their mean [N, W],
    or with ``flatten`` all of them in grid order, concatenated [N, P * W]."""
    if not getattr(encoder, "patch_size", 0):
        raise UserError("a patch-token probe (--probe-layer) needs a ViT encoder; this one has no patches")
    device = encoder_device(encoder)
    grid = encoder.image_size // encoder.patch_size
    chunks = []
    with torch.inference_mode():
        for batch in images.iter_batches(batch_size):
            tokens = encoder.image_tokens(encoder.preprocess(batch).to(device), layer)  # [B, N, W]
            patches = tokens[:, -grid * grid:].float()  # [B, P, W]
            chunks.append((patches.flatten(1) if flatten else patches.mean(1)).cpu())  # [B, P * W] or [B, W]
    return torch.cat(chunks)


def embed_texts(encoder, texts: Sequence[str], batch_size: int) -> torch.Tensor:
    """Texts -> [T, D]."""
    device = encoder_device(encoder)
    chunks = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            tokens = encoder.tokenize(list(texts[start:start + batch_size]))
            tokens = {name: value.to(device) for name, value in tokens.items()}
            chunks.append(encoder.encode_text(tokens).float().cpu())  # [B, D]
    return torch.cat(chunks) if chunks else torch.zeros(0, encoder.embed_dim)


def logit_scale_value(encoder) -> float:
    """exp(logit_scale), the factor CLIP's logits_per_text carry (100 for OpenAI CLIP)."""
    with torch.no_grad():
        return float(torch.as_tensor(encoder.logit_scale).float().exp())
