"""Artifact directories and their ``openeyes.json`` cards.

Every artifact (encoder, prior, mllm, results, index) is a directory with a card: ``kind``,
``name``, ``base``, the full ``config`` that made it, ``data``, ``seed``, ``steps``,
``code_version``, ``metrics`` and the sha256 of each weight file. Loading verifies the
hashes: a tampered or truncated weight file is refused with a ``UserError``.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from openeyes.errors import UserError

CARD_NAME = "openeyes.json"
KINDS = ("encoder", "prior", "mllm", "lm", "results", "index")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".npy", ".faiss")


def sha256_file(path: Path, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def weight_files(directory: Path) -> list[Path]:
    """Weight files under ``directory`` (recursively), sorted, relative paths."""
    directory = Path(directory)
    return sorted(
        p.relative_to(directory)
        for p in directory.rglob("*")
        if p.is_file() and p.suffix in WEIGHT_SUFFIXES
    )


def write_card(
    directory: str | Path,
    kind: str,
    name: str,
    *,
    base: str | None = None,
    config: dict[str, Any] | None = None,
    data: Any = None,
    seed: int | None = None,
    steps: int | None = None,
    metrics: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Hash the weight files in ``directory`` and write its card atomically."""
    if kind not in KINDS:
        raise ValueError(f"unknown artifact kind {kind!r}; expected one of {KINDS}")
    directory = Path(directory)
    from openeyes import __version__

    card = {
        "kind": kind,
        "name": name,
        "base": base,
        "config": config or {},
        "data": data,
        "seed": seed,
        "steps": steps,
        "code_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "metrics": metrics or {},
        "files": {str(p): sha256_file(directory / p) for p in weight_files(directory)},
    }
    card.update(extra or {})
    write_json_atomic(directory / CARD_NAME, card)
    return card


def update_card_metrics(directory: str | Path, metrics: dict[str, Any]) -> dict[str, Any]:
    """Merge ``metrics`` into an existing card (weights unchanged, hashes kept)."""
    card = read_card(directory, verify=False)
    card["metrics"] = {**card.get("metrics", {}), **metrics}
    write_json_atomic(Path(directory) / CARD_NAME, card)
    return card


def read_card(directory: str | Path, *, verify: bool = True, kind: str | None = None) -> dict[str, Any]:
    """Read a card; with ``verify`` check every listed weight file's sha256."""
    directory = Path(directory)
    path = directory / CARD_NAME
    if not path.is_file():
        raise UserError(f"{directory} is not an openeyes artifact (no {CARD_NAME})")
    try:
        card = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as problem:
        raise UserError(f"{path} is not valid JSON: {problem}")
    if kind is not None and card.get("kind") != kind:
        raise UserError(f"{directory} is a {card.get('kind')!r} artifact, expected {kind!r}")
    if verify:
        verify_card(directory, card)
    return card


def verify_card(directory: Path, card: dict[str, Any]) -> None:
    """Refuse an artifact whose weight files are missing or differ from its card."""
    for relative, expected in card.get("files", {}).items():
        path = Path(directory) / relative
        if not path.is_file():
            raise UserError(f"artifact {directory}: weight file {relative} listed in its card is missing")
        actual = sha256_file(path)
        if actual != expected:
            raise UserError(
                f"artifact {directory}: weight file {relative} does not match its card "
                f"(sha256 {actual[:12]}... != {expected[:12]}...); refusing to load a tampered or corrupted artifact"
            )


def card_fingerprint(card: dict[str, Any]) -> str:
    """A short hash of an artifact's weights, used to tie an index to its encoder."""
    files = json.dumps(card.get("files", {}), sort_keys=True)
    return hashlib.sha256(files.encode()).hexdigest()[:16]


def write_json_atomic(path: str | Path, payload: Any) -> None:
    """Write JSON to a temp file in the same folder, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(payload, handle, indent=2, sort_keys=False, default=str)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def refresh_card_hashes(directory: str | Path) -> dict[str, Any]:
    """Re-hash the weight files of an artifact whose weights were rewritten on purpose."""
    directory = Path(directory)
    card = read_card(directory, verify=False)
    card["files"] = {str(p): sha256_file(directory / p) for p in weight_files(directory)}
    write_json_atomic(directory / CARD_NAME, card)
    return card
