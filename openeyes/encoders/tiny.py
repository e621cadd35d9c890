"""Tiny randomly initialised CLIP/SigLIP encoders for tests, smoke runs and the synthetic world.

They are standard transformers ``CLIPModel``/``SiglipModel`` instances (so every loader that
reads a real checkpoint reads these), paired with an image processor at ``image_size`` and a
caption tokenizer from ``openeyes.encoders.tokenizer``.

Text pooling: transformers' ``CLIPTextModel`` pools by the legacy rule "argmax of the token
ids" when ``text_config.eos_token_id == 2`` and otherwise at the first occurrence of
``eos_token_id``. The caption tokenizer's eos is id 1 (not the largest id), so the config must
carry the tokenizer's eos id and that id must not be 2.
"""
from __future__ import annotations

import math
from typing import Any

from openeyes.encoders.hf_backend import HFEncoder, clip_image_processor

LEGACY_ARGMAX_EOS_ID = 2  # transformers pools by argmax(input_ids) when eos_token_id has this value


def tiny_clip_config(
    vocab_size: int,
    image_size: int = 64,
    patch_size: int = 8,
    vision_width: int = 256,
    vision_layers: int = 2,
    vision_heads: int = 4,
    vision_mlp: int = 1024,
    text_width: int = 128,
    text_layers: int = 3,
    text_heads: int = 4,
    max_length: int = 32,
    embed_dim: int = 128,
    eos_token_id: int = 1,
    bos_token_id: int = 0,
    pad_token_id: int = 2,
    hidden_act: str = "quick_gelu",
):
    """A small ``CLIPConfig`` whose text tower pools at the first ``eos_token_id``."""
    from transformers import CLIPConfig

    if eos_token_id == LEGACY_ARGMAX_EOS_ID:
        raise ValueError(
            "eos_token_id 2 makes transformers pool CLIP text by argmax of the ids (legacy rule); "
            "use a tokenizer whose eos id is not 2"
        )
    text_config = dict(
        vocab_size=vocab_size,
        hidden_size=text_width,
        intermediate_size=4 * text_width,
        num_hidden_layers=text_layers,
        num_attention_heads=text_heads,
        max_position_embeddings=max_length,
        hidden_act=hidden_act,
        eos_token_id=eos_token_id,
        bos_token_id=bos_token_id,
        pad_token_id=pad_token_id,
    )
    vision_config = dict(
        image_size=image_size,
        patch_size=patch_size,
        hidden_size=vision_width,
        intermediate_size=vision_mlp,
        num_hidden_layers=vision_layers,
        num_attention_heads=vision_heads,
        hidden_act=hidden_act,
    )
    return CLIPConfig(text_config=text_config, vision_config=vision_config, projection_dim=embed_dim)


def _tokenizer_ids(tokenizer: Any) -> dict[str, int]:
    return {
        "vocab_size": len(tokenizer),
        "eos_token_id": tokenizer.eos_token_id,
        "bos_token_id": tokenizer.bos_token_id if tokenizer.bos_token_id is not None else 0,
        "pad_token_id": tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0,
    }


def build_tiny_clip(tokenizer: Any, *, seed: int | None = 0, name: str = "tiny-clip", **overrides: Any) -> HFEncoder:
    """A randomly initialised tiny ``CLIPModel`` behind ``HFEncoder`` (overrides go to ``tiny_clip_config``)."""
    import torch
    from transformers import CLIPModel

    settings = {**_tokenizer_ids(tokenizer), "max_length": tokenizer.model_max_length, **overrides}
    if settings["max_length"] is None or settings["max_length"] > 10_000:
        settings["max_length"] = 32
    tokenizer.model_max_length = settings["max_length"]
    config = tiny_clip_config(**settings)
    if seed is not None:
        torch.manual_seed(seed)
    model = CLIPModel(config).eval()
    processor = clip_image_processor(config.vision_config.image_size)
    return HFEncoder(model, processor, tokenizer, name=name)


def build_tiny_siglip(
    tokenizer: Any,
    *,
    image_size: int = 64,
    patch_size: int = 8,
    vision_width: int = 128,
    vision_layers: int = 2,
    vision_heads: int = 4,
    text_width: int = 128,
    text_layers: int = 2,
    text_heads: int = 4,
    max_length: int | None = None,
    seed: int | None = 0,
    name: str = "tiny-siglip",
) -> HFEncoder:
    """A randomly initialised tiny ``SiglipModel`` behind ``HFEncoder`` (embed dim = vision width)."""
    import torch
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel

    ids = _tokenizer_ids(tokenizer)
    max_length = max_length or min(tokenizer.model_max_length or 32, 64)
    tokenizer.model_max_length = max_length
    config = SiglipConfig(
        text_config=dict(
            vocab_size=ids["vocab_size"],
            hidden_size=text_width,
            intermediate_size=4 * text_width,
            num_hidden_layers=text_layers,
            num_attention_heads=text_heads,
            max_position_embeddings=max_length,
            projection_size=vision_width,
            eos_token_id=ids["eos_token_id"],
            bos_token_id=ids["bos_token_id"],
            pad_token_id=ids["pad_token_id"],
        ),
        vision_config=dict(
            image_size=image_size,
            patch_size=patch_size,
            hidden_size=vision_width,
            intermediate_size=4 * vision_width,
            num_hidden_layers=vision_layers,
            num_attention_heads=vision_heads,
        ),
    )
    if seed is not None:
        torch.manual_seed(seed)
    model = SiglipModel(config).eval()
    with torch.no_grad():  # the SigLIP paper's initial temperature and bias
        model.logit_scale.fill_(math.log(10.0))
        model.logit_bias.fill_(-10.0)
    processor = SiglipImageProcessor(
        size={"height": image_size, "width": image_size}, resample=3, image_mean=[0.5] * 3, image_std=[0.5] * 3
    )
    return HFEncoder(model, processor, tokenizer, name=name)
