"""``read_image_text(path)``: the right reader for a path, by its extension or contents."""
from __future__ import annotations

from pathlib import Path

from torch.utils.data import Dataset

from openeyes.datasets.captions import read_captions
from openeyes.datasets.llava import read_llava_pretrain
from openeyes.datasets.webdataset import WebDatasetTars
from openeyes.errors import UserError


def read_image_text(path: str | Path, **options) -> Dataset:
    """JSONL/CSV/TSV -> ``read_captions``; a LLaVA ``.json`` list -> ``read_llava_pretrain``;
    ``.tar`` shards (a file, folder, glob or ``{000..009}`` pattern) -> ``WebDatasetTars``.
    ``options`` go to the chosen reader.
    """
    text = str(path)
    suffix = Path(text).suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".csv", ".tsv"):
        return read_captions(path, **options)
    if suffix == ".json":
        return read_llava_pretrain(path, **options)
    if suffix == ".tar" or Path(text).is_dir() or "{" in text or "*" in text:
        return WebDatasetTars(path, **options)
    raise UserError(f"cannot tell the format of {path}: expected .jsonl, .csv, .tsv, a LLaVA .json, or .tar shards")
