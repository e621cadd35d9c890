"""`openeyes train encoder` under 2 gloo processes equals 1 process at the same global batch."""
import subprocess
import sys

import pytest
from safetensors.torch import load_file

from encoder_recipe_settings import TINY

LAUNCH = [sys.executable, "-m", "openeyes.trainer.launch", "--multi_gpu", "--num_processes", "2",
          "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29617"]


def _run(tmp_path, name, launcher, per_process_batch):
    overrides = [o for o in TINY if not o.startswith("trainer.batch_size")] + [
        f"trainer.batch_size={per_process_batch}", "objectives=[{name: clip}, {name: saco, options: {mode: continue}}]",
        f"trainer.out_dir={tmp_path / name / 'run'}", f"out={tmp_path / name / 'artifact'}", "optim.grad_clip=1.0",
        "optim.lr=1e-3"]  # Adam turns float-rounding noise in near-zero gradients into lr-sized steps
    command = [*launcher, "-m", "openeyes.training.cli", "encoder", *overrides]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=240)
    return load_file(tmp_path / name / "artifact" / "model.safetensors")


@pytest.mark.slow
def test_two_processes_match_one(tmp_path):
    single = _run(tmp_path, "one", [sys.executable], per_process_batch=8)
    double = _run(tmp_path, "two", LAUNCH, per_process_batch=4)
    assert single.keys() == double.keys()
    worst = max((single[k].float() - double[k].float()).abs().max().item() for k in single)
    assert worst < 1e-5, worst
