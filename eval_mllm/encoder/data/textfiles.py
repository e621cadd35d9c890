"""The small text files of CLIP_benchmark datasets: class names, templates, dataset type.

CLIP_benchmark reads ``classnames.txt`` and ``zeroshot_classification_templates.txt`` as
``[line.strip() for line in text.splitlines()]``; a template holds ``{c}`` for the class
name. A ``zeroshot_classification_templates.json`` may instead hold a list, or a dict of
class-specific templates (CuPL).
"""
from __future__ import annotations

import json
from pathlib import Path

from openeyes.errors import UserError

CLASSNAMES_FILE = "classnames.txt"
TEMPLATES_FILE = "zeroshot_classification_templates.txt"
TEMPLATES_JSON = "zeroshot_classification_templates.json"
DATASET_TYPE_FILE = "dataset_type.txt"


def read_lines(path: Path) -> list[str]:
    """Stripped lines, as the reference reads them; trailing empty lines dropped."""
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except UnicodeDecodeError as problem:
        raise UserError(f"{path} is not UTF-8 text: {problem}")
    while lines and not lines[-1]:
        lines.pop()
    return lines


def read_classnames(root: Path) -> list[str] | None:
    """``classnames.txt`` under ``root`` (None if absent); an empty name is refused."""
    path = root / CLASSNAMES_FILE
    if not path.is_file():
        return None
    names = read_lines(path)
    for row, name in enumerate(names, start=1):
        if not name:
            raise UserError(f"{path} row {row}: empty class name")
    if not names:
        raise UserError(f"{path} lists no class names")
    return names


def check_template(template: str, path: Path, row: int | str) -> str:
    """A template must contain ``{c}`` and format with ``c`` alone."""
    if "{c}" not in template:
        raise UserError(f"{path} row {row}: template {template!r} has no '{{c}}' placeholder")
    try:
        template.format(c="x")
    except (IndexError, KeyError, ValueError) as problem:
        raise UserError(f"{path} row {row}: template {template!r} does not format: {problem}")
    return template


def read_templates(root: Path) -> list[str] | dict[str, list[str]] | None:
    """Templates from the .txt file (list) or the .json file (list or dict); None if absent."""
    text_path, json_path = root / TEMPLATES_FILE, root / TEMPLATES_JSON
    if text_path.is_file():
        templates = [t for t in read_lines(text_path)]
        for row, template in enumerate(templates, start=1):
            check_template(template, text_path, row)
        if not templates:
            raise UserError(f"{text_path} lists no templates")
        return templates
    if json_path.is_file():
        try:
            payload = json.loads(json_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as problem:
            raise UserError(f"{json_path} is not valid JSON: {problem}")
        if isinstance(payload, list):
            return [check_template(str(t), json_path, row) for row, t in enumerate(payload, start=1)]
        if isinstance(payload, dict):
            # class-specific prompts are already written out; they need no {c}
            return {str(k): [str(t) for t in v] for k, v in payload.items()}
        raise UserError(f"{json_path} must hold a list of templates or a dict of class -> prompts")
    return None


def read_dataset_type(root: Path) -> str:
    """``dataset_type.txt`` (lower-cased), defaulting to "classification" like the reference."""
    path = root / DATASET_TYPE_FILE
    return path.read_text(encoding="utf-8").strip().lower() if path.is_file() else "classification"
