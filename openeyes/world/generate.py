"""Generate a set of exports into a directory, atomically, with a ``world.json`` manifest.

Everything is staged in a hidden temporary folder next to the output and renamed into place
at the end, so an interrupted run leaves no half-written export behind.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from pathlib import Path

from openeyes.artifacts import write_json_atomic
from openeyes.config import to_dict
from openeyes.errors import UserError
from openeyes.world.config import WorldConfig

MANIFEST = "world.json"


def export_names() -> list[str]:
    from openeyes.world.exporters import EXPORTERS

    return list(EXPORTERS)


def parse_only(only: str | None) -> list[str]:
    """Export names from a comma-separated list (all when empty); unknown names are refused."""
    known = export_names()
    if not only:
        return known
    names = [name.strip() for name in only.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise UserError(f"unknown export {unknown[0] if unknown else only!r}; known: {', '.join(known)}")
    return [name for name in known if name in names]


def validate(out: Path, seed: int, n: int, size: int) -> None:
    if n <= 0:
        raise UserError(f"--n must be positive, got {n}")
    if size < 16:
        raise UserError(f"--size must be at least 16 pixels, got {size}")
    if seed < 0:
        raise UserError(f"--seed must be >= 0, got {seed}")
    if out.exists() and not out.is_dir():
        raise UserError(f"output path {out} exists and is not a directory")


def existing_manifest(out: Path, names: list[str], parameters: dict) -> dict | None:
    """The manifest already in ``out`` when its exports can stay beside the new ones.

    Exports of another world (other seed, scale, size or config) may only be replaced, never
    mixed with new ones: the folder must describe one world.
    """
    path = out / MANIFEST
    if not path.is_file():
        return None
    try:
        old = json.loads(path.read_text())
        kept = [name for name in old["exports"] if name not in names]
        as_stored = json.loads(json.dumps(parameters))  # tuples in the config read back as lists
        same = all(old[key] == value for key, value in as_stored.items())
    except (ValueError, KeyError, TypeError) as problem:
        raise UserError(f"{path} is not a world manifest ({problem}); use another --out") from problem
    if kept and not same:
        raise UserError(f"{out} holds exports of another world (seed {old.get('seed')}, n {old.get('n')}, "
                        f"size {old.get('size')}): {', '.join(kept)}; use a new --out or regenerate those too")
    return old if kept else None


def generate_world(out: str | Path, *, seed: int, n: int, size: int, names: list[str] | None = None,
                   config: WorldConfig | None = None) -> dict:
    """Write the named exports (default: all) under ``out`` and return the manifest."""
    from openeyes.world.exporters import EXPORTERS
    from openeyes.world.exporters.common import ExportContext

    out = Path(out)
    validate(out, seed, n, size)
    names = names or list(EXPORTERS)
    config = dataclasses.replace(config or WorldConfig(), image_size=size).validate()
    context = ExportContext(seed=seed, n=n, config=config)
    parameters = {"seed": seed, "n": n, "size": size, "split": context.split, "config": to_dict(config)}
    previous = existing_manifest(out, names, parameters)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        counts = {name: _run(name, EXPORTERS[name], staging, context) for name in names}
        out.mkdir(exist_ok=True)
        for name in names:
            if (out / name).exists():
                shutil.rmtree(out / name)
            (staging / name).rename(out / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if previous:  # exports of the same world generated earlier stay listed
        counts = {name: previous["counts"][name] for name in previous["exports"] if name not in names} | counts
    manifest = {**parameters, "units": context.units, "exports": list(counts), "counts": counts}
    write_json_atomic(out / MANIFEST, manifest)
    return manifest


def _run(name: str, exporter, staging: Path, context) -> dict:
    try:
        return exporter(staging / name, context)
    except (RuntimeError, IndexError) as problem:  # a config under which no scene fits
        raise UserError(f"export {name} failed under this world config ({problem}); "
                        f"check the geometry values (sizes, near_y/far_y, overlap)") from problem
