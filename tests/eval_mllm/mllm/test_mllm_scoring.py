"""Scorers on hand-made predictions: ties, unparseable outputs, missing items, exact formulas."""
from __future__ import annotations

import pytest

from mllm_fixtures import write_cv_bench, write_mmvp, write_naturalbench, write_pope
from openeyes.eval_mllm.mllm import cv_bench, mmvp, naturalbench, pope


@pytest.fixture
def mmvp_items(tmp_path):
    return mmvp.load(write_mmvp(tmp_path / "mmvp", pairs=3))   # gold: a, b per pair


def test_mmvp_lmms_eval_question_and_pair_accuracy(mmvp_items):
    outputs = {1: "A", 2: "B", 3: "A", 4: "A", 5: "a dog is shown", 6: "The answer is B"}
    result = mmvp.score(mmvp_items, outputs, "lmms-eval")
    assert result["metrics"]["accuracy"] == pytest.approx(5 / 6)
    assert result["metrics"]["pair_accuracy"] == pytest.approx(2 / 3)
    assert result["counts"]["missing"] == 0


def test_mmvp_incomplete_pairs_are_left_out_of_pair_accuracy(mmvp_items):
    result = mmvp.score(mmvp_items, {1: "A", 2: "B", 3: "A"}, "lmms-eval")
    assert result["counts"] == {"items": 6, "scored": 3, "missing": 3, "pairs_complete": 1, "pairs_both_correct": 1}
    assert result["metrics"]["pair_accuracy"] == 1.0 and result["metrics"]["accuracy"] == 1.0


def test_mmvp_cambrian_printed_accuracy(mmvp_items):
    outputs = {1: "(a)", 2: "Closed", 3: "answer: left.", 4: "a", 5: "Open", 6: "I don't know"}
    result = mmvp.score(mmvp_items, outputs, "cambrian")
    assert result["metrics"]["accuracy"] == pytest.approx(4 / 6)
    assert result["metrics"]["pair_accuracy"] == pytest.approx(1 / 3)
    assert result["metrics"]["cambrian_accuracy"] == pytest.approx(100 * 2 * 1 / 6)


def test_mmvp_original_with_default_and_custom_grader(mmvp_items):
    outputs = {1: "(a) Open", 2: "Closed", 3: "Left", 4: "Left", 5: "Open", 6: "(b)"}
    result = mmvp.score(mmvp_items, outputs, "original")
    assert result["metrics"]["pair_accuracy"] == pytest.approx(2 / 3)
    always_yes = mmvp.score(mmvp_items, outputs, "original", grader=lambda q, a, r: "Yes")
    assert always_yes["metrics"]["pair_accuracy"] == 1.0
    chatty = mmvp.score(mmvp_items, outputs, "original", grader=lambda q, a, r: "Yes, it is correct.")
    assert chatty["metrics"]["pair_accuracy"] == 0.0


def test_mmvp_gold_swap_changes_the_score(tmp_path):
    rows = []
    for k in range(1, 301, 2):
        rows += [[k, "Q?", "(a) X (b) Y", "(a)"], [k + 1, "Q?", "(a) X (b) Y", "(b)"]]
    root = write_mmvp(tmp_path / "mmvp", rows=rows)
    outputs = {k: "A" if k % 2 else "B" for k in range(1, 301)}
    assert mmvp.score(mmvp.load(root), outputs, "lmms-eval")["metrics"]["pair_accuracy"] == 1.0
    swapped = mmvp.score(mmvp.load(root, swap_gold=True), outputs, "lmms-eval")["metrics"]
    assert swapped["pair_accuracy"] == pytest.approx(148 / 150) and swapped["accuracy"] == pytest.approx(296 / 300)


@pytest.fixture
def pope_items(tmp_path):
    return pope.load(write_pope(tmp_path / "pope", splits=("random", "popular"), count=6))  # y n y n y n


def _outputs(items, split, texts):
    return {item.id: text for item, text in zip([i for i in items if i.split == split], texts)}


def test_pope_original_parser_metrics(pope_items):
    outputs = {**_outputs(pope_items, "random", ["Yes", "NO", "", "No.", "yes", "no"]),
               **_outputs(pope_items, "popular", ["Yes"] * 6)}
    result = pope.score(pope_items, outputs, "pope")
    random = result["per_category"]["random"]
    # preds: y y y n y n vs gold y n y n y n -> TP 3, FP 1, TN 2, FN 0
    assert (random["tp"], random["fp"], random["tn"], random["fn"]) == (3, 1, 2, 0)
    assert random["accuracy"] == pytest.approx(5 / 6) and random["precision"] == pytest.approx(0.75)
    assert random["recall"] == 1.0 and random["yes_ratio"] == pytest.approx(4 / 6)
    popular = result["per_category"]["popular"]
    assert popular["recall"] == 1.0 and popular["precision"] == 0.5 and popular["f1"] == pytest.approx(2 / 3)
    assert result["metrics"]["mean_f1"] == pytest.approx((random["f1"] + popular["f1"]) / 2)


def test_pope_lmms_eval_unparsed_and_yes_ratio_bug(pope_items):
    outputs = _outputs(pope_items, "random", ["yes.", "no", "Yes", "maybe", "YES ", "no"])
    result = pope.score(pope_items, outputs, "lmms-eval", )
    metrics = result["metrics"]
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["precision"] == 1.0 and metrics["recall"] == 1.0   # "yes." is no TP, no FN
    assert metrics["yes_ratio"] == pytest.approx(2 / 6)
    assert metrics["yes_ratio_lmms_eval"] == 0.5                       # counts gold yes
    assert result["counts"]["unparsed"] == 2 and result["counts"]["missing"] == 6


def test_pope_undefined_precision(pope_items):
    outputs = _outputs(pope_items, "random", ["no"] * 6)
    original = pope.score(pope_items, outputs, "pope")["per_category"]["random"]
    assert original["precision"] is None and original["f1"] is None and original["recall"] == 0.0
    lmms = pope.score(pope_items, outputs, "lmms-eval")["per_category"]["random"]
    assert lmms["precision"] == 0.0 and lmms["f1"] == 0.0


def test_pope_cambrian_accuracy_over_all(pope_items):
    outputs = {**_outputs(pope_items, "random", ["Yes,", "No.", "yes", "", "Yes", "No"]),
               **_outputs(pope_items, "popular", ["No"] * 6)}
    metrics = pope.score(pope_items, outputs, "cambrian")["metrics"]
    assert metrics["accuracy"] == pytest.approx((5 + 3) / 12)


def test_cv_bench_formula_and_breakdowns(tmp_path):
    items = cv_bench.load(write_cv_bench(tmp_path / "cv"))
    # gold: C A | B A | A B ; ADE 2/2, COCO 1/2, Omni 0/2 (cambrian)
    outputs = {0: "(C)", 1: "The answer is A.", 2: "B", 3: "b) below", 4: "chair", 5: "A"}
    result = cv_bench.score(items, outputs, "cambrian")
    metrics = result["metrics"]
    assert metrics["acc_ADE20K"] == 1.0 and metrics["acc_COCO"] == 0.5 and metrics["acc_Omni3D"] == 0.0
    assert metrics["2d"] == 0.75 and metrics["3d"] == 0.0
    assert metrics["cv_bench"] == pytest.approx(0.5 * ((1.0 + 0.5) / 2 + 0.0))
    assert metrics["accuracy"] == pytest.approx(3 / 6)
    assert result["per_category"]["task/Relation"]["accuracy"] == 0.5
    lmms = cv_bench.score(items, outputs, "lmms-eval")["metrics"]
    assert lmms["acc_ADE20K"] == 0.5                      # "The answer is A." -> T
    assert lmms["accuracy"] == pytest.approx(2 / 6)


def test_cv_bench_formula_undefined_without_a_source(tmp_path):
    items = cv_bench.load(write_cv_bench(tmp_path / "cv"), split="2D")
    metrics = cv_bench.score(items, {i.id: i.gold_letter for i in items}, "cambrian")["metrics"]
    assert metrics["cv_bench"] is None and metrics["2d"] == 1.0 and metrics["accuracy"] == 1.0


def test_naturalbench_score_matches_test_vector(tmp_path):
    from mllm_fixtures import naturalbench_wide_rows

    rows = naturalbench_wide_rows(4)
    items = naturalbench.load(write_naturalbench(tmp_path / "nb", rows))
    texts = {"yes_no": {1: "Yes", 0: "No", -1: "unsure"}, "multiple_choice": {1: "A", 0: "B", -1: "C"}}
    vector = [[1, 0, 0, 1], [1, 1, 0, 1], [1, 0, 1, 0], [-1, 0, 0, 1]]
    outputs = {item.id: texts[item.question_type][vector[item.group][item.id % 4]] for item in items}
    result = naturalbench.score(items, outputs, "reference")
    assert result["metrics"] == {"acc": 0.75, "q_acc": 0.625, "i_acc": 0.5, "g_acc": 0.25}
    assert result["counts"]["unparsed"] == 1
    del outputs[15]
    partial = naturalbench.score(items, outputs, "reference")
    assert partial["counts"]["groups_complete"] == 3 and partial["counts"]["missing"] == 1
    assert partial["metrics"]["g_acc"] == pytest.approx(1 / 3)
