"""MMVP (for MLLMs): ``Questions.csv`` (Index,Question,Options,Correct Answer) + ``MMVP Images/<Index>.jpg``.

Rows (1,2), (3,4), ... are pairs: the same question and options with opposite answers.
Options read ``(a) X (b) Y``; which option is (a) is random per pair.
"""
from __future__ import annotations

from pathlib import Path

from openeyes.world.exporters.common import ExportContext, pair_stream, save_image, write_csv

HEADER = ["Index", "Question", "Options", "Correct Answer"]
IMAGE_FOLDER = "MMVP Images"


def export(folder: Path, context: ExportContext) -> dict:
    rows = []
    for index, pair in enumerate(pair_stream(context, "mmvp")):
        rng = context.rng("mmvp_options", index)
        options = [pair.answer_a, pair.answer_b] if rng.random() < 0.5 else [pair.answer_b, pair.answer_a]
        text = f"(a) {options[0]} (b) {options[1]}"
        for offset, (scene, answer) in enumerate(((pair.scene_a, pair.answer_a), (pair.scene_b, pair.answer_b))):
            row_index = 2 * index + 1 + offset
            save_image(context.render(scene), folder / IMAGE_FOLDER / f"{row_index}.jpg", context.config)
            rows.append([row_index, pair.question, text, "(a)" if options[0] == answer else "(b)"])
    write_csv(folder / "Questions.csv", HEADER, rows)
    return {"questions": len(rows), "images": len(rows)}
