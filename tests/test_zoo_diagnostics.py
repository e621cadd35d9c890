"""openeyes.world.mmvp_patterns (and its CLI zoo/diagnostics/mmvp_patterns.py): the world MMVP row -> pattern
map and the per-pattern scores."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
import re
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "zoo" / "diagnostics" / "mmvp_patterns.py"
# what each pattern's MMVP question looks like (openeyes/world/pairs.py)
QUESTION_SHAPES = {
    "Orientation": r"^Which way is the ", "Presence": r"^Is there a dot inside the ", "State": r"filled in or only outlined\?$",
    "Quantity": r"^How many .+ are there\?$", "Spatial": r"to the left or to the right of the ", "Color": r"^What color is the ",
    "Structural Character": r"^How many (points|sides) does the ", "Text": r"^Which (letter|digit) is shown\?$",
    "Camera Perspective": r"^Is this a close-up or a wide view\?$",
}


@pytest.fixture(scope="module")
def patterns():
    from openeyes.world import mmvp_patterns

    return mmvp_patterns


def test_pattern_of_matches_the_questions_of_a_world_export(patterns, tmp_path):
    """Two export units (270 pairs): every row's question has the shape of the pattern the map gives it."""
    from openeyes.world.generate import generate_world

    generate_world(tmp_path / "w", seed=5, n=270, size=64, names=["mmvp"])
    with open(tmp_path / "w" / "mmvp" / "Questions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 540
    seen = set()
    for row in rows:
        pattern = patterns.pattern_of(int(row["Index"]))
        assert re.search(QUESTION_SHAPES[pattern], row["Question"]), (row["Index"], pattern, row["Question"])
        seen.add(pattern)
    assert seen == set(QUESTION_SHAPES)


def test_pattern_scores_count_pairs_both_right_and_same_answers(patterns):
    rows = [  # pair 0 (Orientation): both right; pair 1: one right, same letter; pair 15 (Presence): both wrong
        {"id": 1, "parsed": "A", "correct": True}, {"id": 2, "parsed": "B", "correct": True},
        {"id": 3, "parsed": "A", "correct": True}, {"id": 4, "parsed": "A", "correct": False},
        {"id": 31, "parsed": "B", "correct": False}, {"id": 32, "parsed": "A", "correct": False},
        {"id": 33, "parsed": "A", "correct": True},  # half a pair: scored nowhere
    ]
    scores = patterns.pattern_scores(rows)
    assert scores["Orientation"] == {"questions": 4, "question_accuracy": 0.75, "pairs": 2, "pair_accuracy": 0.5,
                                     "same_answer": 0.5}
    assert scores["Presence"]["pair_accuracy"] == 0.0 and scores["Presence"]["questions"] == 2
    assert scores["all"]["pairs"] == 3 and scores["all"]["pair_accuracy"] == pytest.approx(1 / 3)
    assert list(scores)[-1] == "all"


def test_the_cli_prints_one_line_per_pattern_and_all(tmp_path):
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text("".join(json.dumps({"id": i, "parsed": "A", "correct": i % 2 == 1}) + "\n" for i in range(1, 5)))
    printed = subprocess.run([sys.executable, str(SCRIPT), str(predictions)], capture_output=True, text=True, check=True).stdout
    rows = [json.loads(line) for line in printed.splitlines()]
    assert [r["pattern"] for r in rows] == ["Orientation", "all"] and rows[0]["pair_accuracy"] == 0.0
