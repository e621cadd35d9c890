"""NaturalBench's CLIP retrieval variant (``NaturalBench-Retrieval.zip``).

```
metadata.json   # [{index, image_0, image_1, caption_0, caption_1}, ...]
images/         # the files named by image_0 / image_1
```
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from openeyes.errors import UserError
from openeyes.eval_mllm.encoder.data.images import FileImages

METADATA_FILE = "metadata.json"
FIELDS = ("index", "image_0", "image_1", "caption_0", "caption_1")


@dataclass
class NaturalBenchRetrievalData:
    root: Path
    indices: list                  # the groups' ``index`` values
    images: FileImages             # 2 per group: image_0, image_1 of group 0, then group 1, ...
    captions: list[str]            # 2 per group, same order


def is_naturalbench_retrieval_dir(path: Path) -> bool:
    return (path / METADATA_FILE).is_file() and (path / "images").is_dir()


def resolve_image(root: Path, name: str) -> Path | None:
    for candidate in (root / "images" / name, root / name):
        if candidate.is_file():
            return candidate
    return None


def load_naturalbench_retrieval(root: str | Path) -> NaturalBenchRetrievalData:
    root = Path(root)
    path = root / METADATA_FILE
    if not path.is_file():
        raise UserError(f"{root} is not a NaturalBench retrieval folder: {METADATA_FILE} is missing")
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as problem:
        raise UserError(f"{path} is not valid JSON: {problem}")
    if not isinstance(entries, list) or not entries:
        raise UserError(f"{path} must hold a non-empty list of groups")
    indices, paths, captions = [], [], []
    for row, entry in enumerate(entries):
        missing = [f for f in FIELDS if not isinstance(entry, dict) or f not in entry]
        if missing:
            raise UserError(f"{path} entry {row}: missing {', '.join(missing)}")
        for key in ("image_0", "image_1"):
            found = resolve_image(root, str(entry[key]))
            if found is None:
                raise UserError(f"{path} entry {row}: image {entry[key]} not found under {root / 'images'}")
            paths.append(found)
        indices.append(entry["index"])
        captions += [str(entry["caption_0"]), str(entry["caption_1"])]
    return NaturalBenchRetrievalData(root, indices, FileImages(paths, root), captions)
