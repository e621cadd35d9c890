"""Import third-party open_clip-style checkpoints into an open_clip ``CLIP`` model.

Handles the layouts seen in the wild:

- full-model state dicts (``visual.*``, ``token_embedding.*``, ``transformer.*``, ...),
  possibly under a wrapper key (``state_dict``, ``model``, ...) and/or a key prefix
  (``module.`` from DDP, ``model.`` or ``clip_model.`` from DIVA-style training wrappers);
- visual-only state dicts (un2CLIP style: the keys of ``model.visual``, bare or prefixed
  with ``visual.``/``module.``): only the vision tower is replaced.

Files load with ``torch.load(..., weights_only=True)`` (never full pickle) or safetensors.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from openeyes.errors import UserError

# Keys that identify a CLIP vision tower / full CLIP model (relative to the model's root).
VISUAL_ANCHOR = "conv1.weight"
TEXT_ANCHOR = "token_embedding.weight"


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a checkpoint file into a flat ``{dotted key: tensor}`` dict."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"checkpoint {path} not found")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    try:
        payload = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as problem:  # pickle with arbitrary objects is refused by weights_only
        raise UserError(f"cannot read checkpoint {path} safely (weights_only=True): {str(problem).splitlines()[0]}") from None
    if isinstance(payload, nn.Module):  # cannot happen with weights_only, kept for clarity
        payload = payload.state_dict()
    if not isinstance(payload, dict):
        raise UserError(f"checkpoint {path} holds a {type(payload).__name__}, not a state dict")
    return flatten_tensors(payload)


def flatten_tensors(payload: dict[str, Any], prefix: str = "") -> dict[str, torch.Tensor]:
    """Nested dicts of tensors -> one flat dict with dotted keys; non-tensor leaves are dropped."""
    flat: dict[str, torch.Tensor] = {}
    for key, value in payload.items():
        name = f"{prefix}{key}"
        if isinstance(value, torch.Tensor):
            flat[name] = value
        elif isinstance(value, dict):
            flat.update(flatten_tensors(value, prefix=f"{name}."))
    return flat


def locate_clip_weights(state: dict[str, torch.Tensor]) -> tuple[str, str]:
    """Find where the CLIP weights sit: ("full", root prefix) or ("visual", visual prefix)."""
    full, visual = [], []
    for key in state:
        if not key.endswith(VISUAL_ANCHOR):
            continue
        prefix = key[: -len(VISUAL_ANCHOR)]
        if prefix.endswith("visual.") and f"{prefix[:-len('visual.')]}{TEXT_ANCHOR}" in state:
            full.append(prefix[: -len("visual.")])
        elif f"{prefix}class_embedding" in state:
            visual.append(prefix)
    if full:
        return "full", min(full, key=len)
    if visual:
        return "visual", min(visual, key=len)
    raise UserError(
        "no open_clip ViT weights found in the checkpoint (looked for '*conv1.weight' with a class embedding); "
        f"first keys: {sorted(state)[:5]}"
    )


def strip_prefix(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}


def load_clip_state(model: nn.Module, state: dict[str, torch.Tensor], source: str = "checkpoint") -> str:
    """Load the CLIP weights found in ``state`` into ``model``; returns "full" or "visual"."""
    layout, prefix = locate_clip_weights(state)
    weights = strip_prefix(state, prefix)
    target = model if layout == "full" else model.visual
    if layout == "full":
        weights = {k: v for k, v in weights.items() if k.split(".")[0] in _top_level_names(model)}
    else:
        weights = {k: v for k, v in weights.items() if k.split(".")[0] in _top_level_names(model.visual)}
    expected = target.state_dict()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    mismatched = sorted(k for k in set(weights) & set(expected) if weights[k].shape != expected[k].shape)
    if missing or unexpected or mismatched:
        raise UserError(
            f"{source} does not fit the model ({layout} weights under prefix {prefix!r}): "
            f"missing {missing[:4]}{'...' if len(missing) > 4 else ''}, unexpected {unexpected[:4]}, "
            f"shape mismatch {mismatched[:4]}"
        )
    target.load_state_dict(weights, strict=True)
    return layout


def _top_level_names(module: nn.Module) -> set[str]:
    return {name.split(".")[0] for name in module.state_dict()}


def import_openclip_checkpoint(model: nn.Module, path: str | Path) -> str:
    """Read ``path`` and load its CLIP weights (full or visual-only) into ``model``."""
    return load_clip_state(model, read_state_dict(path), source=f"checkpoint {path}")
