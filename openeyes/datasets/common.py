"""What every reader shares: decoding an image with PIL and the (image path, caption) dataset."""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from openeyes.errors import UserError

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff")


def load_image(source: str | Path | bytes, where: str) -> Image.Image:
    """Decode an image fully into RGB; ``where`` (file and row) names it in the error."""
    try:
        handle = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")
        with handle, Image.open(handle) as image:
            image.load()  # decode now: truncated files fail here, not later in a worker
            return image.convert("RGB")
    except FileNotFoundError:
        raise UserError(f"{where}: image file {source} not found")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as problem:
        raise UserError(f"{where}: cannot decode the image ({problem})")


@dataclass(frozen=True)
class ImageTextRecord:
    """One row of a caption file: where the image is, its caption, and where the row came from."""

    image: Path  # absolute or cwd-relative image path
    text: str  # caption
    row: str  # "file.jsonl line 7", for error messages


class ImageTextDataset(Dataset):
    """Map-style dataset over records; ``dataset[i] == {"image": PIL RGB, "text": str}``."""

    def __init__(self, records: list[ImageTextRecord], source: str | Path):
        self.records = records
        self.source = str(source)  # the file the records came from

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict:
        record = self.records[index]
        return {"image": load_image(record.image, record.row), "text": record.text}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} pairs from {self.source})"


def resolve_image(path_text: object, root: Path, row: str, check_exists: bool) -> Path:
    """The image path of a row, relative paths taken from ``root``."""
    if not isinstance(path_text, str) or not path_text.strip():
        raise UserError(f"{row}: the image path must be a non-empty string, got {path_text!r}")
    path = Path(path_text.strip())
    if not path.is_absolute():
        path = root / path
    if check_exists and not path.is_file():
        raise UserError(f"{row}: image file {path} not found")
    return path


def require_text(value: object, row: str, column: str) -> str:
    if not isinstance(value, str):
        raise UserError(f"{row}: the caption column {column!r} must hold text, got {value!r}")
    return value
