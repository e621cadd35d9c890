"""Weight-decay groups and the warmup + cosine/constant schedule."""
import math

import pytest
import torch
from torch import nn

from openeyes.config import load_config
from openeyes.errors import UserError
from openeyes.trainer.config import OptimConfig, TrainerConfig
from openeyes.trainer.optim import WarmupSchedule, build_optimizer, build_scheduler, weight_decay_groups


class Tower(nn.Module):
    def __init__(self):
        super().__init__()
        self.token_embedding = nn.Embedding(10, 4)
        self.class_embedding = nn.Parameter(torch.zeros(4))
        self.proj = nn.Linear(4, 4)
        self.norm = nn.LayerNorm(4)
        self.logit_scale = nn.Parameter(torch.ones([]))
        self.temperature = nn.Parameter(torch.ones(1, 1))  # 2-D but a temperature
        self.head_logit_bias = nn.Parameter(torch.zeros(2, 2))
        self.frozen = nn.Linear(4, 4)
        self.frozen.requires_grad_(False)


def test_groups_decay_matrices_only():
    groups = weight_decay_groups(Tower().named_parameters(), weight_decay=0.2)
    decay, no_decay = groups
    assert decay["weight_decay"] == 0.2 and no_decay["weight_decay"] == 0.0
    assert sorted(decay["param_names"]) == ["proj.weight", "token_embedding.weight"]
    assert sorted(no_decay["param_names"]) == sorted([
        "class_embedding", "proj.bias", "norm.weight", "norm.bias", "logit_scale", "temperature", "head_logit_bias",
    ])
    assert all(not name.startswith("frozen") for g in groups for name in g["param_names"])


def test_tied_parameters_listed_once_and_optimizer_accepts_groups():
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3))
    model[1].weight = model[0].weight
    optimizer = build_optimizer(model.named_parameters(), OptimConfig(lr=0.1, weight_decay=0.5))
    ids = [id(p) for group in optimizer.param_groups for p in group["params"]]
    assert len(ids) == len(set(ids)) == 3
    assert optimizer.param_groups[0]["weight_decay"] == 0.5
    with pytest.raises(ValueError):
        build_optimizer(nn.Linear(2, 2).requires_grad_(False).named_parameters(), OptimConfig())


def test_no_decay_parameter_keeps_value_under_decay():
    model = Tower()
    optimizer = build_optimizer(model.named_parameters(), OptimConfig(lr=0.5, weight_decay=1.0))
    before_scale, before_proj = model.logit_scale.detach().clone(), model.proj.weight.detach().clone()
    for p in model.parameters():
        p.grad = torch.zeros_like(p) if p.requires_grad else None
    optimizer.step()  # zero gradients: only weight decay moves parameters
    assert torch.equal(model.logit_scale, before_scale)
    assert torch.allclose(model.proj.weight, before_proj * (1 - 0.5 * 1.0))


def test_warmup_cosine_values():
    rule = WarmupSchedule(total_steps=10, warmup_steps=2, schedule="cosine", min_lr_ratio=0.1)
    assert rule(0) == pytest.approx(0.5) and rule(1) == pytest.approx(1.0)
    assert rule(2) == pytest.approx(1.0)
    assert rule(6) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 4 / 8)))
    assert rule(10) == pytest.approx(0.1)
    flat = WarmupSchedule(total_steps=10, warmup_steps=0, schedule="constant")
    assert [flat(s) for s in (0, 5, 9)] == [1.0, 1.0, 1.0]


def test_scheduler_from_warmup_ratio_and_state_round_trip():
    config = OptimConfig(lr=1.0, warmup_ratio=0.25, schedule="cosine")
    param = nn.Parameter(torch.zeros(2, 2))
    optimizer = build_optimizer([("w", param)], config)
    scheduler = build_scheduler(optimizer, config, total_steps=8)  # warmup 2 steps
    lrs = []
    for _ in range(8):
        lrs.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert lrs[:3] == pytest.approx([0.5, 1.0, 1.0])
    assert all(a >= b for a, b in zip(lrs[1:], lrs[2:]))
    state = torch.load(_saved(scheduler.state_dict()), weights_only=True)
    again = build_scheduler(build_optimizer([("w", param)], config), config, total_steps=8)
    again.load_state_dict(state)
    assert again.get_last_lr() == scheduler.get_last_lr()


def _saved(state):
    import io

    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return buffer


def test_configs_load_from_overrides_and_validate():
    config = load_config(OptimConfig, None, ["lr=3e-4", "betas=[0.9, 0.95]", "schedule=constant"])
    assert config.lr == 3e-4 and config.betas == (0.9, 0.95)
    with pytest.raises(UserError):
        load_config(OptimConfig, None, ["schedule=linear"])
    with pytest.raises(UserError):
        load_config(TrainerConfig, None, ["mixed_precision=fp8"])
    with pytest.raises(UserError):
        TrainerConfig(steps=0).validate()
    with pytest.raises(UserError):
        OptimConfig(min_lr_ratio=2.0).validate()
