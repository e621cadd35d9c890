"""Which autocast dtype a run uses: ``trainer.mixed_precision=auto`` picks bf16 only where the hardware
computes it natively.

bf16 autocast halves activation memory and speeds up GPUs and CPUs with bf16 instructions
(AVX-512 BF16 or AMX), but on a CPU without them PyTorch emulates it: a world-prior step measured
25 s in bf16 against 3.1 s in fp32 on an AVX2-only host (docs/RESULTS.md, issue 19). ``auto`` lets
one recipe run at its best on either machine. bf16 and fp32 keep the same training state (no grad
scaler), so a run may change between them when it resumes on other hardware.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

NATIVE_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of CPUs that compute bf16 natively
SCALERLESS = frozenset({"no", "bf16", "auto"})  # settings whose checkpoints hold no grad-scaler state


@lru_cache(maxsize=1)
def cpu_has_native_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """True when the CPU advertises bf16 instructions (Linux; elsewhere False, and ``auto`` means fp32)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return any(flag in flags for flag in NATIVE_BF16_CPU_FLAGS)


def resolve_precision(setting: str, cuda: bool | None = None) -> str:
    """The accelerate ``mixed_precision`` for a trainer setting: ``auto`` -> "bf16" or "no"; others as given."""
    if setting != "auto":
        return setting
    import torch

    if torch.cuda.is_available() if cuda is None else cuda:
        return "bf16" if torch.cuda.is_bf16_supported() else "no"
    return "bf16" if cpu_has_native_bf16() else "no"


def same_training_state(before: object, after: object) -> bool:
    """Two ``mixed_precision`` settings a checkpoint may move between (neither adds a grad scaler)."""
    return before == after or (before in SCALERLESS and after in SCALERLESS)
