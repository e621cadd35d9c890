"""Random-access, torch-free datasets over the world, used by the trainer.

``WorldImageText`` yields scenes of 1-4 objects with a caption and structured labels;
``WorldClassification`` yields single objects labelled by ``CLASSIFICATION_CLASSES``. Item
``i`` of a split is a pure function of (seed, split, i): any index can be read in any order,
from any process, and train/val/test draw from disjoint random streams.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from openeyes.world.captions import caption
from openeyes.world.config import WorldConfig
from openeyes.world.patch_labels import scene_layout
from openeyes.world.render import render
from openeyes.world.sampling import place_objects, rng_for, sample_background, sample_camera, sample_object, sample_scene
from openeyes.world.scene import Scene, WorldObject
from openeyes.world.vocab import (
    CLASSIFICATION_CLASSES, COLOR_NAMES, NOUNS, THEME_NAMES,
)


def main_object(scene: Scene) -> WorldObject:
    """The object the labels describe: the nearest one (drawn last, never occluded)."""
    return min(scene.objects, key=lambda o: o.z)


def scene_labels(scene: Scene, config: WorldConfig | None = None) -> dict:
    """Facts about the scene (collate-friendly: str, int and tuples of numbers).

    ``layout`` (with ``config``) places every object on screen for per-patch labels
    (``openeyes.world.patch_labels``).
    """
    obj = main_object(scene)
    return {
        "shape": obj.noun,
        "shape_id": NOUNS.index(obj.noun),
        "color": obj.color,
        "color_id": COLOR_NAMES.index(obj.color),
        "size": obj.size,
        "fill": obj.fill or "none",
        "mark": obj.mark or "none",
        "orientation": obj.orientation or "none",
        "glyph": obj.glyph or "none",
        "count": len(scene.objects),
        "theme": scene.theme,
        "theme_id": THEME_NAMES.index(scene.theme),
        # which categories / colours appear anywhere in the scene (multi-hot, for auxiliary heads)
        "nouns_present": tuple(int(any(o.noun == n for o in scene.objects)) for n in NOUNS),
        "colors_present": tuple(int(any(o.color == c for o in scene.objects)) for c in COLOR_NAMES),
    } | ({"layout": scene_layout(scene, config)} if config is not None else {})


class _WorldDataset:
    def __init__(self, seed: int, split: str, size: int = 64, length: int = 100_000,
                 config: WorldConfig | None = None):
        if length <= 0:
            raise ValueError(f"length must be positive, got {length}")
        self.seed, self.split, self.size, self.length = int(seed), str(split), int(size), int(length)
        self.config = dataclasses.replace(config or WorldConfig(), image_size=self.size)

    def __len__(self) -> int:
        return self.length

    def _index(self, i: int) -> int:
        i = int(i)
        if i < 0:
            i += self.length
        if not 0 <= i < self.length:
            raise IndexError(f"index {i} out of range for a dataset of length {self.length}")
        return i


class WorldImageText(_WorldDataset):
    """Image-caption pairs: ``{"image": uint8 [size, size, 3], "text": str, "labels": dict}``."""

    stream = "image_text"

    def scene(self, i: int) -> Scene:
        return sample_scene(rng_for(self.seed, self.split, self._index(i), self.stream), self.config)

    def caption(self, i: int) -> str:
        """Item ``i``'s caption without rendering its image (the same text as ``self[i]["text"]``)."""
        rng = rng_for(self.seed, self.split, self._index(i), self.stream)
        scene = sample_scene(rng, self.config)
        return caption(scene, rng, self.config)

    def __getitem__(self, i: int) -> dict:
        i = self._index(i)
        rng = rng_for(self.seed, self.split, i, self.stream)
        scene = sample_scene(rng, self.config)
        return {"image": render(scene, self.config), "text": caption(scene, rng, self.config),
                "labels": scene_labels(scene, self.config)}


class WorldClassification(_WorldDataset):
    """Single-object images: ``{"image": uint8 array, "label": int, "text": class name}``.

    Labels cycle through the classes (item i has label i % num_classes), so every class is
    equally frequent in any prefix of whole cycles.
    """

    stream = "classification"
    classes = CLASSIFICATION_CLASSES

    def scene(self, i: int) -> Scene:
        i = self._index(i)
        rng = rng_for(self.seed, self.split, i, self.stream)
        color, shape = split_class(self.classes[i % len(self.classes)])
        theme = THEME_NAMES[int(rng.integers(len(THEME_NAMES)))]
        camera = sample_camera(rng, self.config)
        obj = sample_object(rng, self.config, theme, shape=shape, color=color)
        if shape == "hexagon":
            obj = dataclasses.replace(obj, variant="6")
        placed = place_objects(rng, [obj], camera, self.config, x_range=(-0.6, 0.6), z_range=(0.0, 0.6))
        return Scene(objects=tuple(placed), camera=camera, background=sample_background(rng, theme), theme=theme)

    def __getitem__(self, i: int) -> dict:
        i = self._index(i)
        scene = self.scene(i)
        label = i % len(self.classes)
        return {"image": render(scene, self.config), "label": label, "text": self.classes[label]}


def split_class(name: str) -> tuple[str, str]:
    """'dark red star' -> ('dark red', 'star')."""
    color, _, shape = name.rpartition(" ")
    return color, shape


def stack_images(items: list[dict]) -> np.ndarray:
    """[N, H, W, 3] uint8 from dataset items (a convenience for tests and probes)."""
    return np.stack([item["image"] for item in items])
