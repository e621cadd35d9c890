"""Resume only when asked, and only with the config the checkpoint was made with (openeyes.trainer.resume)."""
import json

import pytest
import torch

from openeyes.errors import UserError
from openeyes.trainer.config import OptimConfig, TrainerConfig
from openeyes.trainer.loop import Trainer
from openeyes.trainer.resume import config_differences
from trainer_toy import ToyPair, ToyPairs, contrastive_loss


def run(out_dir, lr=3e-3, steps=4, model=None, **config):
    settings = {**dict(steps=steps, batch_size=8, checkpoint_every=2, log_every=2, out_dir=str(out_dir),
                       progress_bar=False, seed=1), **config}
    model = model or ToyPair()
    summary = Trainer(TrainerConfig(**settings), OptimConfig(lr=lr, warmup_steps=1), model, contrastive_loss,
                      ToyPairs(48), run_config={"data": {"size": 48}}).train()
    return summary, model


def test_a_new_run_refuses_a_folder_holding_checkpoints(tmp_path):
    run(tmp_path)
    with pytest.raises(UserError) as refused:
        run(tmp_path, lr=1e-4)
    message = str(refused.value)
    assert "\n" not in message and "step 4" in message and "--resume" in message and "trainer.out_dir" in message


def test_explicit_resume_says_from_which_step_and_may_extend_the_steps(tmp_path, capsys):
    run(tmp_path, steps=4)
    capsys.readouterr()
    summary, _ = run(tmp_path, steps=6, resume="auto")
    printed = capsys.readouterr().out
    assert f"resuming from step 4 of {tmp_path}" in printed
    assert summary["start_step"] == 4 and summary["steps"] == 6
    logged = {line["step"]: line["lr"] for line in map(json.loads, (tmp_path / "log.jsonl").read_text().splitlines())}
    assert logged[6] > 1e-4  # the cosine now spans 6 steps (the checkpoint's 4-step schedule would give lr 0 here)


def test_resume_with_another_config_is_refused_naming_the_keys_unless_forced(tmp_path, capsys):
    _, first = run(tmp_path, lr=3e-3)
    with pytest.raises(UserError) as refused:
        run(tmp_path, lr=1e-4, resume="auto")
    message = str(refused.value)
    assert "\n" not in message and "optim.lr (0.003 -> 0.0001)" in message and "--force-resume" in message
    with pytest.raises(UserError, match=r"trainer\.seed \(1 -> 2\)"):
        run(tmp_path, resume="auto", seed=2)

    capsys.readouterr()
    forced, model = run(tmp_path, lr=1e-4, steps=6, resume="auto", force_resume=True)
    printed = capsys.readouterr().out
    assert "optim.lr" in printed and "resuming from step 4" in printed
    assert forced["start_step"] == 4 and forced["optim"]["lr"] == 1e-4
    assert not torch.equal(model.image[0].weight, first.image[0].weight)  # it trained on from the checkpoint


def test_resume_from_an_explicit_checkpoint_path_in_another_folder(tmp_path, capsys):
    run(tmp_path / "a")
    summary, _ = run(tmp_path / "b", steps=6, resume=str(tmp_path / "a" / "checkpoints" / "step_0000002"))
    assert summary["start_step"] == 2
    assert f"resuming from step 2 of {tmp_path / 'a'}" in capsys.readouterr().out


def test_auto_without_a_checkpoint_starts_a_new_run_and_says_so(tmp_path, capsys):
    summary, _ = run(tmp_path, resume="auto")
    assert summary["start_step"] == 0 and "no checkpoint in" in capsys.readouterr().out


def test_checkpoint_records_the_config_and_bookkeeping_keys_are_not_compared(tmp_path):
    run(tmp_path)
    state = json.loads((tmp_path / "checkpoints" / "step_0000004" / "state.json").read_text())
    recorded = state["config"]
    assert recorded["optim"]["lr"] == 3e-3 and recorded["data"] == {"size": 48} and recorded["trainer"]["global_batch"] == 8
    changed = json.loads(json.dumps(recorded))
    changed["trainer"].update(steps=99, out_dir="elsewhere", log_every=7, progress_bar=True, resume="auto")
    changed["out"] = "another/artifact"
    assert config_differences(recorded, changed) == []
    changed["trainer"]["global_batch"] = 16
    changed["objectives"] = [{"name": "saco"}]
    assert config_differences(recorded, changed) == ["objectives (unset -> [{\"name\": \"saco\"}])",
                                                     "trainer.global_batch (8 -> 16)"]


def test_a_run_may_resume_in_bf16_fp32_or_auto_but_not_move_to_fp16(tmp_path, capsys):
    run(tmp_path, mixed_precision="bf16")
    summary, _ = run(tmp_path, steps=6, resume="auto", mixed_precision="auto")  # another host: same state, no scaler
    assert summary["start_step"] == 4
    summary, _ = run(tmp_path, steps=8, resume="auto", mixed_precision="no")
    assert summary["start_step"] == 6
    recorded = json.loads((tmp_path / "checkpoints" / "step_0000008" / "state.json").read_text())["config"]
    moved = json.loads(json.dumps(recorded))
    moved["trainer"]["mixed_precision"] = "fp16"  # a grad scaler's state the checkpoint does not hold
    assert config_differences(recorded, moved) == ["trainer.mixed_precision (\"no\" -> \"fp16\")"]
