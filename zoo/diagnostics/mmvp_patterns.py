"""MMVP-world scores per visual pattern, from an ``eval mllm`` run's ``predictions.jsonl``: one JSON
line per pattern (question accuracy, pair accuracy, pairs answered with the same letter on both
images) and one for all pairs (the row -> pattern map: ``openeyes.world.mmvp_patterns``).

    python zoo/diagnostics/mmvp_patterns.py runs/evidence/mllm/eval/tiny-llava-0/mmvp/predictions.jsonl
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from openeyes.world.mmvp_patterns import pattern_scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("predictions", type=Path, help="predictions.jsonl of an MMVP eval on a world export")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.predictions.read_text().splitlines() if line.strip()]
    for name, scores in pattern_scores(rows).items():
        print(json.dumps({"pattern": name, **{k: round(v, 4) if isinstance(v, float) else v for k, v in scores.items()}}))


if __name__ == "__main__":
    main()
