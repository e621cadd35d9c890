"""The objective interface, the per-step feature cache, and the weighted composite.

An objective is an ``nn.Module`` whose ``forward(encoder, batch, cache)`` returns a dict of
named, *unweighted* loss terms (``{"clip": tensor}``, ``{"saco_eq5": ..., "saco_eq7": ...}``).
It owns the extra modules it needs (heads, EMA targets, teachers) as sub-modules, so they
are saved, resumed and optimised with it. ``Composite`` sums ``weight * term`` over the
objectives of a config and returns every term plus ``loss`` (the weighted total).

Batch format (the trainer's collate, every objective reads the same):
    batch["images"]: float [B, 3, H, W] in [0, 1] at the encoder's image size, un-augmented
    batch["texts"]:  list[str] of B captions
    batch["index"]:  long [B] dataset indices (deterministic augmentation seeds)
"""
from __future__ import annotations

import abc

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from openeyes.trainer.distributed import gather_with_grad


class FeatureCache:
    """Encodes the clean view of a batch at most once per step, shared by all objectives.

    ``local`` features are this process's rows; ``gathered`` ones are concatenated over all
    processes (with gradients flowing only into the local slice, like open_clip's
    ``gather_features``), for the in-batch objectives under DDP.
    """

    def __init__(self, encoder: nn.Module, batch: dict[str, Any]):
        self.encoder = encoder
        self.batch = batch
        self._values: dict[str, torch.Tensor] = {}

    def _memo(self, key: str, compute) -> torch.Tensor:
        if key not in self._values:
            self._values[key] = compute()
        return self._values[key]

    def pixels(self) -> torch.Tensor:  # [B, 3, H, W] normalized
        return self._memo("pixels", lambda: self.encoder.normalize(self.batch["images"]))

    def tokens(self) -> dict[str, torch.Tensor]:
        if "tokens" not in self._values:
            device = self.batch["images"].device
            tokens = self.encoder.tokenize(self.batch["texts"])
            self._values["tokens"] = {k: v.to(device) for k, v in tokens.items()}
        return self._values["tokens"]

    def image_embeds(self) -> torch.Tensor:  # [B, D]
        return self._memo("image_embeds", lambda: self.encoder.encode_image(self.pixels()))

    def image_tokens(self, layer: int) -> torch.Tensor:  # [B, N, W] hidden states of vision layer ``layer``
        key = f"image_tokens@{layer}"
        if key not in self._values:
            if "image_embeds" not in self._values and hasattr(self.encoder, "encode_image_and_tokens"):
                embeds, tokens = self.encoder.encode_image_and_tokens(self.pixels(), layer)  # one vision pass
                self._values["image_embeds"] = embeds
                self._values[key] = tokens
            else:
                self._values[key] = self.encoder.image_tokens(self.pixels(), layer)
        return self._values[key]

    def text_embeds(self) -> torch.Tensor:  # [B, D]
        return self._memo("text_embeds", lambda: self.encoder.encode_text(self.tokens()))

    def gathered_image_embeds(self) -> torch.Tensor:  # [B * world, D]
        return self._memo("g_image_embeds", lambda: gather_with_grad(self.image_embeds()))

    def gathered_text_embeds(self) -> torch.Tensor:  # [B * world, D]
        return self._memo("g_text_embeds", lambda: gather_with_grad(self.text_embeds()))


class Objective(nn.Module, abc.ABC):
    """Base class: subclasses set ``name`` and implement ``forward``."""

    name: str = "objective"

    @abc.abstractmethod
    def forward(self, encoder: nn.Module, batch: dict[str, Any], cache: FeatureCache) -> dict[str, torch.Tensor]:
        """Named, unweighted loss terms for this batch."""

    def on_step_end(self, encoder: nn.Module) -> None:
        """Called after each optimizer step (EMA updates, temperature clamping)."""

    def term_weights(self) -> dict[str, float]:
        """The paper's default weight of each term (e.g. SaCo's alpha/beta); {} means 1 each."""
        return {}

    def trainable_in_stage(self, stage: int) -> bool:
        """Whether this objective's own parameters train in ``stage`` (DCR: stage 1 only)."""
        return True


@dataclass
class WeightedObjective:
    """One entry of a composite: an objective and the weight of its terms."""

    objective: Objective
    weight: float = 1.0
    term_weights: dict[str, float] = field(default_factory=dict)  # per-term overrides


class Composite(nn.Module):
    """Weighted sum of several objectives; returns all terms by name plus ``loss``."""

    def __init__(self, entries: list[WeightedObjective]):
        super().__init__()
        if not entries:
            raise ValueError("a composite objective needs at least one objective")
        self.objectives = nn.ModuleList([e.objective for e in entries])
        self.weights = [e.weight for e in entries]
        self.term_weights = [e.term_weights for e in entries]

    def forward(self, encoder: nn.Module, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        cache = FeatureCache(encoder, batch)
        for objective in self.objectives:  # hidden states first, so they share the embeddings' vision pass
            if getattr(objective, "token_layer", None) is not None:
                cache.image_tokens(objective.token_layer)
        terms: dict[str, torch.Tensor] = {}
        total = None
        for objective, weight, per_term in zip(self.objectives, self.weights, self.term_weights):
            for term_name, value in objective(encoder, batch, cache).items():
                if term_name in terms:
                    raise ValueError(f"two objectives produce the loss term {term_name!r}")
                terms[term_name] = value
                if term_name.startswith("_"):  # diagnostics, logged but not optimised
                    continue
                contribution = weight * per_term.get(term_name, 1.0) * value
                total = contribution if total is None else total + contribution
        terms["loss"] = total
        return terms

    def on_step_end(self, encoder: nn.Module) -> None:
        for objective in self.objectives:
            objective.on_step_end(encoder)
