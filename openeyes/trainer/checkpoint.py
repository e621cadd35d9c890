"""Resumable checkpoints: ``out_dir/checkpoints/step_XXXXXXX/``, written atomically, last K kept.

A checkpoint holds
    model.safetensors     the (unwrapped) model, objective heads included when they are part of it; with a
                          ``keep`` filter only the state entries it keeps (a frozen encoder or VAE that
                          the run rebuilds identically is left out: only what trains + what resume needs)
    optimizer.pt          optimizer state (torch.save of tensors/numbers; loads with weights_only)
    scheduler.pt          LR scheduler state (numbers only)
    scaler.pt             fp16 grad-scaler state, when there is one
    rng_rank{R}.pt        python/numpy/torch/CUDA RNG states of process R
    state.json            step, data position (micro-batch), run facts; written last

Everything is written into ``.tmp_step_XXXXXXX`` and renamed into place, so a run killed at
any moment leaves either a complete checkpoint or a temp folder that the next run deletes.
Nothing is loaded with pickle: ``torch.load(..., weights_only=True)`` only.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors.torch import load_file, load_model, save_file, save_model
from torch import nn

from openeyes.errors import UserError
from openeyes.trainer.rng import capture_rng_state, restore_rng_state

CHECKPOINTS = "checkpoints"
STATE_FILE = "state.json"
MODEL_FILE = "model.safetensors"
_STEP_DIR = re.compile(r"^step_(\d{7,})$")


def checkpoint_name(step: int) -> str:
    return f"step_{step:07d}"


def list_checkpoints(out_dir: str | Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    root = Path(out_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        match = _STEP_DIR.match(path.name)
        if match and (path / STATE_FILE).is_file():
            found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    checkpoints = list_checkpoints(out_dir)
    return checkpoints[-1] if checkpoints else None


def remove_partial_checkpoints(out_dir: str | Path) -> None:
    """Delete temp folders left by a run killed while saving."""
    root = Path(out_dir) / CHECKPOINTS
    if root.is_dir():
        for path in root.glob(".tmp_step_*"):
            shutil.rmtree(path, ignore_errors=True)


def kept_state(model: nn.Module, keep_entry: Callable[[str], bool]) -> dict[str, torch.Tensor]:
    """The state entries ``keep_entry`` keeps, one name per shared tensor (tied weights are saved once)."""
    kept: dict[str, torch.Tensor] = {}
    seen: set[tuple] = set()
    for name, tensor in model.state_dict().items():
        identity = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape), tensor.stride())
        if not keep_entry(name) or identity in seen:
            continue
        seen.add(identity)
        kept[name] = tensor.detach().contiguous()
    return kept


def save_checkpoint(accelerator, out_dir: str | Path, step: int, model: nn.Module, optimizer, scheduler,
                    state: dict[str, Any], keep: int, keep_entry: Callable[[str], bool] | None = None) -> Path:
    """Write checkpoint ``step`` from every process (each adds its RNG state); returns its path.

    ``keep_entry(name)``: which ``model.state_dict()`` entries to store (None: all of them)."""
    root = Path(out_dir) / CHECKPOINTS
    final = root / checkpoint_name(step)
    temp = root / f".tmp_{checkpoint_name(step)}"
    if accelerator.is_main_process:
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir(parents=True)
        if keep_entry is None:
            save_model(model, str(temp / MODEL_FILE))
        else:
            save_file(kept_state(model, keep_entry), str(temp / MODEL_FILE), metadata={"format": "pt", "partial": "1"})
        torch.save(optimizer.state_dict(), temp / "optimizer.pt")
        torch.save(scheduler.state_dict(), temp / "scheduler.pt")
        if accelerator.scaler is not None:
            torch.save(accelerator.scaler.state_dict(), temp / "scaler.pt")
    accelerator.wait_for_everyone()
    torch.save(capture_rng_state(), temp / f"rng_rank{accelerator.process_index}.pt")
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (temp / STATE_FILE).write_text(json.dumps({"step": step, **state}, indent=2))
        _fsync_tree(temp)
        if final.exists():  # re-saving the step a run resumed from
            shutil.rmtree(final)
        os.replace(temp, final)
        _fsync_dir(root)
        for old in list_checkpoints(out_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(path: Path, model: nn.Module, optimizer, scheduler, accelerator,
                    keep_entry: Callable[[str], bool] | None = None) -> dict[str, Any]:
    """Restore model, optimizer, scheduler, scaler and this process's RNG; return ``state.json``.

    With ``keep_entry`` the entries it leaves out stay as the run built them (they are constant)."""
    path = Path(path)
    try:
        state = json.loads((path / STATE_FILE).read_text())
        if keep_entry is None:
            missing, unexpected = load_model(model, str(path / MODEL_FILE), strict=False, device=str(accelerator.device))
        else:
            expected = kept_state(model, keep_entry)
            missing, unexpected = model.load_state_dict(load_file(str(path / MODEL_FILE), device=str(accelerator.device)),
                                                        strict=False)
            missing = [name for name in missing if name in expected]
    except (OSError, json.JSONDecodeError) as problem:
        raise UserError(f"cannot read checkpoint {path}: {problem}")
    if missing or unexpected:
        raise UserError(
            f"checkpoint {path} does not fit this model: missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}"
        )
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True, map_location="cpu"))
    scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=True))
    if accelerator.scaler is not None and (path / "scaler.pt").is_file():
        accelerator.scaler.load_state_dict(torch.load(path / "scaler.pt", weights_only=True))
    rng_file = path / f"rng_rank{accelerator.process_index}.pt"
    state["rng_restored"] = rng_file.is_file()
    if rng_file.is_file():  # absent when resuming with more processes than saved
        restore_rng_state(torch.load(rng_file, weights_only=True))
    return state


def _fsync_tree(folder: Path) -> None:
    for path in folder.iterdir():
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
