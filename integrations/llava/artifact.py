"""Write an MLLM artifact: transformers Llava files (safetensors) + processor + ``openeyes.json``.

The card's ``mllm`` field records what a reader needs without loading weights: the encoder and
LM it came from, projector type, feature layer, strategy, image tokens, and whether vLLM can
serve it (only the ``mlp2x_gelu`` projector can). Weights and processor files are written in the
layout transformers 4.x and 5.x both load (``portable``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from openeyes.artifacts import write_card
from openeyes.errors import UserError
from openeyes.integrations.llava.assemble import PROJECTORS, projector_name

MLLM_KEY = "mllm"


def describe_mllm(model: Any, processor: Any, **facts: Any) -> dict[str, Any]:
    config = model.config
    projector = projector_name(config)
    return {
        "architecture": "LlavaForConditionalGeneration",
        "vision_model_type": config.vision_config.model_type,
        "text_model_type": config.text_config.model_type,
        "projector": projector,
        "servable_by_vllm": PROJECTORS[projector][1],
        "vision_feature_layer": config.vision_feature_layer,
        "vision_feature_select_strategy": config.vision_feature_select_strategy,
        "image_seq_length": config.image_seq_length,
        "image_token": processor.image_token,
        "image_token_index": config.image_token_index,
        "vision_width": config.vision_config.hidden_size,
        "text_width": config.text_config.hidden_size,
        **facts,
    }


def save_mllm(model: Any, processor: Any, out_dir: str | Path, *, name: str, base: str | None = None,
              config: dict[str, Any] | None = None, data: Any = None, seed: int | None = None,
              steps: int | None = None, metrics: dict[str, Any] | None = None, dtype: str | None = None,
              **facts: Any) -> Path:
    """``save_pretrained`` of model and processor into ``out_dir`` in the portable layout (weights in ``dtype``,
    default the model's), then the card (hashes of the weights)."""
    from openeyes.integrations.llava.portable import write_portable

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"cannot write an MLLM artifact to {out_dir}: it is a file")
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    write_portable(model, processor, out_dir, dtype or str(model.dtype).removeprefix("torch."))
    write_card(out_dir, "mllm", name, base=base, config=config, data=data, seed=seed, steps=steps, metrics=metrics,
               extra={MLLM_KEY: describe_mllm(model, processor, **facts)})
    return out_dir
