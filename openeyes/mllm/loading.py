"""Load an MLLM directory: an openeyes ``mllm`` artifact (card hashes verified) or a transformers Llava dir.

``load_mllm(path) -> (model, processor, card)``; ``card`` is ``{}`` for a plain transformers
directory. Only local directories and hub ids (when cached) are read; weights are safetensors.
Weights that do not fit the model (missing, unexpected or mis-shaped keys: a checkpoint layout
the installed transformers does not read) are an error, never a silently random part.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import openeyes  # noqa: F401  (CPU-torchvision fix before transformers' image processors)
from openeyes.artifacts import CARD_NAME, read_card
from openeyes.complete_load import load_complete
from openeyes.errors import UserError


def load_mllm(source: str | Path, *, device: str = "cpu", dtype: Any = None, verify: bool = True):
    """(LlavaForConditionalGeneration in eval mode, its processor, its card or {}); ``zoo:NAME`` works too."""
    import torch
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    from openeyes.hub import load_failure, locate

    source = locate(source, "MLLM", "an MLLM directory (artifact or transformers Llava), an HF hub id or zoo:NAME")
    path = Path(source)
    card: dict[str, Any] = {}
    if path.is_dir():
        if (path / CARD_NAME).is_file():
            card = read_card(path, verify=verify, kind="mllm")
        if not (path / "config.json").is_file():
            raise UserError(f"{path} is not an MLLM directory (no config.json)")
    try:
        model = load_complete(LlavaForConditionalGeneration, source, dtype=dtype or torch.float32)
        processor = AutoProcessor.from_pretrained(source)
    except (OSError, ValueError) as problem:
        raise load_failure("MLLM", source, problem) from None
    processor.tokenizer.padding_side = "left"
    return model.to(device).eval(), processor, card
