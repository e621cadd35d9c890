"""Classification sets: an ImageFolder split or a CLIP_benchmark WebDataset split.

```
<root>/<split>/<class_dir>/*.png|jpg     (ImageFolder: classes = sorted class dirs)
<root>/<split>/{nshards.txt, 0.tar, ...}  (WebDataset: integer .cls labels)
<root>/classnames.txt                     (one name per class, in class-index order)
<root>/zeroshot_classification_templates.txt   (one "{c}" template per line; or .json)
```
ImageFolder order follows torchvision: class dirs sorted, files sorted within each.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Union

from openeyes.errors import UserError
from openeyes.eval_mllm.encoder.data.images import FileImages, ImageStore, TarImages
from openeyes.eval_mllm.encoder.data.textfiles import (
    CLASSNAMES_FILE, read_classnames, read_dataset_type, read_templates,
)
from openeyes.eval_mllm.encoder.data.webdataset import NSHARDS_FILE, load_wds_classification

# torchvision's IMG_EXTENSIONS, compared lower-case
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


@dataclass
class ClassificationData:
    root: Path
    layout: str                                   # "imagefolder" | "webdataset"
    images: ImageStore
    labels: list[int]                             # class index per image
    classnames: list[str] | None                  # None: no classnames.txt (clustering still works)
    templates: Union[list[str], dict[str, list[str]], None]


def is_classification_dir(path: Path, split: str) -> bool:
    """A classification split is here: WebDataset shards, or class folders plus classnames.txt."""
    split_dir = path / split
    if read_dataset_type(path) != "classification" or not split_dir.is_dir():
        return False
    if (split_dir / NSHARDS_FILE).is_file():
        return True
    return (path / CLASSNAMES_FILE).is_file() and any(p.is_dir() for p in split_dir.iterdir())


def load_imagefolder(split_dir: Path) -> tuple[list[str], list[Path], list[int]]:
    """(class dir names, image paths, labels) in torchvision ImageFolder order."""
    class_dirs = sorted(p for p in split_dir.iterdir() if p.is_dir())
    if not class_dirs:
        raise UserError(f"{split_dir} has no class folders")
    paths, labels = [], []
    for index, class_dir in enumerate(class_dirs):
        files = sorted(p for p in class_dir.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise UserError(f"class folder {class_dir} holds no image ({', '.join(IMAGE_SUFFIXES)})")
        paths += files
        labels += [index] * len(files)
    return [p.name for p in class_dirs], paths, labels


def load_classification(root: str | Path, split: str = "test") -> ClassificationData:
    """The split ``split`` of the classification set at ``root`` with its names and templates."""
    root = Path(root)
    split_dir = root / split
    if not split_dir.is_dir():
        raise UserError(f"{root} has no '{split}' split folder")
    dataset_type = read_dataset_type(root)
    if dataset_type != "classification":
        raise UserError(f"{root}: dataset_type.txt says {dataset_type!r}; only single-label classification is supported here")
    classnames = read_classnames(root)
    templates = read_templates(root)
    if (split_dir / NSHARDS_FILE).is_file():
        members, labels = load_wds_classification(split_dir, len(classnames) if classnames else None)
        return ClassificationData(root, "webdataset", TarImages(members), labels, classnames, templates)
    class_dirs, paths, labels = load_imagefolder(split_dir)
    if classnames is not None and len(classnames) != len(class_dirs):
        raise UserError(
            f"{root / CLASSNAMES_FILE} lists {len(classnames)} classes but {split_dir} has "
            f"{len(class_dirs)} class folders"
        )
    return ClassificationData(root, "imagefolder", FileImages(paths, root), labels, classnames, templates)
