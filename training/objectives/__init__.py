"""Training objectives, one module each; ``REGISTRY`` maps a config name to its class.

Each objective's typed config lives beside it and is re-exported here; ``CONFIGS`` maps the
same names to those dataclasses. Objectives take ``(config, encoder)`` (``clip`` takes
nothing): heads are sized from ``encoder.embed_dim``, CLIPin copies the encoder into its EMA
target. ``build_objective`` does this for a name, and ``weighted_entry`` pairs the result with
the paper's term weights (SaCo's alpha/beta, xCLIP's lambda_CLIP/lambda_nCLIP) for ``Composite``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openeyes.errors import UserError
from openeyes.training.objectives.augment import ImageAugmentConfig, TextAugmentConfig
from openeyes.training.objectives.base import Composite, FeatureCache, Objective, WeightedObjective
from openeyes.training.objectives.clip import ClipObjective
from openeyes.training.objectives.clipin import ClipinConfig, ClipinObjective
from openeyes.training.objectives.nclip import NclipConfig, NclipObjective, XclipConfig, XclipObjective
from openeyes.training.objectives.saco import SacoConfig, SacoObjective, affinity_consistency


@dataclass
class ClipConfig:
    """CLIP has no settings: the temperature is the encoder's own ``logit_scale``."""


REGISTRY: dict[str, type] = {
    "clip": ClipObjective,
    "saco": SacoObjective,
    "clipin": ClipinObjective,
    "nclip": NclipObjective,
    "xclip": XclipObjective,
}

CONFIGS: dict[str, type] = {
    "clip": ClipConfig,
    "saco": SacoConfig,
    "clipin": ClipinConfig,
    "nclip": NclipConfig,
    "xclip": XclipConfig,
}


def build_objective(name: str, encoder: Any, config: Any = None) -> Objective:
    """Instantiate objective ``name`` for ``encoder`` with ``config`` (its dataclass; None: defaults)."""
    if name not in REGISTRY:
        raise UserError(f"unknown objective {name!r}; known: {', '.join(REGISTRY)}")
    config = config if config is not None else CONFIGS[name]()
    if not isinstance(config, CONFIGS[name]):
        raise UserError(f"objective {name!r} takes a {CONFIGS[name].__name__}, got {type(config).__name__}")
    if name == "clip":
        return ClipObjective()
    return REGISTRY[name](config, encoder)


def weighted_entry(objective: Objective, weight: float = 1.0, overrides: dict[str, float] | None = None) -> WeightedObjective:
    """A ``Composite`` entry with the objective's paper term weights (``term_weights()``), then ``overrides``."""
    term_weights = dict(getattr(objective, "term_weights", dict)())
    term_weights.update(overrides or {})
    return WeightedObjective(objective, weight=weight, term_weights=term_weights)


__all__ = [
    "CONFIGS",
    "REGISTRY",
    "ClipConfig",
    "ClipObjective",
    "ClipinConfig",
    "ClipinObjective",
    "Composite",
    "FeatureCache",
    "ImageAugmentConfig",
    "NclipConfig",
    "NclipObjective",
    "Objective",
    "SacoConfig",
    "SacoObjective",
    "TextAugmentConfig",
    "WeightedObjective",
    "XclipConfig",
    "XclipObjective",
    "affinity_consistency",
    "build_objective",
    "weighted_entry",
]

# The zoo recipe's auxiliary supervision (synthetic world labels); see labels.py.
from openeyes.training.objectives.labels import LabelsConfig, LabelsObjective  # noqa: E402

REGISTRY["labels"] = LabelsObjective
CONFIGS["labels"] = LabelsConfig

# DCR (Algorithm 1 of the DCR supplement) on a frozen diffusion prior; see dcr.py.
from openeyes.training.objectives.dcr import DcrConfig, DcrObjective  # noqa: E402

REGISTRY["dcr"] = DcrObjective
CONFIGS["dcr"] = DcrConfig

# The zoo base CLIP's dense auxiliary supervision (per-patch world labels); see patch_labels.py.
from openeyes.training.objectives.patch_labels import PatchLabelsConfig, PatchLabelsObjective  # noqa: E402

REGISTRY["patch_labels"] = PatchLabelsObjective
CONFIGS["patch_labels"] = PatchLabelsConfig
