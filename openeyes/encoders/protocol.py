"""The encoder protocol every layer above the core speaks.

Two backends implement it (``hf_backend``: transformers CLIPModel/SiglipModel;
``openclip_backend``: open_clip models). An encoder is an ``nn.Module`` whose trainable
parameters are the wrapped model's, so objectives and the trainer can use it directly.
"""
from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import torch
from PIL import Image


@runtime_checkable
class Encoder(Protocol):
    """A CLIP-style dual encoder behind one small interface."""

    name: str            # human-readable id (artifact name, HF id or open_clip name)
    image_size: int      # square input resolution in pixels
    patch_size: int      # ViT patch size (image tokens = (image_size // patch_size) ** 2 [+ CLS])
    embed_dim: int       # width of the joint image-text embedding
    vision_width: int    # width of the vision tower's hidden states (image_tokens' C)

    def preprocess(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """PIL images -> normalized pixels [B, 3, image_size, image_size] (resize, crop, normalize)."""

    def normalize(self, pixels01: torch.Tensor) -> torch.Tensor:
        """Pixels in [0, 1], already at image_size [B, 3, H, W] -> normalized model input."""

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Texts -> {"input_ids": [B, L], "attention_mask": [B, L]} padded to the model's context."""

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        """Normalized pixels [B, 3, H, W] -> image embeddings [B, embed_dim] (not L2-normalized)."""

    def encode_text(self, tokens: dict[str, torch.Tensor]) -> torch.Tensor:
        """Tokenized texts -> text embeddings [B, embed_dim] (not L2-normalized)."""

    def image_tokens(self, pixels: torch.Tensor, layer: int = -2) -> torch.Tensor:
        """Hidden states of vision layer ``layer`` [B, N, vision_width], CLS first (as LLaVA reads them)."""

    @property
    def logit_scale(self) -> torch.Tensor:
        """The learnable log temperature (scalar parameter); ``exp()`` gives the logit scale."""

    def save(self, directory: str) -> None:
        """Write weights (+ processor, tokenizer) so that the matching loader reads them back."""
