"""Lazily opened image collections: files on disk, or members of WebDataset tar shards.

An ``ImageStore`` knows its length and item names and yields RGB PIL images in order, a batch
at a time, so that a 5000-image test set never sits in memory at once.
"""
from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Iterator, Protocol, Sequence

from PIL import Image, UnidentifiedImageError

from openeyes.errors import UserError


class ImageStore(Protocol):
    """A sequence of images read on demand."""

    def __len__(self) -> int: ...

    def names(self) -> list[str]:
        """One readable name per image (relative path or tar member)."""

    def iter_batches(self, batch_size: int) -> Iterator[list[Image.Image]]:
        """RGB images in order, ``batch_size`` at a time."""


def decode_image(data: bytes | Path, where: str) -> Image.Image:
    """Open and fully decode one image as RGB; a broken file is a UserError naming it."""
    try:
        with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as image:
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError) as problem:
        raise UserError(f"cannot read image {where}: {problem}")


def batched(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


@dataclass
class FileImages:
    """Images stored as files; ``root`` only shortens the names."""

    paths: list[Path]
    root: Path | None = None

    def __len__(self) -> int:
        return len(self.paths)

    def names(self) -> list[str]:
        return [str(p.relative_to(self.root)) if self.root else str(p) for p in self.paths]

    def iter_batches(self, batch_size: int) -> Iterator[list[Image.Image]]:
        for chunk in batched(self.paths, batch_size):
            yield [decode_image(path, str(path)) for path in chunk]


@dataclass(frozen=True)
class TarMember:
    """One image inside a tar shard."""

    shard: Path
    member: str


@dataclass
class TarImages:
    """Images stored inside tar shards, read shard by shard in order."""

    members: list[TarMember]

    def __len__(self) -> int:
        return len(self.members)

    def names(self) -> list[str]:
        return [f"{m.shard.name}:{m.member}" for m in self.members]

    def iter_images(self) -> Iterator[Image.Image]:
        for shard, group in groupby(self.members, key=lambda m: m.shard):
            with tarfile.open(shard) as archive:
                by_name = {info.name: info for info in archive.getmembers()}  # one scan per shard
                for entry in group:
                    if entry.member not in by_name:
                        raise UserError(f"{shard}: member {entry.member} has disappeared")
                    handle = archive.extractfile(by_name[entry.member])
                    if handle is None:
                        raise UserError(f"{shard}: member {entry.member} is not a regular file")
                    yield decode_image(handle.read(), f"{shard}:{entry.member}")

    def iter_batches(self, batch_size: int) -> Iterator[list[Image.Image]]:
        batch: list[Image.Image] = []
        for image in self.iter_images():
            batch.append(image)
            if len(batch) == batch_size:
                yield batch
                batch = []
        if batch:
            yield batch
