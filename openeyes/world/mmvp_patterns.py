"""MMVP-world scores per visual pattern, from an ``eval mllm`` run's predictions.

MMVP's CSV carries no pattern column; the world export writes its pairs in MMVP-VLM row
order (blocks of 15 pairs per pattern, ``openeyes.world.exporters.common.pair_stream``), so
the pattern of row ``Index`` is ``PATTERNS[((Index - 1) // 2 // 15) % 9]``. Used by
``openeyes eval compare --by-pattern`` and ``zoo/diagnostics/mmvp_patterns.py``; meaningful only
for world exports (the real MMVP has no patterns for its MLLM questions).
"""
from __future__ import annotations

from collections import defaultdict

from openeyes.world.exporters.common import PAIRS_PER_PATTERN
from openeyes.world.pairs import PATTERNS


def pattern_of(index: int) -> str:
    """The world pattern of MMVP row ``index`` (1-based)."""
    return PATTERNS[((index - 1) // 2 // PAIRS_PER_PATTERN) % len(PATTERNS)]


def pattern_scores(rows: list[dict]) -> dict[str, dict[str, float]]:
    """{pattern: {questions, question_accuracy, pairs, pair_accuracy, same_answer}} plus "all"."""
    by_pair: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        by_pair[(int(row["id"]) - 1) // 2].append(row)
    tallies: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for pair, members in by_pair.items():
        if len(members) != 2:
            continue  # an incomplete pair scores nowhere, as in MMVP's pair accuracy
        for name in (pattern_of(2 * pair + 1), "all"):
            tally = tallies[name]
            tally["questions"] += 2
            tally["correct"] += sum(bool(m["correct"]) for m in members)
            tally["pairs"] += 1
            tally["both"] += all(bool(m["correct"]) for m in members)
            tally["same"] += members[0]["parsed"] == members[1]["parsed"]
    return {name: {"questions": t["questions"], "question_accuracy": t["correct"] / t["questions"],
                   "pairs": t["pairs"], "pair_accuracy": t["both"] / t["pairs"],
                   "same_answer": t["same"] / t["pairs"]}
            for name, t in sorted(tallies.items(), key=lambda kv: (kv[0] == "all", kv[0]))}
