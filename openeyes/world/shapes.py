"""Unit outlines of every category: polygons (radius 1, y down) and glyph strokes.

Shapes are cached per (shape, orientation, variant); the renderer only rotates, scales and
translates them. ``mark_anchor`` says where an inner dot or stripe sits.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

_ROTATE_FROM_RIGHT = {"right": 0.0, "up": 90.0, "left": 180.0, "down": 270.0}  # ccw degrees


def rotate(points: np.ndarray, degrees: float) -> np.ndarray:
    """Counter-clockwise (on a y-down screen) rotation of [N, 2] points about the origin."""
    a = math.radians(degrees)
    c, s = math.cos(a), math.sin(a)
    return np.stack([c * points[:, 0] + s * points[:, 1], -s * points[:, 0] + c * points[:, 1]], axis=1)


def _regular(n: int, radius: float, start_deg: float) -> np.ndarray:
    angles = np.radians(start_deg + 360.0 * np.arange(n) / n)
    return np.stack([radius * np.cos(angles), -radius * np.sin(angles)], axis=1)


def _star(points: int) -> np.ndarray:
    outer = _regular(points, 1.0, 90.0)
    inner = _regular(points, 0.46, 90.0 + 180.0 / points)
    return np.stack([outer, inner], axis=1).reshape(-1, 2)


def _heart() -> np.ndarray:
    t = np.linspace(0, 2 * math.pi, 48, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    pts = np.stack([x, y - 2.5], axis=1)
    return pts / np.abs(pts).max()


def _moon_right() -> np.ndarray:
    """A crescent whose horns (opening) point right: unit disc minus a disc shifted right."""
    d, r = 0.45, 0.8
    ix = (d * d + 1 - r * r) / (2 * d)
    iy = math.sqrt(1 - ix * ix)
    outer_start = math.atan2(iy, ix)
    outer = np.linspace(outer_start, 2 * math.pi - outer_start, 28)
    inner_start = math.atan2(iy, ix - d)
    inner = np.linspace(2 * math.pi - inner_start, inner_start, 20)
    pts = np.concatenate([np.stack([np.cos(outer), -np.sin(outer)], 1),
                          np.stack([d + r * np.cos(inner), -r * np.sin(inner)], 1)])
    return pts


_ARROW_RIGHT = np.array([(-1, -0.22), (0.15, -0.22), (0.15, -0.62), (1, 0), (0.15, 0.62), (0.15, 0.22), (-1, 0.22)])
_CROSS = np.array([(-0.3, -1), (0.3, -1), (0.3, -0.3), (1, -0.3), (1, 0.3), (0.3, 0.3), (0.3, 1), (-0.3, 1),
                   (-0.3, 0.3), (-1, 0.3), (-1, -0.3), (-0.3, -0.3)])
_TRIANGLE_UP = np.array([(0, -1), (0.866, 0.5), (-0.866, 0.5)])
_DIAMOND = np.array([(0, -1), (0.66, 0), (0, 1), (-0.66, 0)])
_SQUARE = np.array([(-0.8, -0.8), (0.8, -0.8), (0.8, 0.8), (-0.8, 0.8)])


@lru_cache(maxsize=None)
def outline(shape: str, orientation: str | None, variant: str | None) -> np.ndarray:
    """[N, 2] polygon of a non-glyph, non-round shape in unit coordinates."""
    if shape == "square":
        return _SQUARE
    if shape == "diamond":
        return _DIAMOND
    if shape == "cross":
        return _CROSS
    if shape == "heart":
        return _heart()
    if shape == "star":
        return _star(int(variant or 5))
    if shape == "hexagon":
        sides = int(variant or 6)
        return _regular(sides, 0.95, 0.0 if sides == 6 else 180.0 / sides)
    if shape == "triangle":
        return _TRIANGLE_UP if orientation != "down" else _TRIANGLE_UP * np.array([1, -1])
    if shape == "arrow":
        return rotate(_ARROW_RIGHT, _ROTATE_FROM_RIGHT[orientation or "right"])
    if shape == "moon":
        pts = _moon_right()
        return pts if orientation != "left" else pts * np.array([-1, 1])
    raise ValueError(f"no polygon for shape {shape!r}")


def mark_anchor(shape: str, orientation: str | None) -> tuple[float, float]:
    """Where a dot or stripe sits inside the shape (unit coordinates)."""
    if shape == "moon":
        return (-0.68, 0.0) if orientation != "left" else (0.68, 0.0)
    if shape == "arrow":
        unit = rotate(np.array([[0.42, 0.0]]), _ROTATE_FROM_RIGHT[orientation or "right"])[0]
        return float(unit[0]), float(unit[1])
    if shape == "heart":
        return (0.0, -0.05)
    return (0.0, 0.0)


STRIPE_HALF_LENGTH = {"circle": 0.72, "square": 0.68, "hexagon": 0.7, "diamond": 0.42, "heart": 0.55, "ring": 0.5}

# Glyph strokes on a [-1, 1] grid (y down); drawn 0.6 wide.
_SEG = {
    "a": [(-1, -1), (1, -1)], "b": [(1, -1), (1, 0)], "c": [(1, 0), (1, 1)], "d": [(-1, 1), (1, 1)],
    "e": [(-1, 0), (-1, 1)], "f": [(-1, -1), (-1, 0)], "g": [(-1, 0), (1, 0)],
}
_DIGIT_SEGMENTS = {"0": "abcdef", "1": "bc", "2": "abged", "3": "abgcd", "4": "fgbc", "5": "afgcd",
                   "6": "afgedc", "7": "abc", "8": "abcdefg", "9": "abcdfg"}
_LETTER_STROKES = {
    "E": [[(1, -1), (-1, -1), (-1, 1), (1, 1)], [(-1, 0), (0.6, 0)]],
    "F": [[(1, -1), (-1, -1), (-1, 1)], [(-1, 0), (0.6, 0)]],
    "H": [[(-1, -1), (-1, 1)], [(1, -1), (1, 1)], [(-1, 0), (1, 0)]],
    "L": [[(-1, -1), (-1, 1), (1, 1)]],
    "T": [[(-1, -1), (1, -1)], [(0, -1), (0, 1)]],
    "P": [[(-1, 1), (-1, -1), (1, -1), (1, 0), (-1, 0)]],
    "R": [[(-1, 1), (-1, -1), (1, -1), (1, 0), (-1, 0)], [(0, 0), (1, 1)]],
    "A": [[(-1, 1), (0, -1), (1, 1)], [(-0.5, 0.2), (0.5, 0.2)]],
    "K": [[(-1, -1), (-1, 1)], [(1, -1), (-1, 0.1)], [(-0.4, -0.2), (1, 1)]],
    "X": [[(-1, -1), (1, 1)], [(1, -1), (-1, 1)]],
    "Z": [[(-1, -1), (1, -1), (-1, 1), (1, 1)]],
}


@lru_cache(maxsize=None)
def glyph_strokes(glyph: str) -> tuple[np.ndarray, ...]:
    """Polylines ([K, 2] each) of a letter or digit, 0.6 wide and 1 tall (half-sizes)."""
    if glyph in _DIGIT_SEGMENTS:
        lines = [_SEG[s] for s in _DIGIT_SEGMENTS[glyph]]
    else:
        lines = _LETTER_STROKES[glyph]
    return tuple(np.array(line, dtype=float) * np.array([0.6, 0.9]) for line in lines)
