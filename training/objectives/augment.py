"""Deterministic view augmentations for objectives that need two views of a sample (CLIPin).

Images: random resized crop + horizontal flip (one batched ``affine_grid``/``grid_sample``) and
color jitter (brightness, contrast, saturation, hue), on [0, 1] tensors with torch ops only.
Texts: random word deletion and random word swaps (EDA-style), on strings.

Every random draw comes from a per-sample ``torch.Generator`` (images) or ``random.Random``
(texts) seeded by ``view_seed(seed, index, step, view)``: the same sample, step and view give
the same view on any number of processes, and a resumed run draws exactly what it would have.

CLIPin's appendix A.3 pipeline is RandomResizedCrop(scale 0.8-1.0, ratio 1) -> HorizontalFlip(0.5)
-> ColorJitter(0.1); those are the defaults. ColorJitter applies its four factors in a fixed
order here (torchvision shuffles the order per call).
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

_MASK64 = (1 << 64) - 1
_GRAY_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R 601 luma, as torchvision's rgb_to_grayscale


@dataclass
class ImageAugmentConfig:
    """Random view of an image in [0, 1]."""

    enabled: bool = True  # False: the view is the clean image (CLIPin ablation I(1) = I(2))
    crop_scale_min: float = 0.8  # smallest crop area, as a fraction of the image area
    crop_scale_max: float = 1.0  # largest crop area fraction
    crop_ratio_min: float = 1.0  # smallest crop aspect ratio (width / height)
    crop_ratio_max: float = 1.0  # largest crop aspect ratio
    flip_prob: float = 0.5  # probability of a horizontal flip
    vertical_flip_prob: float = 0.0  # probability of a vertical flip (drawn after the others: 0 keeps old views)
    brightness: float = 0.1  # brightness factor drawn from [1 - b, 1 + b]
    contrast: float = 0.1  # contrast factor drawn from [1 - c, 1 + c]
    saturation: float = 0.1  # saturation factor drawn from [1 - s, 1 + s]
    hue: float = 0.0  # hue rotation drawn from [-h, h] turns (h <= 0.5)


@dataclass
class TextAugmentConfig:
    """Random view of a caption (CLIPin keeps text augmentation off in its reported results)."""

    enabled: bool = False  # False: both text views are the caption itself (CLIPin A.3 default)
    deletion_prob: float = 0.1  # each word is dropped with this probability (at least one word stays)
    swap_prob: float = 0.1  # round(swap_prob * words) random pairs of words swap places


def view_seed(seed: int, index: int, step: int, view: int) -> int:
    """A 63-bit seed mixing the run seed, the dataset index, the optimizer step and the view number."""
    state = 0
    for part in (seed, index, step, view):
        state = _splitmix64((state ^ (int(part) & _MASK64)) & _MASK64)
    return state >> 1  # torch.Generator.manual_seed takes values below 2**63


def _splitmix64(value: int) -> int:
    value = (value + 0x9E3779B97F4A7C15) & _MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return value ^ (value >> 31)


def view_seeds(seed: int, index: torch.Tensor, step: int, view: int) -> list[int]:
    """``view_seed`` for every dataset index of a batch (``index``: [B])."""
    return [view_seed(seed, int(i), step, view) for i in index.reshape(-1).tolist()]


def generators_for(seeds: Sequence[int]) -> list[torch.Generator]:
    """One CPU generator per sample, seeded."""
    return [torch.Generator().manual_seed(int(s)) for s in seeds]


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def sample_image_params(generator: torch.Generator, config: ImageAugmentConfig) -> dict[str, float]:
    """Draw one sample's crop box (normalized coordinates), flip and jitter factors."""
    area = _uniform(generator, config.crop_scale_min, config.crop_scale_max)
    log_ratio = _uniform(generator, math.log(config.crop_ratio_min), math.log(config.crop_ratio_max))
    ratio = math.exp(log_ratio)
    width = min(1.0, math.sqrt(area * ratio))  # crop width as a fraction of the image width
    height = min(1.0, math.sqrt(area / ratio))  # crop height fraction
    center_x = _uniform(generator, -(1.0 - width), 1.0 - width)  # crop center in [-1, 1] grid coordinates
    center_y = _uniform(generator, -(1.0 - height), 1.0 - height)
    flip = float(torch.rand((), generator=generator)) < config.flip_prob
    params = {
        "width": width,
        "height": height,
        "center_x": center_x,
        "center_y": center_y,
        "flip": -1.0 if flip else 1.0,
        "brightness": _uniform(generator, 1.0 - config.brightness, 1.0 + config.brightness),
        "contrast": _uniform(generator, 1.0 - config.contrast, 1.0 + config.contrast),
        "saturation": _uniform(generator, 1.0 - config.saturation, 1.0 + config.saturation),
        "hue": _uniform(generator, -config.hue, config.hue),
        "vertical_flip": 1.0,
    }
    if config.vertical_flip_prob > 0:  # an extra draw only when asked for: existing views stay bit-identical
        params["vertical_flip"] = -1.0 if float(torch.rand((), generator=generator)) < config.vertical_flip_prob else 1.0
    return params


def augment_images(
    images: torch.Tensor,  # [B, 3, H, W] in [0, 1]
    generators: Sequence[torch.Generator],  # one per sample
    config: ImageAugmentConfig,
) -> torch.Tensor:  # [B, 3, H, W] in [0, 1]
    """Crop-resize, flip and color-jitter each image with its own generator."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"augment_images expects [B, 3, H, W] images, got {tuple(images.shape)}")
    if len(generators) != images.shape[0]:
        raise ValueError(f"augment_images needs one generator per image: {len(generators)} for {images.shape[0]}")
    if not config.enabled:
        return images
    params = [sample_image_params(g, config) for g in generators]
    column = lambda key: torch.tensor([p[key] for p in params], dtype=torch.float32, device=images.device)  # noqa: E731
    views = _crop_and_flip(images.float(), column("width"), column("height"), column("center_x"),
                           column("center_y"), column("flip"), column("vertical_flip"))
    views = _adjust_brightness(views, column("brightness"))
    views = _adjust_contrast(views, column("contrast"))
    views = _adjust_saturation(views, column("saturation"))
    if config.hue > 0:
        views = _rotate_hue(views, column("hue"))
    return views.to(images.dtype)


def _crop_and_flip(images, width, height, center_x, center_y, flip, vertical_flip) -> torch.Tensor:
    # Output grid point (x, y) in [-1, 1]^2 reads input (flip * width * x + cx, vflip * height * y + cy).
    batch = images.shape[0]
    theta = torch.zeros(batch, 2, 3, dtype=images.dtype, device=images.device)  # [B, 2, 3]
    theta[:, 0, 0] = flip * width
    theta[:, 0, 2] = center_x
    theta[:, 1, 1] = vertical_flip * height
    theta[:, 1, 2] = center_y
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)  # [B, H, W, 2]
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _gray(images: torch.Tensor) -> torch.Tensor:  # [B, 3, H, W] -> [B, 1, H, W]
    r, g, b = _GRAY_WEIGHTS
    return (r * images[:, 0] + g * images[:, 1] + b * images[:, 2]).unsqueeze(1)


def _adjust_brightness(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return (images * factor.view(-1, 1, 1, 1)).clamp(0.0, 1.0)


def _adjust_contrast(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    mean = _gray(images).mean(dim=(1, 2, 3), keepdim=True)  # [B, 1, 1, 1]
    return ((images - mean) * factor.view(-1, 1, 1, 1) + mean).clamp(0.0, 1.0)


def _adjust_saturation(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    gray = _gray(images)  # [B, 1, H, W]
    return ((images - gray) * factor.view(-1, 1, 1, 1) + gray).clamp(0.0, 1.0)


def _rotate_hue(images: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    # Rotate the chroma plane of YIQ by 2*pi*turns (a torch-only approximation of an HSV hue shift).
    to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]],
                          dtype=images.dtype, device=images.device)  # [3, 3]
    from_yiq = torch.linalg.inv(to_yiq)
    angle = 2 * math.pi * turns  # [B]
    cos, sin = angle.cos(), angle.sin()
    rotation = torch.zeros(images.shape[0], 3, 3, dtype=images.dtype, device=images.device)  # [B, 3, 3]
    rotation[:, 0, 0] = 1.0
    rotation[:, 1, 1], rotation[:, 1, 2] = cos, -sin
    rotation[:, 2, 1], rotation[:, 2, 2] = sin, cos
    matrix = from_yiq @ rotation @ to_yiq  # [B, 3, 3]
    return torch.einsum("bij,bjhw->bihw", matrix, images).clamp(0.0, 1.0)


def augment_text(text: str, seed: int, config: TextAugmentConfig) -> str:
    """Drop and swap words of ``text`` with a ``random.Random(seed)``; unchanged when disabled."""
    if not config.enabled:
        return text
    rng = random.Random(seed)
    words = text.split()
    if len(words) <= 1:
        return text
    kept = [w for w in words if rng.random() >= config.deletion_prob]
    if not kept:
        kept = [words[rng.randrange(len(words))]]
    for _ in range(round(config.swap_prob * len(kept))):
        a, b = rng.randrange(len(kept)), rng.randrange(len(kept))
        kept[a], kept[b] = kept[b], kept[a]
    return " ".join(kept)


def augment_texts(texts: Sequence[str], seeds: Sequence[int], config: TextAugmentConfig) -> list[str]:
    """``augment_text`` for each caption with its own seed."""
    if len(texts) != len(seeds):
        raise ValueError(f"augment_texts needs one seed per text: {len(seeds)} for {len(texts)}")
    return [augment_text(t, s, config) for t, s in zip(texts, seeds)]
