"""Resuming: a later run generates only what predictions.jsonl lacks; a torn last line is regenerated."""
import json

import pytest

from openeyes.errors import UserError
from openeyes.eval_mllm.mllm.prediction_log import read_log
from openeyes.eval_mllm.runner import MLLMEvalOptions, evaluate_mllm


def _options(limit, **extra):
    return MLLMEvalOptions(limit=limit, max_new_tokens=4, batch_size=3, progress=False, **extra)


def _outputs(path):
    return {str(r["id"]): r["output"] for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


@pytest.fixture(scope="module")
def reference(tiny_mllm, world_root, tmp_path_factory):
    """A clean single run over the first 10 POPE items."""
    out = tmp_path_factory.mktemp("reference") / "pope"
    payload = evaluate_mllm(None, "pope", world_root, out, _options(10), mllm=tiny_mllm)["pope"]
    return out, payload


def test_limited_run_then_full_run_generates_only_the_rest(tiny_mllm, world_root, tmp_path, reference):
    out = tmp_path / "pope"
    first = evaluate_mllm(None, "pope", world_root, out, _options(4), mllm=tiny_mllm)["pope"]
    assert first["data"]["generated_now"] == 4 and first["data"]["items"] == 4
    second = evaluate_mllm(None, "pope", world_root, out, _options(10), mllm=tiny_mllm)["pope"]
    assert second["data"]["generated_now"] == 6 and second["data"]["items"] == 10
    assert _outputs(out / "predictions.jsonl") == _outputs(reference[0] / "predictions.jsonl")
    assert second["metrics"] == reference[1]["metrics"]
    third = evaluate_mllm(None, "pope", world_root, out, _options(10), mllm=tiny_mllm)["pope"]
    assert third["data"]["generated_now"] == 0  # a finished run has nothing left to do


def test_a_smaller_limit_keeps_earlier_generations(tiny_mllm, world_root, tmp_path, reference):
    out = tmp_path / "pope"
    evaluate_mllm(None, "pope", world_root, out, _options(6), mllm=tiny_mllm)
    payload = evaluate_mllm(None, "pope", world_root, out, _options(3), mllm=tiny_mllm)["pope"]
    assert payload["data"]["items"] == 3 and payload["data"]["generated_now"] == 0
    assert len(_outputs(out / "predictions.jsonl")) == 6  # items 4..6 stay for a later, larger run


def test_torn_last_line_is_regenerated(tiny_mllm, world_root, tmp_path, reference):
    """A crash mid-write leaves half a line: it is cut off and that item generated again."""
    out = tmp_path / "pope"
    out.mkdir()
    lines = (reference[0] / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    raw = [json.dumps({"id": json.loads(line)["id"], "output": json.loads(line)["output"]}) for line in lines[:5]]
    (out / "predictions.jsonl").write_text("\n".join(raw[:4]) + "\n" + raw[4][: len(raw[4]) // 2], encoding="utf-8")
    payload = evaluate_mllm(None, "pope", world_root, out, _options(10), mllm=tiny_mllm)["pope"]
    assert payload["data"]["generated_now"] == 6  # 4 complete lines kept, the torn 5th redone
    assert _outputs(out / "predictions.jsonl") == _outputs(reference[0] / "predictions.jsonl")
    assert payload["metrics"] == reference[1]["metrics"]


def test_parts_of_an_interrupted_parallel_run_are_reused(tiny_mllm, world_root, tmp_path, reference):
    out = tmp_path / "pope"
    out.mkdir()
    records = [json.loads(line) for line in (reference[0] / "predictions.jsonl").read_text().splitlines()]
    for rank in (0, 1):
        shard = records[rank:6:2]
        text = "".join(json.dumps({"id": r["id"], "output": r["output"]}) + "\n" for r in shard)
        (out / f"predictions.rank{rank}.jsonl").write_text(text, encoding="utf-8")
    payload = evaluate_mllm(None, "pope", world_root, out, _options(10), mllm=tiny_mllm)["pope"]
    assert payload["data"]["generated_now"] == 4
    assert not list(out.glob("predictions.rank*.jsonl"))
    assert _outputs(out / "predictions.jsonl") == _outputs(reference[0] / "predictions.jsonl")


def test_a_corrupt_line_before_the_end_is_reported(tiny_mllm, world_root, tmp_path):
    out = tmp_path / "pope"
    out.mkdir()
    (out / "predictions.jsonl").write_text('{"id": "random:1", "output": "yes"}\nnot json\n{"id": "random:2", "output": "no"}\n')
    with pytest.raises(UserError, match="line 2"):
        evaluate_mllm(None, "pope", world_root, out, _options(4), mllm=tiny_mllm)


@pytest.mark.slow  # three model loads in subprocesses: ~35 s alone, more on a busy machine
def test_killed_all_benchmarks_run_resumes(tiny_mllm_dir, tiny_mllm, world_root, tmp_path):
    """`openeyes eval mllm --bench all` killed (SIGKILL) mid-run: the re-run generates only what is
    missing, and the final predictions equal those of an uninterrupted run."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    args = ["eval", "mllm", "--model", tiny_mllm_dir, "--bench", "all", "--data", str(world_root), "--limit", "6",
            "--max-new-tokens", "4", "--batch-size", "1", "--device", "cpu", "--no-progress"]
    openeyes = str(Path(sys.executable).parent / "openeyes")
    environment = dict(os.environ, OMP_NUM_THREADS="1")
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    process = subprocess.Popen([openeyes, *args, "--out", str(killed)], env=environment,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first = killed / "mmvp" / "predictions.jsonl"
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        if first.is_file() and first.read_text(encoding="utf-8").count("\n") >= 2:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (killed / "summary.json").exists()
    before = {bench: len(read_log(killed / bench / "predictions.jsonl")) for bench in ("mmvp", "pope", "cv_bench", "naturalbench")}
    assert 2 <= sum(before.values()) < 24
    resumed = subprocess.run([openeyes, *args, "--out", str(killed)], env=environment, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    evaluate_mllm(None, "all", world_root, clean, MLLMEvalOptions(limit=6, max_new_tokens=4, batch_size=1, progress=False),
                  mllm=tiny_mllm)  # the same run, uninterrupted (in process)
    summary = json.loads((killed / "summary.json").read_text())
    assert set(summary) == set(before)
    for bench, kept in before.items():
        results = json.loads((killed / bench / "results.json").read_text())
        assert results["data"]["generated_now"] == results["data"]["items"] - kept, bench   # --limit 6: whole groups
        assert _outputs(killed / bench / "predictions.jsonl") == _outputs(clean / bench / "predictions.jsonl"), bench
        assert results["metrics"] == json.loads((clean / bench / "results.json").read_text())["metrics"], bench
