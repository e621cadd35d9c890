"""Choosing what trains: freezing by name prefix, trainable counts, LoRA (peft), gradient checkpointing.

``apply_lora`` injects adapters in place (parameter names stay those of the model, plus
``lora_A``/``lora_B``), so ``merge_lora`` gives back the same module tree with merged weights,
ready for an artifact's ``save_pretrained``.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from torch import nn

from openeyes.errors import UserError


@dataclass
class TrainableReport:
    """How many parameters train, out of how many."""

    trainable: int  # elements with requires_grad
    total: int  # all elements (tied tensors counted once)
    trainable_tensors: int  # number of trainable parameter tensors

    @property
    def fraction(self) -> float:
        return self.trainable / self.total if self.total else 0.0

    def __str__(self) -> str:
        return f"{self.trainable:,} / {self.total:,} parameters trainable ({100 * self.fraction:.2f}%)"


def trainable_report(model: nn.Module) -> TrainableReport:
    trainable = total = tensors = 0
    for param in model.parameters():  # parameters() yields tied tensors once
        total += param.numel()
        if param.requires_grad:
            trainable += param.numel()
            tensors += 1
    return TrainableReport(trainable, total, tensors)


def _set_requires_grad(model: nn.Module, prefixes: Iterable[str], value: bool) -> int:
    prefixes = tuple(prefixes)
    matched = {prefix: 0 for prefix in prefixes}
    changed = 0
    for name, param in model.named_parameters():
        hits = [p for p in prefixes if name == p or name.startswith(p if p.endswith(".") else p + ".") or p == ""]
        for prefix in hits:
            matched[prefix] += 1
        if hits:
            param.requires_grad_(value)
            changed += param.numel()
    unmatched = [prefix for prefix, count in matched.items() if count == 0]
    if unmatched:
        example = next(iter(dict(model.named_parameters())), "<none>")
        raise UserError(f"no parameter name starts with {unmatched[0]!r} (names look like {example!r})")
    return changed


def freeze(model: nn.Module, prefixes: Iterable[str]) -> int:
    """Freeze parameters whose dotted name is or starts with a prefix (a module path); returns elements frozen."""
    return _set_requires_grad(model, prefixes, False)


def unfreeze(model: nn.Module, prefixes: Iterable[str]) -> int:
    """Unfreeze parameters under the given prefixes; returns elements unfrozen."""
    return _set_requires_grad(model, prefixes, True)


def train_only(model: nn.Module, prefixes: Iterable[str]) -> TrainableReport:
    """Freeze everything, then unfreeze the given prefixes."""
    model.requires_grad_(False)
    unfreeze(model, prefixes)
    return trainable_report(model)


def apply_lora(model: nn.Module, target_modules: list[str] | str, r: int = 8, alpha: float = 16,
               dropout: float = 0.0) -> nn.Module:
    """Inject LoRA adapters (peft) into ``target_modules`` in place; only adapters stay trainable.

    ``target_modules`` are module-name suffixes (``["q_proj", "v_proj"]``) or a regex string,
    as in peft's ``LoraConfig``. Returns the same model object.
    """
    from peft import LoraConfig, inject_adapter_in_model

    if r < 1:
        raise UserError(f"LoRA rank must be >= 1, got {r}")
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules, bias="none")
    try:
        inject_adapter_in_model(config, model)
    except ValueError as problem:  # peft: target modules not found
        raise UserError(f"LoRA: {problem}")
    for name, param in model.named_parameters():
        param.requires_grad_("lora_" in name)
    return model


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every LoRA adapter into its base layer and put the plain layer back; returns ``model``."""
    from peft.tuners.lora import LoraLayer

    replacements = [(name, module) for name, module in model.named_modules() if isinstance(module, LoraLayer)]
    for name, module in replacements:
        module.merge()
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, module.get_base_layer())
    return model


def _switch_on_checkpointing(module: nn.Module) -> bool:
    if callable(getattr(module, "gradient_checkpointing_enable", None)):  # transformers
        module.gradient_checkpointing_enable()
        return True
    if callable(getattr(module, "set_grad_checkpointing", None)):  # open_clip, timm
        module.set_grad_checkpointing(True)
        return True
    return False


def enable_gradient_checkpointing(model: nn.Module) -> list[str]:
    """Turn on gradient checkpointing on ``model`` or, failing that, on the submodules that support it.

    Uses ``gradient_checkpointing_enable()`` (transformers) or ``set_grad_checkpointing(True)``
    (open_clip, timm). Returns the names of the modules switched ("" for the model itself);
    raises ``UserError`` when nothing supports it.
    """
    enabled: list[str] = []
    for name, module in model.named_modules():  # parents come before their children
        if any(name.startswith(done + ".") or done == "" for done in enabled):
            continue
        if _switch_on_checkpointing(module):
            enabled.append(name)
    if not enabled:
        raise UserError(
            "gradient_checkpointing was requested but no part of the model has "
            "gradient_checkpointing_enable() or set_grad_checkpointing()"
        )
    return enabled
