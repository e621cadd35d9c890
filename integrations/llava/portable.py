"""The on-disk layout of an MLLM directory that transformers 4.x (4.45+) and 5.x both load unchanged.

transformers 5 keeps models in a new module tree (``model.language_model``, a CLIP tower
without its ``vision_model`` level) and converts the llava-hf checkpoint layout of the 4.x
era on load. A model assembled in memory under 5.x saves tower keys without that level, which
4.x then reports unused (and initialises a random tower). So the weights are written here in
the 4.x layout, which 5.x's conversion mapping also reads:

    language_model.model.*          the LM's decoder (embeddings, layers, norm)
    language_model.lm_head.weight   (absent when tied to the embeddings)
    vision_tower.vision_model.*     the CLIP/SigLIP tower
    multi_modal_projector.linear_{1,2}.{weight,bias}

and the processor as 4.x reads it too: ``preprocessor_config.json`` (the image processor),
a flat ``processor_config.json``, the chat template as ``chat_template.jinja`` (4.5x, 5.x)
and ``chat_template.json`` (4.45), and a ``tokenizer_config.json`` naming
``PreTrainedTokenizerFast`` over ``tokenizer.json`` (a class both know; 5.x's own name,
``TokenizersBackend``, does not exist in 4.x) whose BPE merges are strings (older tokenizers
cannot parse the pair form).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from openeyes.errors import UserError

WEIGHTS_FILE = "model.safetensors"
DTYPES = ("float32", "float16", "bfloat16")  # what --dtype accepts besides "source"
PROCESSOR_FIELDS = ("patch_size", "vision_feature_select_strategy", "num_additional_image_tokens", "image_token")


# -- weights --------------------------------------------------------------------------------------
def tower_keys(state: dict[str, Any]) -> dict[str, Any]:
    """A CLIP/SigLIP vision model's tensors with the ``vision_model.`` level 4.x has (5.x drops it)."""
    return {key if key.startswith("vision_model.") else f"vision_model.{key}": value for key, value in state.items()}


def portable_state_dict(model: Any, dtype: Any) -> dict[str, Any]:
    """``{4.x-layout key: tensor in dtype}`` for a ``LlavaForConditionalGeneration`` (either version's tree)."""
    inner = getattr(model, "model", model)  # 5.x / 4.52+: LlavaModel under .model; 4.45: the parts on the model
    language = inner.language_model
    decoder = getattr(language, "model", language)  # 4.45 keeps a full LlamaForCausalLM there
    head = model.lm_head if hasattr(model, "lm_head") else language.lm_head
    parts = {
        "language_model.model.": decoder.state_dict(),
        "vision_tower.": tower_keys(inner.vision_tower.state_dict()),
        "multi_modal_projector.": inner.multi_modal_projector.state_dict(),
    }
    if not model.config.tie_word_embeddings:
        parts["language_model.lm_head."] = head.state_dict()
    return {prefix + key: value.detach().to(dtype).contiguous()
            for prefix, state in parts.items() for key, value in state.items()}


def weights_dtype(directory: Path) -> str:
    """The floating dtype most of ``directory``'s safetensors tensors have (``float32`` when unknown)."""
    from collections import Counter

    from safetensors import safe_open

    names = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}
    counts: Counter = Counter()
    for file in sorted(Path(directory).glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as handle:
            for key in handle.keys():
                kind = handle.get_slice(key).get_dtype()
                if kind in names:
                    counts[names[kind]] += 1
    return counts.most_common(1)[0][0] if counts else "float32"


def resolve_dtype(requested: str | None, source: Path | None) -> str:
    """``requested`` checked, or the source's weight dtype for ``None``/``"source"``."""
    if requested in (None, "source"):
        return weights_dtype(source) if source is not None and Path(source).is_dir() else "float32"
    if requested not in DTYPES:
        raise UserError(f"--dtype must be source, {', '.join(DTYPES)}; got {requested!r}")
    return requested


def write_weights(model: Any, directory: Path, dtype: str) -> None:
    """Replace the directory's safetensors by one ``model.safetensors`` in the portable layout; record dtype."""
    import torch
    from safetensors.torch import save_file

    for stale in list(directory.glob("*.safetensors")) + list(directory.glob("*.safetensors.index.json")):
        stale.unlink()
    save_file(portable_state_dict(model, getattr(torch, dtype)), str(directory / WEIGHTS_FILE), metadata={"format": "pt"})
    config_path = directory / "config.json"
    config = json.loads(config_path.read_text())
    config["dtype"] = dtype  # 5.x's name
    config["torch_dtype"] = dtype  # 4.x's name
    for sub in ("text_config", "vision_config"):
        if isinstance(config.get(sub), dict):
            config[sub].pop("dtype", None)
            config[sub]["torch_dtype"] = dtype
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


# -- processor and tokenizer ----------------------------------------------------------------------
def tokenizer_config(tokenizer: Any, chat_template: str | None) -> dict[str, Any]:
    """A ``tokenizer_config.json`` both 4.x and 5.x read (the vocabulary stays in ``tokenizer.json``)."""
    config: dict[str, Any] = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "processor_class": "LlavaProcessor",
        "model_max_length": int(min(tokenizer.model_max_length, 10 ** 12)),
        "padding_side": tokenizer.padding_side,
        "model_input_names": list(tokenizer.model_input_names),
        "clean_up_tokenization_spaces": False,
    }
    for name in ("bos_token", "eos_token", "pad_token", "unk_token"):
        token = getattr(tokenizer, name, None)
        if token is not None:
            config[name] = str(token)
    image_token = getattr(tokenizer, "image_token", None)
    if image_token:
        config["extra_special_tokens"] = {"image_token": str(image_token)}  # 4.5x/5.x: tokenizer.image_token
    if chat_template:
        config["chat_template"] = chat_template  # 4.45 reads it here
    return config


def write_legacy_merges(tokenizer_file: Path) -> None:
    """Store BPE merges as ``"a b"`` strings (what tokenizers < 0.20, i.e. transformers 4.37-4.44, parse; newer
    versions read both forms). Left as pairs when a merged piece contains a space (no string form then)."""
    data = json.loads(tokenizer_file.read_text())
    merges = (data.get("model") or {}).get("merges")
    if not merges or isinstance(merges[0], str) or any(" " in piece for pair in merges for piece in pair):
        return
    data["model"]["merges"] = [" ".join(pair) for pair in merges]
    tokenizer_file.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def image_processor_config(image_processor: Any) -> dict[str, Any]:
    """The image processor's fields as ``preprocessor_config.json`` (the file 4.x's AutoImageProcessor reads)."""
    fields = image_processor.to_dict()
    fields.pop("processor_class", None)
    fields["image_processor_type"] = "CLIPImageProcessor" if "CLIP" in type(image_processor).__name__ or \
        fields.get("image_processor_type", "").startswith("CLIP") else fields.get("image_processor_type")
    fields["processor_class"] = "LlavaProcessor"
    return fields


def write_processor(processor: Any, directory: Path) -> None:
    """Rewrite what ``processor.save_pretrained`` wrote into the files both versions load."""
    template = processor.chat_template
    tokenizer = processor.tokenizer
    files = {
        "tokenizer_config.json": tokenizer_config(tokenizer, template),
        "preprocessor_config.json": image_processor_config(processor.image_processor),
        "processor_config.json": {"processor_class": "LlavaProcessor",
                                  **{field: getattr(processor, field) for field in PROCESSOR_FIELDS}},
    }
    if template:
        files["chat_template.json"] = {"chat_template": template}
        (directory / "chat_template.jinja").write_text(template)
    for name, content in files.items():
        (directory / name).write_text(json.dumps(content, indent=2, sort_keys=True) + "\n")
    if not (directory / "tokenizer.json").is_file():
        raise UserError(f"{directory}: the tokenizer has no tokenizer.json (a fast tokenizer is needed)")
    write_legacy_merges(directory / "tokenizer.json")


def write_portable(model: Any, processor: Any, directory: Path, dtype: str) -> None:
    """Weights and processor files of an already ``save_pretrained`` directory in the portable layout."""
    write_weights(model, directory, dtype)
    write_processor(processor, directory)
