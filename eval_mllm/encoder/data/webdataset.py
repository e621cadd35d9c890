"""CLIP_benchmark's WebDataset layout, read with the standard library's ``tarfile``.

```
<root>/<split>/{nshards.txt, 0.tar, ..., N-1.tar}
<root>/classnames.txt, zeroshot_classification_templates.txt, dataset_type.txt
```
Members are grouped into samples the way webdataset does it: consecutive members sharing a
key (the path up to the first dot of the file name), the rest being the extension (lower
case). Classification samples hold an image (webp/png/jpg/jpeg, or "0.webp") and a ``cls``
integer; retrieval samples an image and a ``txt`` with one caption per line.
"""
from __future__ import annotations

import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from openeyes.errors import UserError
from openeyes.eval_mllm.encoder.data.images import TarMember

NSHARDS_FILE = "nshards.txt"
IMAGE_EXTENSIONS = ("webp", "png", "jpg", "jpeg")
CLASSIFICATION_IMAGE_EXTENSIONS = IMAGE_EXTENSIONS + ("0.webp",)


@dataclass
class WdsSample:
    """One sample of a shard: its key and its members by extension."""

    shard: Path
    key: str
    members: dict[str, tarfile.TarInfo] = field(default_factory=dict)


def split_key(name: str) -> tuple[str, str] | None:
    """webdataset's base_plus_ext: "dir/abc.0.webp" -> ("dir/abc", "0.webp"); None without a dot."""
    folder, _, base = name.rpartition("/")
    if "." not in base:
        return None
    stem, _, extension = base.partition(".")
    return (f"{folder}/{stem}" if folder else stem), extension.lower()


def shard_paths(split_dir: Path) -> list[Path]:
    """The shards 0..N-1 named by ``nshards.txt``; every one must exist."""
    count_file = split_dir / NSHARDS_FILE
    if not count_file.is_file():
        raise UserError(f"{split_dir} is not a WebDataset split: {NSHARDS_FILE} is missing")
    text = count_file.read_text().strip()
    if not text.isdigit() or int(text) < 1:
        raise UserError(f"{count_file} row 1: expected a positive shard count, got {text!r}")
    shards = [split_dir / f"{index}.tar" for index in range(int(text))]
    for shard in shards:
        if not shard.is_file():
            raise UserError(f"{count_file} announces {text} shards but {shard} is missing")
    return shards


def iter_samples(shard: Path) -> Iterator[WdsSample]:
    """Samples of one shard in order (directories and keyless members skipped)."""
    try:
        archive = tarfile.open(shard)
    except (tarfile.TarError, OSError) as problem:
        raise UserError(f"cannot open tar shard {shard}: {problem}")
    with archive:
        current: WdsSample | None = None
        for info in archive.getmembers():
            if not info.isfile():
                continue
            parts = split_key(info.name)
            if parts is None:
                continue
            key, extension = parts
            if current is None or key != current.key or extension in current.members:
                if current is not None:
                    yield current
                current = WdsSample(shard=shard, key=key)
            current.members[extension] = info
        if current is not None:
            yield current


def image_member(sample: WdsSample, extensions: tuple[str, ...]) -> TarMember:
    """The sample's image, the first present of ``extensions``."""
    for extension in extensions:
        if extension in sample.members:
            return TarMember(shard=sample.shard, member=sample.members[extension].name)
    raise UserError(
        f"{sample.shard}: sample {sample.key!r} has no image ({'/'.join(extensions)}); "
        f"members: {sorted(sample.members)}"
    )


def read_texts(shard: Path, samples: list[WdsSample], extension: str) -> list[str]:
    """The ``extension`` member of every sample of one shard, read in one pass."""
    for sample in samples:
        if extension not in sample.members:
            raise UserError(f"{shard}: sample {sample.key!r} has no .{extension} member; members: {sorted(sample.members)}")
    texts = []
    with tarfile.open(shard) as archive:
        for sample in samples:
            info = sample.members[extension]  # a TarInfo of this shard: no name lookup needed
            try:
                texts.append(archive.extractfile(info).read().decode("utf-8"))
            except UnicodeDecodeError as problem:
                raise UserError(f"{shard}: {info.name} is not UTF-8 text: {problem}")
    return texts


def load_wds_classification(split_dir: Path, n_classes: int | None) -> tuple[list[TarMember], list[int]]:
    """Images and integer labels of a classification split; labels must index the class list."""
    members, labels = [], []
    for shard in shard_paths(split_dir):
        samples = list(iter_samples(shard))
        for sample, text in zip(samples, read_texts(shard, samples, "cls")):
            members.append(image_member(sample, CLASSIFICATION_IMAGE_EXTENSIONS))
            value = text.strip()
            try:
                label = int(value)
            except ValueError:
                raise UserError(f"{shard}: {sample.key}.cls holds {value!r}, not an integer class index")
            if label < 0 or (n_classes is not None and label >= n_classes):
                raise UserError(f"{shard}: {sample.key}.cls = {label} is outside the {n_classes} class names")
            labels.append(label)
    if not members:
        raise UserError(f"{split_dir}: the shards hold no samples")
    return members, labels


def load_wds_retrieval(split_dir: Path) -> tuple[list[TarMember], list[list[str]]]:
    """Images and their captions (``txt`` split into lines, as ``str.splitlines``)."""
    members, captions = [], []
    for shard in shard_paths(split_dir):
        samples = list(iter_samples(shard))
        for sample, text in zip(samples, read_texts(shard, samples, "txt")):
            members.append(image_member(sample, IMAGE_EXTENSIONS))
            lines = text.splitlines()
            if not lines:
                raise UserError(f"{shard}: {sample.key}.txt holds no caption")
            captions.append(lines)
    if not members:
        raise UserError(f"{split_dir}: the shards hold no samples")
    return members, captions
