"""The predictions file every MLLM benchmark scores from, and matching it to loaded items.

One JSON object per line: ``{"id": <benchmark item id>, "output": "<raw model text>"}``. Ids
compare as strings, so 7 and "7" match. Benchmarks whose raw ids repeat across splits (POPE's
``question_id`` restarts in every split file) give their items the stable qualified id
``"<split>:<raw id>"`` (``qualified_id``), whatever splits are loaded; a prediction line may name
such an item as ``"random:1"``, as ``{"id": 1, "split": "random"}``, as both at once (the
records openeyes writes; reading them back is idempotent), or by the raw id alone when only one
loaded item has it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openeyes.errors import UserError


def id_key(value: Any) -> str:
    """The string an item id or a prediction id is matched by (7, 7.0 and "7" agree)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def qualified_id(group: str, raw_id: Any) -> str:
    """``"<group>:<raw id>"``: the stable id of an item whose raw id repeats across groups (splits)."""
    return f"{group}:{id_key(raw_id)}"


@dataclass(frozen=True)
class PredictionLine:
    line: int                   # 1-based line number in the file
    id: str                     # id key as written
    split: str | None           # the optional "split" field
    output: str                 # raw model text


@dataclass
class Predictions:
    path: Path
    records: list[PredictionLine] = field(default_factory=list)


def read_predictions(path: str | Path) -> Predictions:
    """Read and check a predictions JSONL file (UserError naming the line on any fault)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"predictions file {path} does not exist")
    predictions = Predictions(path)
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as problem:
                raise UserError(f"{path} line {number}: not valid JSON ({problem.msg})")
            if not isinstance(record, dict) or "id" not in record or "output" not in record:
                raise UserError(f'{path} line {number}: expected {{"id": ..., "output": "..."}}')
            if not isinstance(record["output"], str):
                raise UserError(f"{path} line {number}: output must be a string, found {type(record['output']).__name__}")
            split = record.get("split")
            predictions.records.append(PredictionLine(number, id_key(record["id"]),
                                                      None if split is None else str(split), record["output"]))
    return predictions


def _alias_index(items: list) -> dict[str, list[str]]:
    """Raw id key -> the qualified ids of the items that carry it (items with a ``raw_id``)."""
    aliases: dict[str, list[str]] = {}
    for item in items:
        raw = getattr(item, "raw_id", None)
        if raw is not None:
            aliases.setdefault(id_key(raw), []).append(id_key(item.id))
    return aliases


def _resolve(record: PredictionLine, known: set[str], aliases: dict[str, list[str]], path: Path) -> str:
    """The item id key a prediction line names (UserError when none or several)."""
    candidates = [record.id]
    if record.split is not None and not record.id.startswith(f"{record.split}:"):
        candidates.insert(0, qualified_id(record.split, record.id))
    for key in candidates:
        if key in known:
            return key
    if record.split is None:
        matches = aliases.get(record.id, [])
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise UserError(f"{path} line {record.line}: id {record.id!r} is ambiguous ({', '.join(matches)}); "
                            f"add a \"split\" field or write the id as \"<split>:{record.id}\"")
    raise UserError(f"{path} line {record.line}: id {candidates[0]!r} is not an item of the loaded benchmark data")


def match_to_items(predictions: Predictions, items: list) -> dict[str, str]:
    """Outputs keyed by item id key; an unknown, ambiguous or repeated id is a UserError."""
    known = {id_key(item.id) for item in items}
    aliases = _alias_index(items)
    outputs: dict[str, str] = {}
    lines: dict[str, int] = {}
    for record in predictions.records:
        key = _resolve(record, known, aliases, predictions.path)
        if key in outputs:
            raise UserError(f"{predictions.path} line {record.line}: id {key!r} already given on line {lines[key]}")
        outputs[key], lines[key] = record.output, record.line
    return outputs


def collect_outputs(items: list, outputs_by_id: dict) -> tuple[list[tuple[Any, str]], int]:
    """(item, output) for every item with an output, in item order, and the missing count."""
    outputs = {id_key(k): v for k, v in outputs_by_id.items()}
    present = [(item, outputs[id_key(item.id)]) for item in items if id_key(item.id) in outputs]
    return present, len(items) - len(present)


def require_unique_ids(ids: list[Any], wheres: list[str], what: str, hint: str = "") -> None:
    """UserError at the second row of any id that repeats (naming both rows, then ``hint``)."""
    seen: dict[str, str] = {}
    for raw, where in zip(ids, wheres):
        key = id_key(raw)
        if key in seen:
            raise UserError(f"{where}: {what} {raw} repeats (first at {seen[key]}){hint}")
        seen[key] = where
