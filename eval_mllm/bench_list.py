"""What ``--bench`` names: one benchmark, a comma-separated list (``mmvp_vlm,zeroshot``) or ``all``.

Shared by ``eval encoder`` and ``eval mllm``; each passes its known names (and spellings).
"""
from __future__ import annotations

from typing import Callable, Sequence

from openeyes.errors import UserError

ALL = "all"


def parse_benches(text: str, known: Sequence[str], what: str = "", canonical: Callable[[str], str] = str) -> list[str] | None:
    """The benchmarks ``text`` names, in its order without repeats; None for ``all``. ``what``
    qualifies the word benchmark in messages ("encoder", "MLLM")."""
    names = [part.strip() for part in str(text).split(",") if part.strip()]
    if not names:
        raise UserError(f"--bench names no benchmark; choose from {', '.join(known)}, {ALL} (or a comma-separated list)")
    if ALL in names:
        if len(names) > 1:
            raise UserError(f"--bench {ALL} cannot be combined with other names, got {text!r}")
        return None
    chosen: list[str] = []
    for name in names:
        key = canonical(name)
        if key not in known:
            raise UserError(f"unknown {what + ' ' if what else ''}benchmark {name!r}; choose from {', '.join(known)}, {ALL} (or a comma-separated list)")
        if key not in chosen:
            chosen.append(key)
    return chosen
