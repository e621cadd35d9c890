"""Attribute probe set: MMVP-style pairs as labelled images, for linear probes of fine attributes.

```
attribute_probe/train.csv            # header: image,pattern,label,pair
attribute_probe/test.csv
attribute_probe/images/<split>/<row>.png
```
One row per image, in pair-stream order (``units`` blocks of 9 patterns x 15 pairs per split).
``image`` is the path relative to the export folder, ``pattern`` the MMVP-VLM Type, ``label``
the value of the one attribute the image's pair varies (``Pair.values``: orientation word,
"present"/"absent" dot, fill, count, left/right side, colour, structural variant, glyph,
"close-up"/"wide" view), ``pair`` the pair's index within its split. Rows ``2 k`` and
``2 k + 1`` are the two images of pair ``k``, so they carry different labels of the same
pattern and always share a split: a probe fitted on ``train`` is scored on unseen pairs.
Both splits are drawn from the world's test split under their own streams (no MMVP-VLM pair
and no encoder-training scene reappears). PNG keeps the small marks lossless.
"""
from __future__ import annotations

from pathlib import Path

from openeyes.world.exporters.common import ExportContext, pair_stream, save_image, write_csv
from openeyes.world.pairs import Pair

HEADER = ["image", "pattern", "label", "pair"]
SPLITS = ("train", "test")


def split_pairs(context: ExportContext, split: str) -> list[Pair]:
    """The pairs of one probe split, in row order."""
    return pair_stream(context, f"attribute_probe_{split}")


def export(folder: Path, context: ExportContext) -> dict:
    counts = {}
    for split in SPLITS:
        rows = []
        for index, pair in enumerate(split_pairs(context, split)):
            for scene, label in zip((pair.scene_a, pair.scene_b), pair.values):
                image = f"images/{split}/{len(rows):06d}.png"
                save_image(context.render(scene), folder / image, context.config)
                rows.append([image, pair.pattern, label, index])
        write_csv(folder / f"{split}.csv", HEADER, rows)
        counts[f"{split}_pairs"] = len(rows) // 2
    return {**counts, "images": 2 * sum(counts.values())}
