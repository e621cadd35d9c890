"""The world's attribute-probe folder: labelled images of MMVP-style pairs, a train and a test split.

```
train.csv, test.csv          # header: image,pattern,label,pair
images/<split>/<row>.png     # ``image`` is the path relative to the folder
```
Each row is one image; ``label`` is the value of the attribute its ``pattern`` varies, ``pair``
the index of its pair within the split (openeyes/world/exporters/attribute_probe.py writes it).
The loader checks the header, every row's shape and that every image exists, and names the
file and row of any fault.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from openeyes.errors import UserError
from openeyes.eval_mllm.encoder.data.images import FileImages

HEADER = ["image", "pattern", "label", "pair"]
TRAIN_SPLIT = "train"


@dataclass
class ProbeSplit:
    """One split's images and their labels, in CSV order."""

    images: FileImages
    patterns: list[str]  # the MMVP-VLM Type per image
    labels: list[str]    # the varied attribute's value per image
    pairs: list[int]     # the pair index per image (two images per pair)


def is_attribute_probe_dir(path: Path, split: str) -> bool:
    return (path / f"{TRAIN_SPLIT}.csv").is_file() and (path / f"{split}.csv").is_file() and (path / "images").is_dir()


def load_probe_split(root: str | Path, split: str) -> ProbeSplit:
    """The rows of ``<root>/<split>.csv``, validated."""
    root = Path(root)
    path = root / f"{split}.csv"
    if not path.is_file():
        raise UserError(f"{root} is not an attribute-probe folder: {path.name} is missing")
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    if not rows or [cell.strip() for cell in rows[0]] != HEADER:
        raise UserError(f"{path} row 1: expected the header {','.join(HEADER)}, found {rows[0] if rows else 'nothing'}")
    images, patterns, labels, pairs = [], [], [], []
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(HEADER) or not all(cell.strip() for cell in row) or not row[3].strip().isdigit():
            raise UserError(f"{path} row {line}: expected {','.join(HEADER)} with a non-negative integer pair, found {row}")
        image = root / row[0]
        if not image.is_file():
            raise UserError(f"{path} row {line}: image {image} is missing")
        images.append(image)
        patterns.append(row[1])
        labels.append(row[2])
        pairs.append(int(row[3]))
    if not images:
        raise UserError(f"{path} has no data rows")
    return ProbeSplit(FileImages(images, root), patterns, labels, pairs)
