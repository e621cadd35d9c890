"""Writers of tiny MLLM-benchmark fixtures in the real layouts (no benchmark image is shipped)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from PIL import Image


def write_image(path: Path, shade: int = 128) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (shade, 255 - shade, 64)).save(path)


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def write_mmvp(root: Path, pairs: int = 2, index_header: str = "Index", rows: list[list] | None = None) -> Path:
    """Questions.csv (Index,Question,Options,Correct Answer) + MMVP Images/<Index>.jpg."""
    if rows is None:
        rows = []
        for k in range(pairs):
            options = "(a) Open (b) Closed" if k % 2 == 0 else "(a) Left (b) Right"
            rows += [[2 * k + 1, f"Question {k}?", options, "(a)"], [2 * k + 2, f"Question {k}?", options, "(b)"]]
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "Questions.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([index_header, "Question", "Options", "Correct Answer"])
        writer.writerows(rows)
    for row in rows:
        write_image(root / "MMVP Images" / f"{row[0]}.jpg", shade=int(row[0]) % 255)
    return root


def pope_rows(count: int = 6) -> list[dict]:
    """POPE rows: yes/no alternating, two images of three questions each."""
    return [{"question_id": k + 1, "image": f"COCO_val2014_{k // 3:012d}.jpg",
             "text": f"Is there a thing{k} in the image?", "label": "yes" if k % 2 == 0 else "no"}
            for k in range(count)]


def write_pope(root: Path, splits=("random", "popular", "adversarial"), count: int = 6) -> Path:
    for split in splits:
        write_jsonl(root / f"coco_pope_{split}.json", pope_rows(count))
    for k in range(count // 3 + 1):
        write_image(root / "images" / f"COCO_val2014_{k:012d}.jpg", shade=k)
    return root


def cv_bench_rows() -> dict[str, list[dict]]:
    """Two 2D items per source (ADE20K, COCO) and two 3D (Omni3D) items, in the raw JSONL fields."""
    rows = {"2D": [], "3D": []}
    specs = [("2D", "Count", "ADE20K", ["3", "2", "1", "0"], "(C)"), ("2D", "Count", "ADE20K", ["1", "2", "3", "4"], "(A)"),
             ("2D", "Relation", "COCO", ["left", "right"], "(B)"), ("2D", "Relation", "COCO", ["above", "below"], "(A)"),
             ("3D", "Depth", "Omni3D", ["chair", "table"], "(A)"), ("3D", "Distance", "Omni3D", ["lamp", "sofa"], "(B)")]
    for idx, (kind, task, source, choices, answer) in enumerate(specs):
        question = f"Question {idx}?"
        letters = "\n".join(f"({chr(65 + k)}) {c}" for k, c in enumerate(choices))
        filename = f"img/{kind}/{task.lower()}/{source.lower()}_{idx}.png"
        rows[kind].append({"idx": idx, "type": kind, "task": task, "image": filename, "question": question,
                           "choices": choices, "answer": answer,
                           "prompt": f"{question} Select from the following choices.\n{letters}",
                           "filename": filename, "source": source, "source_dataset": "fixture",
                           "source_filename": f"{idx}.png", "target_class": None, "target_size": None, "bbox": None})
    return rows


def write_cv_bench(root: Path) -> Path:
    for kind, rows in cv_bench_rows().items():
        write_jsonl(root / f"test_{kind.lower()}.jsonl", rows)
        for row in rows:
            write_image(root / row["filename"], shade=row["idx"])
    return root


def naturalbench_wide_rows(groups: int = 2) -> list[dict]:
    rows = []
    for g in range(groups):
        if g % 2 == 0:
            questions, gold, kind = ("Is it red?", "Is it blue?"), ("Yes", "No", "No", "Yes"), "yes_no"
        else:
            questions = ("What color?\nOption: A:Red; B:Blue;", "What color?\nOption: A:Blue; B:Red;")
            gold, kind = ("A", "B", "B", "A"), "multiple_choice"
        rows.append({"Index": g, "Image_0": f"images/{g}_0.jpg", "Image_1": f"images/{g}_1.jpg",
                     "Question_0": questions[0], "Image_0_Question_0": gold[0], "Image_1_Question_0": gold[1],
                     "Question_1": questions[1], "Image_0_Question_1": gold[2], "Image_1_Question_1": gold[3],
                     "Question_Type": kind, "Source": "fixture"})
    return rows


def write_naturalbench(root: Path, rows: list[dict] | None = None, name: str = "naturalbench.jsonl") -> Path:
    rows = naturalbench_wide_rows() if rows is None else rows
    write_jsonl(root / name, rows)
    for row in rows:
        for column in ("Image_0", "Image_1"):
            if column in row:
                write_image(root / row[column])
        if "Image" in row:
            write_image(root / row["Image"])
    return root


def naturalbench_flat_rows(groups: int = 2) -> list[dict]:
    """The lmms-eval copy: Index 0..4N-1, Image, Question, Question_Type, answer."""
    flat = []
    for row in naturalbench_wide_rows(groups):
        for question, image, gold in (("Question_0", "Image_0", "Image_0_Question_0"),
                                      ("Question_0", "Image_1", "Image_1_Question_0"),
                                      ("Question_1", "Image_0", "Image_0_Question_1"),
                                      ("Question_1", "Image_1", "Image_1_Question_1")):
            flat.append({"Index": len(flat), "Image": row[image], "Question": row[question],
                         "Question_Type": row["Question_Type"], "answer": row[gold]})
    return flat
