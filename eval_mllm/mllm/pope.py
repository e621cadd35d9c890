"""POPE (BENCHMARKS.md §2): loader, prompt, the three reference parsers, per-split metrics.

```
coco_pope_{random,popular,adversarial}.json   # JSONL: question_id, image, text, label
images/COCO_val2014_*.jpg                      # (or val2014/, or next to the files)
```
or the lmms-eval copy (HF ``lmms-lab/POPE``: ``question_id, question, answer, image_source,
category, image``; as a ``save_to_disk`` folder, parquet or JSONL; ``category`` is the split).

Protocols (positive class = yes; all metrics per split):
- ``pope`` (LLaVA's pipeline: llava/eval/model_vqa_loader.py strips the decoded answer, then
  llava/eval/eval_pope.py = POPE evaluate.py parses it): whitespace stripped, text before the
  first '.', commas dropped, split on ' '; "no" iff 'No', 'not' or 'no' is a word, else "yes"
  (so "NO" and "" are yes; "No\n" is no, as the stripped answer LLaVA writes). Headline: mean
  F1 over the splits (LLaVA-1.5's number).
- ``lmms-eval`` (tasks/pope/utils.py): ``output.lower().strip()`` must equal the gold; anything
  else ("yes.") is neither yes nor no. Its ``pope_yes_ratio`` counts *gold* yes answers (a
  bug): reproduced as ``yes_ratio_lmms_eval``; ``yes_ratio`` is the real predicted ratio.
- ``cambrian`` (eval/eval/pope/pope_test.py): first whitespace token, lowercased,
  ``rstrip('.:,')``; accuracy over all loaded questions.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openeyes.errors import UserError
from openeyes.eval_mllm.mllm.predictions import collect_outputs, id_key, qualified_id
from openeyes.eval_mllm.mllm.protocol import GREEDY_128, Protocol, pick_protocol, prompt_request, ratio
from openeyes.eval_mllm.mllm.tables import Row, find_tables, is_hf_disk_dir, read_table, resolve_image

NAME = "pope"
SPLITS = ("random", "popular", "adversarial")
FILE_TEMPLATE = "coco_pope_{}.json"
IMAGE_FOLDERS = ("images", "val2014", "")
SUFFIX = "\nAnswer the question using a single word or phrase."


@dataclass(frozen=True)
class POPEItem:
    id: str                      # "<split>:<question_id>" (question_id restarts in every split file)
    question_id: Any
    split: str                   # random | popular | adversarial
    question: str
    label: str                   # "yes" | "no"
    image: Path
    where: str

    @property
    def images(self) -> list[Path]:
        return [self.image]

    @property
    def raw_id(self) -> Any:
        """The id as the data writes it; a prediction may use it alone where it names one item."""
        return self.question_id


# ---- loading -------------------------------------------------------------------------------

def _image_finder(root: Path, image_dir: Path | None):
    folders = [image_dir] if image_dir else [root / name if name else root for name in IMAGE_FOLDERS]
    cache: dict[str, Path] = {}

    def find(value: Any, where: str, image_cache: Path | None) -> Path:
        if not isinstance(value, str):
            return resolve_image(value, root, where, image_cache)
        if value not in cache:
            name = value if Path(value).suffix else f"{value}.jpg"
            found = next((folder / name for folder in folders if (folder / name).is_file()), None)
            if found is None:
                raise UserError(f"{where}: image {name} not found in {', '.join(str(f) for f in folders)}")
            cache[value] = found
        return cache[value]

    return find


def _official_rows(root: Path, split: str) -> list[tuple[str, Row]]:
    wanted = SPLITS if split == "all" else (split,)
    rows = []
    for name in wanted:
        path = root / FILE_TEMPLATE.format(name)
        if not path.is_file():
            if split != "all":
                raise UserError(f"{root}: the {name} split file {path.name} is missing")
            continue
        rows += [(name, row) for row in read_table(path)]
    return rows


def _copy_rows(root: Path, split: str) -> list[tuple[str, Row]]:
    """The lmms-eval copy: one table (``category`` names the split) or one table per split."""
    if root.is_file() or is_hf_disk_dir(root):
        tables = [root]
    else:
        tables = find_tables(root, ("*.parquet", "*.jsonl", "Full/*.parquet", "*/*.parquet"))
    if not tables:
        raise UserError(f"{root} is not a POPE folder: no coco_pope_*.json, HF dataset, parquet or JSONL found")
    rows = []
    for table in tables:
        hf_split = None if split == "all" else split
        for row in read_table(table, hf_split):
            category = row.get("category")
            if category is None:
                category = next((name for name in SPLITS if name in table.name), None)
            if category is None:
                raise UserError(f"{row.where}: no 'category' field to tell the split")
            rows.append((str(category), row))
    return [(name, row) for name, row in rows if split == "all" or name == split]


def load(data_dir: str | Path, split: str | None = None, image_dir: str | Path | None = None,
         image_cache: Path | None = None, **_: Any) -> list[POPEItem]:
    """POPE questions of ``split`` (random | popular | adversarial | all), checked and with images."""
    root = Path(data_dir)
    split = split or "all"
    if split not in SPLITS + ("all",):
        raise UserError(f"unknown POPE split {split!r}; choose one of: {', '.join(SPLITS)}, all")
    if not root.exists():
        raise UserError(f"POPE data {root} does not exist")
    official = root.is_dir() and any((root / FILE_TEMPLATE.format(name)).is_file() for name in SPLITS)
    rows = _official_rows(root, split) if official else _copy_rows(root, split)
    if not rows:
        raise UserError(f"{root}: no POPE questions found for split {split!r}")
    find_image = _image_finder(root if root.is_dir() else root.parent, Path(image_dir) if image_dir else None)
    seen: dict[tuple[str, str], str] = {}
    parsed = []
    for name, row in rows:
        if name not in SPLITS:
            raise UserError(f"{row.where}: unknown POPE split/category {name!r}")
        question_id = row.require("question_id")
        key = (name, id_key(question_id))
        if key in seen:
            raise UserError(f"{row.where}: question_id {question_id} repeats ({seen[key]}) in split {name}")
        seen[key] = row.where
        question = str(row.require("text", "question")).strip()
        label = str(row.require("label", "answer")).strip().lower()
        if label not in ("yes", "no"):
            raise UserError(f"{row.where}: label {label!r} is not yes or no")
        if not question:
            raise UserError(f"{row.where}: empty question")
        image_value = row.get("image")
        if image_value is None or (isinstance(image_value, dict) and not any(image_value.values())):
            image_value = row.require("image_source")
        image = find_image(image_value, row.where, image_cache)
        parsed.append((question_id, name, question, label, image, row.where))
    return [POPEItem(qualified_id(fields[1], fields[0]), *fields) for fields in parsed]


# ---- prompts and parsers -------------------------------------------------------------------

def prompt(item: POPEItem) -> str:
    return item.question + SUFFIX


def parse_pope(output: str, item: POPEItem | None = None) -> str:
    """LLaVA's pipeline: model_vqa_loader.py's ``.strip()``, then eval_pope.py (= POPE
    evaluate.py); always "yes" or "no"."""
    text = output.strip()
    if text.find(".") != -1:
        text = text.split(".")[0]
    words = text.replace(",", "").split(" ")
    return "no" if ("No" in words or "not" in words or "no" in words) else "yes"


def parse_lmms_eval(output: str, item: POPEItem | None = None) -> str:
    """lmms-eval: the whole output, lowercased and stripped (only "yes"/"no" count)."""
    return output.lower().strip()


def parse_cambrian(output: str, item: POPEItem | None = None) -> str:
    """Cambrian pope_test.py: first whitespace token, lowercased, rstrip('.:,') ("" if empty)."""
    tokens = output.lower().split()
    return tokens[0].rstrip(".:,") if tokens else ""


PROTOCOLS: dict[str, Protocol] = {
    "pope": Protocol("pope", "haotian-liu/LLaVA@c121f043 llava/eval/model_vqa_loader.py (answer .strip()) + "
                             "llava/eval/eval_pope.py (= RUCAIBox/POPE@3df3ba1b evaluate.py)",
                     GREEDY_128, prompt, parse_pope, "mean_f1"),
    "lmms-eval": Protocol("lmms-eval", "EvolvingLMMs-Lab/lmms-eval@75571cfe lmms_eval/tasks/pope/utils.py, pope.yaml",
                          GREEDY_128, prompt, parse_lmms_eval, "f1"),
    "cambrian": Protocol("cambrian", "cambrian-mllm/cambrian@539ffc32 eval/eval/pope/pope_test.py",
                         GREEDY_128, prompt, parse_cambrian, "accuracy"),
}
DEFAULT_PROTOCOL = "pope"


def limit_key(item: POPEItem) -> tuple[str, str]:
    """``--limit``: every split in turn (the headline averages over splits)."""
    return item.split, item.id


def get_protocol(name: str | None) -> Protocol:
    return pick_protocol(PROTOCOLS, name, DEFAULT_PROTOCOL, NAME)


def build_prompt(item: POPEItem, protocol: str | None = None) -> tuple[str, list[Path], dict[str, Any]]:
    return prompt_request(get_protocol(protocol), item)


def parse(output: str, item: POPEItem | None = None, protocol: str | None = None) -> str:
    return get_protocol(protocol).parse(output, item)


# ---- metrics -------------------------------------------------------------------------------

def binary_metrics(predictions: list[str], labels: list[str], protocol: str) -> dict[str, Any]:
    """Accuracy, precision, recall, F1, yes-ratio (positive = yes) the way ``protocol`` counts.

    pope: every prediction is yes/no; undefined P/R/F1 are null (the reference divides by 0).
    lmms-eval / cambrian: a prediction that is neither "yes" nor "no" is only ever wrong; it
    is no TP/FP/TN/FN. lmms-eval turns undefined P/R/F1 into 0 as its code does.
    """
    n = len(labels)
    tp = sum(p == "yes" and g == "yes" for p, g in zip(predictions, labels))
    fp = sum(p == "yes" and g == "no" for p, g in zip(predictions, labels))
    tn = sum(p == "no" and g == "no" for p, g in zip(predictions, labels))
    fn = sum(p == "no" and g == "yes" for p, g in zip(predictions, labels))
    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    if protocol == "lmms-eval":  # its aggregators return 0 where the ratio is undefined
        precision, recall = precision or 0.0, recall or 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    elif precision is None or recall is None or precision + recall == 0:
        f1 = None
    else:
        f1 = 2 * precision * recall / (precision + recall)
    metrics = {
        "accuracy": ratio(sum(p == g for p, g in zip(predictions, labels)), n),
        "precision": precision, "recall": recall, "f1": f1,
        "yes_ratio": ratio(sum(p == "yes" for p in predictions), n),
        "tp": tp, "fp": fp, "tn": tn, "fn": fn,
        "unparsed": sum(p not in ("yes", "no") for p in predictions),
        "n": n,
    }
    if protocol == "lmms-eval":
        metrics["yes_ratio_lmms_eval"] = ratio(sum(g == "yes" for g in labels), n)  # counts gold, as LE does
    return metrics


def score(items: list[POPEItem], outputs_by_id: dict, protocol: str | None = None, **_: Any) -> dict[str, Any]:
    """Per-split metrics, the merged ("all") metrics, and the mean F1 / accuracy over splits."""
    chosen = get_protocol(protocol)
    present, missing = collect_outputs(items, outputs_by_id)
    parsed = [(item, output, chosen.parse(output, item)) for item, output in present]
    per_split: dict[str, dict[str, Any]] = {}
    for name in SPLITS:
        chunk = [(item, p) for item, _, p in parsed if item.split == name]
        if chunk:
            per_split[name] = binary_metrics([p for _, p in chunk], [i.label for i, _ in chunk], chosen.name)
    merged = binary_metrics([p for _, _, p in parsed], [item.label for item, _, _ in parsed], chosen.name)
    f1s = [m["f1"] for m in per_split.values()]
    accuracies = [m["accuracy"] for m in per_split.values()]
    metrics = {key: merged[key] for key in ("accuracy", "precision", "recall", "f1", "yes_ratio")}
    if chosen.name == "lmms-eval":
        metrics["yes_ratio_lmms_eval"] = merged["yes_ratio_lmms_eval"]
    metrics["mean_f1"] = None if not f1s or any(f is None for f in f1s) else sum(f1s) / len(f1s)
    metrics["mean_accuracy"] = None if not accuracies or any(a is None for a in accuracies) else sum(accuracies) / len(accuracies)
    return {
        "benchmark": NAME, "protocol": chosen.name, "headline": chosen.headline, "metrics": metrics,
        "per_category": per_split,
        "counts": {"items": len(items), "scored": len(parsed), "missing": missing, "unparsed": merged["unparsed"]},
        "predictions": [{"id": item.id, "split": item.split, "output": output, "parsed": p, "gold": item.label,
                         "correct": p == item.label} for item, output, p in parsed],
    }
