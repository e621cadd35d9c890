"""Image-text data for encoder training: the synthetic world or a real-format file, one collate.

Every source yields ``{"image": uint8 array [H, W, 3] or PIL image, "text": str, ...}``; the
collate resizes to the encoder's square input (PIL, bicubic) and returns the batch format of
``training/objectives/base.py``: ``images`` float [B, 3, S, S] in [0, 1], ``texts`` list[str],
plus ``label_hot`` float [B, K] (categories and colours present) when the source has the
world's structured labels, and ``patch_nouns`` / ``patch_colors`` long [B, G * G] (what covers
each patch of a G x G grid, ``openeyes.world.patch_labels``) when a grid is asked for too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image

from openeyes.errors import UserError
from openeyes.world.patch_labels import patch_label_map


@dataclass
class DataConfig:
    source: Literal["world", "world_prior", "captions", "llava", "webdataset"] = "world"  # where pairs come from (world_prior: full captions + pair statements)
    path: str | None = None  # file/folder/tar pattern for the non-world sources
    world_seed: int = 0  # seed of the world's training split (scenes are generated on the fly)
    world_length: int = 2_000_000  # size of the world's (virtual) training set
    image_column: str = "image"  # captions source: column holding the image path
    text_column: str = "caption"  # captions source: column holding the caption
    pair_fraction: float = 0.5  # world_prior source: share of items that are one image of an MMVP-style pair


def build_dataset(config: DataConfig, image_size: int):
    """The map-style dataset named by ``config``."""
    if config.source == "world":
        from openeyes.world.dataset import WorldImageText

        return WorldImageText(config.world_seed, "train", size=image_size, length=config.world_length)
    if config.source == "world_prior":
        from openeyes.world.prior_text import WorldPriorText

        return WorldPriorText(config.world_seed, "train", size=image_size, length=config.world_length,
                              pair_fraction=config.pair_fraction)
    if config.path is None:
        raise UserError(f"data.source={config.source} needs data.path")
    if config.source == "captions":
        from openeyes.datasets import read_captions

        return read_captions(config.path, image_column=config.image_column, text_column=config.text_column)
    if config.source == "llava":
        from openeyes.datasets import read_llava_pretrain

        return read_llava_pretrain(config.path)
    from openeyes.datasets import WebDatasetTars

    return WebDatasetTars(config.path)


class ImageTextCollate:
    """Samples -> ``{"images": [B, 3, S, S] in [0, 1], "texts": [...], "label_hot"?: [B, K], ...}``."""

    def __init__(self, image_size: int, patch_grid: int | None = None):
        self.image_size = image_size
        self.patch_grid = patch_grid  # G: also emit per-patch labels on a G x G grid (world source only)

    def _pixels(self, image: Any) -> np.ndarray:  # [S, S, 3] uint8
        if isinstance(image, np.ndarray) and image.shape[:2] == (self.image_size, self.image_size):
            return image
        picture = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
        picture = picture.convert("RGB").resize((self.image_size, self.image_size), Image.BICUBIC)
        return np.asarray(picture)

    def __call__(self, samples: list[dict]) -> dict[str, Any]:
        pixels = np.stack([self._pixels(s["image"]) for s in samples])  # [B, S, S, 3]
        batch = {
            "images": torch.from_numpy(pixels).permute(0, 3, 1, 2).float().div_(255.0),  # [B, 3, S, S]
            "texts": [s["text"] for s in samples],
        }
        labels = [s.get("labels") for s in samples]
        if all(isinstance(l, dict) and "nouns_present" in l for l in labels):
            hot = [list(l["nouns_present"]) + list(l["colors_present"]) for l in labels]
            batch["label_hot"] = torch.tensor(hot, dtype=torch.float32)  # [B, K]
        if self.patch_grid and all(isinstance(l, dict) and "layout" in l for l in labels):
            maps = [patch_label_map(l["layout"], self.patch_grid) for l in labels]
            batch["patch_nouns"] = torch.from_numpy(np.stack([m[0] for m in maps]))  # [B, G * G]
            batch["patch_colors"] = torch.from_numpy(np.stack([m[1] for m in maps]))  # [B, G * G]
        return batch
