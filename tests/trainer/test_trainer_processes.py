"""Real processes: exact resume after SIGKILL, and 2-process DDP (gloo) == 1 process on the global batch."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

SCRIPT = Path(__file__).parent / "train_toy.py"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def run_toy(out_dir, *args, timeout=120):
    done = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out_dir), *args], env=ENV,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]


def max_difference(a_dir, b_dir):
    a, b = load_file(str(a_dir / "final.safetensors")), load_file(str(b_dir / "final.safetensors"))
    assert a.keys() == b.keys()
    return max((a[k] - b[k]).abs().max().item() for k in a)


def test_sigkill_then_resume_equals_uninterrupted_run(tmp_path):
    steps = ["--steps", "16", "--checkpoint-every", "4"]  # dropout 0.2 + noise augmentation on
    run_toy(tmp_path / "straight", *steps, "--resume", "never")

    killed = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, str(SCRIPT), "--out", str(killed), *steps, "--sleep", "0.25"],
                               env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 600  # generous: the machine may be busy
    while not (killed / "checkpoints" / "step_0000004" / "state.json").exists():
        assert process.poll() is None, process.stderr.read().decode()[-3000:]
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    time.sleep(0.3)  # kill mid-way between checkpoints
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / "summary.json").exists()  # really interrupted
    assert not (killed / "final.safetensors").exists()

    run_toy(killed, *steps)  # resume="auto"
    summary = json.loads((killed / "summary.json").read_text())
    assert summary["start_step"] in (4, 8, 12) and summary["steps"] == 16
    assert max_difference(tmp_path / "straight", killed) == 0.0  # bit-identical weights
    logged = [json.loads(line)["step"] for line in (killed / "log.jsonl").read_text().splitlines()]
    assert logged == list(range(1, 17))  # the killed run's extra lines were dropped on resume


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_processes_match_one_on_the_same_global_batch(tmp_path):
    common = ["--steps", "12", "--dropout", "0", "--augment", "0", "--checkpoint-every", "6"]
    run_toy(tmp_path / "one", *common, "--batch-size", "8")
    launch = [sys.executable, "-m", "openeyes.trainer.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
              "--main_process_port", str(free_port()), str(SCRIPT),
              "--out", str(tmp_path / "two"), *common, "--batch-size", "4"]
    done = subprocess.run(launch, env=ENV, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert summary["num_processes"] == 2 and summary["global_batch"] == 8
    assert sorted(p.name for p in (tmp_path / "two" / "checkpoints" / "step_0000012").glob("rng_rank*.pt")) == [
        "rng_rank0.pt", "rng_rank1.pt"]
    assert max_difference(tmp_path / "one", tmp_path / "two") < 1e-5
    one = [json.loads(line) for line in (tmp_path / "one" / "log.jsonl").read_text().splitlines()]
    two = [json.loads(line) for line in (tmp_path / "two" / "log.jsonl").read_text().splitlines()]
    assert torch.allclose(torch.tensor([l["loss"] for l in one]), torch.tensor([l["loss"] for l in two]), atol=1e-5)
