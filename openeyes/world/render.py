"""Draw a scene with PIL: background, ground shading, objects far-to-near, then downsample.

Drawing happens at ``image_size * supersample`` and is reduced with a box filter (anti-aliased
edges). The renderer reads only the scene description and the config; it has no randomness
of its own (a noisy background is seeded by the description).
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from openeyes.world.config import WorldConfig
from openeyes.world.scene import Background, Scene, WorldObject, place
from openeyes.world.shapes import STRIPE_HALF_LENGTH, glyph_strokes, mark_anchor, outline, rotate
from openeyes.world.vocab import COLORS, GLYPH_SHAPES


def render(scene: Scene, config: WorldConfig, size: int | None = None) -> np.ndarray:
    """The scene as a uint8 array [size, size, 3]."""
    size = size or config.image_size
    canvas = size * config.supersample
    image = draw_background(scene.background, canvas, config)
    draw = ImageDraw.Draw(image)
    for obj in sorted(scene.objects, key=lambda o: -o.z):  # far first, near last (occludes)
        draw_object(draw, obj, scene, canvas, config)
    if config.supersample > 1:
        image = image.resize((size, size), Image.Resampling.BOX)
    return np.asarray(image)


def draw_background(background: Background, canvas: int, config: WorldConfig) -> Image.Image:
    base = np.array(background.color, dtype=np.float32)
    if background.style == "plain":
        pixels = np.broadcast_to(base, (canvas, canvas, 3)).copy()
    elif background.style == "gradient":
        ramp = np.linspace(0.0, 1.0, canvas, dtype=np.float32)[:, None]
        line = base + ramp * (np.array(background.color2, dtype=np.float32) - base)  # [S, 3]
        pixels = np.broadcast_to(line[:, None, :] if background.vertical else line[None, :, :], (canvas, canvas, 3)).copy()
    else:
        noise_rng = np.random.default_rng(background.noise_seed)
        coarse = noise_rng.uniform(-1, 1, (canvas // 8, canvas // 8, 1)).astype(np.float32)
        fine = noise_rng.uniform(-0.5, 0.5, (canvas, canvas, 1)).astype(np.float32)
        pixels = base + config.noise_amplitude * (np.kron(coarse, np.ones((8, 8, 1), np.float32)) + fine)
    if config.floor_shade != 1.0:  # the ground plane, darker below the horizon
        horizon = int(canvas * (config.far_y - 0.1))
        pixels[horizon:] *= config.floor_shade
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def object_rgb(obj: WorldObject) -> tuple[int, int, int]:
    return tuple(int(min(255, max(0, c + t))) for c, t in zip(COLORS[obj.color], obj.tint))


def mark_rgb(obj: WorldObject, rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """Dots/stripes contrast with a solid fill; on outlines and rings they take the object colour."""
    if obj.fill != "solid":
        return rgb
    luminance = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    return (250, 250, 250) if luminance < 150 else (28, 28, 28)


def draw_object(draw: ImageDraw.ImageDraw, obj: WorldObject, scene: Scene, canvas: int, config: WorldConfig) -> None:
    p = place(obj, scene.camera, config)
    cx, cy, r = p.cx * canvas, p.cy * canvas, p.radius * canvas
    rgb = object_rgb(obj)
    if obj.shape in GLYPH_SHAPES:
        _draw_glyph(draw, obj.glyph, cx, cy, r, p.rotation, rgb, config)
        return
    if obj.shape in ("circle", "ring"):
        box = (cx - r, cy - r, cx + r, cy + r)
        if obj.shape == "ring":
            draw.ellipse(box, outline=rgb, width=max(2, round(0.36 * r)))
        elif obj.fill == "solid":
            draw.ellipse(box, fill=rgb)
        else:
            draw.ellipse(box, outline=rgb, width=max(2, round(config.outline_frac * r)))
    else:
        pts = rotate(outline(obj.shape, obj.orientation, obj.variant), p.rotation) * r + (cx, cy)
        flat = [float(v) for v in pts.ravel()]
        if obj.fill == "solid":
            draw.polygon(flat, fill=rgb)
        else:
            draw.polygon(flat, outline=rgb, width=max(2, round(config.outline_frac * r)))
    if obj.mark:
        _draw_mark(draw, obj, cx, cy, r, p.rotation, mark_rgb(obj, rgb), config)


def _draw_mark(draw, obj: WorldObject, cx, cy, r, rotation, rgb, config: WorldConfig) -> None:
    ax, ay = rotate(np.array([mark_anchor(obj.shape, obj.orientation)]), rotation)[0] * r + (cx, cy)
    if obj.mark == "dot":
        d = config.dot_frac * r
        draw.ellipse((ax - d, ay - d, ax + d, ay + d), fill=rgb)
        return
    half = STRIPE_HALF_LENGTH.get(obj.shape, 0.5)
    ends = rotate(np.array([[-half, 0.0], [half, 0.0]]), rotation) * r + (ax, ay)
    draw.line([float(v) for v in ends.ravel()], fill=rgb, width=max(2, round(config.stripe_frac * 2 * r)))


def _draw_glyph(draw, glyph: str, cx, cy, r, rotation, rgb, config: WorldConfig) -> None:
    width = max(2, round(config.glyph_stroke_frac * r))
    for stroke in glyph_strokes(glyph):
        pts = rotate(stroke, rotation) * r + (cx, cy)
        draw.line([float(v) for v in pts.ravel()], fill=rgb, width=width, joint="curve")
        for x, y in (pts[0], pts[-1]):  # round caps so separate strokes join cleanly
            draw.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=rgb)
