"""MMVP-VLM: ``Questions.csv`` (Question ID,Type,Statement) + ``MLLM_VLM Images/<Type>/<qid>.jpg``.

Rows come in pairs (odd qid, qid + 1); statement k describes image k. Each export unit is one
full benchmark of 9 patterns x 15 pairs in the official row order, so ``pair_idx // 15``
modulo 9 gives the category as in MMVP ``scripts/evaluate_vlm.py``.
"""
from __future__ import annotations

from pathlib import Path

from openeyes.world.exporters.common import ExportContext, pair_stream, save_image, write_csv

HEADER = ["Question ID", "Type", "Statement"]
IMAGE_FOLDER = "MLLM_VLM Images"


def export(folder: Path, context: ExportContext) -> dict:
    rows = []
    for index, pair in enumerate(pair_stream(context, "mmvp_vlm")):
        for offset, (scene, statement) in enumerate(((pair.scene_a, pair.statement_a), (pair.scene_b, pair.statement_b))):
            qid = 2 * index + 1 + offset
            save_image(context.render(scene), folder / IMAGE_FOLDER / pair.pattern / f"{qid}.jpg", context.config)
            rows.append([qid, pair.pattern, statement])
    write_csv(folder / "Questions.csv", HEADER, rows)
    return {"pairs": len(rows) // 2, "images": len(rows)}
