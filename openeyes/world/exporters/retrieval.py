"""Retrieval set in the Flickr30k Karpathy layout read by CLIP_benchmark.

``flickr30k_test_karpathy.txt``: a header line, then ``<img>.jpg,<caption>`` lines (five
captions per image, each from a different template draw); images in ``flickr30k-images/``.
"""
from __future__ import annotations

from pathlib import Path

from openeyes.world.captions import caption
from openeyes.world.exporters.common import ExportContext, save_image
from openeyes.world.sampling import sample_scene

CAPTIONS_PER_IMAGE = 5
HEADER = "image,caption"


def export(folder: Path, context: ExportContext) -> dict:
    lines = [HEADER]
    for index in range(context.n):
        rng = context.rng("retrieval", index)
        scene = sample_scene(rng, context.config)
        name = f"{index:010d}.jpg"
        save_image(context.render(scene), folder / "flickr30k-images" / name, context.config)
        seen: list[str] = []
        for _ in range(4 * CAPTIONS_PER_IMAGE):  # distinct captions where the templates allow
            text = caption(scene, rng, context.config)
            if text not in seen:
                seen.append(text)
            if len(seen) == CAPTIONS_PER_IMAGE:
                break
        while len(seen) < CAPTIONS_PER_IMAGE:
            seen.append(seen[len(seen) % max(1, len(seen))])
        lines += [f"{name},{text}" for text in seen]
    (folder / "flickr30k_test_karpathy.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"images": context.n, "captions": len(lines) - 1}
