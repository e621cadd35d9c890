"""The open_clip backend: ``OpenClipEncoder`` wraps an open_clip ``CLIP``/``CustomTextCLIP``.

It implements the ``Encoder`` protocol with open_clip's own forward passes; ``image_tokens``
reads the ViT's intermediate outputs (``forward_intermediates``), CLS first. ``save`` converts
to a transformers ``CLIPModel`` (``convert_openclip``), so every saved encoder has one format.
``load_openclip_spec`` resolves the ``open_clip:...`` specs of ``load_encoder``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch
from PIL import Image
from torch import nn

import openeyes  # noqa: F401  (CPU-torchvision fix before open_clip imports torchvision)
from openeyes.encoders.hf_backend import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, ImageTransform
from openeyes.errors import UserError

_INTERPOLATIONS = {"bicubic": 3, "bilinear": 2, "nearest": 0, "lanczos": 1}  # open_clip name -> PIL code


def is_open_clip_vit(visual: nn.Module) -> bool:
    """True for open_clip's own ``VisionTransformer`` (not ModifiedResNet, not timm towers)."""
    from open_clip.transformer import VisionTransformer

    return isinstance(visual, VisionTransformer)


def _pair_first(value: Any) -> int:
    return int(value[0] if isinstance(value, (tuple, list)) else value)


class OpenClipEncoder(nn.Module):
    """``Encoder`` over an open_clip model (+ its preprocessing settings and tokenizer)."""

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Any = None,
        name: str = "open_clip",
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ):
        super().__init__()
        import open_clip

        self.model = model
        self.name = name
        visual = model.visual
        preprocess_cfg = dict(getattr(visual, "preprocess_cfg", None) or {})
        size = preprocess_cfg.get("size") or getattr(visual, "image_size", 224)
        self.image_size = _pair_first(size)
        self.is_vit = is_open_clip_vit(visual)
        self.patch_size = _pair_first(visual.patch_size) if self.is_vit else 0
        self.vision_width = int(visual.transformer.width) if self.is_vit else 0
        self.embed_dim = self._infer_embed_dim()
        self.context_length = int(getattr(model, "context_length", None) or getattr(getattr(model, "text", None), "context_length", 77))
        self.tokenizer = tokenizer if tokenizer is not None else open_clip.SimpleTokenizer(context_length=self.context_length)
        mean = tuple(mean or preprocess_cfg.get("mean") or getattr(visual, "image_mean", None) or OPENAI_CLIP_MEAN)
        std = tuple(std or preprocess_cfg.get("std") or getattr(visual, "image_std", None) or OPENAI_CLIP_STD)
        squash = preprocess_cfg.get("resize_mode") == "squash"
        self.transform = ImageTransform(
            resize_shortest=None if squash else self.image_size,
            resize_square=self.image_size if squash else None,
            crop=None if squash else self.image_size,
            mean=tuple(float(v) for v in mean),
            std=tuple(float(v) for v in std),
            resample=_INTERPOLATIONS.get(preprocess_cfg.get("interpolation", "bicubic"), 3),
        )

    def _infer_embed_dim(self) -> int:
        output_dim = getattr(self.model.visual, "output_dim", None)
        if output_dim:
            return int(output_dim)
        with torch.no_grad():  # towers without the attribute (timm): one dummy forward
            dummy = torch.zeros(1, 3, self.image_size, self.image_size, device=self.model.logit_scale.device)
            return int(self.model.encode_image(dummy).shape[-1])

    # -- inputs ----------------------------------------------------------------------------
    def preprocess(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """PIL images -> normalized pixels [B, 3, image_size, image_size] (as open_clip's transform)."""
        return self.transform.batch(images)  # [B, 3, S, S]

    def normalize(self, pixels01: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] in [0, 1] -> normalized model input."""
        return self.transform.normalize(pixels01)

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Texts -> input_ids [B, context_length] (open_clip's tokenizer) + attention_mask up to the eot token."""
        input_ids = self.tokenizer(list(texts))  # [B, L]
        if not isinstance(input_ids, torch.Tensor):
            input_ids = torch.as_tensor(input_ids)
        input_ids = input_ids.long()
        eot_id = getattr(self.tokenizer, "eot_token_id", None)
        if eot_id is not None:
            is_eot = input_ids == eot_id
            last = torch.where(is_eot.any(-1), is_eot.int().argmax(-1), torch.full_like(is_eot[:, 0], input_ids.shape[1] - 1, dtype=torch.long))
        else:
            last = input_ids.argmax(-1)
        positions = torch.arange(input_ids.shape[1]).unsqueeze(0)  # [1, L]
        return {"input_ids": input_ids, "attention_mask": (positions <= last.unsqueeze(1)).long()}

    # -- forward ---------------------------------------------------------------------------
    def _device(self) -> torch.device:
        return self.model.logit_scale.device

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] -> image embeddings [B, D] (not normalized)."""
        return self.model.encode_image(pixels.to(self._device()))

    def encode_text(self, tokens: dict[str, torch.Tensor]) -> torch.Tensor:
        """Tokenized texts -> text embeddings [B, D] (not normalized); open_clip pools by its own rule."""
        return self.model.encode_text(tokens["input_ids"].to(self._device()))

    def image_tokens(self, pixels: torch.Tensor, layer: int = -2) -> torch.Tensor:
        """Hidden states after ``layer`` blocks [B, 1 + N, vision_width], CLS first; same indexing as HF hidden_states."""
        if not self.is_vit:
            raise UserError(f"{self.name}: image_tokens needs a ViT vision tower, this one is {type(self.model.visual).__name__}")
        visual = self.model.visual
        num_layers = len(visual.transformer.resblocks)
        index = layer if layer >= 0 else num_layers + 1 + layer  # 0 = embeddings (after ln_pre), k = after block k
        if not 0 <= index <= num_layers:
            raise UserError(f"layer {layer} out of range for a {num_layers}-layer vision tower")
        pixels = pixels.to(self._device())
        if index == 0:
            return visual._embeds(pixels)  # [B, 1 + N, C]
        out = visual.forward_intermediates(
            pixels, indices=[index - 1], stop_early=True, intermediates_only=True,
            output_fmt="NLC", output_extra_tokens=True,
        )
        return torch.cat([out["image_intermediates_prefix"][0], out["image_intermediates"][0]], dim=1)

    @property
    def logit_scale(self) -> torch.Tensor:
        """open_clip's learnable log temperature."""
        return self.model.logit_scale

    @property
    def logit_bias(self) -> torch.Tensor | None:
        """The learnable logit bias of SigLIP-style open_clip models; None otherwise."""
        return getattr(self.model, "logit_bias", None)

    def forward(self, pixels: torch.Tensor, tokens: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encode_image(pixels), self.encode_text(tokens)

    def save(self, directory: str | Path) -> None:
        """Convert to a transformers ``CLIPModel`` (checked numerically by the tests) and save that."""
        from openeyes.encoders.convert_openclip import openclip_encoder_to_hf

        openclip_encoder_to_hf(self).save(directory)


# -- specs -------------------------------------------------------------------------------------
def parse_openclip_spec(spec: str) -> tuple[str, str | None, str | None]:
    """``name``, ``name/tag``, ``name@checkpoint`` -> (model name, pretrained tag, checkpoint path)."""
    if not spec:
        raise UserError("open_clip spec needs a model name: open_clip:<model>[/<tag>|@<checkpoint>]")
    if "@" in spec:
        name, checkpoint = spec.split("@", 1)
        return name, None, checkpoint
    if spec.startswith(("hf-hub:", "local-dir:")):
        return spec, None, None
    if "/" in spec:
        name, tag = spec.rsplit("/", 1)
        return name, tag, None
    return spec, None, None


def load_openclip_spec(spec: str) -> OpenClipEncoder:
    """Build the encoder named by an ``open_clip:`` spec (prefix already removed)."""
    import open_clip

    from openeyes.encoders.checkpoints import import_openclip_checkpoint

    name, tag, checkpoint = parse_openclip_spec(spec)
    if not name.startswith(("hf-hub:", "local-dir:")) and name not in open_clip.list_models():
        raise UserError(f"unknown open_clip model {name!r} (see open_clip.list_models())")
    if checkpoint is not None and not Path(checkpoint).expanduser().is_file():
        raise UserError(f"open_clip checkpoint {checkpoint!r} not found")
    try:
        model = open_clip.create_model(name, pretrained=tag)
    except UserError:
        raise
    except Exception as problem:  # offline downloads, unknown tags, ...
        raise UserError(f"could not create open_clip model {spec!r}: {str(problem).splitlines()[0]}") from None
    if checkpoint is not None:
        import_openclip_checkpoint(model, checkpoint)
    tokenizer = open_clip.get_tokenizer(name)
    return OpenClipEncoder(model.eval(), tokenizer=tokenizer, name=f"open_clip:{spec}")
