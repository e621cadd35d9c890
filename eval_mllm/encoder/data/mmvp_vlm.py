"""The MMVP-VLM folder (HF ``MMVP/MMVP_VLM``), read in CSV order.

```
Questions.csv                       # header: Question ID,Type,Statement
MLLM_VLM Images/<Type>/<Question ID>.jpg
```
Rows come in consecutive pairs (odd qid, qid + 1). As in the reference script, both images of
a pair are read from the first row's Type folder. The loader checks the header, every row's
shape, the pairing and that every image exists, and names the file and row of any fault.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from openeyes.errors import UserError

QUESTIONS_FILE = "Questions.csv"
IMAGES_DIR = "MLLM_VLM Images"
HEADER = ["Question ID", "Type", "Statement"]


@dataclass(frozen=True)
class MMVPPair:
    """Two statements and their two images; statement k matches image k."""

    qid1: int
    qid2: int
    type: str            # the first row's Type (both images live in its folder)
    statement1: str
    statement2: str
    image1: Path
    image2: Path
    row: int             # CSV line number of the first row (header is line 1)


@dataclass
class MMVPVLMData:
    root: Path
    pairs: list[MMVPPair]


def is_mmvp_vlm_dir(path: Path) -> bool:
    return (path / QUESTIONS_FILE).is_file() and (path / IMAGES_DIR).is_dir()


def read_rows(csv_path: Path) -> list[tuple[int, int, str, str]]:
    """(line number, qid, Type, Statement) per data row, validated."""
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    if not rows or [cell.strip() for cell in rows[0]] != HEADER:
        found = rows[0] if rows else "nothing"
        raise UserError(f"{csv_path} row 1: expected the header {','.join(HEADER)}, found {found}")
    parsed = []
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != 3:
            raise UserError(f"{csv_path} row {line}: expected 3 fields (Question ID,Type,Statement), found {len(row)}")
        qid, qtype, statement = row
        if not qid.strip().isdigit():
            raise UserError(f"{csv_path} row {line}: Question ID {qid!r} is not a positive integer")
        if not qtype.strip() or not statement.strip():
            raise UserError(f"{csv_path} row {line}: empty Type or Statement")
        parsed.append((line, int(qid), qtype, statement))
    return parsed


def load_mmvp_vlm(root: str | Path) -> MMVPVLMData:
    """Pairs of the MMVP-VLM folder at ``root``, in CSV order."""
    root = Path(root)
    csv_path, image_dir = root / QUESTIONS_FILE, root / IMAGES_DIR
    if not csv_path.is_file():
        raise UserError(f"{root} is not an MMVP-VLM folder: {QUESTIONS_FILE} is missing")
    if not image_dir.is_dir():
        raise UserError(f"{root} is not an MMVP-VLM folder: the image folder '{IMAGES_DIR}' is missing")
    rows = read_rows(csv_path)
    if not rows:
        raise UserError(f"{csv_path} has no data rows")
    if len(rows) % 2:
        raise UserError(f"{csv_path} row {rows[-1][0]}: {len(rows)} rows, the last statement has no partner")
    pairs = []
    for (line1, qid1, type1, text1), (line2, qid2, type2, text2) in zip(rows[0::2], rows[1::2]):
        if qid1 % 2 != 1 or qid2 != qid1 + 1:
            raise UserError(
                f"{csv_path} rows {line1}-{line2}: a pair must be (odd qid, qid + 1), found ({qid1}, {qid2})"
            )
        if type1 != type2:
            raise UserError(f"{csv_path} rows {line1}-{line2}: the pair's Types differ ({type1!r} vs {type2!r})")
        images = (image_dir / type1 / f"{qid1}.jpg", image_dir / type1 / f"{qid2}.jpg")
        for line, image in zip((line1, line2), images):
            if not image.is_file():
                raise UserError(f"{csv_path} row {line}: image {image} is missing")
        pairs.append(MMVPPair(qid1, qid2, type1, text1, text2, images[0], images[1], line1))
    return MMVPVLMData(root=root, pairs=pairs)
