"""MMVP ``original`` graded by an LLM judge from the CLI (``--grader URL``): the reference grader
prompt and reading over real HTTP to a local OpenAI-compatible judge, judgments cached on disk,
the exact-match stand-in as the offline default.

The judge is ``ChatServer`` (a real HTTP server on 127.0.0.1) answering like gpt_grader.py's
judge: a request with the reference system prompt is parsed back into (question, correct
answer, model response) and judged "Yes" when the response names the correct option's letter
or text, else "No" (``OVERRIDES`` fixes some replies); any other request is answered as a model.
"""
from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from runner_chat_server import ChatServer

OPENEYES = str(Path(sys.executable).parent / "openeyes")
SYSTEM = ("You are a helpful and precise assistant for checking the quality of the answer. "
          "Please answer in only yes or no.")
USER = re.compile(r"^Given the following question (?P<question>.*), the correct answer is (?P<answer>.*)\. "
                  r"Does the following answer correctly answers the question, answer:(?P<response>.*)\?$", re.DOTALL)
OPTION = re.compile(r"\(([a-z])\)\s*([^(]+?)(?=\s*\([a-z]\)|$)")
OVERRIDES = {"It is closed.": "yes\n"}   # gpt_grader.py: matches ^(yes|no)$ but is not "yes"
OPTIONS = ["(a) Open (b) Closed", "(a) Left (b) Right", "(a) Open (b) Closed"]
# gold per pair: (a), (b)
OUTPUTS = {1: " (a) Open\n", 2: "Closed", 3: "Left", 4: "It is on the right.", 5: "Open", 6: "It is closed."}


def judged(server: ChatServer) -> list[dict]:
    return [body for body in server.seen if body["messages"][0].get("content") == SYSTEM]


def judge_or_model(model_answer: str):
    """The server's answer: the judge's for grader requests, ``model_answer`` for the others."""
    def answer(body: dict) -> str:
        if body["messages"][0].get("content") != SYSTEM:
            return model_answer
        match = USER.match(body["messages"][1]["content"])
        assert match is not None, body["messages"][1]["content"]
        if match["response"] in OVERRIDES:
            return OVERRIDES[match["response"]]
        letter = match["answer"].strip("() ").lower()
        options = {key: text.strip().lower() for key, text in OPTION.findall(match["question"])}
        said = match["response"].lower()
        named = re.search(rf"(^|\W){letter}(\W|$)", said) or options.get(letter, "\0") in said
        return "Yes" if named else "No"
    return answer


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([OPENEYES, "eval", *args], capture_output=True, text=True, env=env)


@pytest.fixture
def mmvp_dir(tmp_path) -> Path:
    """Questions.csv + MMVP Images/<Index>.jpg: three pairs, gold (a) then (b)."""
    root = tmp_path / "mmvp"
    (root / "MMVP Images").mkdir(parents=True)
    with open(root / "Questions.csv", "w", newline="", encoding="utf-8") as handle:
        table = csv.writer(handle)
        table.writerow(["Index", "Question", "Options", "Correct Answer"])
        for index in range(1, 7):
            pair = (index - 1) // 2
            table.writerow([index, f"Question {pair}?", OPTIONS[pair], "(a)" if index % 2 else "(b)"])
            Image.new("RGB", (8, 8), (index * 30, 90, 40)).save(root / "MMVP Images" / f"{index}.jpg")
    return root


@pytest.fixture
def predictions(tmp_path) -> Path:
    path = tmp_path / "preds.jsonl"
    path.write_text("".join(json.dumps({"id": k, "output": v}) + "\n" for k, v in OUTPUTS.items()))
    return path


def test_judge_grades_with_the_reference_prompt_and_is_asked_once(mmvp_dir, predictions, tmp_path):
    env = dict(os.environ, MY_JUDGE_KEY="sekrit")
    out = tmp_path / "scored"
    with ChatServer() as judge:
        judge.answer = judge_or_model("unused")
        args = ("score", "--bench", "mmvp", "--protocol", "original", "--data", str(mmvp_dir),
                "--predictions", str(predictions), "--out", str(out), "--grader", judge.url + "/v1",
                "--grader-model", "judge-1", "--grader-key-env", "MY_JUDGE_KEY")
        first = run(*args, env=env)
        assert first.returncode == 0, first.stderr
        result = json.loads(first.stdout)
        # judge: 1 yes (stripped), 2 yes, 3 yes, 4 yes, 5 yes, 6 "yes\n" -> not yes
        assert result["metrics"] == {"accuracy": pytest.approx(5 / 6), "pair_accuracy": pytest.approx(2 / 3)}
        assert result["grader"]["kind"] == "llm" and result["grader"]["model"] == "judge-1"
        assert (result["grader"]["asked"], result["grader"]["reused"]) == (6, 0)
        assert len(judged(judge)) == 6
        body = judged(judge)[0]
        assert body["model"] == "judge-1" and body["temperature"] == 0.2 and "max_tokens" not in body
        assert body["messages"][0] == {"role": "system", "content": SYSTEM}
        assert body["messages"][1]["content"] == (
            "Given the following question Question 0? (a) Open (b) Closed, the correct answer is (a). "
            "Does the following answer correctly answers the question, answer:(a) Open?")
        assert judge.headers[0]["Authorization"] == "Bearer sekrit"
        assert len((out / "grader_judgments.jsonl").read_text().splitlines()) == 6

        again = run(*args, env=env)      # a re-run asks the judge nothing
        assert again.returncode == 0, again.stderr
        rerun = json.loads(again.stdout)
        assert len(judged(judge)) == 6
        assert rerun["metrics"] == result["metrics"]
        assert (rerun["grader"]["asked"], rerun["grader"]["reused"]) == (0, 6)
    written = json.loads((out / "results.json").read_text())
    assert written["protocol"] == "original" and written["options"]["grader"]["kind"] == "llm"


def test_offline_default_is_the_exact_match_stand_in(mmvp_dir, predictions):
    done = run("score", "--bench", "mmvp", "--protocol", "original", "--data", str(mmvp_dir),
               "--predictions", str(predictions))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["grader"]["kind"] == "exact-match"
    # exact match: 1 yes, 2 yes, 3 yes, 4 no ("It is on the right."), 5 yes, 6 no
    assert result["metrics"] == {"accuracy": pytest.approx(4 / 6), "pair_accuracy": pytest.approx(1 / 3)}


def test_eval_mllm_original_with_a_judge(mmvp_dir, tmp_path):
    out = tmp_path / "run"
    with ChatServer() as server:   # one local server is both the model and the judge
        server.answer = judge_or_model("(a) Open")
        done = run("mllm", "--model", server.url, "--bench", "mmvp", "--protocol", "original", "--data", str(mmvp_dir),
                   "--out", str(out), "--grader", server.url, "--no-progress")
        assert done.returncode == 0, done.stderr
        asked = [body for body in server.seen if body not in judged(server)]
        assert len(asked) == 6 and len(judged(server)) == 6
        assert all(body["temperature"] == 0.2 for body in asked)   # the reference samples at T=0.2
    # "(a) Open" names the gold of the three (a) items only: no pair has both right
    payload = json.loads((out / "results.json").read_text())
    assert payload["options"]["grader"]["kind"] == "llm" and payload["metrics"]["pair_accuracy"] == 0.0
    assert payload["metrics"]["accuracy"] == 0.5
    assert "6 judgments asked" in done.stdout
    assert (out / "grader_judgments.jsonl").is_file()


@pytest.mark.parametrize("extra, message", [
    (("--protocol", "lmms-eval", "--grader", "http://127.0.0.1:9"), "original protocol"),
    (("--protocol", "original", "--grader", "ftp://judge"), "http(s)://"),
    (("--protocol", "original", "--grader-cache", "x.jsonl"), "--grader"),
])
def test_grader_misuse_is_one_line(mmvp_dir, predictions, extra, message):
    done = run("score", "--bench", "mmvp", "--data", str(mmvp_dir), "--predictions", str(predictions), *extra)
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
