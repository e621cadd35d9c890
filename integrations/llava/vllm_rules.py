"""Checks that an exported Llava directory fits vLLM's Llava loader (and lmms-eval's ``llava_hf``).

vLLM (``vllm/model_executor/models/llava.py``) builds the tower from a CLIP or SigLIP vision
config up to the deepest ``vision_feature_layer``, a fixed ``linear_1 -> act -> linear_2``
projector, and expands the image token (``image_token_index``) into ``image_seq_length``
positions. One function per rule; each returns a message when violated, else None.

Both checkpoint layouts vLLM's ``hf_to_vllm_mapper`` reads are accepted: the llava-hf layout
(``language_model.model.*``, ``vision_tower.*``, ``multi_modal_projector.*``) and the one
transformers 4.52+ saves (``model.language_model.*``, ``model.vision_tower.*``, ``lm_head.*``);
vLLM renames the second to the first. Its own CLIP/SigLIP tower keeps the ``vision_model.``
level, so tower keys without it (what transformers 5 writes for a tower built in memory) are
refused. These rules are read from vLLM's loader code; vLLM itself cannot run here (it needs
CUDA and conflicts with the main environment), so no test here serves an export with it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from openeyes.errors import UserError

SUPPORTED_TOWERS = ("clip_vision_model", "siglip_vision_model")
VLLM_ACTIVATIONS = ("gelu", "gelu_pytorch_tanh", "gelu_new", "gelu_fast", "quick_gelu", "relu", "silu")
PROJECTOR_KEYS = tuple(f"multi_modal_projector.{layer}.{kind}" for layer in ("linear_1", "linear_2")
                       for kind in ("weight", "bias"))


def rule_architecture(config: dict, facts: dict) -> str | None:
    if config.get("model_type") != "llava" or "LlavaForConditionalGeneration" not in (config.get("architectures") or []):
        return (f"architecture: config.json must be model_type 'llava' with architectures [LlavaForConditionalGeneration], "
                f"got {config.get('model_type')!r} / {config.get('architectures')}")
    return None


def rule_vision_config(config: dict, facts: dict) -> str | None:
    tower = (config.get("vision_config") or {}).get("model_type")
    if tower not in SUPPORTED_TOWERS:
        return f"vision config: vLLM's Llava loads CLIP or SigLIP towers ({', '.join(SUPPORTED_TOWERS)}), got {tower!r}"
    return None


def rule_projector_layout(config: dict, facts: dict) -> str | None:
    keys = facts["weight_keys"]
    missing = [key for key in PROJECTOR_KEYS if key not in keys and f"model.{key}" not in keys]
    if missing:
        return f"projector: weights need multi_modal_projector.linear_1/linear_2 (weight, bias); missing {missing[0]}"
    act = config.get("projector_hidden_act")
    if act not in VLLM_ACTIVATIONS:
        return (f"projector: projector_hidden_act {act!r} is not an MLP activation vLLM serves (a linear projector "
                f"cannot be served; assemble with --projector mlp2x_gelu)")
    return None


TOWER_PREFIXES = ("vision_tower.", "model.vision_tower.")  # the two layouts vLLM maps onto vision_tower.


def rule_tower_layout(config: dict, facts: dict) -> str | None:
    tower = [key for key in facts["weight_keys"] if key.startswith(TOWER_PREFIXES)]
    if not tower:
        return "tower layout: no vision_tower.* weights (vLLM loads the tower from the checkpoint)"
    flat = [key for key in tower if ".vision_model." not in key]
    if flat:
        return (f"tower layout: {flat[0]} lacks the vision_model. level vLLM's CLIP/SigLIP tower (and transformers 4.x) "
                f"expects; re-export with openeyes integrate export")
    return None


def rule_context(config: dict, facts: dict) -> str | None:
    from openeyes.integrations.llava.assemble import MIN_PROMPT_TOKENS

    context = (config.get("text_config") or {}).get("max_position_embeddings")
    tokens = config.get("image_seq_length") or 0
    if context is not None and tokens + MIN_PROMPT_TOKENS > context:
        return (f"context: {tokens} image tokens plus a {MIN_PROMPT_TOKENS}-token prompt exceed the LM's "
                f"{context} positions (vLLM refuses such prompts)")
    return None


def rule_image_token(config: dict, facts: dict) -> str | None:
    token_id = facts["image_token_id"]
    index = config.get("image_token_index", config.get("image_token_id"))
    if token_id is None or index != token_id:
        return f"image token: config image_token_index {index} != the tokenizer's id for {facts['image_token']!r} ({token_id})"
    return None


def expected_image_tokens(vision: dict, strategy: str) -> int:
    patches = (vision["image_size"] // vision["patch_size"]) ** 2
    tokens = patches + (1 if vision.get("model_type") == "clip_vision_model" else 0)
    return tokens - 1 if strategy == "default" else tokens


def rule_image_seq_length(config: dict, facts: dict) -> str | None:
    vision = config.get("vision_config") or {}
    strategy = config.get("vision_feature_select_strategy", "default")
    if strategy not in ("default", "full"):
        return f"image_seq_length: vision_feature_select_strategy must be 'default' or 'full', got {strategy!r}"
    expected = expected_image_tokens(vision, strategy)
    if config.get("image_seq_length") != expected:
        return (f"image_seq_length: config says {config.get('image_seq_length')} but a {vision.get('image_size')}px image "
                f"with patch {vision.get('patch_size')} under strategy {strategy!r} gives {expected} tokens")
    if facts.get("processor_tokens") is not None and facts["processor_tokens"] != expected:
        return f"image_seq_length: the processor expands <image> to {facts['processor_tokens']} tokens, the model expects {expected}"
    return None


def rule_feature_layer(config: dict, facts: dict) -> str | None:
    depth = (config.get("vision_config") or {}).get("num_hidden_layers", 0)
    layers = config.get("vision_feature_layer", -2)
    for layer in layers if isinstance(layers, list) else [layers]:
        if not isinstance(layer, int) or not -(depth + 1) <= layer <= depth:
            return f"vision_feature_layer: {layer} is outside the tower's hidden states (depth {depth})"
    return None


RULES: dict[str, Callable[[dict, dict], str | None]] = {
    "architecture": rule_architecture,
    "vision_config": rule_vision_config,
    "projector_layout": rule_projector_layout,
    "tower_layout": rule_tower_layout,
    "context": rule_context,
    "image_token": rule_image_token,
    "image_seq_length": rule_image_seq_length,
    "vision_feature_layer": rule_feature_layer,
}


def directory_facts(directory: Path) -> dict[str, Any]:
    """Weight names, the tokenizer's image token id and the processor's expansion, read from disk."""
    from safetensors import safe_open
    from transformers import AutoTokenizer

    keys: set[str] = set()
    for file in sorted(directory.glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as handle:
            keys.update(handle.keys())
    processor = json.loads((directory / "processor_config.json").read_text()) if (directory / "processor_config.json").is_file() else {}
    image_token = processor.get("image_token", "<image>")
    tokenizer = AutoTokenizer.from_pretrained(str(directory))
    token_id = tokenizer.convert_tokens_to_ids(image_token) if image_token in tokenizer.get_vocab() else None
    tokens = None
    image_processor = processor.get("image_processor") or (  # nested (5.x) or its own file (4.x layout)
        json.loads((directory / "preprocessor_config.json").read_text())
        if (directory / "preprocessor_config.json").is_file() else {})
    size = (image_processor.get("crop_size") or image_processor.get("size") or {}).get("height")
    if processor.get("patch_size") and size:
        tokens = (size // processor["patch_size"]) ** 2 + processor.get("num_additional_image_tokens", 0)
        tokens -= 1 if processor.get("vision_feature_select_strategy") == "default" else 0
    return {"weight_keys": keys, "image_token": image_token, "image_token_id": token_id, "processor_tokens": tokens}


def check_vllm_rules(directory: str | Path) -> dict[str, str]:
    """{rule name: problem} for every rule the directory breaks (empty when it fits)."""
    directory = Path(directory)
    config = json.loads((directory / "config.json").read_text())
    facts = directory_facts(directory)
    return {name: problem for name, rule in RULES.items() if (problem := rule(config, facts))}


def require_vllm_compatible(directory: str | Path) -> None:
    problems = check_vllm_rules(directory)
    if problems:
        raise UserError(f"{directory} does not fit vLLM's Llava loader: " + "; ".join(f"[{name}] {problem}" for name, problem in problems.items()))
