"""The transformers backend: ``HFEncoder`` wraps a ``CLIPModel`` or ``SiglipModel``.

It carries the model, its image-processor settings (resize, crop, mean/std) and its tokenizer,
and implements the ``Encoder`` protocol. Preprocessing uses PIL + torch only (never
``torchvision.io``). ``save`` writes the standard transformers layout (model safetensors,
``preprocessor_config.json``, tokenizer files) that ``AutoModel``/``AutoProcessor``/
``AutoTokenizer`` load offline.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn

import openeyes  # noqa: F401  (CPU-torchvision fix before transformers' image processors)

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

# PIL resampling filters by the integer codes HF processor configs store.
_PIL_FILTERS = {
    0: Image.Resampling.NEAREST,
    1: Image.Resampling.LANCZOS,
    2: Image.Resampling.BILINEAR,
    3: Image.Resampling.BICUBIC,
    4: Image.Resampling.BOX,
    5: Image.Resampling.HAMMING,
}


@dataclass
class ImageTransform:
    """How PIL images become model input (read from an HF image processor)."""

    resize_shortest: int | None  # resize so the short side has this length (aspect kept); None: no shortest-side resize
    resize_square: int | None  # resize straight to (n, n) (SigLIP style, aspect not kept); None: not used
    crop: int | None  # center crop to (n, n) after resizing; None: no crop
    mean: tuple[float, float, float]  # per-channel mean of [0, 1] pixels
    std: tuple[float, float, float]  # per-channel std of [0, 1] pixels
    resample: int = 3  # PIL filter code (3 = bicubic)

    @classmethod
    def from_processor(cls, processor: Any, image_size: int) -> "ImageTransform":
        """Read size/crop/mean/std/resample from a transformers image processor."""
        size = dict(getattr(processor, "size", None) or {})
        crop_size = dict(getattr(processor, "crop_size", None) or {})
        do_resize = getattr(processor, "do_resize", True)
        do_crop = getattr(processor, "do_center_crop", False)
        resample = getattr(processor, "resample", 3)
        resample = int(getattr(resample, "value", resample) if resample is not None else 3)
        shortest = size.get("shortest_edge") if do_resize else None
        square = size.get("height") if do_resize and shortest is None else None
        crop = crop_size.get("height") if do_crop and crop_size else None
        if shortest is None and square is None and crop is None:
            square = image_size
        mean = tuple(float(v) for v in (getattr(processor, "image_mean", None) or OPENAI_CLIP_MEAN))
        std = tuple(float(v) for v in (getattr(processor, "image_std", None) or OPENAI_CLIP_STD))
        return cls(shortest, square, crop, mean, std, resample)

    def prepare(self, image: Image.Image) -> Image.Image:
        """One PIL image -> RGB, resized and cropped to the model's input size."""
        image = image.convert("RGB")
        pil_filter = _PIL_FILTERS.get(self.resample, Image.Resampling.BICUBIC)
        if self.resize_shortest is not None:
            width, height = image.size
            short, long = min(width, height), max(width, height)
            new_long = int(self.resize_shortest * long / short)
            new_size = (self.resize_shortest, new_long) if width <= height else (new_long, self.resize_shortest)
            image = image.resize(new_size, pil_filter)
        elif self.resize_square is not None:
            image = image.resize((self.resize_square, self.resize_square), pil_filter)
        if self.crop is not None:
            image = center_crop(image, self.crop)
        return image

    def to_tensor01(self, image: Image.Image) -> torch.Tensor:
        """One PIL image -> resized and cropped pixels in [0, 1], [3, H, W]."""
        array = torch.from_numpy(np.array(self.prepare(image)))  # [H, W, 3] uint8 (a writable copy)
        return array.permute(2, 0, 1).float() / 255.0  # [3, H, W]

    def normalize(self, pixels01: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] pixels in [0, 1] -> (x - mean) / std."""
        mean = torch.tensor(self.mean, dtype=pixels01.dtype, device=pixels01.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=pixels01.dtype, device=pixels01.device).view(1, 3, 1, 1)
        return (pixels01 - mean) / std

    def batch(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """PIL images -> normalized model input [B, 3, H, W], in two passes over the batch.

        Equals ``normalize(stack(to_tensor01(i)))`` to float rounding (tested); one uint8 stack and
        one fused ``x * (1 / (255 std)) - mean / std`` instead of a float copy, a division and a
        stack per image: the per-image version was ~25 ms per 224 px image on a busy 2-core host."""
        arrays = np.stack([np.asarray(self.prepare(image)) for image in images])  # [B, H, W, 3] uint8
        pixels = torch.from_numpy(arrays).permute(0, 3, 1, 2).float()  # [B, 3, H, W], one contiguous-source copy
        std = torch.tensor(self.std, dtype=torch.float32)
        scale = (1.0 / (255.0 * std)).view(1, 3, 1, 1)
        shift = (torch.tensor(self.mean, dtype=torch.float32) / std).view(1, 3, 1, 1)
        return pixels.mul_(scale).sub_(shift).contiguous()


def center_crop(image: Image.Image, size: int) -> Image.Image:
    """Crop the central (size, size) window; pads with black first if the image is smaller."""
    width, height = image.size
    if width < size or height < size:
        padded = Image.new("RGB", (max(width, size), max(height, size)))
        padded.paste(image, ((padded.size[0] - width) // 2, (padded.size[1] - height) // 2))
        image, (width, height) = padded, padded.size
    left = int(round((width - size) / 2.0))
    top = int(round((height - size) / 2.0))
    return image.crop((left, top, left + size, top + size))


def clip_image_processor(image_size: int, mean: Sequence[float] = OPENAI_CLIP_MEAN, std: Sequence[float] = OPENAI_CLIP_STD):
    """A ``CLIPImageProcessor`` resizing the short side to ``image_size`` (bicubic) and center cropping."""
    from transformers import CLIPImageProcessor

    return CLIPImageProcessor(
        size={"shortest_edge": image_size},
        crop_size={"height": image_size, "width": image_size},
        do_resize=True,
        do_center_crop=True,
        resample=3,
        image_mean=list(mean),
        image_std=list(std),
    )


def _pooled(output: Any) -> torch.Tensor:
    """``get_*_features`` returns a tensor in transformers 4 and a ModelOutput (pooler_output) in 5."""
    if isinstance(output, torch.Tensor):
        return output
    return output.pooler_output


class HFEncoder(nn.Module):
    """``Encoder`` over a transformers ``CLIPModel`` or ``SiglipModel``."""

    def __init__(self, model: nn.Module, image_processor: Any, tokenizer: Any, name: str = "hf-encoder"):
        super().__init__()
        model_type = getattr(model.config, "model_type", "")
        if model_type not in ("clip", "siglip"):
            raise ValueError(f"HFEncoder needs a CLIPModel or SiglipModel, got model_type {model_type!r}")
        self.model = model
        self.image_processor = image_processor
        self.tokenizer = tokenizer
        self.name = name
        self.is_siglip = model_type == "siglip"
        vision = model.config.vision_config
        text = model.config.text_config
        self.image_size = int(vision.image_size)
        self.patch_size = int(vision.patch_size)
        self.vision_width = int(vision.hidden_size)
        if self.is_siglip:
            self.embed_dim = int(vision.hidden_size)  # SigLIP's pooling head keeps the vision width
        else:
            self.embed_dim = int(model.config.projection_dim)
        self.max_length = int(text.max_position_embeddings)
        self.transform = ImageTransform.from_processor(image_processor, self.image_size)

    # -- loading ---------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, source: str, name: str | None = None, **model_kwargs: Any) -> "HFEncoder":
        """Load model + image processor + tokenizer from an HF directory or hub id."""
        from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

        from openeyes.complete_load import load_complete

        model_kwargs.setdefault("dtype", torch.float32)  # weights may be stored in fp16 (the zoo)
        model = load_complete(AutoModel, source, **model_kwargs)  # no silently random weights
        image_processor = AutoImageProcessor.from_pretrained(source)
        tokenizer = AutoTokenizer.from_pretrained(source)
        return cls(model, image_processor, tokenizer, name=name or str(source))

    # -- inputs ----------------------------------------------------------------------------
    def preprocess(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """PIL images -> normalized pixels [B, 3, image_size, image_size]."""
        return self.transform.batch(images)  # [B, 3, S, S]

    def normalize(self, pixels01: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] in [0, 1] -> normalized model input."""
        return self.transform.normalize(pixels01)

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Texts -> input_ids/attention_mask [B, L], truncated to the context (L <= max_length).

        CLIP pads to the batch's longest text (L = its length): causal attention and EOS pooling
        make the embeddings independent of padding after the text, and the tower costs ~L^1-2, so
        short captions are several times cheaper than at the full context. SigLIP was trained on
        full-length padding without an attention mask: it keeps L = max_length."""
        padding = "max_length" if self.is_siglip else "longest"
        encoded = self.tokenizer(
            list(texts), padding=padding, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        input_ids = encoded["input_ids"]  # [B, L]
        attention_mask = encoded.get("attention_mask")
        if attention_mask is None:
            attention_mask = (input_ids != self.tokenizer.pad_token_id).long()
        return {"input_ids": input_ids, "attention_mask": attention_mask}

    # -- forward ---------------------------------------------------------------------------
    def _device(self) -> torch.device:
        return self.model.logit_scale.device

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] -> projected image embeddings [B, D] (not normalized)."""
        dtype = self.model.vision_model.embeddings.patch_embedding.weight.dtype
        return _pooled(self.model.get_image_features(pixel_values=pixels.to(self._device(), dtype)))

    def encode_text(self, tokens: dict[str, torch.Tensor]) -> torch.Tensor:
        """Tokenized texts -> projected text embeddings [B, D] (not normalized)."""
        input_ids = tokens["input_ids"].to(self._device())
        if self.is_siglip:  # SigLIP was trained on max-length padding without an attention mask
            return _pooled(self.model.get_text_features(input_ids=input_ids))
        mask = tokens.get("attention_mask")
        mask = mask.to(self._device()) if mask is not None else None
        return _pooled(self.model.get_text_features(input_ids=input_ids, attention_mask=mask))

    def _vision_pass(self, pixels: torch.Tensor):
        """The vision tower's output with every hidden state, in the tower's dtype and device."""
        dtype = self.model.vision_model.embeddings.patch_embedding.weight.dtype
        return self.model.vision_model(pixel_values=pixels.to(self._device(), dtype), output_hidden_states=True)

    def encode_image_and_tokens(self, pixels: torch.Tensor, layer: int = -2) -> tuple[torch.Tensor, torch.Tensor]:
        """One vision pass: ``encode_image``'s embeddings [B, D] and ``image_tokens``' hidden states [B, N, W]."""
        output = self._vision_pass(pixels)
        embeds = output.pooler_output  # [B, W] (SigLIP: its attention-pooling head, already the embedding)
        if getattr(self.model, "visual_projection", None) is not None:
            embeds = self.model.visual_projection(embeds)  # CLIP: [B, W] -> [B, D]
        return embeds, output.hidden_states[layer]

    def image_tokens(self, pixels: torch.Tensor, layer: int = -2) -> torch.Tensor:
        """Hidden states of vision layer ``layer`` [B, N, vision_width] (index 0 = embeddings; CLS first for CLIP)."""
        return self._vision_pass(pixels).hidden_states[layer]

    @property
    def logit_scale(self) -> torch.Tensor:
        """The model's learnable log temperature (a 0-d parameter for CLIP, shape [1] for SigLIP)."""
        return self.model.logit_scale

    @property
    def logit_bias(self) -> torch.Tensor | None:
        """SigLIP's learnable logit bias (shape [1]); None for CLIP."""
        return getattr(self.model, "logit_bias", None)

    def forward(self, pixels: torch.Tensor, tokens: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(image embeddings [B, D], text embeddings [B, D]), unnormalized."""
        return self.encode_image(pixels), self.encode_text(tokens)

    # -- saving ----------------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        """Write model (safetensors) + image processor + tokenizer in the transformers layout."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(directory)
        self.image_processor.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)
