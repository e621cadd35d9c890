"""The resumable zoo chains (zoo/build_world_dcr.sh) end to end at toy scale: zoo:tiny-prior, legs of a
few steps, one held-out world of a few dozen items. Checks what a long CPU build relies on: every leg
leaves its report and evaluation, a rerun redoes nothing, a fresh folder resumes from the committed
state, and a chain refuses to continue on a prior other than its own."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOY = {"PRIOR": "zoo:tiny-prior", "STAGE1_LEGS": "2 4", "STAGE2_LEGS": "2 4", "MODES": "lora", "SEEDS": "0",
       "WORLDS": "100", "N": "90", "SCATTER_TIMESTEPS": "100", "STAGE2_MIN": "2", "PUBLISH": "", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
       "EXTRA": "stage1.trainer.batch_size=4 stage2.trainer.batch_size=4 stage1.trainer.log_every=1 "
                "stage2.trainer.log_every=1 stage1.trainer.checkpoint_every=2 stage2.trainer.checkpoint_every=2"}


def chain(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **TOY, "OUT": str(tmp_path / "out"), "RESULTS": str(tmp_path / "results"),
           "STATE": str(tmp_path / "state"), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", **settings}
    return subprocess.run(["bash", "zoo/build_world_dcr.sh"], cwd=ROOT, env=env, capture_output=True, text=True)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_dcr_chain_reports_every_leg_resumes_and_refuses_another_prior(tmp_path):
    first = chain(tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    results = tmp_path / "results"
    stage1 = lines(results / "stage1.jsonl")
    assert [r["leg"] for r in stage1] == [2, 4] and all(0 < r["dcr"] < 2 and "binding" in r for r in stage1)
    stage2 = lines(results / "stage2.jsonl")
    assert [(r["mode"], r["seed"], r["leg"]) for r in stage2][0] == ("lora", 0, 2) and all(r["step"] == r["leg"] for r in stage2)
    assert len(stage2) == 2  # a plateau is judged from the second leg on
    for name in ("base-w100", "lora-0-leg2-w100"):
        summary = json.loads((results / "eval" / name / "summary.json").read_text())
        assert "mmvp_vlm" in json.dumps(summary)
    assert not list((results / "eval" / "lora-0-leg2-w100").rglob("*.png"))  # pruned, the base keeps its plots
    assert json.loads((results / "table" / "comparison.json").read_text())["labels"] == ["base", "dcr-lora"]
    assert json.loads((results / "table-legs" / "comparison.json").read_text())["labels"] == ["base", "lora-2", "lora-4"]
    assert "| dcr-lora (n=1) |" in (results / "table" / "patterns.md").read_text()
    assert "| dcr-lora (n=1) |" in (results / "table" / "paired.md").read_text()  # minus the base on the same world
    assert sorted(p.name for p in (results / "drift").glob("*.json")) == ["lora-0-leg2.json", "lora-0-leg4.json"]
    drift = json.loads((results / "drift" / "lora-0-leg4.json").read_text())
    assert drift["relative_weight_change"] >= 0 and 0.9 < drift["embedding_cosine"] <= 1.0 + 1e-6 and drift["per_pattern"]
    scatters = sorted(p.name for p in (results / "theorem1").glob("*.json"))
    assert scatters == ["lora-0-leg-4-t100.json"]
    scatter = json.loads((results / "theorem1" / scatters[0]).read_text())["models"]
    assert set(scatter) == {"base", "dcr"} and all(0 < m["noise"]["ratio"] and m["timestep"] == 100 for m in scatter.values())
    state = tmp_path / "state"
    assert (state / "stage1-leg-4.done").is_file() and (state / "prior.sha").is_file()
    assert list((state / "s1" / "stage1" / "checkpoints").glob("step_*"))

    again = chain(tmp_path)  # a rerun: every leg is done, nothing trains again
    assert again.returncode == 0 and "train:" not in again.stderr and len(lines(results / "stage2.jsonl")) == len(stage2)

    (tmp_path / "out").rename(tmp_path / "elsewhere")  # a fresh clone: only the committed state
    resumed = chain(tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "restored" in resumed.stdout and len(lines(results / "stage2.jsonl")) == len(stage2)

    other = chain(tmp_path, PRIOR="zoo:world-prior")
    assert other.returncode == 2 and other.stderr.count("\n") == 1 and "another zoo:world-prior" in other.stderr


def test_plugin_chain_trains_evaluates_tabulates_and_reruns_nothing(tmp_path):
    env = {**os.environ, "OBJECTIVES": "saco", "SEEDS": "0", "STEPS": "2", "WORLDS": "100", "N": "90",
           "EXTRA": "trainer.batch_size=8 trainer.log_every=1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "OUT": str(tmp_path / "out"), "RESULTS": str(tmp_path / "results"), "BASE_EVAL": str(tmp_path / "base"),
           "WORLD_ROOT": str(tmp_path / "world"), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    first = subprocess.run(["bash", "zoo/build_world_plugins.sh"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr[-3000:]
    assert (tmp_path / "out" / "models" / "saco-0-2" / "openeyes.json").is_file()
    assert list((tmp_path / "base" / "base-w100").rglob("*.png"))  # the base keeps its plots, the runs are pruned
    assert not list((tmp_path / "results" / "eval" / "saco-0-2-w100").rglob("*.png"))
    table = json.loads((tmp_path / "results" / "table-2" / "comparison.json").read_text())
    assert table["labels"] == ["base", "saco"]
    patterns = (tmp_path / "results" / "table-2" / "patterns.md").read_text()
    assert "Orientation" in patterns and "| saco (n=1) |" in patterns
    assert "| saco (n=1) |" in (tmp_path / "results" / "table-2" / "paired.md").read_text()
    again = subprocess.run(["bash", "zoo/build_world_plugins.sh"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert again.returncode == 0 and "train:" not in again.stderr and "world generate" not in again.stderr
    shutil.rmtree(tmp_path / "out")  # a fresh machine: the committed results alone say the run is done
    fresh = subprocess.run(["bash", "zoo/build_world_plugins.sh"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert fresh.returncode == 0 and "train:" not in fresh.stderr and "| saco (n=1) |" in fresh.stdout


def test_mllm_chain_swaps_retrains_evaluates_and_names_a_missing_dcr_encoder(tmp_path):
    env = {**os.environ, "ENCODERS": "base", "SEEDS": "0", "WORLDS": "100", "N": "12", "SWAP_STEPS": "2",
           "TRAIN_N": "24", "EXTRA": "trainer.batch_size=4 trainer.log_every=1", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "OUT": str(tmp_path / "out"), "RESULTS": str(tmp_path / "results"),
           "TRAIN_WORLD": str(tmp_path / "train-world"), "DCR": str(tmp_path / "no-dcr"),
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    first = subprocess.run(["bash", "zoo/build_world_mllm.sh"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr[-3000:]
    mllm = tmp_path / "out" / "models" / "base-0"
    assert (mllm / "encoder.txt").read_text().strip() == "zoo:tiny-clip"
    summary = json.loads((tmp_path / "results" / "eval" / "base-0-w100" / "summary.json").read_text())
    assert {"mmvp", "pope", "cv_bench"} <= set(summary)
    table = json.loads((tmp_path / "results" / "table" / "comparison.json").read_text())
    assert table["labels"] == ["base"]
    again = subprocess.run(["bash", "zoo/build_world_mllm.sh"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert again.returncode == 0 and "train:" not in again.stderr
    shutil.rmtree(tmp_path / "out")  # a fresh machine: the committed results alone say the swap is done
    fresh = subprocess.run(["bash", "zoo/build_world_mllm.sh"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert fresh.returncode == 0 and "train:" not in fresh.stderr and "| base (n=1) |" in fresh.stdout

    missing = subprocess.run(["bash", "zoo/build_world_mllm.sh"], cwd=ROOT, env={**env, "ENCODERS": "lora"},
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "no DCR encoder in" in missing.stderr and missing.stderr.count("\n") == 1


def test_dcr_chain_trains_the_full_tower_at_its_own_learning_rate(tmp_path):
    run = chain(tmp_path, MODES="full", STAGE1_LEGS="2", STAGE2_LEGS="2", EVAL="0", FULL_LR="3e-05")
    assert run.returncode == 0, run.stderr[-3000:]
    saved = tmp_path / "out" / "s2-full-0" / "stage2" / "checkpoints"
    config = json.loads(next(saved.glob("step_*/state.json")).read_text())["config"]
    state = tmp_path / "state" / "s2-full-0"  # a finished run's state keeps its markers, not its optimizer
    assert (state / "finished.done").is_file() and not (state / "stage2").exists()
    assert config["lora"]["enabled"] is False and config["optim"]["lr"] == 3e-05
