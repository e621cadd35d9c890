"""WebDataset shards read with the stdlib ``tarfile``: indexed once, then random access.

A shard is an uncompressed tar whose members group into samples by key: the member path
up to the first dot of its file name (``00001/abc.jpg`` + ``00001/abc.txt`` -> key
``00001/abc``). A sample needs one image (``jpg``/``png``/...) and a caption: ``txt``, or a
``json`` object holding one of ``json_text_keys``. Indexing reads only tar headers; each
``dataset[i]`` seeks to the stored offsets (file handles are reopened per process, so
DataLoader workers can share the dataset).
"""
from __future__ import annotations

import glob
import json
import os
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

from torch.utils.data import Dataset

from openeyes.datasets.common import IMAGE_EXTENSIONS, load_image
from openeyes.errors import UserError

_BRACES = re.compile(r"\{(\d+)\.\.(\d+)\}")


def expand_shards(shards: str | Path | list) -> list[Path]:
    """Shard paths from a list, a folder (its ``*.tar``), a glob, or ``name-{000..009}.tar``."""
    if isinstance(shards, (list, tuple)):
        return [path for item in shards for path in expand_shards(item)]
    text = str(shards)
    match = _BRACES.search(text)
    if match:
        first, last = match.group(1), match.group(2)
        width = len(first)
        return [path for n in range(int(first), int(last) + 1)
                for path in expand_shards(text[:match.start()] + str(n).zfill(width) + text[match.end():])]
    path = Path(text)
    if path.is_dir():
        found = sorted(path.glob("*.tar"))
        if not found:
            raise UserError(f"no .tar shards in folder {path}")
        return found
    if any(char in text for char in "*?["):
        found = sorted(Path(p) for p in glob.glob(text))
        if not found:
            raise UserError(f"no shards match {text}")
        return found
    if not path.is_file():
        raise UserError(f"WebDataset shard {path} not found")
    return [path]


@dataclass(frozen=True)
class _Member:
    offset: int  # byte offset of the member's data in the shard
    size: int  # bytes
    name: str  # member path, for error messages


@dataclass(frozen=True)
class _Sample:
    shard: int  # index into WebDatasetTars.shards
    key: str
    image: _Member
    text: _Member
    text_kind: str  # "txt" or "json"


class WebDatasetTars(Dataset):
    """Map-style dataset over WebDataset shards; ``dataset[i] == {"image": PIL RGB, "text": str}``."""

    def __init__(self, shards: str | Path | list, json_text_keys: tuple[str, ...] = ("caption", "text", "txt"),
                 skip_incomplete: bool = False):
        self.shards = expand_shards(shards)
        self.json_text_keys = tuple(json_text_keys)  # keys tried, in order, in a sample's .json
        self.skipped = 0  # incomplete samples left out (skip_incomplete=True)
        self.samples: list[_Sample] = []
        for number, shard in enumerate(self.shards):
            self.samples.extend(self._index_shard(number, shard, skip_incomplete))
        if not self.samples:
            raise UserError(f"no image-caption samples in {', '.join(map(str, self.shards))}")
        self._handles: dict[int, object] = {}
        self._pid = os.getpid()

    def _index_shard(self, number: int, shard: Path, skip_incomplete: bool) -> list[_Sample]:
        groups: dict[str, dict[str, _Member]] = {}
        try:
            with tarfile.open(shard, mode="r:") as archive:  # "r:" = uncompressed, seekable
                for info in archive:
                    if not info.isfile():
                        continue
                    folder, _, filename = info.name.rpartition("/")
                    if filename.startswith(".") or "." not in filename:
                        continue
                    stem, _, extension = filename.partition(".")
                    key = f"{folder}/{stem}" if folder else stem
                    groups.setdefault(key, {})[extension.lower()] = _Member(info.offset_data, info.size, info.name)
        except tarfile.ReadError as problem:
            raise UserError(f"WebDataset shard {shard} is not an uncompressed tar ({problem})")
        samples = []
        for key, members in groups.items():
            image = next((members[e] for e in IMAGE_EXTENSIONS if e in members), None)
            text_kind = "txt" if "txt" in members else "json" if "json" in members else None
            if image is None or text_kind is None:
                if skip_incomplete:
                    self.skipped += 1
                    continue
                missing = "image (.jpg, .png, ...)" if image is None else "caption (.txt or .json)"
                raise UserError(f"{shard} sample {key!r}: no {missing}; its members: {', '.join(sorted(members))}")
            samples.append(_Sample(number, key, image, members[text_kind], text_kind))
        return samples

    def __len__(self) -> int:
        return len(self.samples)

    def _read(self, shard: int, member: _Member) -> bytes:
        if self._pid != os.getpid():  # a forked DataLoader worker: do not share file offsets
            self._handles, self._pid = {}, os.getpid()
        handle = self._handles.get(shard)
        if handle is None:
            handle = self._handles[shard] = open(self.shards[shard], "rb")
        handle.seek(member.offset)
        data = handle.read(member.size)
        if len(data) != member.size:
            raise UserError(f"{self.shards[shard]} member {member.name}: truncated shard")
        return data

    def __getitem__(self, index: int) -> dict:
        sample = self.samples[index]
        shard = self.shards[sample.shard]
        image = load_image(self._read(sample.shard, sample.image), f"{shard} member {sample.image.name}")
        raw = self._read(sample.shard, sample.text)
        where = f"{shard} member {sample.text.name}"
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise UserError(f"{where}: caption is not UTF-8 text")
        if sample.text_kind == "json":
            text = self._caption_from_json(text, where)
        return {"image": image, "text": text.strip()}

    def _caption_from_json(self, text: str, where: str) -> str:
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as problem:
            raise UserError(f"{where}: not valid JSON ({problem.msg})")
        for key in self.json_text_keys:
            if isinstance(payload, dict) and isinstance(payload.get(key), str):
                return payload[key]
        raise UserError(f"{where}: no caption under any of {list(self.json_text_keys)}")

    def __getstate__(self) -> dict:  # file handles do not pickle (spawned workers)
        return {**self.__dict__, "_handles": {}}

    def __del__(self) -> None:
        for handle in getattr(self, "_handles", {}).values():
            handle.close()
