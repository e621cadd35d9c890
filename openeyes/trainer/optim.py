"""AdamW with weight-decay parameter groups and a warmup + cosine/constant schedule.

Weight decay applies to matrices (linear/conv/attention weights) only. Norm gains, biases,
other 1-D or scalar parameters (class embeddings, gates) and temperature-like scalars
(``logit_scale``, ``temperature``, ``logit_bias``) are never decayed: decaying a log
temperature would pull the CLIP logit scale towards exp(0) = 1.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

from openeyes.trainer.config import OptimConfig

NO_DECAY_KEYWORDS = ("logit_scale", "temperature", "logit_bias")


def is_no_decay(name: str, param: torch.Tensor, extra_keywords: Iterable[str] = ()) -> bool:
    """Whether parameter ``name`` is excluded from weight decay."""
    if param.ndim < 2:  # norms, biases, 1-D embeddings, scalars
        return True
    return any(keyword in name for keyword in (*NO_DECAY_KEYWORDS, *extra_keywords))


def weight_decay_groups(
    named_parameters: Iterable[tuple[str, nn.Parameter]],
    weight_decay: float,
    extra_no_decay: Iterable[str] = (),
) -> list[dict]:
    """Split trainable parameters into a decayed and a non-decayed AdamW group.

    Frozen parameters (``requires_grad=False``) are left out. Each group carries
    ``param_names`` (in parameter order) so that tests and logs can see the split; empty
    groups are dropped.
    """
    extra_no_decay = tuple(extra_no_decay)
    decay: dict[str, list] = {"params": [], "param_names": [], "weight_decay": weight_decay}
    no_decay: dict[str, list] = {"params": [], "param_names": [], "weight_decay": 0.0}
    seen: set[int] = set()
    for name, param in named_parameters:
        if not param.requires_grad or id(param) in seen:  # frozen, or tied to one already listed
            continue
        seen.add(id(param))
        group = no_decay if is_no_decay(name, param, extra_no_decay) else decay
        group["params"].append(param)
        group["param_names"].append(name)
    return [group for group in (decay, no_decay) if group["params"]]


def build_optimizer(named_parameters: Iterable[tuple[str, nn.Parameter]], config: OptimConfig) -> torch.optim.AdamW:
    groups = weight_decay_groups(named_parameters, config.weight_decay)
    if not groups:
        raise ValueError("no trainable parameters: every parameter is frozen")
    return torch.optim.AdamW(groups, lr=config.lr, betas=tuple(config.betas), eps=config.eps)


class WarmupSchedule:
    """LR multiplier at optimizer step ``s`` (0-based): linear warmup, then cosine or flat.

    warmup:  (s + 1) / W                                     for s < W
    cosine:  m + (1 - m) * (1 + cos(pi * (s - W) / (T - W))) / 2   afterwards, m = min_lr_ratio
    A plain object (not a lambda) so that ``LambdaLR.state_dict`` saves it as numbers.
    """

    def __init__(self, total_steps: int, warmup_steps: int, schedule: str = "cosine", min_lr_ratio: float = 0.0):
        if schedule not in ("cosine", "constant"):
            raise ValueError(f"unknown schedule {schedule!r}; expected 'cosine' or 'constant'")
        self.total_steps = total_steps
        self.warmup_steps = min(warmup_steps, total_steps)
        self.schedule = schedule
        self.min_lr_ratio = min_lr_ratio

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if self.schedule == "constant":
            return 1.0
        span = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        return self.min_lr_ratio + (1.0 - self.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(optimizer: torch.optim.Optimizer, config: OptimConfig, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    rule = WarmupSchedule(total_steps, config.warmup_for(total_steps), config.schedule, config.min_lr_ratio)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, rule)


def settings_of(optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LambdaLR) -> tuple[list[dict], dict]:
    """This run's optimizer hyperparameters and schedule, captured before a checkpoint overwrites them."""
    groups = [{key: value for key, value in group.items() if key != "params"} for group in optimizer.param_groups]
    return groups, scheduler.state_dict()


def reapply_settings(optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LambdaLR,
                     settings: tuple[list[dict], dict]) -> None:
    """After loading a checkpoint: keep its progress (step, Adam moments), follow this run's settings.

    A checkpoint's scheduler holds the old peak lr, warmup and length; without this a resumed run
    that extends ``trainer.steps`` or changes ``optim.*`` (forced) would silently keep the old ones.
    With the same settings the learning rates come out bit-identical (exact resume).
    """
    groups, schedule = settings
    progress = scheduler.last_epoch, getattr(scheduler, "_step_count", None)
    scheduler.load_state_dict(schedule)
    scheduler.last_epoch = progress[0]
    if progress[1] is not None:
        scheduler._step_count = progress[1]
    for group, hyper, base, rule in zip(optimizer.param_groups, groups, scheduler.base_lrs, scheduler.lr_lambdas):
        group.update(hyper)
        group["lr"] = base * rule(scheduler.last_epoch)
    scheduler._last_lr = [group["lr"] for group in optimizer.param_groups]
