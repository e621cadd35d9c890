"""Tiny random open_clip models for the encoder tests (imported by the test modules)."""
import json

import torch

import openeyes  # noqa: F401

TINY_VISION = dict(image_size=32, patch_size=8, width=32, layers=2, head_width=8, mlp_ratio=2.0)
TINY_TEXT = dict(context_length=16, vocab_size=49408, width=32, heads=4, layers=2, mlp_ratio=2.0)


def perturb(model: torch.nn.Module, seed: int = 0, scale: float = 0.05) -> torch.nn.Module:
    """Add noise to every parameter so that LayerNorms/biases are not ones/zeros (mapping errors show)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(scale * torch.randn(parameter.shape, generator=generator))
    return model


def tiny_openclip(quick_gelu: bool = False, seed: int = 0, vision: dict | None = None, text: dict | None = None,
                  embed_dim: int = 24, **kwargs):
    from open_clip.model import CLIP

    torch.manual_seed(seed)
    model = CLIP(embed_dim, {**TINY_VISION, **(vision or {})}, {**TINY_TEXT, **(text or {})}, quick_gelu=quick_gelu, **kwargs)
    return perturb(model, seed).eval()


def register_tiny_config(directory, name: str = "openeyes-test-tiny", quick_gelu: bool = True) -> str:
    """Write a tiny open_clip model config and add it to open_clip's registry; returns its name."""
    import open_clip

    path = directory / f"{name}.json"
    path.write_text(json.dumps({"embed_dim": 24, "quick_gelu": quick_gelu, "vision_cfg": TINY_VISION, "text_cfg": TINY_TEXT}))
    open_clip.add_model_config(path)
    return name
