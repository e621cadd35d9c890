"""The generic trainer of the core (accelerate loop), shared by encoder, prior and projector training.

Modules: ``config`` (TrainerConfig, OptimConfig), ``loop`` (Trainer), ``optim`` (AdamW groups,
warmup + cosine), ``sampler`` (sharded, seeded data order), ``checkpoint`` (atomic, exact
resume), ``freeze`` (prefix freezing, LoRA, gradient checkpointing), ``distributed`` (in-batch
gathers under DDP), ``launch`` (``python -m openeyes.trainer.launch``: accelerate's launcher).

Imports stay lazy: ``from openeyes.trainer import Trainer`` loads accelerate only then, and
``openeyes.trainer.distributed`` stays cheap for the objectives.
"""
from __future__ import annotations

_EXPORTS = {
    "Trainer": "openeyes.trainer.loop",
    "TrainingModule": "openeyes.trainer.loop",
    "TrainerConfig": "openeyes.trainer.config",
    "OptimConfig": "openeyes.trainer.config",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'openeyes.trainer' has no attribute {name!r}")
