"""Typed configs of the generic trainer: the optimizer/schedule and the loop itself.

Both load with ``openeyes.config.load_config`` (YAML + ``key=value`` overrides); recipes nest
them in their own configs (``optim.lr=3e-4``, ``trainer.steps=2000``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from openeyes.errors import UserError


@dataclass
class OptimConfig:
    """AdamW with linear warmup then a cosine (or constant) learning-rate schedule."""

    lr: float = 1e-4  # peak learning rate, reached at the end of warmup
    betas: tuple[float, float] = (0.9, 0.98)  # AdamW (beta1, beta2); CLIP uses 0.98 for beta2
    eps: float = 1e-6  # AdamW epsilon
    weight_decay: float = 0.1  # decoupled weight decay on matrices only (never norms/biases/temperatures)
    warmup_steps: int = 0  # linear warmup length in optimizer steps; 0 -> use warmup_ratio
    warmup_ratio: float = 0.0  # warmup as a fraction of TrainerConfig.steps when warmup_steps is 0
    schedule: Literal["cosine", "constant"] = "cosine"  # shape after warmup
    min_lr_ratio: float = 0.0  # cosine floor as a fraction of lr (0 decays to zero)
    grad_clip: float = 1.0  # max global grad norm; 0 disables clipping

    def warmup_for(self, total_steps: int) -> int:
        """The warmup length in steps for a run of ``total_steps`` optimizer steps."""
        if self.warmup_steps > 0:
            return self.warmup_steps
        return int(round(self.warmup_ratio * total_steps))

    def validate(self) -> None:
        if self.lr <= 0:
            raise UserError(f"optim.lr must be > 0, got {self.lr}")
        if self.warmup_steps < 0 or not 0.0 <= self.warmup_ratio < 1.0:
            raise UserError("optim.warmup_steps must be >= 0 and optim.warmup_ratio in [0, 1)")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise UserError(f"optim.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        if self.weight_decay < 0 or self.grad_clip < 0:
            raise UserError("optim.weight_decay and optim.grad_clip must be >= 0")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise UserError(f"optim.betas must be two numbers in [0, 1), got {self.betas}")


@dataclass
class TrainerConfig:
    """The loop: length, batching, precision, checkpoints, logging, resume."""

    steps: int = 1000  # optimizer steps to train (the schedule spans exactly these)
    batch_size: int = 32  # samples per process per micro-batch; global = batch_size * processes * grad_accum
    grad_accum: int = 1  # micro-batches accumulated into one optimizer step
    mixed_precision: Literal["no", "bf16", "fp16", "auto"] = "no"  # autocast dtype; fp16 adds a grad scaler (meant for GPUs); auto: bf16 where native (trainer.precision)
    gradient_checkpointing: bool = False  # call gradient_checkpointing_enable() on the model (or its parts)
    seed: int = 0  # seeds the data order and, per process (seed + rank), torch/numpy/python RNGs
    checkpoint_every: int = 500  # save a resumable checkpoint every N optimizer steps; 0 -> only at the end
    keep_checkpoints: int = 2  # how many of the newest checkpoints to keep (>= 1)
    log_every: int = 10  # write log.jsonl / TensorBoard every N optimizer steps
    out_dir: str = ""  # run folder: checkpoints/, log.jsonl, tensorboard/, summary.json; "" -> recipes use <out>.run
    resume: str = "no"  # "no": a new run (refused if out_dir holds checkpoints); "auto": latest checkpoint of out_dir; or a checkpoint path
    force_resume: bool = False  # resume even when the checkpoint's config differs from this run's (steps aside)
    progress_bar: bool = True  # tqdm bar on the main process
    num_workers: int = 0  # DataLoader worker processes (0 loads in the training process)
    find_unused_parameters: bool = False  # DDP: allow trainable parameters that get no gradient in a step

    def place_beside(self, artifact: str | Path) -> None:
        """Unset ``out_dir``: the run folder ``<artifact>.run`` next to the artifact it makes."""
        if not self.out_dir:
            self.out_dir = str(Path(artifact).with_name(Path(artifact).name + ".run"))
        if Path(self.out_dir).resolve() == Path(artifact).resolve():
            raise UserError("trainer.out_dir (checkpoints, logs) must differ from out (the artifact)")

    def validate(self) -> None:
        for name in ("steps", "batch_size", "grad_accum", "log_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise UserError(f"trainer.{name} must be >= 1, got {getattr(self, name)}")
        if self.checkpoint_every < 0 or self.num_workers < 0:
            raise UserError("trainer.checkpoint_every and trainer.num_workers must be >= 0")
