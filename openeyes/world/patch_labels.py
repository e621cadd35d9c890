"""Per-patch labels of a world scene: which object's category and colour cover each patch.

The encoder recipe's dense auxiliary head (``training/objectives/patch_labels.py``) reads
these. A scene's ``layout`` is one ``(cx, cy, radius, noun_id, color_id)`` row per object,
far to near (drawing order), in fractions of the image side; ``patch_label_map`` marks each
patch of a ``grid x grid`` tiling with the nearest object whose disc (shrunk by
``coverage``) contains the patch centre, or the background id (``len(NOUNS)`` /
``len(COLOR_NAMES)``) where none does.
"""
from __future__ import annotations

import numpy as np

from openeyes.world.config import WorldConfig
from openeyes.world.scene import Scene, place
from openeyes.world.vocab import COLOR_NAMES, NOUNS

BACKGROUND_NOUN = len(NOUNS)  # id of "no object" in a patch noun map
BACKGROUND_COLOR = len(COLOR_NAMES)  # id of "no object" in a patch colour map


def scene_layout(scene: Scene, config: WorldConfig) -> tuple[tuple[float, float, float, int, int], ...]:
    """``(cx, cy, radius, noun_id, color_id)`` per object, far first (the renderer's order)."""
    rows = []
    for obj in sorted(scene.objects, key=lambda o: -o.z):
        placement = place(obj, scene.camera, config)
        rows.append((placement.cx, placement.cy, placement.radius, NOUNS.index(obj.noun), COLOR_NAMES.index(obj.color)))
    return tuple(rows)


def patch_label_map(layout, grid: int, coverage: float = 0.85) -> tuple[np.ndarray, np.ndarray]:
    """Noun ids and colour ids per patch, row-major: two int64 arrays [grid * grid]."""
    if grid <= 0:
        raise ValueError(f"grid must be positive, got {grid}")
    centres = (np.arange(grid) + 0.5) / grid
    ys, xs = np.meshgrid(centres, centres, indexing="ij")  # [G, G] each
    nouns = np.full((grid, grid), BACKGROUND_NOUN, dtype=np.int64)
    colors = np.full((grid, grid), BACKGROUND_COLOR, dtype=np.int64)
    for cx, cy, radius, noun_id, color_id in layout:  # far first: nearer objects overwrite
        inside = (xs - cx) ** 2 + (ys - cy) ** 2 < (radius * coverage) ** 2
        nouns[inside] = noun_id
        colors[inside] = color_id
    return nouns.reshape(-1), colors.reshape(-1)
