"""``WorldConfig``: every difficulty knob of the world in one typed dataclass.

Lengths are fractions of the image side so one config works at any resolution. Change these
(in a YAML file or with ``--set key=value``) to tune difficulty without touching code.
"""
from __future__ import annotations

from dataclasses import dataclass

from openeyes.errors import UserError


@dataclass
class WorldConfig:
    image_size: int = 64  # side of the square output image in pixels
    supersample: int = 2  # drawn at image_size * supersample, then downsampled (anti-aliasing)
    min_objects: int = 1  # fewest objects in a caption scene
    max_objects: int = 4  # most objects in a caption scene
    small_diameter: tuple[float, float] = (0.34, 0.42)  # "small" object diameter range at depth 0, zoom 1
    large_diameter: tuple[float, float] = (0.48, 0.60)  # "large" object diameter range at depth 0, zoom 1
    far_scale: float = 0.78  # apparent size multiplier at the far edge of the plane (z = 1)
    near_y: float = 0.66  # screen height (fraction, 0 = top) of object centres at z = 0
    far_y: float = 0.36  # screen height of object centres at z = 1 (higher on screen = farther)
    x_spread: float = 0.36  # screen x offset from the centre of an object at plane x = +-1, z = 0
    max_overlap: float = 0.30  # allowed overlap of two objects' discs, as a fraction of the sum of radii
    frame_margin: float = 0.15  # an object may leave the frame by at most this fraction of its radius
    p_outlined: float = 0.3  # probability that a fillable object is drawn outlined instead of solid
    p_mark: float = 0.3  # probability that a markable object carries an inner mark (dot or stripe)
    p_large: float = 0.5  # probability that an object is "large" rather than "small"
    dot_frac: float = 0.24  # radius of the inner dot, as a fraction of the object's radius
    stripe_frac: float = 0.16  # width of the inner stripe, as a fraction of the object's radius
    outline_frac: float = 0.13  # outline width of outlined shapes, as a fraction of the object's radius
    glyph_stroke_frac: float = 0.24  # stroke width of letters and digits, as a fraction of the radius
    color_jitter: int = 8  # +- uniform jitter of each RGB channel of an object's colour (nuisance)
    theme_shape_weight: float = 6.0  # sampling weight of a theme's favoured shapes (others weigh 1)
    theme_color_weight: float = 3.0  # sampling weight of a theme's favoured colours (others weigh 1)
    p_octagon: float = 0.3  # probability that a hexagon-category object has 8 sides (an "octagon")
    zoom_range: tuple[float, float] = (0.92, 1.08)  # camera zoom of ordinary scenes
    max_rotation_deg: float = 6.0  # camera roll of ordinary scenes, uniform in +-this
    max_shift: float = 0.04  # camera shift (crop) of ordinary scenes, fraction of the image
    closeup_zoom: float = 1.55  # camera zoom of a "close-up view" (viewpoint pairs)
    wide_zoom: float = 0.85  # camera zoom of a "wide view" (viewpoint pairs)
    noise_amplitude: float = 22.0  # +- amplitude of the noisy background texture (0-255 scale)
    floor_shade: float = 0.92  # brightness multiplier of the ground plane below the horizon (1 = none)
    relation_margin: float = 0.12  # min screen distance (fraction) for left/right or above/below claims
    depth_margin: float = 0.25  # min plane-z difference for "closer to the camera" claims
    jpeg_quality: int = 92  # quality of exported JPEG files

    def validate(self) -> "WorldConfig":
        """Refuse values no world can be built with (``UserError`` naming the field)."""
        checks = {
            "image_size": self.image_size >= 16,
            "supersample": self.supersample >= 1,
            "min_objects": 1 <= self.min_objects <= self.max_objects,
            "max_objects": 1 <= self.max_objects <= 8,
            "small_diameter": 0 < self.small_diameter[0] <= self.small_diameter[1] <= 1,
            "large_diameter": 0 < self.large_diameter[0] <= self.large_diameter[1] <= 1,
            "far_scale": 0 < self.far_scale <= 1,
            "max_overlap": 0 <= self.max_overlap < 1,
            "p_outlined": 0 <= self.p_outlined <= 1,
            "p_mark": 0 <= self.p_mark <= 1,
            "p_large": 0 <= self.p_large <= 1,
            "p_octagon": 0 <= self.p_octagon <= 1,
            "zoom_range": 0 < self.zoom_range[0] <= self.zoom_range[1],
            "jpeg_quality": 1 <= self.jpeg_quality <= 95,
        }
        for name, ok in checks.items():
            if not ok:
                raise UserError(f"world config value {name}={getattr(self, name)!r} is out of range")
        return self
