"""Image-caption retrieval sets: Karpathy Flickr30k, Karpathy COCO, or a WebDataset split.

- Flickr (CLIP_benchmark ``datasets/flickr.py``): ``flickr30k_<split>_karpathy.txt``, a
  header line then ``<img>.jpg,<caption>`` lines; each line is split on ``".jpg,"`` and
  captions are grouped by image in order of first appearance. Images live in
  ``flickr30k-images/`` (or ``images/``, or beside the file).
- COCO (torchvision ``CocoCaptions``): ``coco_<split>_karpathy.json`` in COCO captions format;
  images in sorted id order, captions in annotation order, files under ``val2014/`` (or
  ``images/``, or beside the file).
- WebDataset: ``<split>/{nshards.txt, *.tar}`` with ``dataset_type.txt`` = "retrieval".
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from openeyes.errors import UserError
from openeyes.eval_mllm.encoder.data.images import FileImages, ImageStore, TarImages
from openeyes.eval_mllm.encoder.data.textfiles import read_dataset_type
from openeyes.eval_mllm.encoder.data.webdataset import NSHARDS_FILE, load_wds_retrieval

FLICKR_IMAGE_DIRS = ("flickr30k-images", "images", ".")
COCO_IMAGE_DIRS = ("val2014", "images", ".")


@dataclass
class RetrievalData:
    root: Path
    layout: str                    # "flickr30k_karpathy" | "coco_karpathy" | "webdataset"
    images: ImageStore
    captions: list[list[str]]      # captions per image (at least one each)

    def flat_texts(self) -> tuple[list[str], list[int]]:
        """All captions in order and, for each, the index of its image."""
        texts, owners = [], []
        for index, captions in enumerate(self.captions):
            texts += captions
            owners += [index] * len(captions)
        return texts, owners


def flickr_file(root: Path, split: str) -> Path:
    return root / f"flickr30k_{split}_karpathy.txt"


def coco_file(root: Path, split: str) -> Path:
    return root / f"coco_{split}_karpathy.json"


def is_retrieval_dir(path: Path, split: str) -> bool:
    if flickr_file(path, split).is_file() or coco_file(path, split).is_file():
        return True
    return read_dataset_type(path) == "retrieval" and (path / split / NSHARDS_FILE).is_file()


def image_folder(root: Path, candidates: tuple[str, ...], first_image: str, annotation: Path) -> Path:
    """The first candidate folder that holds the first listed image."""
    for name in candidates:
        if (root / name / first_image).is_file():
            return root / name
    tried = ", ".join(str(root / name) for name in candidates)
    raise UserError(f"{annotation}: image {first_image} not found in any of {tried}")


def check_files(folder: Path, names: list[str], annotation: Path, places: list[str]) -> list[Path]:
    """Paths of the listed images; a missing one names the annotation entry that lists it."""
    paths = [folder / name for name in names]
    for path, place in zip(paths, places):
        if not path.is_file():
            raise UserError(f"{annotation} {place}: image {path} is missing")
    return paths


def load_flickr(root: Path, split: str = "test") -> RetrievalData:
    """The Karpathy Flickr30k text file, grouped by image in first-appearance order."""
    annotation = flickr_file(root, split)
    captions: dict[str, list[str]] = defaultdict(list)
    first_row: dict[str, int] = {}
    with open(annotation, encoding="utf-8") as handle:
        handle.readline()  # header
        for row, line in enumerate(handle, start=2):
            line = line.strip()
            if not line:
                continue
            parts = line.split(".jpg,")
            if len(parts) != 2:
                raise UserError(
                    f"{annotation} row {row}: expected '<image>.jpg,<caption>' with one '.jpg,', found {line[:80]!r}"
                )
            image, caption = parts[0] + ".jpg", parts[1]
            captions[image].append(caption)
            first_row.setdefault(image, row)
    if not captions:
        raise UserError(f"{annotation} lists no image")
    names = list(captions)
    folder = image_folder(root, FLICKR_IMAGE_DIRS, names[0], annotation)
    paths = check_files(folder, names, annotation, [f"row {first_row[n]}" for n in names])
    return RetrievalData(root, "flickr30k_karpathy", FileImages(paths, folder), [captions[n] for n in names])


def load_coco(root: Path, split: str = "test") -> RetrievalData:
    """The Karpathy COCO captions JSON, as torchvision's CocoCaptions orders it."""
    annotation = coco_file(root, split)
    try:
        payload = json.loads(annotation.read_text(encoding="utf-8"))
    except json.JSONDecodeError as problem:
        raise UserError(f"{annotation} is not valid JSON: {problem}")
    if not isinstance(payload, dict) or "images" not in payload or "annotations" not in payload:
        raise UserError(f"{annotation} is not in COCO captions format (needs 'images' and 'annotations')")
    files: dict[int, str] = {}
    for row, entry in enumerate(payload["images"]):
        if not isinstance(entry, dict) or "id" not in entry or "file_name" not in entry:
            raise UserError(f"{annotation} images[{row}]: needs 'id' and 'file_name'")
        files[entry["id"]] = entry["file_name"]
    captions: dict[int, list[str]] = defaultdict(list)
    for row, entry in enumerate(payload["annotations"]):
        if not isinstance(entry, dict) or "image_id" not in entry or "caption" not in entry:
            raise UserError(f"{annotation} annotations[{row}]: needs 'image_id' and 'caption'")
        if entry["image_id"] not in files:
            raise UserError(f"{annotation} annotations[{row}]: image_id {entry['image_id']} is not in 'images'")
        captions[entry["image_id"]].append(entry["caption"])
    ids = sorted(files)
    if not ids:
        raise UserError(f"{annotation} lists no image")
    without = [i for i in ids if not captions[i]]
    if without:
        raise UserError(f"{annotation}: image id {without[0]} ({files[without[0]]}) has no caption")
    folder = image_folder(root, COCO_IMAGE_DIRS, files[ids[0]], annotation)
    paths = check_files(folder, [files[i] for i in ids], annotation, [f"image id {i}" for i in ids])
    return RetrievalData(root, "coco_karpathy", FileImages(paths, folder), [captions[i] for i in ids])


def load_retrieval(root: str | Path, split: str = "test") -> RetrievalData:
    """Whichever retrieval layout ``root`` holds (Flickr first, then COCO, then WebDataset)."""
    root = Path(root)
    if flickr_file(root, split).is_file():
        return load_flickr(root, split)
    if coco_file(root, split).is_file():
        return load_coco(root, split)
    if (root / split / NSHARDS_FILE).is_file():
        if read_dataset_type(root) != "retrieval":
            raise UserError(f"{root}: a WebDataset retrieval set needs dataset_type.txt saying 'retrieval'")
        members, captions = load_wds_retrieval(root / split)
        return RetrievalData(root, "webdataset", TarImages(members), captions)
    raise UserError(
        f"{root} holds no retrieval set: expected {flickr_file(root, split).name}, "
        f"{coco_file(root, split).name} or a WebDataset '{split}/' split with dataset_type.txt = retrieval"
    )
