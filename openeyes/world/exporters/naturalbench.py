"""NaturalBench: ``naturalbench.jsonl`` wide rows + ``images/``.

Each group is a one-attribute pair (``pairs.py``) with two questions whose gold is always
Yes/No/No/Yes (multiple choice: A/B/B/A, the options embedded as
``"...?\\nOption: A:X; B:Y;"`` and swapped in the second question). Every pair yields one
``yes_no`` and one ``multiple_choice`` group.
"""
from __future__ import annotations

from pathlib import Path

from openeyes.world.exporters.common import ExportContext, pair_stream, save_image, write_jsonl

COLUMNS = ["Index", "Image_0", "Image_1", "Question_0", "Image_0_Question_0", "Image_1_Question_0",
           "Question_1", "Image_0_Question_1", "Image_1_Question_1", "Question_Type", "Source"]
SOURCE = "openeyes-world"


def _group(index: int, pair, kind: str) -> dict:
    if kind == "yes_no":
        questions, gold = (pair.yes_no_a, pair.yes_no_b), ("Yes", "No", "No", "Yes")
    else:
        first = f"{pair.question}\nOption: A:{pair.answer_a}; B:{pair.answer_b};"
        second = f"{pair.question}\nOption: A:{pair.answer_b}; B:{pair.answer_a};"
        questions, gold = (first, second), ("A", "B", "B", "A")
    return {
        "Index": index, "Image_0": f"images/{index}_0.jpg", "Image_1": f"images/{index}_1.jpg",
        "Question_0": questions[0], "Image_0_Question_0": gold[0], "Image_1_Question_0": gold[1],
        "Question_1": questions[1], "Image_0_Question_1": gold[2], "Image_1_Question_1": gold[3],
        "Question_Type": kind, "Source": f"{SOURCE}/{pair.pattern}",
    }


def export(folder: Path, context: ExportContext) -> dict:
    rows = []
    for pair in pair_stream(context, "naturalbench"):
        for kind in ("yes_no", "multiple_choice"):
            row = _group(len(rows), pair, kind)
            save_image(context.render(pair.scene_a), folder / row["Image_0"], context.config)
            save_image(context.render(pair.scene_b), folder / row["Image_1"], context.config)
            rows.append(row)
    write_jsonl(folder / "naturalbench.jsonl", rows)
    return {"groups": len(rows), "images": 2 * len(rows)}
