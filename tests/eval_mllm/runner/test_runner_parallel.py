"""Data-parallel evaluation: 2 CPU processes under `accelerate launch` give the same predictions as 1."""
import json
import os
import socket
import subprocess
import sys

from openeyes.cli import main

ARGS = ["--bench", "naturalbench", "--limit", "12", "--max-new-tokens", "4", "--batch-size", "4", "--device", "cpu",
        "--no-progress"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_processes_equal_one(tiny_mllm_dir, world_root, tmp_path):
    single, double = tmp_path / "one", tmp_path / "two"
    assert main(["eval", "mllm", "--model", tiny_mllm_dir, "--data", str(world_root), "--out", str(single), *ARGS]) == 0
    environment = dict(os.environ, OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1")
    command = [sys.executable, "-m", "openeyes.trainer.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_port", str(_free_port()),
               "-m", "openeyes.eval_mllm.runner", "--model", tiny_mllm_dir, "--data", str(world_root),
               "--out", str(double), *ARGS]
    finished = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "naturalbench (reference): g_acc" in finished.stdout  # printed once, by rank 0
    assert finished.stdout.count("results written") == 1
    one = (single / "predictions.jsonl").read_text(encoding="utf-8")
    two = (double / "predictions.jsonl").read_text(encoding="utf-8")
    assert one == two and len(one.splitlines()) == 12
    assert not list(double.glob("predictions.rank*.jsonl"))
    metrics = [json.loads((d / "results.json").read_text())["metrics"] for d in (single, double)]
    assert metrics[0] == metrics[1]
    assert json.loads((double / "results.json").read_text())["options"]["processes"] == 2
