"""Pure-data scene descriptions: objects on a ground plane, a camera and a background.

A scene is frozen dataclasses only (no randomness, no drawing), so two scenes can be compared
field by field (``scene_diff``), serialised (``describe``), and every caption, question and
answer is a function of the description alone.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from openeyes.world.config import WorldConfig
from openeyes.world.vocab import PLURALS, noun_of


@dataclass(frozen=True)
class WorldObject:
    shape: str  # category, one of vocab.SHAPES
    color: str  # colour name, one of vocab.COLORS
    size: str  # "small" | "large" (intrinsic size word)
    diameter: float  # intrinsic diameter, fraction of the image side at z = 0 and zoom 1
    x: float  # lateral position on the ground plane, -1 (left) .. 1 (right)
    z: float  # depth on the ground plane, 0 (nearest) .. 1 (farthest)
    fill: str | None = None  # "solid" | "outlined"; None for rings and glyphs
    mark: str | None = None  # "dot" | "stripe" | None
    orientation: str | None = None  # "left" | "right" | "up" | "down" for arrows, triangles, moons
    variant: str | None = None  # star points "5"/"6"; hexagon-category sides "6"/"8"
    glyph: str | None = None  # the character of a letter or digit
    tint: tuple[int, int, int] = (0, 0, 0)  # small RGB offset of the colour (nuisance)

    @property
    def noun(self) -> str:
        return noun_of(self.shape, self.variant)

    @property
    def plural(self) -> str:
        return PLURALS[self.noun]


@dataclass(frozen=True)
class Camera:
    zoom: float = 1.0  # magnification about the image centre
    rotation: float = 0.0  # roll in degrees (counter-clockwise on screen)
    shift_x: float = 0.0  # crop offset, fraction of the image side
    shift_y: float = 0.0


@dataclass(frozen=True)
class Background:
    style: str = "plain"  # "plain" | "gradient" | "noisy"
    color: tuple[int, int, int] = (200, 200, 200)
    color2: tuple[int, int, int] = (170, 170, 170)  # far end of a gradient
    vertical: bool = True  # gradient direction
    noise_seed: int = 0  # seeds the texture of a noisy background


@dataclass(frozen=True)
class Scene:
    objects: tuple[WorldObject, ...]
    camera: Camera = field(default_factory=Camera)
    background: Background = field(default_factory=Background)
    theme: str = "geometry"


@dataclass(frozen=True)
class Placement:
    """Where an object lands on screen (fractions of the image side)."""

    cx: float
    cy: float
    radius: float
    rotation: float  # degrees


def depth_scale(z: float, config: WorldConfig) -> float:
    return 1.0 - (1.0 - config.far_scale) * z


def project(x: float, z: float, diameter: float, camera: Camera, config: WorldConfig) -> tuple[float, float, float]:
    """Screen (cx, cy, radius) of a disc of ``diameter`` at plane (x, z): farther = smaller, higher."""
    scale = 1.0 - (1.0 - config.far_scale) * z
    px = x * config.x_spread * scale
    py = config.near_y + (config.far_y - config.near_y) * z - 0.5
    angle = math.radians(camera.rotation)
    cos, sin = math.cos(angle), math.sin(angle)
    rx, ry = cos * px + sin * py, -sin * px + cos * py  # counter-clockwise on a y-down screen
    return (0.5 + camera.zoom * rx + camera.shift_x, 0.5 + camera.zoom * ry + camera.shift_y,
            0.5 * diameter * scale * camera.zoom)


def place(obj: WorldObject, camera: Camera, config: WorldConfig) -> Placement:
    """Where ``obj`` lands on screen under ``camera`` (perspective, then zoom/roll/shift)."""
    cx, cy, radius = project(obj.x, obj.z, obj.diameter, camera, config)
    return Placement(cx=cx, cy=cy, radius=radius, rotation=camera.rotation)


def plane_distance(a: WorldObject, b: WorldObject) -> float:
    """Distance on the ground plane (x and z in the same units)."""
    return math.hypot(a.x - b.x, a.z - b.z)


def describe(scene: Scene) -> dict:
    """The scene as plain JSON-able data."""
    return dataclasses.asdict(scene)


def scene_diff(a: Scene, b: Scene) -> list[str]:
    """Paths of the leaf attributes that differ; an added or removed object counts once."""
    diffs = _dict_diff(dataclasses.asdict(a.camera), dataclasses.asdict(b.camera), "camera")
    diffs += _dict_diff(dataclasses.asdict(a.background), dataclasses.asdict(b.background), "background")
    if a.theme != b.theme:
        diffs.append("theme")
    for i, (oa, ob) in enumerate(zip(a.objects, b.objects)):
        diffs += _dict_diff(dataclasses.asdict(oa), dataclasses.asdict(ob), f"objects[{i}]")
    longer = a.objects if len(a.objects) > len(b.objects) else b.objects
    diffs += [f"objects[{i}] added" for i in range(min(len(a.objects), len(b.objects)), len(longer))]
    return diffs


def _dict_diff(a: dict, b: dict, prefix: str) -> list[str]:
    return [f"{prefix}.{key}" for key in a if a[key] != b[key]]
