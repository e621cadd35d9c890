"""The embedded default models: where they live and what their recipes say.

``zoo/`` (installed as the data package ``openeyes.zoo``) holds one folder per model: a
``recipe.yaml`` (kind, description, the command and config that build it) and, once built,
the artifact itself (weights + ``openeyes.json`` card) in the same folder. ``zoo:NAME`` is
accepted wherever an encoder/prior/mllm spec is.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from openeyes.errors import UserError

ZOO_PREFIX = "zoo:"


@dataclass(frozen=True)
class ZooEntry:
    name: str  # folder name, used as zoo:NAME
    kind: str  # artifact kind: encoder | prior | mllm
    description: str  # one line for `openeyes zoo list`
    path: Path  # the folder (artifact + recipe)
    recipe: dict  # the parsed recipe.yaml

    @property
    def built(self) -> bool:
        return (self.path / "openeyes.json").is_file()


def zoo_root() -> Path:
    import openeyes.zoo as package

    return Path(package.__file__).parent


def entries() -> dict[str, ZooEntry]:
    found = {}
    for recipe_path in sorted(zoo_root().glob("*/recipe.yaml")):
        recipe = yaml.safe_load(recipe_path.read_text()) or {}
        name = recipe_path.parent.name
        found[name] = ZooEntry(
            name=name,
            kind=recipe.get("kind", "?"),
            description=recipe.get("description", ""),
            path=recipe_path.parent,
            recipe=recipe,
        )
    return found


def entry(name: str) -> ZooEntry:
    known = entries()
    if name not in known:
        raise UserError(f"unknown zoo model {name!r}; known: {', '.join(known) or 'none'}")
    return known[name]


def resolve(spec: str) -> str:
    """``zoo:NAME`` -> the folder of that built model; anything else unchanged."""
    if not spec.startswith(ZOO_PREFIX):
        return spec
    found = entry(spec[len(ZOO_PREFIX):])
    if not found.built:
        raise UserError(f"zoo model {found.name!r} is not built; build it with: {found.recipe.get('build', 'see its recipe.yaml')}")
    return str(found.path)


RECIPE_SUFFIXES = (".yaml", ".yml", ".sh")  # hand-written recipe files of a zoo folder: publishing never touches them


def publish(source: str | Path, name: str, weights_dtype: str | None = "float16") -> Path:
    """Copy the artifact ``source`` into ``zoo/NAME`` (weights cast to ``weights_dtype``, card re-hashed).

    The folder must already hold a ``recipe.yaml``; its hand-written recipe files (``*.yaml``,
    ``*.sh``) are kept, the previous artifact files and sub-folders (the parts of a diffusers-layout
    prior: ``unet/``, ``text_encoder/``...) are replaced.
    """
    import shutil

    from openeyes.artifacts import CARD_NAME, read_card

    source = Path(source)
    if not (source / CARD_NAME).is_file():
        raise UserError(f"{source} is not an openeyes artifact (no {CARD_NAME})")
    read_card(source, verify=True)
    target = zoo_root() / name
    if not (target / "recipe.yaml").is_file():
        raise UserError(f"zoo/{name} has no recipe.yaml; write the recipe first")
    for old in target.iterdir():
        if old.is_dir():
            shutil.rmtree(old)
        elif old.suffix not in RECIPE_SUFFIXES:
            old.unlink()
    for item in source.iterdir():
        if item.is_dir():
            shutil.copytree(item, target / item.name)
        elif item.suffix not in RECIPE_SUFFIXES:
            shutil.copy2(item, target / item.name)
    if weights_dtype:
        from openeyes.encoders.artifact import cast_safetensors

        cast_safetensors(target, weights_dtype)  # re-hashes the card
    return target
