"""MMVP for MLLMs (BENCHMARKS.md §1b): loader, prompts, the three reference parsers, scores.

```
Questions.csv          # Index,Question,Options,Correct Answer (some copies spell it lndex)
MMVP Images/{Index}.jpg
```
or the lmms-eval copy (HF ``lmms-lab-eval/MMVP``: a ``save_to_disk`` folder, parquet or JSONL
with ``Index, Question, Options, Correct Answer, image``). Rows (1,2), (3,4), ... are pairs.

Protocols:
- ``original`` (MMVP scripts/evaluate_mllm.py + gpt_grader.py): prompt ``Question + " " +
  Options``, sampling T=0.2, a grader says yes/no per answer, score = pairs with both "yes".
  The answer is stripped first (evaluate_mllm.py strips the decoded response). The grader is
  pluggable (``Grader``): offline the default is ``ExactMatchGrader``, an exact-match stand-in;
  ``grader.EndpointGrader`` asks any OpenAI-compatible judge with the reference prompts
  (``openeyes eval ... --grader URL``) and caches its judgments on disk.
- ``lmms-eval`` (tasks/mmvp/utils.py): A/B prompt, greedy 16 tokens, six-step letter extraction.
- ``cambrian`` (eval/eval/mmvp/mmvp_eval.py + mmvp_test.py): "Options:" prompt, text parser,
  printed accuracy = 100·2·(pairs both correct)/questions.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Protocol as TypingProtocol

from openeyes.errors import UserError
from openeyes.eval_mllm.mllm.predictions import collect_outputs
from openeyes.eval_mllm.mllm.protocol import (
    GREEDY_16, GREEDY_512, GenerationSettings, Protocol, pick_protocol, prompt_request, ratio,
)
from openeyes.eval_mllm.mllm.tables import (
    Row, find_tables, is_hf_disk_dir, read_csv, read_table, resolve_image,
)

NAME = "mmvp"
QUESTIONS_FILE = "Questions.csv"
IMAGE_FOLDER = "MMVP Images"
HEADER_ALIASES = {"lndex": "Index"}
LETTER_INSTRUCTION = "Answer with the option's letter from the given choices directly."
# Index pairs whose gold the lmms-lab-eval/MMVP copy swaps relative to the original (LE tasks/mmvp/README.md)
LMMS_EVAL_GOLD_SWAPS = ((99, 100), (279, 280))
OPTION_PATTERN = re.compile(r"\([a-z]\)\s*([^(]+?)(?=\s*\([a-z]\)|$)", re.IGNORECASE)
GOLD_PATTERN = re.compile(r"^\(?([ab])\)?$", re.IGNORECASE)


@dataclass(frozen=True)
class MMVPItem:
    id: int                      # the Index column, 1-based; row i shows image i.jpg
    question: str
    options: str                 # "(a) Open (b) Closed"
    answer: str                  # gold as in the file, "(a)" or "(b)" (after the optional swap)
    image: Path
    where: str                   # file and row it came from

    @property
    def images(self) -> list[Path]:
        return [self.image]

    @property
    def pair(self) -> int:
        return (self.id - 1) // 2

    @property
    def gold_letter(self) -> str:
        """lmms-eval's target: (a) -> A, (b) -> B."""
        return GOLD_PATTERN.match(self.answer.strip()).group(1).upper()


# ---- loading -------------------------------------------------------------------------------

def _rows(root: Path, split: str | None) -> tuple[list[Row], str]:
    if root.is_file():
        return read_table(root, split, HEADER_ALIASES), "table"
    if (root / QUESTIONS_FILE).is_file():
        return read_csv(root / QUESTIONS_FILE, HEADER_ALIASES), "original"
    if is_hf_disk_dir(root):
        return read_table(root, split), "hf-disk"
    tables = find_tables(root, ("*.parquet", "*.jsonl"))
    if not tables:
        raise UserError(f"{root} is not an MMVP folder: no {QUESTIONS_FILE}, HF dataset, parquet or JSONL found")
    rows: list[Row] = []
    for table in tables:
        rows += read_table(table, split, HEADER_ALIASES)
    return rows, "lmms-eval"


def _item(row: Row, root: Path, position: int, image_cache: Path | None) -> MMVPItem:
    index = row.require("Index", "lndex", "index")
    try:
        index = int(str(index).strip())
    except ValueError:
        raise UserError(f"{row.where}: Index {index!r} is not an integer")
    if index != position:
        raise UserError(f"{row.where}: Index {index} out of order (expected {position}; row i must show image i.jpg)")
    question = str(row.require("Question", "question")).strip()
    options = str(row.require("Options", "options")).strip()
    answer = str(row.require("Correct Answer", "answer")).strip()
    if not question:
        raise UserError(f"{row.where}: empty Question")
    if len(OPTION_PATTERN.findall(options)) < 2:
        raise UserError(f"{row.where}: Options {options!r} is not of the form '(a) X (b) Y'")
    if not GOLD_PATTERN.match(answer):
        raise UserError(f"{row.where}: Correct Answer {answer!r} is not (a) or (b)")
    image_value = row.get("image")
    if image_value is None:
        image_value = f"{IMAGE_FOLDER}/{index}.jpg"
    image = resolve_image(image_value, root if root.is_dir() else root.parent, row.where, image_cache)
    return MMVPItem(index, question, options, answer, image, row.where)


def swap_lmms_eval_gold(items: list[MMVPItem]) -> list[MMVPItem]:
    """Swap the gold of Index 99<->100 and 279<->280 (turns one copy's answers into the other's)."""
    by_index = {item.id: item for item in items}
    swapped = dict(by_index)
    for first, second in LMMS_EVAL_GOLD_SWAPS:
        if first in by_index and second in by_index:
            swapped[first] = replace(by_index[first], answer=by_index[second].answer)
            swapped[second] = replace(by_index[second], answer=by_index[first].answer)
    return [swapped[item.id] for item in items]


def load(data_dir: str | Path, split: str | None = None, swap_gold: bool = False,
         image_cache: Path | None = None, **_: Any) -> list[MMVPItem]:
    """MMVP items in Index order, checked: Index = row number, pairs complete, images present.

    ``swap_gold``: apply the 99<->100 / 279<->280 answer swap between the original and the
    lmms-lab-eval copy (BENCHMARKS.md §1b).
    """
    root = Path(data_dir)
    if not root.exists():
        raise UserError(f"MMVP data {root} does not exist")
    rows, _layout = _rows(root, split)
    if not rows:
        raise UserError(f"{root}: no MMVP rows found")
    items = [_item(row, root, position, image_cache) for position, row in enumerate(rows, start=1)]
    if len(items) % 2:
        raise UserError(f"{items[-1].where}: {len(items)} rows; the last question has no pair partner")
    return swap_lmms_eval_gold(items) if swap_gold else items


# ---- prompts -------------------------------------------------------------------------------

def option_texts(options: str) -> list[str]:
    """lmms-eval's option parsing: '(a) Open (b) Closed' -> ['Open', 'Closed']."""
    return [text.strip() for text in OPTION_PATTERN.findall(options)]


def prompt_original(item: MMVPItem) -> str:
    return item.question + " " + item.options


def prompt_lmms_eval(item: MMVPItem) -> str:
    lines = "\n".join(f"{chr(65 + k)}. {text}" for k, text in enumerate(option_texts(item.options)))
    return f"{item.question}\n{lines}\n{LETTER_INSTRUCTION}"


def prompt_cambrian(item: MMVPItem) -> str:
    parts = [part.strip() for part in item.options.split("(b)")]
    parts = [part.replace("(a)", "A.").replace("(b)", "B.") for part in parts]
    if len(parts) > 1:
        parts[1] = "B. " + parts[1]
    return item.question + " Options:" + "".join(f"\n{part}" for part in parts) + f"\n{LETTER_INSTRUCTION}"


# ---- grading (protocol "original") ---------------------------------------------------------

GRADER_MODEL = "gpt-4-0314"
GRADER_TEMPERATURE = 0.2
GRADER_SYSTEM_PROMPT = ("You are a helpful and precise assistant for checking the quality of the answer. "
                        "Please answer in only yes or no.")
GRADE_PATTERN = re.compile(r"^(yes|no)$", re.IGNORECASE)


class Grader(TypingProtocol):
    """Judges one answer: returns the grader's raw reply (read with ``read_grade``)."""

    def __call__(self, question: str, correct_answer: str, model_response: str) -> str: ...


def grader_user_prompt(question: str, correct_answer: str, model_response: str) -> str:
    return (f"Given the following question {question}, the correct answer is {correct_answer}. "
            f"Does the following answer correctly answers the question, answer:{model_response}?")


def grader_messages(question: str, correct_answer: str, model_response: str) -> list[dict[str, str]]:
    """The chat messages gpt_grader.py sends (use with GRADER_MODEL at GRADER_TEMPERATURE)."""
    return [{"role": "system", "content": GRADER_SYSTEM_PROMPT},
            {"role": "user", "content": grader_user_prompt(question, correct_answer, model_response)}]


def read_grade(reply: str) -> bool:
    """gpt_grader.py: "yes" only when the whole reply is yes/no (any case) and it is yes."""
    return bool(GRADE_PATTERN.match(reply)) and reply.lower() == "yes"


class ChatGrader:
    """A model grader: ``send(messages) -> reply text`` (e.g. an OpenAI-compatible chat call)."""

    def __init__(self, send: Callable[[list[dict[str, str]]], str]):
        self.send = send

    def __call__(self, question: str, correct_answer: str, model_response: str) -> str:
        return self.send(grader_messages(question, correct_answer, model_response))


def _normalise(text: str) -> str:
    return " ".join(text.lower().strip().rstrip(".").split())


class ExactMatchGrader:
    """Offline default: "yes" iff the response is the gold letter, "(x)", the option text or both."""

    def __call__(self, question: str, correct_answer: str, model_response: str) -> str:
        letter = correct_answer.strip().strip("()").lower()
        options = {m.group(0)[1].lower(): m.group(1).strip() for m in OPTION_PATTERN.finditer(question)}
        accepted = {letter, f"({letter})", f"{letter})", f"{letter}."}
        if letter in options:
            text = _normalise(options[letter])
            accepted |= {text, f"({letter}) {text}", f"{letter}) {text}", f"{letter}. {text}"}
        return "yes" if _normalise(model_response) in accepted else "no"


DEFAULT_GRADER = ExactMatchGrader()


def parse_original(output: str, item: MMVPItem, grader: Grader | None = None) -> bool:
    """Whether the grader accepts the answer (its reply read like gpt_grader.py). The answer is
    stripped first, as evaluate_mllm.py strips the decoded response before writing it."""
    reply = (grader or DEFAULT_GRADER)(prompt_original(item), item.answer, output.strip())
    return read_grade(reply)


# ---- parsers -------------------------------------------------------------------------------

LETTER_PATTERNS = tuple(re.compile(p, re.IGNORECASE) for p in (
    r"^\s*\(?([AB])\)?\.?\s*$",      # just the letter, optional parens/period
    r"^\s*\(?([AB])\)?[\.\s]",       # the letter at the start
    r"answer\s+is\s+\(?([AB])\)?",   # "answer is A"
    r"option\s+\(?([AB])\)?",        # "option B"
    r"\(?([AB])\)?(?:\s|$)",         # any standalone A/B (so "a dog is shown" -> A)
))


def extract_letter(output: str) -> str:
    """lmms-eval ``_extract_answer_letter``: "A", "B" or ""."""
    text = output.strip()
    for pattern in LETTER_PATTERNS:
        match = pattern.search(text)
        if match:
            return match.group(1).upper()
    return text[0].upper() if text and text[0].upper() in ("A", "B") else ""


def parse_lmms_eval(output: str, item: MMVPItem | None = None) -> str:
    return extract_letter(output)


CAMBRIAN_KEYWORDS = ("answer is", "answer is:", "answer:")


def parse_cambrian(output: str, item: MMVPItem | None = None) -> str:
    """Cambrian mmvp_test.py ``extract_mcq_answer``: text after the last answer keyword, trimmed."""
    text = output.lower().strip()
    for keyword in CAMBRIAN_KEYWORDS:
        if keyword in text:
            text = text.split(keyword)[-1]
    return text.strip().rstrip(".:,").lstrip("(").rstrip(")")


def cambrian_option_texts(options: str) -> list[str]:
    """mmvp_eval.py ``give_options``: the text after each ')' ."""
    return [part.split(")")[1].strip() if ")" in part else "" for part in options.split("(")[1:]]


def correct_cambrian(parsed: str, item: MMVPItem) -> bool:
    gold = item.answer.lower()[1] if item.answer.startswith("(") else item.answer.lower()[0]
    texts = [t.lower() for t in cambrian_option_texts(item.options)]
    position = ord(gold) - ord("a")
    return parsed == gold or (position < len(texts) and parsed == texts[position])


# ---- protocols -----------------------------------------------------------------------------

PROTOCOLS: dict[str, Protocol] = {
    "original": Protocol(
        "original", "tsb0601/MMVP@76350059 scripts/evaluate_mllm.py, scripts/gpt_grader.py",
        GenerationSettings(do_sample=True, max_new_tokens=1024, temperature=0.2, conversation="llava_v1"),
        prompt_original, parse_original, "pair_accuracy"),
    "lmms-eval": Protocol(
        "lmms-eval", "EvolvingLMMs-Lab/lmms-eval@75571cfe lmms_eval/tasks/mmvp/utils.py",
        GREEDY_16, prompt_lmms_eval, parse_lmms_eval, "pair_accuracy"),
    "cambrian": Protocol(
        "cambrian", "cambrian-mllm/cambrian@539ffc32 eval/eval/mmvp/mmvp_eval.py, mmvp_test.py",
        GREEDY_512, prompt_cambrian, parse_cambrian, "cambrian_accuracy"),
}
DEFAULT_PROTOCOL = "lmms-eval"


def limit_key(item: MMVPItem) -> tuple[str, int]:
    """``--limit``: whole pairs (pair accuracy counts complete pairs only); one stratum."""
    return "", item.pair


def get_protocol(name: str | None) -> Protocol:
    return pick_protocol(PROTOCOLS, name, DEFAULT_PROTOCOL, NAME)


def build_prompt(item: MMVPItem, protocol: str | None = None) -> tuple[str, list[Path], dict[str, Any]]:
    return prompt_request(get_protocol(protocol), item)


def parse(output: str, item: MMVPItem, protocol: str | None = None, grader: Grader | None = None) -> Any:
    chosen = get_protocol(protocol)
    if chosen.name == "original":
        return parse_original(output, item, grader)
    return chosen.parse(output, item)


def is_correct(output: str, item: MMVPItem, protocol: str | None = None, grader: Grader | None = None) -> bool:
    chosen = get_protocol(protocol)
    return correct_parsed(parse(output, item, chosen.name, grader), item, chosen.name)


def correct_parsed(parsed: Any, item: MMVPItem, protocol: str) -> bool:
    """Whether an answer already parsed under ``protocol`` is right (no second grading)."""
    chosen = get_protocol(protocol)
    if chosen.name == "original":
        return parsed
    if chosen.name == "lmms-eval":
        return parsed == item.gold_letter
    return correct_cambrian(parsed, item)


# ---- scoring -------------------------------------------------------------------------------

def score(items: list[MMVPItem], outputs_by_id: dict, protocol: str | None = None,
          grader: Grader | None = None, **_: Any) -> dict[str, Any]:
    """Question accuracy, pair accuracy over complete pairs and (cambrian) its printed number."""
    chosen = get_protocol(protocol)
    present, missing = collect_outputs(items, outputs_by_id)
    parsed = [(item, output, parse(output, item, chosen.name, grader)) for item, output in present]
    results = [(item, output, answer, correct_parsed(answer, item, chosen.name)) for item, output, answer in parsed]
    pairs: dict[int, list[bool]] = {}
    for item, _, _, correct in results:
        pairs.setdefault(item.pair, []).append(correct)
    complete = [marks for marks in pairs.values() if len(marks) == 2]
    both = sum(all(marks) for marks in complete)
    metrics = {
        "accuracy": ratio(sum(r[3] for r in results), len(results)),
        "pair_accuracy": ratio(both, len(complete)),
    }
    if chosen.name == "cambrian":
        # mmvp_test.py prints 100 * correct / total with correct = 2 * (pairs both right)
        metrics["cambrian_accuracy"] = ratio(100.0 * 2 * both, len(results))
    extra = {}
    if chosen.name == "original":
        from openeyes.eval_mllm.mllm.grader import describe

        extra["grader"] = describe(grader)
    return {
        **extra,
        "benchmark": NAME, "protocol": chosen.name, "headline": chosen.headline, "metrics": metrics,
        "per_category": {},
        "counts": {"items": len(items), "scored": len(results), "missing": missing,
                   "pairs_complete": len(complete), "pairs_both_correct": both},
        "predictions": [{"id": item.id, "output": output, "parsed": parsed, "gold": item.answer, "correct": correct}
                        for item, output, parsed, correct in results],
    }
