"""JSONL and CSV/TSV caption files: one image path and one caption per row.

    {"image": "images/0001.jpg", "caption": "a red cube left of a blue ball"}     (JSONL)
    image,caption\nimages/0001.jpg,a red cube left of a blue ball                  (CSV)

Column names are configurable (``image_column="filepath", text_column="title"`` reads
open_clip's CSV convention); image paths are relative to the file's folder unless
``image_root`` is given.
"""
from __future__ import annotations

import csv
from pathlib import Path

from openeyes.datasets.common import ImageTextDataset, ImageTextRecord, require_text, resolve_image
from openeyes.errors import UserError
from openeyes.jsonl import iter_jsonl_objects


def read_captions(path: str | Path, image_column: str = "image", text_column: str = "caption",
                  image_root: str | Path | None = None, delimiter: str | None = None,
                  check_files: bool = True) -> ImageTextDataset:
    """Read a ``.jsonl`` or ``.csv``/``.tsv`` caption file (``delimiter`` overrides the CSV one)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"caption file {path} not found")
    root = Path(image_root) if image_root is not None else path.parent
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        rows = iter_jsonl_objects(path)
    elif path.suffix.lower() in (".csv", ".tsv"):
        rows = _csv_rows(path, delimiter or ("\t" if path.suffix.lower() == ".tsv" else ","))
    else:
        raise UserError(f"caption file {path}: expected .jsonl, .csv or .tsv")
    records = []
    for where, row in rows:
        for column in (image_column, text_column):
            if column not in row:
                raise UserError(f"{where}: no column {column!r} (columns: {', '.join(map(str, row))})")
        image = resolve_image(row[image_column], root, where, check_files)
        records.append(ImageTextRecord(image, require_text(row[text_column], where, text_column), where))
    if not records:
        raise UserError(f"caption file {path} has no rows")
    return ImageTextDataset(records, path)


def _csv_rows(path: Path, delimiter: str):
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle, delimiter=delimiter)
            if reader.fieldnames is None:
                raise UserError(f"caption file {path} is empty (no header row)")
            for row in reader:
                where = f"{path} line {reader.line_num}"
                if None in row:  # more fields than header columns
                    raise UserError(f"{where}: {len(reader.fieldnames) + len(row[None])} fields, header has {len(reader.fieldnames)}")
                yield where, row
    except (csv.Error, UnicodeDecodeError) as problem:
        raise UserError(f"caption file {path}: cannot parse ({problem})")
