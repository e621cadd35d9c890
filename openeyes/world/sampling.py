"""Deterministic scene sampling: random streams keyed by (seed, split, stream, index).

``rng_for`` derives an independent numpy generator for every item, so any item of any split
can be drawn on its own (random access) and train/val/test never share a stream. The
samplers only choose values; every later answer reads the resulting description.
"""
from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

from openeyes.world.config import WorldConfig
from openeyes.world.scene import Background, Camera, Scene, WorldObject, project
from openeyes.world.vocab import (
    BACKGROUND_STYLES, COLOR_NAMES, DOT_SHAPES, FILLABLE, GLYPHS, MARKS, ORIENTATIONS, SHAPES,
    STRIPE_SHAPES, THEME_NAMES, THEMES, VARIANTS,
)


def name_key(name: str) -> int:
    """A stable 64-bit integer for a name (split or stream), independent of PYTHONHASHSEED."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


def rng_for(seed: int, split: str, index: int, stream: str = "") -> np.random.Generator:
    """The generator of item ``index`` of ``split`` (and an optional sub-``stream``)."""
    entropy = [int(seed) % (1 << 64), name_key(split), name_key(stream), int(index)]
    return np.random.Generator(np.random.Philox(np.random.SeedSequence(entropy)))


def choice(rng: np.random.Generator, items, weights=None):
    """One element of ``items`` (a sequence), optionally weighted."""
    if weights is None:
        return items[int(rng.integers(len(items)))]
    cumulative = np.cumsum(weights, dtype=float)
    index = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
    return items[min(index, len(items) - 1)]


def sample_theme(rng: np.random.Generator) -> str:
    return choice(rng, THEME_NAMES)


def shape_weights(theme: str, config: WorldConfig, allowed=SHAPES) -> list[float]:
    favoured = THEMES[theme]["shapes"]
    return [config.theme_shape_weight if s in favoured else 1.0 for s in allowed]


def color_weights(theme: str, config: WorldConfig, allowed=COLOR_NAMES) -> list[float]:
    favoured = THEMES[theme]["colors"]
    return [config.theme_color_weight if c in favoured else 1.0 for c in allowed]


def sample_background(rng: np.random.Generator, theme: str) -> Background:
    base = np.array(THEMES[theme]["tint"], dtype=float)
    color = np.clip(base + rng.uniform(-22, 22, 3), 120, 240)
    color2 = np.clip(color + rng.uniform(-40, 40, 3), 110, 245)
    return Background(
        style=choice(rng, BACKGROUND_STYLES),
        color=tuple(int(v) for v in color),
        color2=tuple(int(v) for v in color2),
        vertical=bool(rng.random() < 0.5),
        noise_seed=int(rng.integers(1 << 31)),
    )


def sample_camera(rng: np.random.Generator, config: WorldConfig) -> Camera:
    return Camera(
        zoom=round(float(rng.uniform(*config.zoom_range)), 4),
        rotation=round(float(rng.uniform(-config.max_rotation_deg, config.max_rotation_deg)), 3),
        shift_x=round(float(rng.uniform(-config.max_shift, config.max_shift)), 4),
        shift_y=round(float(rng.uniform(-config.max_shift, config.max_shift)), 4),
    )


def sample_object(
    rng: np.random.Generator,
    config: WorldConfig,
    theme: str,
    *,
    shape: str | None = None,
    color: str | None = None,
    size: str | None = None,
) -> WorldObject:
    """An object with random attributes (position left at the origin; see ``place_objects``)."""
    shape = shape or choice(rng, SHAPES, shape_weights(theme, config))
    color = color or choice(rng, COLOR_NAMES, color_weights(theme, config))
    size = size or ("large" if rng.random() < config.p_large else "small")
    low, high = config.large_diameter if size == "large" else config.small_diameter
    fill = None
    if shape in FILLABLE:
        fill = "outlined" if rng.random() < config.p_outlined else "solid"
    mark = None
    if shape in DOT_SHAPES and rng.random() < config.p_mark:
        mark = choice(rng, MARKS) if shape in STRIPE_SHAPES else "dot"
    orientation = choice(rng, ORIENTATIONS[shape]) if shape in ORIENTATIONS else None
    variant = None
    if shape == "star":
        variant = choice(rng, VARIANTS["star"])
    elif shape == "hexagon":
        variant = "8" if rng.random() < config.p_octagon else "6"
    glyph = choice(rng, GLYPHS[shape]) if shape in GLYPHS else None
    tint = tuple(int(v) for v in rng.integers(-config.color_jitter, config.color_jitter + 1, 3))
    return WorldObject(shape=shape, color=color, size=size, diameter=round(float(rng.uniform(low, high)), 4),
                       x=0.0, z=0.0, fill=fill, mark=mark, orientation=orientation, variant=variant,
                       glyph=glyph, tint=tint)


def fits(obj: WorldObject, others, camera: Camera, config: WorldConfig, max_overlap: float | None = None) -> bool:
    """Inside the frame (up to a margin) and not overlapping any other object too much."""
    discs = [project(o.x, o.z, o.diameter, camera, config) for o in others]
    return _disc_fits(project(obj.x, obj.z, obj.diameter, camera, config), discs, config, max_overlap)


def _disc_fits(disc, others, config: WorldConfig, max_overlap: float | None) -> bool:
    overlap = config.max_overlap if max_overlap is None else max_overlap
    cx, cy, r = disc
    slack = config.frame_margin * r
    if min(cx - r, cy - r) < -slack or max(cx + r, cy + r) > 1 + slack:
        return False
    for ox, oy, orad in others:
        if ((cx - ox) ** 2 + (cy - oy) ** 2) ** 0.5 < (1 - overlap) * (r + orad):
            return False
    return True


def place_at_random(
    rng: np.random.Generator,
    obj: WorldObject,
    others,
    camera: Camera,
    config: WorldConfig,
    *,
    x_range=(-1.0, 1.0),
    z_range=(0.0, 1.0),
    tries: int = 40,
    max_overlap: float | None = None,
) -> WorldObject | None:
    """``obj`` moved to a random free spot of the plane, or None when none was found."""
    discs = [project(o.x, o.z, o.diameter, camera, config) for o in others]
    for _ in range(tries):
        x, z = round(float(rng.uniform(*x_range)), 4), round(float(rng.uniform(*z_range)), 4)
        if _disc_fits(project(x, z, obj.diameter, camera, config), discs, config, max_overlap):
            return dataclasses.replace(obj, x=x, z=z)
    return None


def place_objects(rng, objects, camera, config, *, existing=(), max_overlap=None, **ranges) -> list[WorldObject]:
    """Place each object in turn; one that finds no spot is retried small, then dropped."""
    placed = list(existing)
    for obj in objects:
        moved = place_at_random(rng, obj, placed, camera, config, max_overlap=max_overlap, **ranges)
        if moved is None and obj.size == "large":
            small = dataclasses.replace(obj, size="small", diameter=config.small_diameter[0])
            moved = place_at_random(rng, small, placed, camera, config, max_overlap=max_overlap, **ranges)
        if moved is not None:
            placed.append(moved)
    return placed[len(existing):]


def sample_scene(
    rng: np.random.Generator,
    config: WorldConfig,
    *,
    n_objects: int | None = None,
    min_distinct: int = 1,
    unique_names: bool = False,
    camera: Camera | None = None,
    max_overlap: float | None = None,
    attempts: int = 200,  # rare rng streams need many placements for 4 objects under a close-up camera
) -> Scene:
    """A themed scene of ``n_objects`` (default: uniform in the config's range) objects.

    ``min_distinct``: at least this many different nouns; ``unique_names``: no two objects share
    colour and noun (so "the red star" names one object).
    """
    for _ in range(attempts):
        theme = sample_theme(rng)
        count = n_objects or int(rng.integers(config.min_objects, config.max_objects + 1))
        cam = camera or sample_camera(rng, config)
        drafts = [sample_object(rng, config, theme) for _ in range(count)]
        objects = place_objects(rng, drafts, cam, config, max_overlap=max_overlap)
        names = [(o.color, o.noun) for o in objects]
        if not objects or (n_objects is not None and len(objects) < count):
            continue
        if len({o.noun for o in objects}) < min_distinct:
            continue
        if unique_names and len(set(names)) < len(names):
            continue
        return Scene(objects=tuple(objects), camera=cam, background=sample_background(rng, theme), theme=theme)
    raise RuntimeError(f"could not sample a scene with {n_objects} objects and {min_distinct} distinct nouns")
