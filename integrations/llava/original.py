"""Interop with the original LLaVA code base's checkpoint layout (haotian-liu/LLaVA).

That layout is a ``LlavaLlamaForCausalLM`` directory: a Llama ``config.json`` plus
``mm_vision_tower`` (hub name or local dir holding a CLIP vision model and its
``preprocessor_config.json``), ``mm_projector_type`` (``linear``/``mlp2x_gelu``),
``mm_vision_select_layer``, ``mm_vision_select_feature`` (``patch`` drops CLS, ``cls_patch``
keeps it), ``mm_hidden_size``; weights with Llama keys plus ``model.mm_projector.{0,2}.*``
(mlp2x_gelu; ``model.mm_projector.*`` for linear) and optionally ``model.vision_tower.vision_tower.*``.
Stage 1 saves only ``mm_projector.bin``. The tokenizer has no ``<image>`` (the code base uses id
-200); importing adds it.

- ``import_original``: that layout (+ optional separate ``mm_projector.bin``) -> an openeyes mllm.
- ``export_original``: an openeyes mllm -> ``mm_projector.bin`` + ``vision_tower/`` (CLIP vision
  model with ``vision_model.*`` keys + ``preprocessor_config.json``) + ``config.json`` (a
  ``llava_llama`` config: the LM's fields and the ``mm_*`` ones, ``image_aspect_ratio``, a relative
  ``mm_vision_tower``), so the original code base loads it (``load_pretrained_model``) or finetunes
  on top of it (``--vision_tower DIR/vision_tower --pretrain_mm_mlp_adapter DIR/mm_projector.bin``);
  ``full`` also writes the whole checkpoint and a tokenizer transformers 4.x loads.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from openeyes.errors import UserError

MM_KEYS = ("mm_vision_tower", "mm_projector_type", "mm_vision_select_layer")
STRATEGY_OF_FEATURE = {"patch": "default", "cls_patch": "full"}
FEATURE_OF_STRATEGY = {value: key for key, value in STRATEGY_OF_FEATURE.items()}
PROJECTOR_FILE = "mm_projector.bin"
TOWER_PREFIXES = ("model.vision_tower.vision_tower.", "model.vision_tower.")


def load_weights(path: Path) -> dict[str, Any]:
    """A state dict from ``.safetensors`` or a ``.bin`` (``torch.load(weights_only=True)``)."""
    import torch
    from safetensors.torch import load_file

    if path.suffix == ".safetensors":
        return load_file(str(path))
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as problem:  # pickle with non-tensor objects, truncated file
        raise UserError(f"cannot read {path} as plain tensors (torch.load weights_only): {problem}") from None


def read_checkpoint_weights(directory: Path) -> dict[str, Any]:
    files = sorted(directory.glob("*.safetensors")) or sorted(directory.glob("pytorch_model*.bin"))
    state: dict[str, Any] = {}
    for file in files:
        if file.name != PROJECTOR_FILE:
            state.update(load_weights(file))
    if not state:
        raise UserError(f"{directory} has no weights (*.safetensors or pytorch_model*.bin)")
    return state


def projector_weights(state: dict[str, Any], projector_type: str) -> dict[str, Any]:
    """``mm_projector`` tensors -> ``multi_modal_projector.linear_1/linear_2`` (linear: linear_2 = identity)."""
    import torch

    def find(suffix: str):
        for prefix in ("model.mm_projector.", "mm_projector.", "model.model.mm_projector."):
            if prefix + suffix in state:
                return state[prefix + suffix]
        raise UserError(f"projector weight mm_projector.{suffix} not found (keys look like {next(iter(state))!r})")

    if projector_type == "mlp2x_gelu":
        return {"linear_1.weight": find("0.weight"), "linear_1.bias": find("0.bias"),
                "linear_2.weight": find("2.weight"), "linear_2.bias": find("2.bias")}
    if projector_type == "linear":
        weight, bias = find("weight"), find("bias")
        width = weight.shape[0]
        return {"linear_1.weight": weight, "linear_1.bias": bias,
                "linear_2.weight": torch.eye(width, dtype=weight.dtype), "linear_2.bias": torch.zeros(width, dtype=weight.dtype)}
    raise UserError(f"mm_projector_type {projector_type!r} is not supported (linear, mlp2x_gelu)")


def load_tower(tower_dir: str, state: dict[str, Any]):
    """(vision tower with weights, image processor) from the tower dir (+ tower weights in the checkpoint)."""
    from transformers import AutoConfig, AutoImageProcessor, CLIPVisionModel, SiglipVisionModel

    path = Path(tower_dir).expanduser()
    if not path.is_dir():
        raise UserError(f"vision tower {tower_dir!r} is not a local directory (pass --vision-tower DIR; hub names "
                        f"need the hub)")
    if not (path / "preprocessor_config.json").is_file():
        raise UserError(f"vision tower {path} has no preprocessor_config.json (the original code base calls "
                        f"CLIPImageProcessor.from_pretrained on it); copy the encoder's image processor config there")
    config = AutoConfig.from_pretrained(str(path))
    vision_config = getattr(config, "vision_config", config)
    tower_class = {"clip_vision_model": CLIPVisionModel, "siglip_vision_model": SiglipVisionModel}.get(vision_config.model_type)
    if tower_class is None:
        raise UserError(f"vision tower {path} is a {vision_config.model_type!r}, not CLIP or SigLIP")
    tower = tower_class(vision_config)
    embedded = {key[len(prefix):]: value for key, value in state.items() for prefix in TOWER_PREFIXES[:1]
                if key.startswith(prefix)}
    expected = set(tower.state_dict())
    if embedded and not set(embedded) & expected:  # 4.x keys (vision_model.*) for a 5.x tower, or the reverse
        embedded = tower_weights_from_state(embedded, expected)
    source = embedded or tower_weights_from_dir(path, expected)
    missing, unexpected = tower.load_state_dict(source, strict=False)
    if missing:
        raise UserError(f"vision tower weights incomplete: missing {missing[0]} (and {len(missing) - 1} more)")
    return tower.eval(), AutoImageProcessor.from_pretrained(str(path))


def tower_weights_from_dir(path: Path, expected: set[str]) -> dict[str, Any]:
    """The tower's tensors from a vision-model or full CLIP/SigLIP directory (keys matched to ``expected``)."""
    state: dict[str, Any] = {}
    for file in sorted(path.glob("*.safetensors")) or sorted(path.glob("pytorch_model*.bin")):
        state.update(load_weights(file))
    return tower_weights_from_state(state, expected)


def tower_weights_from_state(state: dict[str, Any], expected: set[str]) -> dict[str, Any]:
    """``state``'s tensors renamed to ``expected`` (with or without the ``vision_model.`` level 4.x towers have)."""
    for prefix in ("", "vision_model."):  # a vision model's own keys, or the vision half of a full model
        candidate = {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}
        if expected <= set(candidate):
            return {key: candidate[key] for key in expected}
    return {}


def language_model_from(config: dict, state: dict[str, Any]):
    """A ``LlamaForCausalLM`` from the Llama part of the config and the non-multimodal weights."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    fields = {key: value for key, value in config.items() if not key.startswith("mm_") and key not in (
        "architectures", "model_type", "transformers_version", "image_aspect_ratio", "tune_mm_mlp_adapter",
        "freeze_mm_mlp_adapter", "use_mm_proj", "image_grid_pinpoints", "tokenizer_padding_side",
        "tokenizer_model_max_length")}
    lm_config = LlamaConfig.from_dict(fields)
    lm_state = {key: value for key, value in state.items()
                if not key.startswith(("model.mm_projector.", "model.vision_tower."))}
    with torch.device("meta"):
        model = LlamaForCausalLM(lm_config)
    missing, unexpected = model.load_state_dict(lm_state, strict=False, assign=True)
    missing = [key for key in missing if not (key == "lm_head.weight" and lm_config.tie_word_embeddings)]
    if missing:
        raise UserError(f"language model weights incomplete: missing {missing[0]} (and {len(missing) - 1} more)")
    if lm_config.tie_word_embeddings:
        model.tie_weights()
    model.model.rotary_emb = type(model.model.rotary_emb)(config=lm_config)  # buffers are not in the checkpoint
    return model.eval()


def import_original(src: str | Path, out: str | Path, *, vision_tower: str | None = None,
                    projector_bin: str | Path | None = None, name: str | None = None) -> Path:
    """Convert an original-LLaVA checkpoint directory into an openeyes mllm artifact at ``out``."""
    from transformers import AutoTokenizer

    from openeyes.integrations.llava.artifact import save_mllm
    from openeyes.integrations.llava.assemble import (
        AssembleOptions, build_processor, compose, llava_config, prepare_tokenizer, set_generation_ids,
    )
    import torch

    src = Path(src)
    if not (src / "config.json").is_file():
        raise UserError(f"{src} has no config.json (not an original-LLaVA checkpoint directory)")
    config = json.loads((src / "config.json").read_text())
    absent = [key for key in MM_KEYS if key not in config]
    if absent:
        raise UserError(f"{src}/config.json lacks {absent[0]}: not an original-LLaVA (LlavaLlamaForCausalLM) config")
    state = read_checkpoint_weights(src)
    projector_source = Path(projector_bin) if projector_bin else (src / PROJECTOR_FILE if (src / PROJECTOR_FILE).is_file() else None)
    projector_state = load_weights(projector_source) if projector_source else state
    feature = config.get("mm_vision_select_feature", "patch")
    if feature not in STRATEGY_OF_FEATURE:
        raise UserError(f"mm_vision_select_feature {feature!r} is not supported (patch, cls_patch)")
    tower_ref = vision_tower or config["mm_vision_tower"]
    if not vision_tower and not Path(tower_ref).is_absolute() and (src / tower_ref).is_dir():
        tower_ref = str(src / tower_ref)  # a relative mm_vision_tower: the export's own vision_tower/
    tower, image_processor = load_tower(tower_ref, state)
    if config.get("mm_hidden_size", tower.config.hidden_size) != tower.config.hidden_size:
        raise UserError(f"mm_hidden_size {config['mm_hidden_size']} != the vision tower's width {tower.config.hidden_size}")
    language_model = language_model_from(config, state)
    tokenizer = AutoTokenizer.from_pretrained(str(src))
    image_token_id = prepare_tokenizer(tokenizer, language_model)
    options = AssembleOptions(vision_feature_layer=int(config["mm_vision_select_layer"]),
                              select_strategy=STRATEGY_OF_FEATURE[feature], projector=config["mm_projector_type"]
                              if config["mm_projector_type"] in ("linear", "mlp2x_gelu") else "?")
    if options.projector == "?":
        raise UserError(f"mm_projector_type {config['mm_projector_type']!r} is not supported (linear, mlp2x_gelu)")
    llava = llava_config(tower.config, language_model.config, image_token_id, options)
    from transformers.models.llava.modeling_llava import LlavaMultiModalProjector

    projector = LlavaMultiModalProjector(llava)
    weights = projector_weights(projector_state, options.projector)
    if weights["linear_1.weight"].shape != projector.linear_1.weight.shape:
        raise UserError(f"projector shape {tuple(weights['linear_1.weight'].shape)} does not fit vision width "
                        f"{tower.config.hidden_size} -> LM width {language_model.config.hidden_size}")
    projector.load_state_dict({key: value.to(torch.float32) for key, value in weights.items()})
    model = compose(tower, language_model.model, language_model.lm_head, llava, projector)
    set_generation_ids(model, tokenizer)
    processor = build_processor(image_processor, tokenizer, tower.config, llava.vision_feature_select_strategy)
    return save_mllm(model, processor, out, name=name or Path(out).name, base=str(src),
                     config={"imported_from": "original-llava", "projector_bin": str(projector_source) if projector_source else None},
                     encoder=str(vision_tower or config["mm_vision_tower"]), language_model=str(src))


def original_projector_state(model: Any) -> dict[str, Any]:
    """``model.mm_projector.*`` tensors (mlp2x_gelu: .0/.2; linear: the fused single layer)."""
    projector = model.model.multi_modal_projector
    l1, l2 = projector.linear_1, projector.linear_2
    if model.config.projector_hidden_act == "linear":
        weight = l2.weight @ l1.weight  # [D_text, D_vision]
        bias = l2.weight @ l1.bias + l2.bias  # [D_text]
        return {"model.mm_projector.weight": weight.detach().clone(), "model.mm_projector.bias": bias.detach().clone()}
    return {"model.mm_projector.0.weight": l1.weight.detach().clone(), "model.mm_projector.0.bias": l1.bias.detach().clone(),
            "model.mm_projector.2.weight": l2.weight.detach().clone(), "model.mm_projector.2.bias": l2.bias.detach().clone()}


LLAVA_FIXED_FIELDS = {  # what LLaVA-1.5's builder and llava_arch read besides the per-model mm_* fields
    "mm_patch_merge_type": "flat",  # llava_arch: flat concatenation of the image features
    "image_aspect_ratio": "square",  # mm_utils.process_images: the CLIP processor as is (resize + center crop), as openeyes trains
    "mm_use_im_start_end": False,  # no <im_start>/<im_end> around the image
    "mm_use_im_patch_token": False,  # builder: True when absent would add <im_patch> and resize the embeddings
    "use_mm_proj": True,
    "tune_mm_mlp_adapter": False,
    "freeze_mm_mlp_adapter": False,
    "image_grid_pinpoints": None,
    "tokenizer_padding_side": "right",  # llava_arch pads its multimodal batches on this side
}
TOWER_DIR = "vision_tower"


def llava_fields(model: Any, vision_tower_ref: str) -> dict[str, Any]:
    """The ``mm_*`` fields (and their fixed companions) of a ``LlavaConfig`` (``model_type`` ``llava_llama``)."""
    from openeyes.integrations.llava.assemble import projector_name

    config = model.config
    return {
        "mm_vision_tower": vision_tower_ref,
        "mm_projector_type": projector_name(config),
        "mm_vision_select_layer": int(config.vision_feature_layer),
        "mm_vision_select_feature": FEATURE_OF_STRATEGY[config.vision_feature_select_strategy],
        "mm_hidden_size": int(config.vision_config.hidden_size),
        "tokenizer_model_max_length": int(config.text_config.max_position_embeddings),
        **LLAVA_FIXED_FIELDS,
    }


def llama_fields(text_config: Any, dtype: str) -> dict[str, Any]:
    """The LM's config as transformers 4.x's ``LlamaConfig`` reads it (``rope_theta``, ``torch_dtype``)."""
    fields = {key: value for key, value in text_config.to_dict().items() if key not in ("dtype", "_name_or_path")}
    rope = fields.pop("rope_parameters", None) or {}
    fields["rope_theta"] = float(rope.get("rope_theta", fields.get("rope_theta", 10000.0)))
    if rope.get("rope_type", "default") != "default":
        fields["rope_scaling"] = rope
    fields["torch_dtype"] = dtype
    return fields


def write_tower(model: Any, image_processor: Any, tower_dir: Path, dtype: str) -> None:
    """``CLIPVisionModel`` directory LLaVA's ``CLIPVisionTower`` loads: config, ``vision_model.*`` weights, processor."""
    import torch
    from safetensors.torch import save_file

    from openeyes.artifacts import write_json_atomic
    from openeyes.integrations.llava.portable import image_processor_config, tower_keys

    tower = model.model.vision_tower
    tower_dir.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().to(getattr(torch, dtype)).contiguous() for key, value in tower_keys(tower.state_dict()).items()}
    save_file(state, str(tower_dir / "model.safetensors"), metadata={"format": "pt"})
    config = {key: value for key, value in tower.config.to_dict().items() if key not in ("dtype",)}
    write_json_atomic(tower_dir / "config.json", {**config, "architectures": ["CLIPVisionModel"],
                                                  "model_type": "clip_vision_model", "torch_dtype": dtype})
    processor = image_processor_config(image_processor)
    processor.pop("processor_class", None)
    write_json_atomic(tower_dir / "preprocessor_config.json", processor)


def export_original(mllm: str | Path, out: str | Path, *, full: bool = False, vision_tower_ref: str = TOWER_DIR,
                    dtype: str | None = None) -> Path:
    """Write ``config.json``, ``mm_projector.bin`` and ``vision_tower/`` (+ the whole checkpoint with ``full``).

    ``config.json`` is a ``LlavaConfig`` (``llava_llama``): the LM's fields plus the ``mm_*`` ones,
    so LLaVA's ``load_pretrained_model(out, model_base=LM)`` reads it for a stage-1 projector and
    ``load_pretrained_model(out, None)`` loads the full checkpoint. ``mm_vision_tower`` is
    ``vision_tower_ref`` (default the relative ``vision_tower``, which LLaVA resolves from its
    working directory; pass a hub id or the deployed absolute path instead).
    """
    import torch

    from openeyes.artifacts import write_json_atomic
    from openeyes.integrations.llava.portable import resolve_dtype
    from openeyes.mllm.loading import load_mllm
    from openeyes.zoo_registry import resolve

    dtype = resolve_dtype(dtype, Path(resolve(str(mllm))))
    model, processor, card = load_mllm(mllm)
    config = model.config
    if config.vision_config.model_type != "clip_vision_model":
        raise UserError("the original LLaVA code base loads CLIP vision towers only; this MLLM has "
                        f"{config.vision_config.model_type!r}")
    if isinstance(config.vision_feature_layer, (list, tuple)):
        raise UserError("the original LLaVA code base reads one vision layer; this MLLM uses several")
    if config.text_config.model_type != "llama":
        raise UserError(f"LLaVA's LlavaLlamaForCausalLM needs a Llama LM, this one is {config.text_config.model_type!r}")
    if Path(vision_tower_ref).is_absolute():
        raise UserError("--mm-vision-tower must be relative or a hub id (an absolute path only holds on this machine)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.save({key: value.to(getattr(torch, dtype)) for key, value in original_projector_state(model).items()},
               out / PROJECTOR_FILE)
    write_tower(model, processor.image_processor, out / TOWER_DIR, dtype)
    fields = llava_fields(model, vision_tower_ref)
    write_json_atomic(out / "config.json", {**llama_fields(config.text_config, dtype), **fields,
                                            "architectures": ["LlavaLlamaForCausalLM"], "model_type": "llava_llama"})
    if full:
        write_full_checkpoint(model, processor, out, dtype)
    return out


def write_full_checkpoint(model: Any, processor: Any, out: Path, dtype: str) -> None:
    """The whole model as a ``LlavaLlamaForCausalLM`` checkpoint (Llama keys + mm_projector) + tokenizer.

    The tower stays in ``vision_tower/`` only: LLaVA's model delay-loads it from ``mm_vision_tower``,
    so tower tensors inside the checkpoint would be unexpected keys it ignores."""
    import torch
    from safetensors.torch import save_file

    from openeyes.integrations.llava.portable import tokenizer_config, write_legacy_merges

    state = {f"model.{key}": value for key, value in model.model.language_model.state_dict().items()}
    state["lm_head.weight"] = model.lm_head.weight
    state.update(original_projector_state(model))  # no tower tensors: LLaVA builds the tower from vision_tower/
    save_file({key: value.detach().to(getattr(torch, dtype)).contiguous().clone() for key, value in state.items()},
              str(out / "model.safetensors"), metadata={"format": "pt"})
    processor.tokenizer.save_pretrained(out)
    settings = tokenizer_config(processor.tokenizer, None)
    settings["padding_side"] = "right"  # LLaVA's own batches pad on the right
    (out / "tokenizer_config.json").write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n")
    write_legacy_merges(out / "tokenizer.json")
    (out / "chat_template.jinja").unlink(missing_ok=True)  # LLaVA builds its prompts with its conversation templates
