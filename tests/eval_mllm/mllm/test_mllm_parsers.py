"""Every reference answer parser on the edge cases BENCHMARKS.md lists."""
from __future__ import annotations

import pytest

from openeyes.eval_mllm.mllm import cv_bench, mmvp, naturalbench, pope


@pytest.mark.parametrize("output, letter", [
    ("A", "A"), ("b", "B"), ("(B)", "B"), ("B.", "B"), ("  (a).  ", "A"),
    ("A. Open", "A"), ("The answer is (B)", "B"), ("I pick option b here", "B"),
    ("a dog is shown", "A"),          # quirk: the article matches step 2
    ("Both", "B"),                    # step 6: first character
    ("Closed", ""), ("", ""), ("C", ""),
])
def test_mmvp_lmms_eval_letter_extraction(output, letter):
    assert mmvp.extract_letter(output) == letter


@pytest.mark.parametrize("output, parsed", [
    ("(B)", "b"), ("The answer is (a).", "a"), ("answer: Open,", "open"),
    ("My answer is b. The answer is a", "a"),        # the last keyword occurrence wins
    ("  Closed. ", "closed"),
])
def test_mmvp_cambrian_parser(output, parsed):
    assert mmvp.parse_cambrian(output) == parsed


def test_mmvp_grader_prompt_and_grade_reading():
    messages = mmvp.grader_messages("Is it open? (a) Open (b) Closed", "(a)", "Open")
    assert messages[0]["content"].endswith("Please answer in only yes or no.")
    assert messages[1]["content"] == ("Given the following question Is it open? (a) Open (b) Closed, the correct "
                                      "answer is (a). Does the following answer correctly answers the question, answer:Open?")
    assert mmvp.read_grade("Yes") and mmvp.read_grade("YES")
    assert not mmvp.read_grade("yes.") and not mmvp.read_grade("No") and not mmvp.read_grade("yes, it is")


@pytest.mark.parametrize("response, grade", [
    ("(a)", "yes"), ("a", "yes"), ("Open.", "yes"), ("(a) Open", "yes"),
    ("(b)", "no"), ("Closed", "no"), ("It is open", "no"),
])
def test_mmvp_exact_match_grader(response, grade):
    assert mmvp.ExactMatchGrader()("Is it open? (a) Open (b) Closed", "(a)", response) == grade


def test_mmvp_original_grades_the_stripped_answer():
    seen = []
    item = mmvp.MMVPItem(1, "Is it open?", "(a) Open (b) Closed", "(a)", None, "x")
    mmvp.parse(" (a) Open\n", item, "original", grader=lambda q, a, r: seen.append(r) or "Yes")
    assert seen == ["(a) Open"]   # evaluate_mllm.py writes outputs.strip()


def test_mmvp_chat_grader_is_pluggable():
    seen = []
    grader = mmvp.ChatGrader(lambda messages: seen.append(messages) or "Yes")
    item = mmvp.MMVPItem(1, "Is it open?", "(a) Open (b) Closed", "(a)", None, "x")
    assert mmvp.parse("whatever", item, "original", grader=grader) is True
    assert seen[0][1]["content"].startswith("Given the following question Is it open? (a) Open (b) Closed,")


@pytest.mark.parametrize("output, answer", [
    ("Yes", "yes"), ("No", "no"), ("no", "no"), ("NO", "yes"), ("", "yes"),
    ("No, there is not.", "no"), ("There is not a dog.", "no"), ("Yes. There is no dog.", "yes"),
    ("Yes, no dog", "no"), ("Nope", "yes"),
    # LLaVA's model_vqa_loader strips the decoded answer before eval_pope reads it
    ("No\n", "no"), ("\nNo", "no"), (" no \t", "no"), ("No\n\nThere is no dog.", "no"), ("Yes\n", "yes"),
    ("NO\n", "yes"), ("\n", "yes"),
])
def test_pope_original_parser(output, answer):
    assert pope.parse_pope(output) == answer


@pytest.mark.parametrize("output, parsed", [(" Yes \n", "yes"), ("yes.", "yes."), ("NO", "no"), ("", "")])
def test_pope_lmms_eval_parser(output, parsed):
    assert pope.parse_lmms_eval(output) == parsed


@pytest.mark.parametrize("output, parsed", [("Yes, there is.", "yes"), ("no.", "no"), ("NO: none", "no"),
                                            ("", ""), ("  maybe yes", "maybe")])
def test_pope_cambrian_parser(output, parsed):
    assert pope.parse_cambrian(output) == parsed


@pytest.mark.parametrize("output, parsed", [
    ("(C)", "c"), ("The answer is (B).", "b"), ("answer: d", "d"), ("B) 3 objects", "b"), ("", ""),
])
def test_cv_bench_cambrian_parser(output, parsed):
    assert cv_bench.parse_cambrian(output, omni=False) == parsed
    assert cv_bench.parse_cambrian(output, omni=True) == parsed


def test_cv_bench_cambrian_omni_strips_more():
    assert cv_bench.parse_cambrian(",", omni=False) == ","
    assert cv_bench.parse_cambrian(",", omni=True) == ""


@pytest.mark.parametrize("output, letter", [
    ("B", "B"), ("(c) 3", "C"), (" d.", "D"), ("The answer is B", "T"), ("", ""), ("3", ""),
])
def test_cv_bench_lmms_eval_parser(output, letter):
    assert cv_bench.parse_lmms_eval(output) == letter


@pytest.mark.parametrize("output, kind, value", [
    ("Yes", "yes_no", 1), ("no", "yes_no", 0), ("Yes, or no", "yes_no", 1), ("No. Yes", "yes_no", 0),
    ("Noting yesterday", "yes_no", -1), ("", "yes_no", -1),
    ("B", "multiple_choice", 0), ("A", "multiple_choice", 1),
    ("a cat, so B", "multiple_choice", 1),            # the article "a" counts as A
    ("Answer: B", "multiple_choice", 0), ("C", "multiple_choice", -1),
])
def test_naturalbench_extract_answer(output, kind, value):
    assert naturalbench.extract_answer(output, kind) == value


def test_naturalbench_reference_test_vector():
    scores = naturalbench.group_scores([[1, 0, 0, 1], [1, 1, 0, 1], [1, 0, 1, 0], [-1, 0, 0, 1]])
    assert scores == {"acc": 0.75, "q_acc": 0.625, "i_acc": 0.5, "g_acc": 0.25}


def test_naturalbench_prompt_spacing():
    item = naturalbench.NaturalBenchItem(0, "Is it red?", "yes_no", "Yes", None, None, "x")
    assert naturalbench.prompt_reference(item) == "Is it red?Please answer Yes or No."
    assert naturalbench.prompt_lmms_eval(item) == "Is it red? Please answer Yes or No."
