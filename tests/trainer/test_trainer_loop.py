"""The generic loop in one CPU process: logs, checkpoints, export, resume, accumulation, freezing."""
import json
import shutil
from pathlib import Path

import pytest
import torch
from torch import nn

from openeyes.errors import UserError
from openeyes.trainer.checkpoint import list_checkpoints
from openeyes.trainer.config import OptimConfig, TrainerConfig
from openeyes.trainer.loop import Trainer
from trainer_toy import ToyPair, ToyPairs, contrastive_loss


def make_trainer(out_dir, model=None, loss_fn=contrastive_loss, optim=None, **overrides):
    settings = dict(steps=8, batch_size=8, checkpoint_every=4, keep_checkpoints=2, log_every=2,
                    out_dir=str(out_dir), resume="auto", progress_bar=False, seed=1)
    settings.update(overrides.pop("config", {}))
    return Trainer(TrainerConfig(**settings), optim or OptimConfig(lr=3e-3, warmup_steps=2),
                   model or ToyPair(), loss_fn, ToyPairs(48), **overrides)


def weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_logs_every_term_checkpoints_and_exports(tmp_path):
    exported = []
    model = ToyPair()
    summary = make_trainer(tmp_path, model, config={"steps": 30, "checkpoint_every": 10},
                           export=lambda m, out, s: exported.append((m, out, s))).train()
    lines = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == list(range(2, 31, 2))
    assert {"lr", "loss", "clip", "_accuracy", "_grad_norm", "seconds"} <= set(lines[0])
    assert lines[-1]["loss"] < lines[0]["loss"]  # it learns
    assert lines[0]["lr"] == pytest.approx(3e-3)  # the lr used by step 2, the last warmup step
    assert lines[-1]["lr"] < lines[5]["lr"] < lines[0]["lr"]  # cosine decay
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_0000020", "step_0000030"]
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert summary["steps"] == 30 and summary["start_step"] == 0 and summary["global_batch"] == 8
    assert summary["last"]["loss"] == lines[-1]["loss"]
    assert json.loads((tmp_path / "summary.json").read_text())["samples_seen"] == 240
    assert len(exported) == 1 and exported[0][0] is model and exported[0][1] == tmp_path


def test_resume_from_a_checkpoint_needs_its_rng_state(tmp_path):
    full = ToyPair()
    make_trainer(tmp_path / "full", full, config={"resume": "never"}).train()
    for name, keep_rng in (("resumed", True), ("no_rng", False)):
        run = tmp_path / name
        shutil.copytree(tmp_path / "full" / "checkpoints" / "step_0000004", run / "checkpoints" / "step_0000004")
        if not keep_rng:
            (run / "checkpoints" / "step_0000004" / "rng_rank0.pt").unlink()
        model = ToyPair(seed=99)  # different init: the checkpoint must overwrite it
        summary = make_trainer(run, model).train()
        assert summary["start_step"] == 4
        same = all(torch.equal(a, b) for a, b in zip(weights(model).values(), weights(full).values()))
        assert same is keep_rng  # dropout + augmentation replay only with the saved RNG


def test_resume_choices(tmp_path):
    make_trainer(tmp_path, config={"steps": 4}).train()
    with pytest.raises(UserError, match="already holds an earlier run"):  # a new run never reuses a used folder
        make_trainer(tmp_path, config={"steps": 4, "resume": "no"}).train()
    explicit = make_trainer(tmp_path / "other", config={"steps": 4, "resume": str(tmp_path / "checkpoints" / "step_0000004")})
    assert explicit.train()["start_step"] == 4
    with pytest.raises(UserError, match="not a complete checkpoint"):
        make_trainer(tmp_path / "x", config={"resume": str(tmp_path / "missing")}).train()
    (tmp_path / "checkpoints" / ".tmp_step_0000008").mkdir()  # left by a killed save
    make_trainer(tmp_path, config={"steps": 4}).train()
    assert not (tmp_path / "checkpoints" / ".tmp_step_0000008").exists()


class HeadObjective(nn.Module):
    """An objective with its own trainable head (like CLIPin's or xCLIP's heads)."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(8, 8)

    def forward(self, model, batch):
        terms = contrastive_loss(model, batch, augment=0.0)
        extra = self.head(model.image(batch["image"])).pow(2).mean()
        return {**terms, "loss": terms["loss"] + 0.1 * extra, "head": extra, "_batch_size": torch.tensor(float(len(batch["index"])))}


def test_objective_module_trains_and_checkpoints_and_filter_freezes(tmp_path):
    model, objective = ToyPair(), HeadObjective()
    text_before, head_before = weights(model.text), weights(objective.head)
    summary = make_trainer(
        tmp_path, model, loss_fn=objective, config={"steps": 4, "grad_accum": 2, "batch_size": 4},
        param_filter=lambda name, p: not name.startswith("model.text."),
    ).train()
    assert summary["global_batch"] == 8 and summary["last"]["_batch_size"] == 4.0
    assert all(torch.equal(a, b) for a, b in zip(weights(model.text).values(), text_before.values()))
    assert not torch.equal(objective.head.weight, head_before["weight"])
    from safetensors import safe_open

    with safe_open(str(tmp_path / "checkpoints" / "step_0000004" / "model.safetensors"), "pt") as handle:
        keys = set(handle.keys())
    assert "objective.head.weight" in keys and "model.image.0.weight" in keys


def test_checkpoint_filter_stores_only_what_changes_and_resumes_exactly(tmp_path):
    """A frozen tower left out of checkpoints is rebuilt by the run; the resumed run equals an uninterrupted one."""
    frozen = lambda name, p: not name.startswith("model.text.")  # noqa: E731
    skip_text = lambda name: not name.startswith("model.text.")  # noqa: E731
    full = ToyPair()
    make_trainer(tmp_path / "full", full, config={"resume": "never"}, param_filter=frozen, checkpoint_filter=skip_text).train()
    from safetensors import safe_open

    with safe_open(str(tmp_path / "full" / "checkpoints" / "step_0000008" / "model.safetensors"), "pt") as handle:
        keys = set(handle.keys())
    assert keys and not any(k.startswith("model.text.") for k in keys) and "model.image.0.weight" in keys

    run = tmp_path / "resumed"
    shutil.copytree(tmp_path / "full" / "checkpoints" / "step_0000004", run / "checkpoints" / "step_0000004")
    model = ToyPair()  # the run rebuilds the frozen tower as before (same seed)
    with torch.no_grad():
        model.image[0].weight.add_(1.0)  # trained entries must come from the checkpoint
    summary = make_trainer(run, model, param_filter=frozen, checkpoint_filter=skip_text).train()
    assert summary["start_step"] == 4
    assert all(torch.equal(a, b) for a, b in zip(weights(model).values(), weights(full).values()))


def test_bf16_autocast_on_cpu(tmp_path):
    summary = make_trainer(tmp_path, config={"steps": 3, "mixed_precision": "bf16"}).train()
    assert torch.isfinite(torch.tensor(summary["last"]["loss"]))


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="'loss'"):
        make_trainer(tmp_path / "a", loss_fn=lambda m, b: {"clip": contrastive_loss(m, b)["loss"]}).train()
    with pytest.raises(UserError, match="gradient_checkpointing"):
        make_trainer(tmp_path / "b", config={"gradient_checkpointing": True}).train()
    with pytest.raises(UserError, match="fewer than one global micro-batch"):
        make_trainer(tmp_path / "c", config={"batch_size": 64}).train()
