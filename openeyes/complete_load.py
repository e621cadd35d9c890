"""``from_pretrained`` that refuses to start from weights it did not find.

transformers initialises every parameter a checkpoint lacks (and drops every tensor the model
has no place for) with only a log line: a checkpoint in a layout the installed version does
not read then runs with, say, a random vision tower. Every place openeyes loads a model goes
through ``load_complete``, which turns missing, unexpected or mis-shaped weights into one
``UserError`` line.
"""
from __future__ import annotations

from typing import Any

from openeyes.errors import UserError


def loading_problems(info: dict[str, Any]) -> str | None:
    """One line naming what ``output_loading_info`` reports missing/unexpected/mis-shaped, or None."""
    parts = []
    for field, word in (("missing_keys", "missing"), ("unexpected_keys", "unexpected"), ("mismatched_keys", "mis-shaped")):
        keys = sorted(str(key[0] if isinstance(key, tuple) else key) for key in info.get(field) or ())
        if keys:
            parts.append(f"{len(keys)} {word} (e.g. {keys[0]})")
    return ", ".join(parts) or None


def load_complete(model_class: Any, source: str, **kwargs: Any):
    """``model_class.from_pretrained(source, **kwargs)``; ``UserError`` when any weight was not loaded as stored."""
    from transformers.utils import logging

    verbosity, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()  # the load report's table (and the progress bar) would bury the one-line error
    logging.disable_progress_bar()
    try:
        model, info = model_class.from_pretrained(source, output_loading_info=True, **kwargs)
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()
    problem = loading_problems(info)
    if problem:
        raise UserError(f"{source}: weights do not fit {type(model).__name__} ({problem}); loading would start "
                        f"those parts from random values")
    return model
