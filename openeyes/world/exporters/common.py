"""What every exporter shares: the export context, deterministic file writers, pair streams.

Files are written once into a fresh staging folder (the CLI renames it into place at the
end), so plain writes are safe here. JPEGs use a fixed quality and no metadata; PNGs carry no
timestamps; JSON is written with a fixed key order.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from openeyes.world.config import WorldConfig
from openeyes.world.pairs import PATTERNS, Pair, build_pair
from openeyes.world.render import render
from openeyes.world.sampling import rng_for
from openeyes.world.scene import Scene

PAIRS_PER_PATTERN = 15  # per export unit, as in MMVP-VLM
PAIRS_PER_UNIT = PAIRS_PER_PATTERN * len(PATTERNS)  # 135


@dataclass(frozen=True)
class ExportContext:
    seed: int  # the world seed
    n: int  # images per plain set (see the CLI help)
    config: WorldConfig  # image_size is the output resolution
    split: str = "test"  # benchmarks come from the test split

    @property
    def units(self) -> int:
        """Copies of the 135-pair benchmarks (MMVP-VLM, MMVP, NaturalBench)."""
        return max(1, self.n // PAIRS_PER_UNIT)

    def rng(self, stream: str, index: int) -> np.random.Generator:
        return rng_for(self.seed, self.split, index, stream)

    def render(self, scene: Scene) -> np.ndarray:
        return render(scene, self.config)


def save_image(array: np.ndarray, path: Path, config: WorldConfig) -> None:
    """JPEG (fixed quality, no metadata) or PNG by suffix; parents created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(array, "RGB")
    buffer = io.BytesIO()
    if path.suffix.lower() in (".jpg", ".jpeg"):
        image.save(buffer, format="JPEG", quality=config.jpeg_quality, optimize=False, subsampling=0)
    else:
        image.save(buffer, format="PNG", optimize=False)
    path.write_bytes(buffer.getvalue())


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_json(path: Path, payload) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def pair_stream(context: ExportContext, stream: str) -> list[Pair]:
    """``units`` blocks of 9 patterns x 15 pairs, in MMVP-VLM row order."""
    pairs = []
    for unit in range(context.units):
        for p, pattern in enumerate(PATTERNS):
            for k in range(PAIRS_PER_PATTERN):
                index = (unit * len(PATTERNS) + p) * PAIRS_PER_PATTERN + k
                pairs.append(build_pair(pattern, context.rng(stream, index), context.config))
    return pairs
