"""Reading benchmark tables in their real layouts, with every row labelled by file and row.

Supported: JSONL (also POPE's ``.json`` files, which are JSONL), a JSON list, CSV, parquet
(needs pyarrow) and a Hugging Face ``datasets`` ``save_to_disk`` folder (needs datasets).
Images may be relative paths, HF image dicts ``{"bytes", "path"}`` or PIL images; embedded
bytes are written once to a content-addressed cache so prompts can name image files.
"""
from __future__ import annotations

import csv
import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openeyes.errors import UserError
from openeyes.jsonl import iter_jsonl_objects

HF_DISK_MARKERS = ("dataset_dict.json", "state.json")
DEFAULT_IMAGE_CACHE = Path(tempfile.gettempdir()) / "openeyes-mllm-images"


@dataclass(frozen=True)
class Row:
    values: dict[str, Any]
    where: str                  # "<file> line 7" / "<file> row 3": for error messages

    def get(self, *names: str, default: Any = None) -> Any:
        """The first of ``names`` present in the row (header spellings differ between copies)."""
        for name in names:
            if name in self.values:
                return self.values[name]
        return default

    def require(self, *names: str) -> Any:
        for name in names:
            if name in self.values and self.values[name] is not None:
                return self.values[name]
        raise UserError(f"{self.where}: missing field {' / '.join(names)}")


def read_jsonl(path: Path) -> list[Row]:
    return [Row(value, where) for where, value in iter_jsonl_objects(path)]


def read_json_or_jsonl(path: Path) -> list[Row]:
    """A JSON list of objects, or JSONL (POPE's ``.json`` files are JSONL despite the name)."""
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        try:
            values = json.loads(text)
        except json.JSONDecodeError as problem:
            raise UserError(f"{path} line {problem.lineno}: not valid JSON ({problem.msg})")
        rows = []
        for number, value in enumerate(values):
            if not isinstance(value, dict):
                raise UserError(f"{path} entry {number}: expected a JSON object, found {type(value).__name__}")
            rows.append(Row(value, f"{path} entry {number}"))
        return rows
    return read_jsonl(path)


def read_csv(path: Path, aliases: dict[str, str] | None = None) -> list[Row]:
    """CSV rows keyed by header (header is row 1); ``aliases`` renames header cells (e.g. lndex)."""
    aliases = aliases or {}
    with open(path, newline="", encoding="utf-8-sig") as handle:
        lines = list(csv.reader(handle))
    if not lines:
        raise UserError(f"{path} row 1: the file is empty (no header)")
    header = [aliases.get(cell.strip(), cell.strip()) for cell in lines[0]]
    rows = []
    for number, cells in enumerate(lines[1:], start=2):
        if not cells or not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            raise UserError(f"{path} row {number}: expected {len(header)} fields ({','.join(header)}), found {len(cells)}")
        rows.append(Row(dict(zip(header, cells)), f"{path} row {number}"))
    return rows


def read_parquet(path: Path) -> list[Row]:
    try:
        import pyarrow.parquet as parquet
    except ImportError:
        raise UserError(f"{path}: reading parquet needs pyarrow, which is not installed "
                        f"(pip install pyarrow, or export the table as JSONL)")
    table = parquet.read_table(path)
    return [Row(values, f"{path} row {number}") for number, values in enumerate(table.to_pylist())]


def is_hf_disk_dir(path: Path) -> bool:
    return path.is_dir() and any((path / marker).is_file() for marker in HF_DISK_MARKERS)


def read_hf_disk(path: Path, split: str | None) -> list[Row]:
    """Rows of a ``save_to_disk`` Dataset (or one split of a DatasetDict), images undecoded."""
    try:
        import datasets
        datasets.load_from_disk  # a stray namespace package called "datasets" is not the library
    except (ImportError, AttributeError):
        raise UserError(f"{path} is a Hugging Face dataset folder, and reading it needs the 'datasets' "
                        f"package, which is not installed (pip install datasets)")
    loaded = datasets.load_from_disk(str(path))
    label = str(path)
    if isinstance(loaded, datasets.DatasetDict):
        names = list(loaded)
        chosen = split if split in loaded else (names[0] if len(names) == 1 else None)
        if chosen is None:
            raise UserError(f"{path} holds the splits {', '.join(names)}; pick one with --split")
        loaded, label = loaded[chosen], f"{path} [{chosen}]"
    for column, feature in loaded.features.items():
        if isinstance(feature, datasets.Image):
            loaded = loaded.cast_column(column, datasets.Image(decode=False))
    return [Row(dict(values), f"{label} row {number}") for number, values in enumerate(loaded)]


def read_table(path: Path, split: str | None = None, aliases: dict[str, str] | None = None) -> list[Row]:
    """Rows of any supported table file or HF folder at ``path``."""
    if is_hf_disk_dir(path):
        return read_hf_disk(path, split)
    if not path.is_file():
        raise UserError(f"{path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return read_jsonl(path)
    if suffix == ".json":
        return read_json_or_jsonl(path)
    if suffix == ".csv":
        return read_csv(path, aliases)
    if suffix == ".parquet":
        return read_parquet(path)
    raise UserError(f"{path}: unsupported table format {suffix!r} (use .jsonl, .json, .csv or .parquet)")


def _sniff_suffix(data: bytes) -> str:
    return ".png" if data.startswith(b"\x89PNG") else ".jpg"


def _cache_bytes(data: bytes, suffix: str, cache: Path) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / f"{hashlib.sha256(data).hexdigest()[:32]}{suffix}"
    if not target.is_file():
        staging = target.with_suffix(target.suffix + ".part")
        staging.write_bytes(data)
        staging.replace(target)
    return target


def resolve_image(value: Any, root: Path, where: str, cache: Path | None = None) -> Path:
    """An image file for ``value`` (relative path, HF image dict or PIL image); UserError if absent."""
    cache = cache or DEFAULT_IMAGE_CACHE
    if isinstance(value, dict):
        if value.get("bytes"):
            name = str(value.get("path") or "")
            suffix = Path(name).suffix.lower() or _sniff_suffix(value["bytes"])
            return _cache_bytes(value["bytes"], suffix, cache)
        value = value.get("path")
    if hasattr(value, "save") and hasattr(value, "mode"):  # a PIL image
        import io

        buffer = io.BytesIO()
        value.save(buffer, format="PNG")
        return _cache_bytes(buffer.getvalue(), ".png", cache)
    if not value:
        raise UserError(f"{where}: no image given")
    candidate = Path(str(value))
    candidate = candidate if candidate.is_absolute() else root / candidate
    if not candidate.is_file():
        raise UserError(f"{where}: image {value} not found (looked for {candidate})")
    return candidate


def find_tables(folder: Path, patterns: tuple[str, ...]) -> list[Path]:
    """Files in ``folder`` (or its ``data/`` subfolder, the HF parquet layout) matching ``patterns``."""
    found: list[Path] = []
    for base in (folder, folder / "data"):
        for pattern in patterns:
            found += sorted(p for p in base.glob(pattern) if p.is_file())
        if found:
            break
    return list(dict.fromkeys(found))
