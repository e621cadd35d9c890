"""The generic training loop on ``accelerate``: one CPU process, DDP (``accelerate launch``), mixed precision.

The trainer knows nothing about encoders, priors or MLLMs. A recipe hands it
    model       the module whose weights train (and get exported)
    loss_fn     ``loss_fn(model, batch) -> {"loss": tensor, "<term>": tensor, "_<diagnostic>": tensor}``;
                ``loss`` is back-propagated, every term is logged by name. When ``loss_fn`` is itself
                an ``nn.Module`` (an objective with heads or EMA targets, e.g. ``Composite``), its
                parameters train and checkpoint with the model.
    dataset     map-style (random access) dataset; ``collate_fn`` turns a list of samples into a
                batch; dict batches get ``batch["index"]`` (long [B], dataset indices) added.
and optionally ``on_step_end(model, step)`` (EMA updates, temperature clamping; every process),
``param_filter(name, param) -> bool`` (names are ``model.<...>`` / ``objective.<...>``; the
rest is frozen) and ``export(model, out_dir, summary)`` (main process, after training: the
recipe writes its artifact and card there).

Data order: ``ShardedBatchSampler`` (global micro-batch m is the same whatever the number of
processes). Exact resume: model, objective, optimizer, scheduler, scaler, per-process RNG
and the data position come back from the latest checkpoint (``checkpoint.py``).
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, default_collate

from openeyes.artifacts import write_json_atomic
from openeyes.config import to_dict
from openeyes.errors import UserError
from openeyes.trainer.checkpoint import load_checkpoint, remove_partial_checkpoints, save_checkpoint
from openeyes.trainer.config import OptimConfig, TrainerConfig
from openeyes.trainer.freeze import enable_gradient_checkpointing, trainable_report
from openeyes.trainer.optim import build_optimizer, build_scheduler, reapply_settings, settings_of
from openeyes.trainer.resume import check_same_config, resolve_resume, run_folder_of
from openeyes.trainer.rng import seed_everything
from openeyes.trainer.run_log import RunLog
from openeyes.trainer.sampler import ShardedBatchSampler

LossFn = Callable[[nn.Module, dict], dict[str, torch.Tensor]]


class TrainingModule(nn.Module):
    """What the optimizer, DDP and checkpoints see: the model plus an objective that has state.

    ``forward(batch)`` runs ``loss_fn(model, batch)`` so that DDP's forward hooks wrap the
    whole loss computation, and the user's ``loss_fn`` receives the plain, unwrapped model.
    """

    def __init__(self, model: nn.Module, loss_fn: LossFn):
        super().__init__()
        self.model = model
        if isinstance(loss_fn, nn.Module):
            self.objective = loss_fn
        else:
            self.objective = None
            self._loss_fn = loss_fn  # a plain callable: not a submodule

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        loss_fn = self.objective if self.objective is not None else self._loss_fn
        return loss_fn(self.model, batch)


class _WithIndex(Dataset):
    """Yields ``(index, sample)`` so that the collate can add ``batch["index"]``."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        return index, self.dataset[index]


class _CollateWithIndex:
    def __init__(self, collate_fn: Callable[[list], Any]):
        self.collate_fn = collate_fn

    def __call__(self, items: list) -> Any:
        batch = self.collate_fn([sample for _, sample in items])
        if isinstance(batch, dict) and "index" not in batch:
            batch["index"] = torch.tensor([index for index, _ in items], dtype=torch.long)  # [B]
        return batch


class Trainer:
    """Trains ``model`` with ``loss_fn`` on ``dataset``; ``train()`` returns a summary dict."""

    def __init__(
        self,
        config: TrainerConfig,
        optim: OptimConfig,
        model: nn.Module,
        loss_fn: LossFn,
        dataset: Dataset,
        collate_fn: Callable[[list], Any] | None = None,
        *,
        on_step_end: Callable[[nn.Module, int], None] | None = None,
        param_filter: Callable[[str, nn.Parameter], bool] | None = None,
        export: Callable[[nn.Module, Path, dict], None] | None = None,
        run_info: dict[str, Any] | None = None,
        checkpoint_filter: Callable[[str], bool] | None = None,
        run_config: dict[str, Any] | None = None,
    ):
        if not config.out_dir:
            raise UserError("trainer.out_dir is empty: give the run folder (checkpoints, logs)")
        config.validate()
        optim.validate()
        self.config = config
        self.optim_config = optim
        self.model = model
        self.module = TrainingModule(model, loss_fn)
        self.dataset = dataset
        self.collate_fn = collate_fn or default_collate
        self.on_step_end = on_step_end
        self.param_filter = param_filter
        self.export = export
        # which state entries (names in the TrainingModule: "model.*", "objective.*") checkpoints store;
        # None: all. Leave out only what stays constant and is rebuilt identically (a frozen encoder / VAE).
        self.checkpoint_filter = checkpoint_filter
        self.run_info = run_info or {}  # extra facts copied into the summary (recipe name, data, ...)
        self.run_config = run_config or {}  # the recipe's full config: recorded in checkpoints, compared on resume
        self.out_dir = Path(config.out_dir)
        self.accelerator = _make_accelerator(config)

    # -- setup -----------------------------------------------------------------------------
    def _choose_trainable(self) -> None:
        if self.param_filter is not None:
            for name, param in self.module.named_parameters():
                if not self.param_filter(name, param):
                    param.requires_grad_(False)
        if self.config.gradient_checkpointing:
            enable_gradient_checkpointing(self.model)

    def _data_loader(self, start_micro_batch: int) -> DataLoader:
        accelerator = self.accelerator
        sampler = ShardedBatchSampler(
            len(self.dataset), self.config.batch_size, accelerator.num_processes, accelerator.process_index,
            seed=self.config.seed, start=start_micro_batch, stop=self.config.steps * self.config.grad_accum,
        )
        # A private generator: creating the iterator must not draw from the global RNG
        # (a resumed run creates it at a different point than an uninterrupted one).
        generator = torch.Generator().manual_seed(self.config.seed * 7919 + start_micro_batch)
        return DataLoader(
            _WithIndex(self.dataset), batch_sampler=sampler, collate_fn=_CollateWithIndex(self.collate_fn),
            num_workers=self.config.num_workers, generator=generator,
            pin_memory=accelerator.device.type == "cuda", persistent_workers=False,
        )

    # -- the loop --------------------------------------------------------------------------
    def train(self) -> dict[str, Any]:
        config, accelerator = self.config, self.accelerator
        seed_everything(config.seed + accelerator.process_index)
        self._choose_trainable()
        report = trainable_report(self.module)
        optimizer = build_optimizer(self.module.named_parameters(), self.optim_config)
        scheduler = build_scheduler(optimizer, self.optim_config, config.steps)
        wrapped, optimizer = accelerator.prepare(self.module, optimizer)

        if accelerator.is_main_process:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            remove_partial_checkpoints(self.out_dir)
        accelerator.wait_for_everyone()
        resume_from = resolve_resume(config.resume, self.out_dir)
        step, elapsed_before = 0, 0.0
        if resume_from is None and config.resume == "auto":
            accelerator.print(f"no checkpoint in {self.out_dir} to resume: a new run from step 0")
        if resume_from is not None:
            note = check_same_config(resume_from, self._recorded_config(), config.force_resume)
            if note:
                accelerator.print(note)
            settings = settings_of(optimizer, scheduler)
            state = load_checkpoint(resume_from, self.module, optimizer, scheduler, accelerator, self.checkpoint_filter)
            reapply_settings(optimizer, scheduler, settings)  # progress from the checkpoint, settings from this run
            accelerator.print(f"resuming from step {state['step']} of {run_folder_of(resume_from)}")
            step, elapsed_before = int(state["step"]), float(state.get("seconds", 0.0))
            if state.get("global_batch") != self._global_batch():
                accelerator.print(f"warning: resuming with global batch {self._global_batch()} "
                                  f"(checkpoint used {state.get('global_batch')})")
        start_step = step

        log = RunLog(self.out_dir, accelerator.is_main_process, start_step)
        bar = _progress_bar(config, accelerator.is_main_process, start_step)
        data = iter(self._data_loader(step * config.grad_accum))
        trainable = [p for p in wrapped.parameters() if p.requires_grad]
        started = time.time() - elapsed_before
        sums: dict[str, torch.Tensor] = {}  # term -> sum over micro-batches since the last log
        counts: dict[str, int] = {}
        last_logged: dict[str, Any] = {}
        last_checkpoint = resume_from
        wrapped.train()
        try:
            while step < config.steps:
                lr = scheduler.get_last_lr()[0]
                for _ in range(config.grad_accum):
                    batch = _to_device(next(data), accelerator.device)
                    with accelerator.accumulate(wrapped):
                        terms = wrapped(batch)
                        if "loss" not in terms:
                            raise ValueError(f"loss_fn must return a 'loss' term; got {sorted(terms)}")
                        accelerator.backward(terms["loss"])
                        if accelerator.sync_gradients and self.optim_config.grad_clip > 0:
                            grad_norm = accelerator.clip_grad_norm_(trainable, self.optim_config.grad_clip)
                            terms = {**terms, "_grad_norm": grad_norm}
                        optimizer.step()
                        optimizer.zero_grad(set_to_none=True)
                    for name, value in terms.items():
                        value = value.detach().float().mean()
                        sums[name] = sums[name] + value if name in sums else value
                        counts[name] = counts.get(name, 0) + 1
                scheduler.step()
                step += 1
                if self.on_step_end is not None:
                    self.on_step_end(self.model, step)

                if step % config.log_every == 0 or step == config.steps:
                    means = _mean_over_processes(accelerator, sums, counts)
                    last_logged = {"lr": lr, **means, "seconds": round(time.time() - started, 3)}
                    log.write(step, last_logged)
                    if bar is not None:
                        bar.set_postfix(loss=f"{means['loss']:.4f}", lr=f"{lr:.2e}")
                    sums, counts = {}, {}
                if bar is not None:
                    bar.update(1)
                if (config.checkpoint_every and step % config.checkpoint_every == 0) or step == config.steps:
                    last_checkpoint = save_checkpoint(
                        accelerator, self.out_dir, step, self.module, optimizer, scheduler,
                        self._checkpoint_state(step, time.time() - started), config.keep_checkpoints,
                        self.checkpoint_filter,
                    )
        finally:
            log.close()
            if bar is not None:
                bar.close()

        summary = self._summary(start_step, step, resume_from, last_checkpoint, last_logged,
                                time.time() - started, report)
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            write_json_atomic(self.out_dir / "summary.json", summary)
            if self.export is not None:
                self.export(self.model, self.out_dir, summary)
        accelerator.print(f"trained to step {step}; checkpoints, log.jsonl and summary.json in {self.out_dir}")
        accelerator.wait_for_everyone()
        return summary

    # -- bookkeeping -----------------------------------------------------------------------
    def _global_batch(self) -> int:
        return self.config.batch_size * self.accelerator.num_processes * self.config.grad_accum

    def _recorded_config(self) -> dict[str, Any]:
        """What a checkpoint records of this run, for the comparison on resume."""
        return {**self.run_config, "recipe": self.run_info.get("recipe"), "stage": self.run_info.get("stage"),
                "trainer": {**to_dict(self.config), "global_batch": self._global_batch()},
                "optim": to_dict(self.optim_config)}

    def _checkpoint_state(self, step: int, seconds: float) -> dict[str, Any]:
        return {
            "micro_batch": step * self.config.grad_accum,  # data position: next global micro-batch
            "global_batch": self._global_batch(),
            "num_processes": self.accelerator.num_processes,
            "seed": self.config.seed,
            "seconds": seconds,
            "config": self._recorded_config(),
        }

    def _summary(self, start_step, step, resume_from, last_checkpoint, last_logged, seconds, report) -> dict[str, Any]:
        return {
            "steps": step,
            "start_step": start_step,
            "resumed_from": str(resume_from) if resume_from else None,
            "num_processes": self.accelerator.num_processes,
            "global_batch": self._global_batch(),
            "samples_seen": step * self._global_batch(),
            "seconds": round(seconds, 3),
            "last": last_logged,
            "checkpoint": str(last_checkpoint) if last_checkpoint else None,
            "trainable_parameters": report.trainable,
            "total_parameters": report.total,
            "out_dir": str(self.out_dir),
            "trainer": to_dict(self.config),
            "optim": to_dict(self.optim_config),
            **self.run_info,
        }


def _make_accelerator(config: TrainerConfig):
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState
    from accelerate.utils import DistributedDataParallelKwargs

    from openeyes.trainer.precision import resolve_precision

    # Several trainers may run in one process (tests, recipe stages): forget the previous
    # trainer's precision/accumulation settings, keep the process group (PartialState).
    AcceleratorState._reset_state(reset_partial_state=False)
    # Launched as several processes on a machine without CUDA: accelerate only picks gloo
    # (MULTI_CPU) when told cpu=True; otherwise it would silently train each rank alone.
    multi_process_cpu = int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available()
    try:
        return Accelerator(
            cpu=multi_process_cpu,
            mixed_precision=resolve_precision(config.mixed_precision),
            gradient_accumulation_steps=config.grad_accum,
            step_scheduler_with_optimizer=False,
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=config.find_unused_parameters)],
        )
    except ValueError as problem:  # e.g. fp16 without a GPU
        raise UserError(f"trainer.mixed_precision={config.mixed_precision!r}: {problem}")


def _progress_bar(config: TrainerConfig, is_main: bool, start_step: int):
    if not (config.progress_bar and is_main):
        return None
    import sys

    from tqdm.auto import tqdm

    # On a terminal the bar redraws in place; into a log file it writes a line every 30 s at most.
    interval = 0.1 if sys.stderr.isatty() else 30.0
    return tqdm(total=config.steps, initial=start_step, desc="train", dynamic_ncols=True, mininterval=interval)


def _to_device(batch: Any, device: torch.device) -> Any:
    from accelerate.utils import send_to_device

    return send_to_device(batch, device, non_blocking=device.type == "cuda")


def _mean_over_processes(accelerator, sums: dict[str, torch.Tensor], counts: dict[str, int]) -> dict[str, float]:
    """Average each term over the micro-batches since the last log and over processes."""
    names = sorted(sums)
    stacked = torch.stack([sums[name] / counts[name] for name in names])  # [T]
    stacked = accelerator.reduce(stacked.to(accelerator.device), reduction="mean")
    return dict(zip(names, stacked.tolist()))
