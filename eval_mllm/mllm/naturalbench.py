"""NaturalBench VQA (BENCHMARKS.md §4): loader, prompts, ``extract_answer``, the four scores.

Layouts:
- wide (HF ``BaiqiL/NaturalBench``, 1900 groups): ``Index, Image_0, Image_1, Question_0,
  Image_0_Question_0, Image_1_Question_0, Question_1, Image_0_Question_1, Image_1_Question_1,
  Question_Type`` (or ``Question Type``), ``Source``; as JSONL, parquet or ``save_to_disk``.
- flat (HF ``BaiqiL/NaturalBench-lmms-eval``): ``Index`` 0..4N-1, ``Image, Question,
  Question_Type, answer``.
Items are flattened to ids 0..4N-1 in the order q0i0, q0i1, q1i0, q1i1 per group, and the gold
must follow the fixed pattern Yes/No/No/Yes (A/B/B/A for multiple choice).

Protocols (the parser and scores are the reference's ``extract_answer`` / ``get_scores``):
- ``reference`` (NaturalBench naturalbench_vqa.py): prompt = question + suffix, no space.
- ``lmms-eval`` (tasks/naturalbench): the same with a space before the suffix.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openeyes.errors import UserError
from openeyes.eval_mllm.mllm.predictions import collect_outputs, id_key
from openeyes.eval_mllm.mllm.protocol import GREEDY_16, Protocol, pick_protocol, prompt_request, ratio
from openeyes.eval_mllm.mllm.tables import Row, find_tables, is_hf_disk_dir, read_table, resolve_image

NAME = "naturalbench"
SUFFIXES = {"yes_no": "Please answer Yes or No.",
            "multiple_choice": "Please output the letter corresponding to the correct option."}
GOLD_PATTERNS = {"yes_no": ("yes", "no", "no", "yes"), "multiple_choice": ("a", "b", "b", "a")}
POSITIONS = ("q0_i0", "q0_i1", "q1_i0", "q1_i1")
GROUP_GOLD = (1, 0, 0, 1)    # extract_answer values of the fixed gold pattern
# wide columns per flattened position: (question column, image column, gold column)
WIDE_COLUMNS = (("Question_0", "Image_0", "Image_0_Question_0"), ("Question_0", "Image_1", "Image_1_Question_0"),
                ("Question_1", "Image_0", "Image_0_Question_1"), ("Question_1", "Image_1", "Image_1_Question_1"))


@dataclass(frozen=True)
class NaturalBenchItem:
    id: int                      # flattened index 0..4N-1
    question: str
    question_type: str           # yes_no | multiple_choice
    gold: str                    # as stored: Yes/No or A/B
    image: Path
    source: str | None
    where: str

    @property
    def images(self) -> list[Path]:
        return [self.image]

    @property
    def group(self) -> int:
        return self.id // 4

    @property
    def position(self) -> str:
        return POSITIONS[self.id % 4]


# ---- loading -------------------------------------------------------------------------------

def _rows(root: Path, split: str | None) -> list[Row]:
    if root.is_file() or is_hf_disk_dir(root):
        return read_table(root, split)
    tables = find_tables(root, ("naturalbench.jsonl", "*.jsonl", "*.parquet"))
    if not tables:
        raise UserError(f"{root} is not a NaturalBench folder: no JSONL, parquet or HF dataset found")
    rows: list[Row] = []
    for table in tables:
        rows += read_table(table, split)
    return rows


def _question_type(row: Row) -> str:
    kind = str(row.require("Question_Type", "Question Type")).strip()
    if kind not in SUFFIXES:
        raise UserError(f"{row.where}: Question_Type {kind!r} is not yes_no or multiple_choice")
    return kind


def _check_gold(row: Row, kind: str, golds: list[str]) -> None:
    expected = GOLD_PATTERNS[kind]
    if tuple(g.strip().lower() for g in golds) != expected:
        shown = "/".join(g.capitalize() if kind == "yes_no" else g.upper() for g in expected)
        raise UserError(f"{row.where}: gold {'/'.join(golds)} breaks NaturalBench's fixed pattern {shown} "
                        f"(q0i0, q0i1, q1i0, q1i1)")


def _from_wide(rows: list[Row], root: Path, image_cache: Path | None) -> list[NaturalBenchItem]:
    items = []
    for group, row in enumerate(rows):
        kind = _question_type(row)
        golds = [str(row.require(gold)) for _, _, gold in WIDE_COLUMNS]
        _check_gold(row, kind, golds)
        images = {column: resolve_image(row.require(column), root, f"{row.where} ({column})", image_cache)
                  for column in ("Image_0", "Image_1")}
        source = row.get("Source")
        for offset, (question_column, image_column, _) in enumerate(WIDE_COLUMNS):
            question = str(row.require(question_column))
            items.append(NaturalBenchItem(4 * group + offset, question, kind, golds[offset], images[image_column],
                                          source, row.where))
    return items


def _from_flat(rows: list[Row], root: Path, image_cache: Path | None) -> list[NaturalBenchItem]:
    if len(rows) % 4:
        raise UserError(f"{rows[-1].where}: {len(rows)} rows is not a multiple of 4 (q0i0, q0i1, q1i0, q1i1 per group)")
    items = []
    for position, row in enumerate(rows):
        index = row.require("Index", "index")
        if id_key(index) != str(position):
            raise UserError(f"{row.where}: Index {index} out of order (expected {position})")
        items.append(NaturalBenchItem(position, str(row.require("Question", "question")), _question_type(row),
                                      str(row.require("answer", "Answer")),
                                      resolve_image(row.require("Image", "image"), root, row.where, image_cache),
                                      row.get("Source"), row.where))
    for start in range(0, len(items), 4):
        group, first = items[start:start + 4], rows[start]
        if len({i.question_type for i in group}) != 1:
            raise UserError(f"{first.where}: the group's four rows mix question types")
        if group[0].question != group[1].question or group[2].question != group[3].question:
            raise UserError(f"{first.where}: a group must ask question 0 on both images, then question 1")
        _check_gold(first, group[0].question_type, [i.gold for i in group])
    return items


def load(data_dir: str | Path, split: str | None = None, image_cache: Path | None = None,
         **_: Any) -> list[NaturalBenchItem]:
    """Flattened NaturalBench items (4 per group), checked: gold pattern, pairing, images."""
    root = Path(data_dir)
    if not root.exists():
        raise UserError(f"NaturalBench data {root} does not exist")
    rows = _rows(root, split)
    if not rows:
        raise UserError(f"{root}: no NaturalBench rows found")
    base = root if root.is_dir() else root.parent
    wide = "Question_0" in rows[0].values
    return _from_wide(rows, base, image_cache) if wide else _from_flat(rows, base, image_cache)


# ---- prompts and parser --------------------------------------------------------------------

def prompt_reference(item: NaturalBenchItem) -> str:
    return item.question + SUFFIXES[item.question_type]


def prompt_lmms_eval(item: NaturalBenchItem) -> str:
    return item.question + " " + SUFFIXES[item.question_type]


def _first_word(text: str, word: str) -> int:
    match = re.search(r"\b" + re.escape(word) + r"\b", text, re.IGNORECASE)
    return match.start() if match else -1


def extract_answer(output: str, question_type: str = "yes_no") -> int:
    """NaturalBench ``extract_answer``: 1 (yes/A), 0 (no/B), -1 (neither); earliest word wins."""
    if question_type not in SUFFIXES:
        raise UserError(f"unknown NaturalBench question type {question_type!r}")
    first, second = ("yes", "no") if question_type == "yes_no" else ("A", "B")
    at_first, at_second = _first_word(output, first), _first_word(output, second)
    if at_first == -1 and at_second == -1:
        return -1
    if at_first != -1 and at_second != -1:
        return 1 if at_first < at_second else 0
    return 0 if at_first == -1 else 1


def parse_reference(output: str, item: NaturalBenchItem) -> int:
    return extract_answer(output, item.question_type)


PROTOCOLS: dict[str, Protocol] = {
    "reference": Protocol("reference", "Baiqi-Li/NaturalBench@99676059 naturalbench_vqa.py",
                          GREEDY_16, prompt_reference, parse_reference, "g_acc"),
    "lmms-eval": Protocol("lmms-eval", "EvolvingLMMs-Lab/lmms-eval@75571cfe lmms_eval/tasks/naturalbench/utils.py",
                          GREEDY_16, prompt_lmms_eval, parse_reference, "g_acc"),
}
DEFAULT_PROTOCOL = "reference"


def limit_key(item: NaturalBenchItem) -> tuple[str, int]:
    """``--limit``: whole groups of 4 (the group metrics need all four), every source in turn."""
    return item.source or "", item.group


def get_protocol(name: str | None) -> Protocol:
    return pick_protocol(PROTOCOLS, name, DEFAULT_PROTOCOL, NAME)


def build_prompt(item: NaturalBenchItem, protocol: str | None = None) -> tuple[str, list[Path], dict[str, Any]]:
    return prompt_request(get_protocol(protocol), item)


def parse(output: str, item: NaturalBenchItem, protocol: str | None = None) -> int:
    return get_protocol(protocol).parse(output, item)


# ---- scoring -------------------------------------------------------------------------------

def group_scores(groups: list[list[int]]) -> dict[str, float | None]:
    """``get_scores`` over groups ``[p00, p01, p10, p11]`` (gold 1, 0, 0, 1): Acc, Q-, I-, G-Acc."""
    n = len(groups)
    acc = q_acc = i_acc = g_acc = 0
    for p00, p01, p10, p11 in groups:
        question = (p00 == 1 and p01 == 0) + (p11 == 1 and p10 == 0)
        image = (p00 == 1 and p10 == 0) + (p11 == 1 and p01 == 0)
        acc += (p00 == 1) + (p01 == 0) + (p10 == 0) + (p11 == 1)
        q_acc += question
        i_acc += image
        g_acc += question == 2 and image == 2
    return {"acc": ratio(acc, 4 * n), "q_acc": ratio(q_acc, 2 * n), "i_acc": ratio(i_acc, 2 * n), "g_acc": ratio(g_acc, n)}


def score(items: list[NaturalBenchItem], outputs_by_id: dict, protocol: str | None = None, **_: Any) -> dict[str, Any]:
    """The four NaturalBench scores over the groups whose four answers are all present."""
    chosen = get_protocol(protocol)
    present, missing = collect_outputs(items, outputs_by_id)
    parsed = {item.id: (item, output, chosen.parse(output, item)) for item, output in present}
    groups: dict[int, list[int]] = {}
    kinds: dict[int, str] = {}
    for item in items:
        if item.id in parsed:
            groups.setdefault(item.group, []).append(parsed[item.id][2])
            kinds[item.group] = item.question_type
    complete = {g: values for g, values in groups.items() if len(values) == 4}
    metrics = group_scores(list(complete.values()))
    per_category = {}
    for kind in SUFFIXES:
        chunk = [values for g, values in complete.items() if kinds[g] == kind]
        if chunk:
            per_category[kind] = {**group_scores(chunk), "groups": len(chunk)}
    return {
        "benchmark": NAME, "protocol": chosen.name, "headline": chosen.headline, "metrics": metrics,
        "per_category": per_category,
        "counts": {"items": len(items), "scored": 4 * len(complete), "missing": missing,
                   "groups": len(items) // 4, "groups_complete": len(complete),
                   "groups_incomplete": len(groups) - len(complete),
                   "unparsed": sum(p == -1 for _, _, p in parsed.values())},
        "predictions": [{"id": item.id, "output": output, "parsed": p,
                         "gold": item.gold, "correct": p == GROUP_GOLD[item.id % 4]}
                        for item, output, p in parsed.values()],
    }
