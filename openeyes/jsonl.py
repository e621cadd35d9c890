"""JSON Lines reading with errors that name the file and line (no heavy imports)."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from openeyes.errors import UserError


def iter_jsonl_objects(path: str | Path) -> Iterator[tuple[str, dict]]:
    """Yield ``("<path> line <n>", object)`` for every non-blank line; UserError on a bad line."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path} line {number}"
            try:
                value = json.loads(line)
            except json.JSONDecodeError as problem:
                raise UserError(f"{where}: not valid JSON ({problem.msg})")
            if not isinstance(value, dict):
                raise UserError(f"{where}: expected a JSON object, found {type(value).__name__}")
            yield where, value
