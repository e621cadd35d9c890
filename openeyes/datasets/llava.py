"""LLaVA pretraining JSON (``blip_laion_cc_sbu_558k.json``): the image and its first ``gpt`` turn.

    [{"id": "004539375", "image": "00453/004539375.jpg",
      "conversations": [{"from": "human", "value": "Render a clear and concise summary of the photo.\n<image>"},
                        {"from": "gpt", "value": "select luxury furniture 3 - inch gel memory foam mattress topper"}]}]

Image paths are relative to ``image_folder`` (LLaVA's ``--image_folder``; default the JSON's
folder). Rows without an ``image`` (text-only conversations in instruction mixes) are skipped
and counted in ``dataset.skipped``.
"""
from __future__ import annotations

import json
from pathlib import Path

from openeyes.datasets.common import ImageTextDataset, ImageTextRecord, resolve_image
from openeyes.errors import UserError

ASSISTANT_ROLES = ("gpt", "assistant")


def load_llava_json(path: Path) -> list:
    """The top-level list of conversations of a LLaVA JSON file; a UserError naming the file otherwise."""
    try:
        rows = json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as problem:
        raise UserError(f"LLaVA JSON {path} is not valid JSON: {problem}")
    if not isinstance(rows, list):
        raise UserError(f"LLaVA JSON {path}: expected a list of conversations at the top level")
    return rows


def read_llava_pretrain(path: str | Path, image_folder: str | Path | None = None,
                        check_files: bool = True) -> ImageTextDataset:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"LLaVA JSON {path} not found")
    rows = load_llava_json(path)
    root = Path(image_folder) if image_folder is not None else path.parent
    records, skipped = [], 0
    for number, row in enumerate(rows):
        where = f"{path} row {number}" + (f" (id {row.get('id')})" if isinstance(row, dict) and "id" in row else "")
        if not isinstance(row, dict):
            raise UserError(f"{where}: expected an object with 'image' and 'conversations'")
        if "image" not in row:
            skipped += 1
            continue
        image = resolve_image(row["image"], root, where, check_files)
        records.append(ImageTextRecord(image, _caption(row, where), where))
    if not records:
        raise UserError(f"LLaVA JSON {path} has no rows with an image")
    dataset = ImageTextDataset(records, path)
    dataset.skipped = skipped  # text-only rows left out
    return dataset


def _caption(row: dict, where: str) -> str:
    turns = row.get("conversations")
    if not isinstance(turns, list):
        raise UserError(f"{where}: 'conversations' must be a list of turns")
    for turn in turns:
        if isinstance(turn, dict) and turn.get("from") in ASSISTANT_ROLES:
            value = turn.get("value")
            if not isinstance(value, str):
                raise UserError(f"{where}: the gpt turn has no text 'value'")
            return value.replace("<image>", "").strip()
    raise UserError(f"{where}: no 'gpt' turn to use as the caption")
