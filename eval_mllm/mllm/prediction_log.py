"""The runner's crash-safe predictions log: append + flush + fsync per batch, read back to resume.

``<out>/predictions.jsonl`` holds one ``{"id": ..., "output": "..."}`` per generated item (the
scored records the results artifact writes there later also carry both keys, so a finished
run resumes as "nothing left to do"). Several processes append to their own part files
``predictions.rank<R>.jsonl``; ``consolidate`` folds the parts into the main file (atomic
replace) and removes them. A last line cut short by a crash is dropped, and generated again.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

from openeyes.errors import UserError
from openeyes.eval_mllm.mllm.predictions import id_key

MAIN_FILE = "predictions.jsonl"
PART_PATTERN = "predictions.rank*.jsonl"


def part_path(directory: Path, rank: int) -> Path:
    return directory / f"predictions.rank{rank}.jsonl"


def _parse_line(line: str) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(record, dict) or "id" not in record or not isinstance(record.get("output"), str):
        return None
    return record


def read_log(path: Path, repair: bool = False) -> dict[str, str]:
    """id key -> output of every complete line of ``path`` ({} when absent).

    A bad last line (a crash mid-write) is ignored, and with ``repair`` cut from the file so the
    next append starts on a fresh line; a bad line before the end is a UserError. Ids are taken
    as written (the runner writes item ids, already qualified like ``"random:1"``).
    """
    if not path.is_file():
        return {}
    outputs: dict[str, str] = {}
    good_end = 0
    with open(path, "rb") as handle:
        lines = handle.readlines()
    offset = 0
    for number, raw in enumerate(lines, start=1):
        offset += len(raw)
        text = raw.decode("utf-8", "replace")
        if not text.strip():
            good_end = offset
            continue
        record = _parse_line(text)
        complete = raw.endswith(b"\n")
        if record is None or not complete:
            if number == len(lines):
                break  # the torn tail of an interrupted write
            raise UserError(f"{path} line {number}: not a prediction record; fix or delete the line to resume")
        outputs[id_key(record["id"])] = record["output"]
        good_end = offset
    if repair and good_end < offset:
        with open(path, "r+b") as handle:
            handle.truncate(good_end)
    return outputs


def append_records(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Append JSON lines and make them durable (flush + fsync) before returning."""
    with open(path, "a", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def write_atomic_lines(path: Path, records: Iterable[dict[str, Any]]) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def consolidate(directory: Path) -> dict[str, str]:
    """Fold every part file into ``predictions.jsonl`` (first occurrence of an id wins), remove
    the parts, and return all outputs by id key. Only one process may call this at a time."""
    main = directory / MAIN_FILE
    outputs = read_log(main, repair=True)
    parts = sorted(directory.glob(PART_PATTERN))
    if not parts:
        return outputs
    added = {}
    for part in parts:
        for key, output in read_log(part).items():
            if key not in outputs and key not in added:
                added[key] = output
    if added:
        existing = [json.loads(line) for line in main.read_text(encoding="utf-8").splitlines() if line.strip()] \
            if main.is_file() else []
        write_atomic_lines(main, existing + [{"id": key, "output": text} for key, text in added.items()])
    for part in parts:
        part.unlink()
    return {**outputs, **added}
