"""``--limit N`` for MLLM benchmarks: a few items that still give every headline metric.

Taking the first N items of a benchmark keeps only its first split or source (POPE's random
split, CV-Bench's ADE20K rows) and can cut an MMVP pair or a NaturalBench group in half, so
headline numbers that average over splits/sources or count whole pairs/groups would be missing.
``spread`` takes whole units (a pair, a group, one question) round-robin over the strata (split,
source), in the data's order, until at least N items are chosen (at most one unit more).
Each benchmark module says what its strata and units are with ``limit_key(item) -> (stratum, unit)``.
"""
from __future__ import annotations

from typing import Any, Callable, Hashable, Sequence


def spread(items: Sequence[Any], limit: int, key: Callable[[Any], tuple[Hashable, Hashable]]) -> list[Any]:
    """At least ``limit`` items (whole units, every stratum in turn), in the original order."""
    if limit >= len(items):
        return list(items)
    strata: dict[Hashable, dict[Hashable, list[int]]] = {}
    for position, item in enumerate(items):
        stratum, unit = key(item)
        strata.setdefault(stratum, {}).setdefault(unit, []).append(position)
    queues = [list(units.values()) for units in strata.values()]
    chosen: list[int] = []
    turn = 0
    while len(chosen) < limit:
        queue = queues[turn % len(queues)]
        if queue:
            chosen += queue.pop(0)
        turn += 1
    return [items[position] for position in sorted(chosen)]
