"""``openeyes eval score`` on a world export with hand-made predictions, and its user errors."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from openeyes.eval_mllm.mllm import cv_bench, mmvp, naturalbench, pope

OPENEYES = str(Path(sys.executable).parent / "openeyes")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world") / "export"
    subprocess.run([OPENEYES, "world", "generate", "--out", str(out), "--seed", "3", "--n", "12", "--size", "32",
                    "--only", "mmvp,pope,cv_bench,naturalbench"], check=True, capture_output=True)
    return out


def run_score(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([OPENEYES, "eval", "score", *args], capture_output=True, text=True)


def write_predictions(path: Path, outputs: dict) -> Path:
    path.write_text("".join(json.dumps({"id": k, "output": v}) + "\n" for k, v in outputs.items()))
    return path


def score_json(world: Path, bench: str, predictions: Path, *extra: str) -> dict:
    done = run_score("--bench", bench, "--data", str(world / bench), "--predictions", str(predictions), *extra)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


GOLD_OUTPUTS = {
    "mmvp": lambda item: item.answer,
    "pope": lambda item: item.label.capitalize(),
    "cv_bench": lambda item: item.answer,
    "naturalbench": lambda item: item.gold,
}
MODULES = {"mmvp": mmvp, "pope": pope, "cv_bench": cv_bench, "naturalbench": naturalbench}


@pytest.mark.parametrize("bench", list(MODULES))
def test_gold_predictions_score_one_under_every_protocol(world, tmp_path, bench):
    module = MODULES[bench]
    items = module.load(world / bench)
    predictions = write_predictions(tmp_path / "p.jsonl", {i.id: GOLD_OUTPUTS[bench](i) for i in items})
    for protocol in module.PROTOCOLS:
        result = score_json(world, bench, predictions, "--protocol", protocol)
        assert result["protocol"] == protocol and result["missing"] == 0
        assert result["metrics"][result["headline"]] == pytest.approx(100.0 if result["headline"] == "cambrian_accuracy" else 1.0)


def test_pope_default_protocol_strips_the_answer_like_llava(world, tmp_path):
    """LLaVA's model_vqa_loader strips the decoded text before eval_pope: "No\n" is a no."""
    items = pope.load(world / "pope")
    predictions = write_predictions(tmp_path / "p.jsonl", {i.id: i.label.capitalize() + "\n" for i in items})
    result = score_json(world, "pope", predictions)
    assert result["protocol"] == "pope" and "model_vqa_loader" in result["source"]
    assert result["metrics"]["accuracy"] == 1.0 and result["metrics"]["mean_f1"] == 1.0


def test_pope_all_yes(world, tmp_path):
    items = pope.load(world / "pope")
    predictions = write_predictions(tmp_path / "p.jsonl", {i.id: "Yes" for i in items})
    result = score_json(world, "pope", predictions)
    assert result["protocol"] == "pope"
    for split in pope.SPLITS:
        assert result["per_category"][split]["recall"] == 1.0
        assert result["per_category"][split]["precision"] == 0.5
        assert result["per_category"][split]["yes_ratio"] == 1.0
    assert result["metrics"]["mean_f1"] == pytest.approx(2 / 3)


def test_missing_predictions_are_counted(world, tmp_path):
    items = naturalbench.load(world / "naturalbench")
    outputs = {i.id: i.gold for i in items[:-3]}
    result = score_json(world, "naturalbench", write_predictions(tmp_path / "p.jsonl", outputs))
    assert result["missing"] == 3 and result["counts"]["groups_complete"] == len(items) // 4 - 1
    assert result["metrics"]["g_acc"] == 1.0


def test_split_option_and_results_artifact(world, tmp_path):
    items = cv_bench.load(world / "cv_bench", split="3D")
    predictions = write_predictions(tmp_path / "p.jsonl", {i.id: "(A)" for i in items})
    result = score_json(world, "cv_bench", predictions, "--split", "3D", "--out", str(tmp_path / "run"))
    assert result["data"]["items"] == len(items) and result["metrics"]["cv_bench"] is None
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["benchmark"] == "cv_bench" and saved["metrics"]["3d"] == result["metrics"]["3d"]


def test_score_takes_the_world_root_like_eval_mllm(world, tmp_path):
    items = pope.load(world / "pope")
    predictions = write_predictions(tmp_path / "p.jsonl", {i.id: i.label.capitalize() for i in items})
    done = run_score("--bench", "pope", "--data", str(world), "--predictions", str(predictions))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["data"]["path"] == str(world / "pope") and result["metrics"]["accuracy"] == 1.0


def test_score_reads_one_benchmark(world, tmp_path):
    predictions = write_predictions(tmp_path / "p.jsonl", {1: "A"})
    done = run_score("--bench", "pope,mmvp", "--data", str(world), "--predictions", str(predictions))
    assert done.returncode == 2 and "one --bench name" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and done.stdout == ""


@pytest.mark.parametrize("case, message", [
    ("unknown_id", "line 2: id '99999' is not an item"),
    ("bad_json", "line 1: not valid JSON"),
    ("no_file", "does not exist"),
    ("bad_bench", "unknown MLLM benchmark 'vqa'"),
    ("bad_protocol", "unknown protocol 'gpt' for mmvp"),
])
def test_user_errors_exit_2_with_one_line(world, tmp_path, case, message):
    predictions = tmp_path / "p.jsonl"
    predictions.write_text('{"id": 1, "output": "A"}\n{"id": 99999, "output": "B"}\n')
    bench, extra = "mmvp", []
    if case == "bad_json":
        predictions.write_text('{"id": 1, "output": \n')
    elif case == "no_file":
        predictions = tmp_path / "absent.jsonl"
    elif case == "bad_bench":
        bench = "vqa"
    elif case == "bad_protocol":
        extra = ["--protocol", "gpt"]
    done = run_score("--bench", bench, "--data", str(world / "mmvp"), "--predictions", str(predictions), *extra)
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert done.stdout == ""


def test_pope_ids_are_stable_and_rescoring_is_idempotent(world, tmp_path):
    """Item ids are "<split>:<question_id>" whatever splits are loaded; every way of naming them
    scores the same, and re-scoring a results artifact's own predictions.jsonl changes nothing."""
    every, random_only = pope.load(world / "pope"), pope.load(world / "pope", split="random")
    assert [i.id for i in random_only] == [i.id for i in every if i.split == "random"]
    outputs = {i.id: ("Yes" if k % 3 else "No") for k, i in enumerate(every)}
    qualified = write_predictions(tmp_path / "qualified.jsonl", outputs)
    split_field = tmp_path / "split_field.jsonl"
    split_field.write_text("".join(json.dumps({"id": i.question_id, "split": i.split, "output": outputs[i.id]}) + "\n"
                                   for i in every))
    both = tmp_path / "both.jsonl"
    both.write_text("".join(json.dumps({"id": i.id, "split": i.split, "output": outputs[i.id]}) + "\n" for i in every))
    reference = score_json(world, "pope", qualified, "--out", str(tmp_path / "run1"))
    assert reference["missing"] == 0
    for path in (split_field, both):
        assert score_json(world, "pope", path)["metrics"] == reference["metrics"]
    saved = [json.loads(line) for line in (tmp_path / "run1" / "predictions.jsonl").read_text().splitlines()]
    assert saved[0]["id"] == every[0].id and saved[0]["split"] == every[0].split
    again = score_json(world, "pope", tmp_path / "run1" / "predictions.jsonl", "--out", str(tmp_path / "run2"))
    assert again["metrics"] == reference["metrics"] and again["missing"] == 0
    third = score_json(world, "pope", tmp_path / "run2" / "predictions.jsonl")
    assert third["metrics"] == reference["metrics"]
    assert (tmp_path / "run2" / "predictions.jsonl").read_text() == (tmp_path / "run1" / "predictions.jsonl").read_text()


def test_pope_raw_question_ids(world, tmp_path):
    """A bare question_id works where it names one item (one split), and is refused where it is ambiguous."""
    random_only = pope.load(world / "pope", split="random")
    bare = write_predictions(tmp_path / "bare.jsonl", {i.question_id: i.label for i in random_only})
    result = score_json(world, "pope", bare, "--split", "random")
    assert result["missing"] == 0 and result["metrics"]["accuracy"] == 1.0
    done = run_score("--bench", "pope", "--data", str(world / "pope"), "--predictions", str(bare))
    assert done.returncode == 2 and "is ambiguous (random:1, popular:1, adversarial:1)" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    twice = tmp_path / "twice.jsonl"
    twice.write_text('{"id": "random:1", "output": "yes"}\n{"id": 1, "split": "random", "output": "no"}\n')
    done = run_score("--bench", "pope", "--data", str(world / "pope"), "--predictions", str(twice))
    assert done.returncode == 2 and "line 2: id 'random:1' already given on line 1" in done.stderr
