"""When a run continues an earlier one: only when asked, and only with the same config.

A run folder (``trainer.out_dir``) that already holds checkpoints belongs to an earlier run.
``trainer.resume`` decides what happens there:
    "no"    a new run; refused with one line when the folder already holds checkpoints
            (so a changed ``optim.lr`` is never silently replaced by the old run's state)
    "auto"  continue the latest checkpoint of ``out_dir`` (a new run when there is none)
    PATH    continue that checkpoint (or the latest one of that run folder)
A resume compares the config recorded in the checkpoint (``state.json``'s ``config``) with this run's and
refuses with one line naming the keys that differ, unless ``trainer.force_resume`` is set.
Keys that do not change what is learned are not compared: the step count (a run may be
extended), the loop's bookkeeping (where it writes, how often it logs/saves, the bar), a switch between
bf16 and fp32 autocast (hardware, not state: trainer.precision) and where the results go.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from openeyes.errors import UserError
from openeyes.trainer.checkpoint import STATE_FILE, latest_checkpoint

NEW_RUN = ("no", "never")  # "never" is the older spelling of "no"

# Keys of a trainer section that do not change what is learned (the step count included); the
# batch is compared as the global batch (batch_size x processes x grad_accum), which a resume
# with another process count keeps.
TRAINER_BOOKKEEPING = frozenset({"steps", "resume", "force_resume", "out_dir", "progress_bar", "num_workers",
                                 "log_every", "checkpoint_every", "keep_checkpoints", "batch_size", "grad_accum",
                                 "gradient_checkpointing", "find_unused_parameters"})
# Top-level keys of a recipe config that only say where results go or what they are called.
OUTPUT_KEYS = frozenset({"out", "run_dir", "projector_out", "name"})

HOW_TO_RESUME = "--resume (trainer.resume=auto)"


def run_folder_of(checkpoint: Path) -> Path:
    """The run folder a checkpoint belongs to (``<run>/checkpoints/step_N`` -> ``<run>``)."""
    checkpoint = Path(checkpoint)
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint


def step_of(checkpoint: Path) -> int:
    return int(json.loads((Path(checkpoint) / STATE_FILE).read_text())["step"])


def refuse_reused_run_dir(resume: str, out_dir: str | Path) -> None:
    """Raise when a new run (``resume`` "no") would start in a folder holding an earlier run's checkpoints."""
    if resume not in NEW_RUN:
        return
    found = latest_checkpoint(out_dir)
    if found is not None:
        raise UserError(
            f"{out_dir} already holds an earlier run (checkpoint at step {step_of(found)}): continue it with "
            f"{HOW_TO_RESUME}, or start a new run in another trainer.out_dir (or delete {out_dir})"
        )


def resolve_resume(resume: str, out_dir: str | Path) -> Path | None:
    """The checkpoint to resume from (None: a new run); refuses a new run in a used folder."""
    refuse_reused_run_dir(resume, out_dir)
    if resume in NEW_RUN:
        return None
    if resume == "auto":
        return latest_checkpoint(out_dir)
    path = Path(resume)
    if path.is_dir() and not (path / STATE_FILE).is_file() and latest_checkpoint(path) is not None:
        return latest_checkpoint(path)  # a run folder: its latest checkpoint
    if not (path / STATE_FILE).is_file():
        raise UserError(f"trainer.resume={resume!r}: not a complete checkpoint (no {STATE_FILE}) nor 'auto'/'no'")
    return path


def flatten(config: Any, prefix: str = "") -> dict[str, Any]:
    """``{"optim": {"lr": 1e-4}}`` -> ``{"optim.lr": 1e-4}`` (lists stay whole values)."""
    if not isinstance(config, dict):
        return {prefix: config}
    flat: dict[str, Any] = {}
    for key, value in config.items():
        flat.update(flatten(value, f"{prefix}{key}." if isinstance(value, dict) and value else f"{prefix}{key}"))
    return flat


def _compared(key: str) -> bool:
    parts = key.split(".")
    if len(parts) >= 2 and parts[-2].endswith("trainer") and parts[-1] in TRAINER_BOOKKEEPING:
        return False
    return not (len(parts) == 1 and parts[0] in OUTPUT_KEYS)


def _precision_switch(key: str, before: Any, after: Any) -> bool:
    """bf16 <-> fp32 (or auto) on resume: other hardware, the same training state (trainer.precision)."""
    from openeyes.trainer.precision import same_training_state

    return key.split(".")[-1] == "mixed_precision" and same_training_state(before, after)


def config_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """``key (saved -> current)`` for every compared key whose value differs (JSON-normalised)."""
    saved_flat, current_flat = flatten(_plain(saved)), flatten(_plain(current))
    missing = object()
    found = []
    for key in sorted(set(saved_flat) | set(current_flat)):
        before, after = saved_flat.get(key, missing), current_flat.get(key, missing)
        if _compared(key) and before != after and not _precision_switch(key, before, after):
            found.append(f"{key} ({_show(before, missing)} -> {_show(after, missing)})")
    return found


def check_same_config(checkpoint: Path, current: dict[str, Any], force: bool) -> str | None:
    """Refuse a resume whose config differs from the checkpoint's; returns a note to print, if any."""
    recorded = json.loads((Path(checkpoint) / STATE_FILE).read_text()).get("config")
    if recorded is None:
        return f"note: {checkpoint} records no config (an older checkpoint); resuming without comparing it"
    differences = config_differences(recorded, current)
    if not differences:
        return None
    listed = ", ".join(differences[:6]) + (f" and {len(differences) - 6} more" if len(differences) > 6 else "")
    if force:
        return f"warning: forced resume despite a different config: {listed}"
    raise UserError(
        f"cannot resume {checkpoint}: its run used a different config: {listed}; start a new run in another "
        f"trainer.out_dir, or resume anyway with --force-resume (trainer.force_resume=true)"
    )


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _show(value: Any, missing: object) -> str:
    return "unset" if value is missing else json.dumps(value)
