"""Instruction set in the LLaVA-1.5 conversation layout (``llava_v1_5_mix665k.json``).

A JSON list of ``{"id", "image", "conversations"}`` with multi-turn human/gpt exchanges
(existence, counting, colour, position, relation, depth, multiple choice, yes/no), answers
read from the scene. Images under ``images/world/<id>.jpg``; ``image`` is relative to ``images/``.
"""
from __future__ import annotations

from pathlib import Path

from openeyes.world.exporters.common import ExportContext, save_image, write_json
from openeyes.world.questions import conversation
from openeyes.world.sampling import sample_scene

JSON_NAME = "llava_v1_5_mix665k.json"


def export(folder: Path, context: ExportContext) -> dict:
    records, turns = [], 0
    for index in range(context.n):
        rng = context.rng("llava_instruct", index)
        scene = sample_scene(rng, context.config, min_distinct=1)
        messages = conversation(scene, rng, context.config, turns=int(rng.integers(2, 6)))
        image = f"world/{index:012d}.jpg"
        save_image(context.render(scene), folder / "images" / image, context.config)
        records.append({"id": f"{index:012d}", "image": image, "conversations": messages})
        turns += len(messages) // 2
    write_json(folder / JSON_NAME, records)
    return {"records": len(records), "turns": turns, "images": len(records)}
