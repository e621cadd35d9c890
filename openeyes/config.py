"""Typed dataclass configs loaded from YAML, with ``key=value`` command-line overrides.

``load_config(ConfigClass, "file.yaml", ["optim.lr=3e-4", "objectives=[clip,saco]"])``
builds nested dataclasses from a YAML mapping, applies dotted overrides (values parsed as
YAML scalars/lists), and refuses unknown keys and wrongly typed values with a ``UserError``
that names the key.
"""
from __future__ import annotations

import copy
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from openeyes.errors import UserError

T = TypeVar("T")


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] = ()) -> T:
    """Build ``cls`` from an optional YAML file plus ``key=value`` overrides."""
    raw: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise UserError(f"config file not found: {path}")
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as problem:
            raise UserError(f"config file {path} is not valid YAML: {_first_line(problem)}")
        if not isinstance(raw, dict):
            raise UserError(f"config file {path} must hold a mapping at the top level")
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"override {item!r} is not of the form key=value")
        _set_dotted(raw, key.strip(), _parse_value(value))
    return from_dict(cls, raw)


def from_dict(cls: type[T], raw: dict[str, Any], where: str = "", base: Any = None) -> T:
    """Build dataclass ``cls`` from a mapping, checking keys and value types.

    Fields missing from ``raw`` keep their defaults: those of ``base`` when given (so that a
    nested section overridden by one key keeps the *parent's* default for the others, e.g.
    a ``default_factory`` that differs from the section class's own defaults), else the
    class's.
    """
    if not isinstance(raw, dict):
        raise UserError(f"{where or 'config'} must be a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise UserError(f"unknown config key {where + unknown[0]!r}; known keys: {', '.join(fields)}")
    values = {}
    for name, value in raw.items():
        default = getattr(base, name) if base is not None else _field_default(fields[name])
        values[name] = _coerce(hints[name], value, where + name, default)
    if base is not None:
        kept = {name: copy.deepcopy(getattr(base, name)) for name in fields if name not in values and fields[name].init}
        values = {**kept, **values}
    return cls(**values)


def _field_default(field: dataclasses.Field) -> Any:
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None if field.default is dataclasses.MISSING else field.default


def to_dict(config: Any) -> dict[str, Any]:
    """A plain, YAML/JSON-serialisable dict of a (nested) dataclass config."""
    return dataclasses.asdict(config)


def _coerce(hint: Any, value: Any, key: str, default: Any = None) -> Any:
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(option, value, key, default)
            except UserError as problem:
                errors.append(str(problem))
        raise UserError(errors[0] if errors else f"bad value for {key!r}")
    if origin is typing.Literal:
        if isinstance(value, bool):  # YAML 1.1 reads no/off/yes/on as booleans: take the option written so
            value = next((option for option in typing.get_args(hint)
                          if isinstance(option, str) and _parse_value(option) is value), value)
        if value not in typing.get_args(hint):
            allowed = ", ".join(map(str, typing.get_args(hint)))
            raise UserError(f"config key {key!r} must be one of {allowed}, got {value!r}")
        return value
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        return from_dict(hint, value, key + ".", base=default if isinstance(default, hint) else None)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            value = [value]
        (item_hint, *_) = typing.get_args(hint) or (Any,)
        items = [_coerce(item_hint, v, f"{key}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise UserError(f"config key {key!r} must be a mapping, got {value!r}")
        key_hint, value_hint = typing.get_args(hint) or (Any, Any)
        return {k: _coerce(value_hint, v, f"{key}.{k}") for k, v in value.items()}
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    if hint is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(hint, type) and not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise UserError(f"config key {key!r} must be {getattr(hint, '__name__', hint)}, got {value!r}")
    return value


def _parse_value(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    node = raw
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise UserError(f"override {key!r}: {part!r} is not a section")
        node = child
    node[leaf] = value


def _first_line(problem: Exception) -> str:
    return str(problem).strip().splitlines()[0]
