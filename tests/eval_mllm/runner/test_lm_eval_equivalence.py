"""lm-eval integration: the registered `openeyes` model and the openeyes_* tasks give `eval mllm`'s numbers."""
import json
import math

import pytest

pytest.importorskip("lm_eval")

from openeyes.cli import main  # noqa: E402
from openeyes.errors import UserError  # noqa: E402

TASKS = {"openeyes_mmvp": "mmvp", "openeyes_pope": "pope", "openeyes_cv_bench": "cv_bench",
         "openeyes_naturalbench": "naturalbench"}
COMMON = ["--limit", "8", "--max-new-tokens", "4", "--batch-size", "4", "--device", "cpu"]


@pytest.fixture(scope="module")
def both_runs(tiny_mllm_dir, world_root, tmp_path_factory):
    root = tmp_path_factory.mktemp("lm-eval")
    assert main(["eval", "lm-eval", "--model", tiny_mllm_dir, "--tasks", ",".join(TASKS), "--data", str(world_root),
                 "--out", str(root / "lm"), *COMMON]) == 0
    assert main(["eval", "mllm", "--model", tiny_mllm_dir, "--bench", "all", "--data", str(world_root),
                 "--out", str(root / "own"), "--no-progress", *COMMON]) == 0
    return root


def _same(a, b):
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=0, abs_tol=1e-12)


def test_numbers_equal_the_runner(both_runs):
    summary = json.loads((both_runs / "lm" / "lm_eval_results.json").read_text())["results"]
    for task, bench in TASKS.items():
        own = json.loads((both_runs / "own" / bench / "results.json").read_text())["metrics"]
        assert set(summary[task]) == set(own), task
        for name, value in own.items():
            assert _same(summary[task][name], value), (task, name, summary[task][name], value)
        via_artifact = json.loads((both_runs / "lm" / bench / "results.json").read_text())
        assert via_artifact["options"]["runner"] == "lm-eval" and via_artifact["metrics"] == summary[task]


def test_same_raw_outputs(both_runs):
    for bench in TASKS.values():
        lines = {}
        for runner in ("lm", "own"):
            records = map(json.loads, (both_runs / runner / bench / "predictions.jsonl").read_text().splitlines())
            lines[runner] = {str(r["id"]): r["output"] for r in records}
        assert lines["lm"] == lines["own"] and len(lines["lm"]) == 8, bench


def test_converter_layout(world_root, tmp_path):
    from openeyes.eval_mllm.lm_eval.convert import convert_benchmark
    from openeyes.eval_mllm.mllm import cv_bench

    path = convert_benchmark("cv_bench", world_root / "cv_bench", tmp_path, protocol="lmms-eval")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    items = cv_bench.load(world_root / "cv_bench")
    assert path.name == "cv_bench.jsonl" and len(records) == len(items)
    first = records[0]
    assert first["id"] == str(items[0].id) and first["gold"] == items[0].answer
    assert first["prompt"] == cv_bench.prompt_lmms_eval(items[0]) and first["protocol"] == "lmms-eval"
    assert first["image"] == [str(items[0].image.resolve())]
    assert "cv_bench" in first["metrics"]


def test_registered_multimodal_model_and_task_yamls():
    from lm_eval.api.registry import get_model

    from openeyes.eval_mllm.lm_eval.model import OpenEyesLM
    from openeyes.eval_mllm.lm_eval.run import task_manager

    assert get_model("openeyes") is OpenEyesLM and OpenEyesLM.MULTIMODAL is True
    index = task_manager().task_index
    assert set(TASKS) <= set(index)
    assert all(index[t].yaml_path.name == f"{t}.yaml" for t in TASKS)


def test_loglikelihood_is_refused_clearly(tiny_mllm):
    from openeyes.eval_mllm.lm_eval.model import OpenEyesLM

    model = OpenEyesLM(mllm=tiny_mllm)
    with pytest.raises(UserError, match="only generate_until"):
        model.loglikelihood([])


def test_unknown_task_is_a_user_error(tiny_mllm_dir, world_root, tmp_path, capsys):
    assert main(["eval", "lm-eval", "--model", tiny_mllm_dir, "--tasks", "openeyes_bogus", "--data", str(world_root),
                 "--out", str(tmp_path)]) == 2
    assert "openeyes_bogus" in capsys.readouterr().err


def test_numbers_equal_with_varied_answers(world_root, tmp_path):
    """Through an HTTP endpoint whose answers vary (yes/no/letters, parseable or not), both runners
    give the same, non-trivial numbers on all four benchmarks."""
    from runner_chat_server import ChatServer

    args = ["--data", str(world_root), "--limit", "32", "--batch-size", "4"]
    with ChatServer() as server:
        server.answer = "varied"
        assert main(["eval", "lm-eval", "--model", server.url, "--model-name", "m", "--tasks", "all",
                     "--out", str(tmp_path / "lm"), *args]) == 0
        assert main(["eval", "mllm", "--model", server.url, "--model-name", "m", "--bench", "all", "--no-progress",
                     "--out", str(tmp_path / "own"), *args]) == 0
    summary = json.loads((tmp_path / "lm" / "lm_eval_results.json").read_text())["results"]
    defined = 0
    for task, bench in TASKS.items():
        own = json.loads((tmp_path / "own" / bench / "results.json").read_text())["metrics"]
        assert set(summary[task]) == set(own)
        for name, value in own.items():
            assert _same(summary[task][name], value), (task, name, summary[task][name], value)
            defined += value is not None and 0 < value < 1
    assert defined >= 10  # most numbers are strictly between 0 and 1: the comparison has teeth


def test_no_stray_git_message_outside_a_checkout(tiny_mllm_dir, world_root, tmp_path, monkeypatch, capfd):
    """lm-eval ran `git describe` in the working directory: 'fatal: not a git repository' on the console."""
    monkeypatch.chdir(tmp_path)  # not inside any git checkout
    assert main(["eval", "lm-eval", "--model", tiny_mllm_dir, "--tasks", "openeyes_pope", "--data", str(world_root),
                 "--out", str(tmp_path / "lm"), "--limit", "2", "--max-new-tokens", "2", "--device", "cpu"]) == 0
    assert "fatal" not in capfd.readouterr().err
