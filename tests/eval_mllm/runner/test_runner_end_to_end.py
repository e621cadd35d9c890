"""`openeyes eval mllm` end to end on a world export: every benchmark in one command, artifacts, scoring."""
import json

import pytest

from openeyes.cli import main
from openeyes.eval_mllm.mllm.sampling import spread

BENCHES = ("mmvp", "pope", "cv_bench", "naturalbench")
LIMIT = 8


@pytest.fixture(scope="module")
def all_run(tiny_mllm_dir, world_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "all"
    code = main(["eval", "mllm", "--model", tiny_mllm_dir, "--bench", "all", "--data", str(world_root),
                 "--limit", str(LIMIT), "--max-new-tokens", "4", "--batch-size", "4", "--device", "cpu",
                 "--no-progress", "--out", str(out)])
    assert code == 0
    return out


def _lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_all_writes_one_artifact_per_benchmark(all_run, world_root):
    from openeyes.eval_mllm.mllm.registry import benchmark

    summary = json.loads((all_run / "summary.json").read_text())
    assert set(summary) == set(BENCHES)
    for name in BENCHES:
        folder = all_run / name
        for artifact_file in ("results.json", "report.md", "openeyes.json", "predictions.jsonl"):
            assert (folder / artifact_file).is_file(), (name, artifact_file)
        results = json.loads((folder / "results.json").read_text())
        module = benchmark(name)
        assert results["benchmark"] == name and results["protocol"] == module.DEFAULT_PROTOCOL
        assert results["model"]["card_name"] == "tiny-mllm" and results["model"]["card_hash"]
        assert results["data"]["items"] == LIMIT and results["data"]["missing"] == 0
        assert results["options"]["generation"]["used"]["max_new_tokens"] == 4
        assert results["options"]["generation"]["used"]["temperature"] == 0.0
        predictions = _lines(folder / "predictions.jsonl")
        expected_ids = [str(item.id) for item in spread(module.load(world_root / name), LIMIT, module.limit_key)]
        assert [str(p["id"]) for p in predictions] == expected_ids
        assert all(isinstance(p["output"], str) for p in predictions)


def test_predictions_rescore_to_the_same_numbers(all_run, world_root, capsys):
    """`eval score` on the run's own predictions.jsonl gives the run's metrics."""
    for name in BENCHES:
        results = json.loads((all_run / name / "results.json").read_text())
        capsys.readouterr()
        assert main(["eval", "score", "--bench", name, "--data", str(world_root / name),
                     "--predictions", str(all_run / name / "predictions.jsonl")]) == 0
        scored = json.loads(capsys.readouterr().out)
        # the unscored items beyond --limit count as missing there; the metrics are the same
        assert scored["metrics"] == results["metrics"], name


def test_outputs_follow_the_protocol_prompt(tiny_mllm, world_root, tmp_path):
    """The runner's outputs are the model's greedy answers to the protocol's prompts."""
    from openeyes.eval_mllm.mllm import pope
    from openeyes.eval_mllm.runner import MLLMEvalOptions, build_requests, evaluate_mllm

    options = MLLMEvalOptions(protocol="lmms-eval", limit=3, max_new_tokens=5, progress=False)
    payloads = evaluate_mllm(None, "pope", world_root, tmp_path / "pope", options, mllm=tiny_mllm)
    assert payloads["pope"]["protocol"] == "lmms-eval"
    items = pope.load(world_root / "pope")[:3]
    requests = build_requests(pope, items, "lmms-eval")
    assert requests[0][1] == items[0].question + "\nAnswer the question using a single word or phrase."
    expected = tiny_mllm.generate(requests, max_new_tokens=5)
    written = [record["output"] for record in _lines(tmp_path / "pope" / "predictions.jsonl")]
    assert written == expected


@pytest.mark.parametrize("args, message", [
    (["--bench", "nope"], "unknown MLLM benchmark"),
    (["--bench", "pope", "--protocol", "bogus"], "unknown protocol"),
    (["--bench", "pope", "--limit", "0"], "--limit"),
])
def test_bad_input_is_one_line_error(args, message, world_root, tmp_path, capsys):
    code = main(["eval", "mllm", "--model", str(tmp_path / "no-model"), "--data", str(world_root),
                 "--out", str(tmp_path / "o"), *args])
    assert code == 2 and message in capsys.readouterr().err


def test_missing_data_and_model(tiny_mllm_dir, tmp_path, capsys):
    assert main(["eval", "mllm", "--model", tiny_mllm_dir, "--bench", "all", "--data", str(tmp_path),
                 "--out", str(tmp_path / "o")]) == 2
    assert "no benchmark folder" in capsys.readouterr().err
    assert main(["eval", "mllm", "--model", "no-such-model", "--bench", "pope", "--data", str(tmp_path),
                 "--out", str(tmp_path / "o")]) == 2
