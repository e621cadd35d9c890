"""The predictions file every MLLM benchmark scores from, and matching it to loaded items.

One JSON object per line: ``{"id": <benchmark item id>, "output": "<raw model text>"}``; an
optional ``"split"`` qualifies ids that repeat across splits (POPE's question_id restarts in
each file; CV-Bench exports may restart ``idx`` per file): the key is then ``"<split>:<id>"``,
the same string as such an item's ``id``. Ids compare as strings, so 7 and "7" match.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from openeyes.errors import UserError


def id_key(value: Any) -> str:
    """The string an item id or a prediction id is matched by (7, 7.0 and "7" agree)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


@dataclass
class Predictions:
    path: Path
    outputs: dict[str, str] = field(default_factory=dict)  # id key -> raw model output
    lines: dict[str, int] = field(default_factory=dict)    # id key -> line number in the file


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
            key = id_key(record["id"])
            if record.get("split") is not None:
                key = f"{record['split']}:{key}"
            if key in predictions.outputs:
                raise UserError(f"{path} line {number}: id {key!r} already given on line {predictions.lines[key]}")
            predictions.outputs[key] = record["output"]
            predictions.lines[key] = number
    return predictions


def match_to_items(predictions: Predictions, item_ids: Iterable[Any]) -> dict[str, str]:
    """Outputs keyed by item id key; a prediction whose id is no item's is a UserError."""
    known = {id_key(i) for i in item_ids}
    for key, number in predictions.lines.items():
        if key not in known:
            raise UserError(f"{predictions.path} line {number}: id {key!r} is not an item of the loaded benchmark data")
    return dict(predictions.outputs)


def collect_outputs(items: list, outputs_by_id: dict) -> tuple[list[tuple[Any, str]], int]:
    """(item, output) for every item with an output, in item order, and the missing count."""
    outputs = {id_key(k): v for k, v in outputs_by_id.items()}
    present = [(item, outputs[id_key(item.id)]) for item in items if id_key(item.id) in outputs]
    return present, len(items) - len(present)


def qualify_ids(raw_ids: list[Any], groups: list[str]) -> list[Any]:
    """Raw ids when unique; otherwise ``"<group>:<id>"`` (ids restarting per split or file)."""
    keys = [id_key(i) for i in raw_ids]
    if len(set(keys)) == len(keys):
        return list(raw_ids)
    return [f"{group}:{key}" for group, key in zip(groups, keys)]
