"""CV-Bench (Cambrian-1; BENCHMARKS.md §3): loader, prompts, both reference parsers, scores.

```
test_2d.jsonl / test_3d.jsonl     # raw files (or test*.parquet, or an HF save_to_disk folder)
img/{2D,3D}/<task>/<name>.png     # named by the ``filename`` field
```
Fields: idx, type (2D/3D), task, image, question, choices, answer "(C)", prompt, filename,
source (ADE20K | COCO | Omni3D), ...

Protocols:
- ``cambrian`` (eval/eval/{ade,coco,omni}/*_eval.py, *_test.py): ``prompt + "\\nAnswer with
  the option's letter ..."``; the answer after the last "answer is"/"answer:", stripped,
  ``rstrip('.')`` (3D/omni: ``rstrip('.:,')``), ``lstrip('(')``, ``rstrip(')')``, first
  character; correct iff it equals ``answer[1].lower()`` (omni also accepts the option text).
- ``lmms-eval`` (tasks/cv_bench): "Note: ..." pre-prompt, greedy 1024 tokens, the letter
  ``re.match(r"[\\(\\s]*([A-Z])[\\)\\.\\s]*")`` at the very start ("The answer is B" -> T).
Scores: accuracy per source, per task, per type, plain micro accuracy, and the CV-Bench
formula ½·((ADE20K + COCO)/2 + Omni3D) with 2D = (ADE20K + COCO)/2 and 3D = Omni3D.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openeyes.errors import UserError
from openeyes.eval_mllm.mllm.predictions import collect_outputs, require_unique_ids
from openeyes.eval_mllm.mllm.protocol import (
    GREEDY_512, GREEDY_1024, Protocol, pick_protocol, prompt_request, ratio,
)
from openeyes.eval_mllm.mllm.tables import Row, find_tables, is_hf_disk_dir, read_table, resolve_image

NAME = "cv_bench"
TYPES = ("2D", "3D")
SOURCES = ("ADE20K", "COCO", "Omni3D")
LETTER_INSTRUCTION = "\nAnswer with the option's letter from the given choices directly."
LMMS_EVAL_PRE_PROMPT = "Note: You only need to respond with {} without providing any additional information.\n"
ANSWER_PATTERN = re.compile(r"^\(([A-Z])\)$")


@dataclass(frozen=True)
class CVBenchItem:
    id: Any                      # idx: unique over the whole benchmark (test_2d and test_3d together)
    idx: Any
    type: str                    # 2D | 3D
    task: str                    # Count | Relation | Depth | Distance
    source: str                  # ADE20K | COCO | Omni3D
    question: str
    choices: tuple[str, ...]
    answer: str                  # "(C)"
    prompt: str                  # the dataset's own prompt field
    image: Path
    where: str

    @property
    def images(self) -> list[Path]:
        return [self.image]

    @property
    def gold_letter(self) -> str:
        return self.answer.strip("()")


# ---- loading -------------------------------------------------------------------------------

def _tables(root: Path, split: str) -> list[Path]:
    if root.is_file() or is_hf_disk_dir(root):
        return [root]
    names = ("test_2d", "test_3d") if split == "all" else (f"test_{split.lower()}",)
    per_type = [p for name in names for p in find_tables(root, (f"{name}.jsonl", f"{name}.parquet", f"{name}-*.parquet"))]
    if per_type:
        return list(dict.fromkeys(per_type))
    generic = find_tables(root, ("test.jsonl", "test.parquet", "test-*.parquet", "*.jsonl", "*.parquet"))
    if not generic:
        raise UserError(f"{root} is not a CV-Bench folder: no test_2d/test_3d JSONL or parquet, nor an HF dataset")
    return generic


def _choices(row: Row) -> tuple[str, ...]:
    value = row.require("choices")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise UserError(f"{row.where}: choices {value!r} is not a list")
    if not isinstance(value, (list, tuple)) or len(value) < 2:
        raise UserError(f"{row.where}: choices must list at least two options")
    return tuple(str(c) for c in value)


def _item_fields(row: Row, root: Path, image_cache: Path | None) -> tuple:
    kind = str(row.require("type")).strip()
    if kind not in TYPES:
        raise UserError(f"{row.where}: type {kind!r} is not 2D or 3D")
    choices = _choices(row)
    answer = str(row.require("answer")).strip()
    match = ANSWER_PATTERN.match(answer)
    if not match or ord(match.group(1)) - 65 >= len(choices):
        raise UserError(f"{row.where}: answer {answer!r} is not one of (A)..({chr(64 + len(choices))})")
    image_value = row.get("image")
    if not isinstance(image_value, (dict, str)) or not image_value:
        image_value = row.require("filename")
    elif isinstance(image_value, dict) and not image_value.get("bytes") and row.get("filename"):
        image_value = row.get("filename")
    image = resolve_image(image_value, root, row.where, image_cache)
    task = str(row.require("task")).strip()
    source = str(row.require("source")).strip()
    prompt_text = str(row.require("prompt"))
    return (row.require("idx"), kind, task, source, str(row.get("question", default="")), choices, answer,
            prompt_text, image, row.where)


def load(data_dir: str | Path, split: str | None = None, image_cache: Path | None = None,
         **_: Any) -> list[CVBenchItem]:
    """CV-Bench items of ``split`` (2D | 3D | all), checked: answers, choices, images, unique idx."""
    root = Path(data_dir)
    split = split or "all"
    if split not in TYPES + ("all",):
        raise UserError(f"unknown CV-Bench split {split!r}; choose 2D, 3D or all")
    if not root.exists():
        raise UserError(f"CV-Bench data {root} does not exist")
    base = root if root.is_dir() else root.parent
    fields = []
    for table in _tables(root, split):
        fields += [_item_fields(row, base, image_cache) for row in read_table(table, "test")]
    fields = [f for f in fields if split == "all" or f[1] == split]
    if not fields:
        raise UserError(f"{root}: no CV-Bench items found for split {split!r}")
    require_unique_ids([f[0] for f in fields], [f[-1] for f in fields], "idx",
                       "; CV-Bench numbers its items once over test_2d and test_3d together")
    return [CVBenchItem(f[0], *f) for f in fields]


# ---- prompts and parsers -------------------------------------------------------------------

def prompt_cambrian(item: CVBenchItem) -> str:
    return item.prompt + LETTER_INSTRUCTION


def prompt_lmms_eval(item: CVBenchItem) -> str:
    letters = ", ".join(chr(65 + k) for k in range(len(item.choices)))
    return LMMS_EVAL_PRE_PROMPT.format(letters) + "\n" + item.prompt


CAMBRIAN_KEYWORDS = ("answer is", "answer is:", "answer:")


def parse_cambrian(output: str, item: CVBenchItem | None = None, omni: bool | None = None) -> str:
    """Cambrian *_test.py ``extract_mcq_answer``; the omni (3D) variant also strips ':' and ','."""
    omni = (item is not None and item.type == "3D") if omni is None else omni
    text = output.lower().strip()
    for keyword in CAMBRIAN_KEYWORDS:
        if keyword in text:
            text = text.split(keyword)[-1]
    text = text.strip().rstrip(".:," if omni else ".").lstrip("(").rstrip(")")
    return text[0] if len(text) > 1 else text


LMMS_EVAL_LETTER = re.compile(r"[\(\s]*([A-Z])[\)\.\s]*", re.IGNORECASE)


def parse_lmms_eval(output: str, item: CVBenchItem | None = None) -> str:
    """lmms-eval ``_extract_answer_letter``: the letter at the start, upper-cased, or ""."""
    match = LMMS_EVAL_LETTER.match(output.strip())
    return match.group(1).upper() if match else ""


def is_correct(parsed: str, item: CVBenchItem, protocol: str) -> bool:
    if protocol == "lmms-eval":
        return parsed == item.gold_letter
    gold = item.answer.lower()[1]
    if parsed == gold:
        return True
    # omni_test.py also accepts the option text itself (compared as stored, after the 1-char cut)
    return item.type == "3D" and parsed == item.choices[ord(gold) - ord("a")]


PROTOCOLS: dict[str, Protocol] = {
    "cambrian": Protocol("cambrian", "cambrian-mllm/cambrian@539ffc32 eval/eval/{ade,coco,omni}/*_eval.py, *_test.py",
                         GREEDY_512, prompt_cambrian, parse_cambrian, "cv_bench"),
    "lmms-eval": Protocol("lmms-eval", "EvolvingLMMs-Lab/lmms-eval@75571cfe lmms_eval/tasks/cv_bench/utils.py",
                          GREEDY_1024, prompt_lmms_eval, parse_lmms_eval, "accuracy"),
}
DEFAULT_PROTOCOL = "cambrian"


def limit_key(item: CVBenchItem) -> tuple[str, Any]:
    """``--limit``: every source in turn (the headline needs ADE20K, COCO and Omni3D)."""
    return item.source, item.id


def get_protocol(name: str | None) -> Protocol:
    return pick_protocol(PROTOCOLS, name, DEFAULT_PROTOCOL, NAME)


def build_prompt(item: CVBenchItem, protocol: str | None = None) -> tuple[str, list[Path], dict[str, Any]]:
    return prompt_request(get_protocol(protocol), item)


def parse(output: str, item: CVBenchItem, protocol: str | None = None) -> str:
    return get_protocol(protocol).parse(output, item)


# ---- scoring -------------------------------------------------------------------------------

def _accuracy_by(results: list[tuple[CVBenchItem, bool]], field: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[bool]] = {}
    for item, correct in results:
        groups.setdefault(getattr(item, field), []).append(correct)
    return {name: {"accuracy": sum(marks) / len(marks), "n": len(marks)} for name, marks in groups.items()}


def score(items: list[CVBenchItem], outputs_by_id: dict, protocol: str | None = None, **_: Any) -> dict[str, Any]:
    chosen = get_protocol(protocol)
    present, missing = collect_outputs(items, outputs_by_id)
    parsed = [(item, output, chosen.parse(output, item)) for item, output in present]
    results = [(item, is_correct(p, item, chosen.name)) for item, _, p in parsed]
    by_source = _accuracy_by(results, "source")
    source_acc = {name: by_source.get(name, {}).get("accuracy") for name in SOURCES}
    two_d = None if source_acc["ADE20K"] is None or source_acc["COCO"] is None \
        else (source_acc["ADE20K"] + source_acc["COCO"]) / 2
    three_d = source_acc["Omni3D"]
    metrics = {
        "cv_bench": None if two_d is None or three_d is None else 0.5 * (two_d + three_d),
        "2d": two_d, "3d": three_d,
        "accuracy": ratio(sum(c for _, c in results), len(results)),
        **{f"acc_{name}": value for name, value in source_acc.items()},
    }
    per_category = {f"source/{k}": v for k, v in by_source.items()}
    per_category.update({f"task/{k}": v for k, v in _accuracy_by(results, "task").items()})
    per_category.update({f"type/{k}": v for k, v in _accuracy_by(results, "type").items()})
    return {
        "benchmark": NAME, "protocol": chosen.name, "headline": chosen.headline, "metrics": metrics,
        "per_category": per_category,
        "counts": {"items": len(items), "scored": len(results), "missing": missing},
        "predictions": [{"id": item.id, "output": output, "parsed": p, "gold": item.answer,
                         "correct": is_correct(p, item, chosen.name)} for item, output, p in parsed],
    }
