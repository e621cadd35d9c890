"""Classification set: ``test/<class_dir>/<id>.png`` + ``classnames.txt`` +
``zeroshot_classification_templates.txt`` (CLIP_benchmark conventions).

Class ``k`` is ``CLASSIFICATION_CLASSES[k]``; its folder is the name with spaces as
underscores, prefixed by the zero-padded index so folder order equals label order.
At least one image per class is written (max(n, number of classes) images).
"""
from __future__ import annotations

from pathlib import Path

from openeyes.world.dataset import WorldClassification
from openeyes.world.exporters.common import ExportContext, save_image
from openeyes.world.vocab import CLASSIFICATION_CLASSES, CLASSIFICATION_TEMPLATES


def class_dir(label: int) -> str:
    return f"{label:03d}_{CLASSIFICATION_CLASSES[label].replace(' ', '_')}"


def export(folder: Path, context: ExportContext) -> dict:
    total = max(context.n, len(CLASSIFICATION_CLASSES))
    data = WorldClassification(context.seed, context.split, size=context.config.image_size, length=total,
                               config=context.config)
    for index in range(total):
        item = data[index]
        save_image(item["image"], folder / "test" / class_dir(item["label"]) / f"{index:06d}.png", context.config)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "classnames.txt").write_text("\n".join(CLASSIFICATION_CLASSES) + "\n", encoding="utf-8")
    (folder / "zeroshot_classification_templates.txt").write_text("\n".join(CLASSIFICATION_TEMPLATES) + "\n",
                                                                  encoding="utf-8")
    return {"images": total, "classes": len(CLASSIFICATION_CLASSES)}
