"""Image-caption set in the LLaVA pretraining layout (``blip_laion_cc_sbu_558k.json``).

A JSON list of ``{"id", "image", "conversations": [human "<image>\\n<request>", gpt caption]}``
with images under ``images/<shard>/<id>.jpg`` (``image`` is relative to ``images/``).
"""
from __future__ import annotations

from pathlib import Path

from openeyes.world.captions import caption
from openeyes.world.exporters.common import ExportContext, save_image, write_json
from openeyes.world.sampling import sample_scene

JSON_NAME = "blip_laion_cc_sbu_558k.json"
REQUESTS = [
    "Give a brief description of the image.",
    "Describe the image concisely.",
    "Provide a brief description of the given image.",
    "Write a terse but informative summary of the picture.",
    "Share a concise interpretation of the image provided.",
    "Render a clear and concise summary of the photo.",
]


def image_path(index: int) -> str:
    return f"{index // 10000:05d}/{index:09d}.jpg"


def export(folder: Path, context: ExportContext) -> dict:
    records = []
    for index in range(context.n):
        rng = context.rng("llava_pretrain", index)
        scene = sample_scene(rng, context.config)
        text = caption(scene, rng, context.config)
        request = REQUESTS[int(rng.integers(len(REQUESTS)))]
        save_image(context.render(scene), folder / "images" / image_path(index), context.config)
        records.append({"id": f"{index:09d}", "image": image_path(index), "conversations": [
            {"from": "human", "value": f"<image>\n{request}"}, {"from": "gpt", "value": text}]})
    write_json(folder / JSON_NAME, records)
    return {"records": len(records), "images": len(records)}
