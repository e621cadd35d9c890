"""Encoder + causal LM -> ``LlavaForConditionalGeneration`` and its ``LlavaProcessor``.

The vision tower is the encoder's vision half (``CLIPVisionModel``/``SiglipVisionModel`` with
the encoder's weights), the projector is new (``mlp2x_gelu``: linear_1 -> GELU -> linear_2;
or ``linear``, stored in the same two-layer layout with an identity activation and
``linear_2`` initialised to the identity, so the map is linear but vLLM cannot serve it),
and the LM keeps its weights (``<image>`` added to its tokenizer and embeddings when missing).

Image tokens per image (``image_seq_length``): (image_size / patch_size)^2 patches, plus the
CLS token for CLIP towers, minus one under the ``default`` strategy (which drops the first
token: CLIP's CLS). SigLIP towers have no CLS, so their natural strategy is ``full``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from openeyes.errors import UserError
from openeyes.integrations.llava.chat import CHAT_TEMPLATE, IMAGE_TOKEN

PROJECTORS = {  # projector name -> (LlavaConfig.projector_hidden_act, servable by vLLM)
    "mlp2x_gelu": ("gelu", True),
    "linear": ("linear", False),
}
VISION_MODEL_TYPES = {"clip_vision_model": "clip", "siglip_vision_model": "siglip"}


@dataclass
class AssembleOptions:
    """How the encoder's features reach the LM."""

    vision_feature_layer: int = -2  # hidden state fed to the projector (LLaVA: -2, the penultimate layer)
    select_strategy: Literal["default", "full"] | None = None  # "default" drops CLS, "full" keeps all; None: default for CLIP, full for SigLIP
    projector: Literal["mlp2x_gelu", "linear"] = "mlp2x_gelu"  # mlp2x_gelu is the only vLLM-servable layout
    seed: int = 0  # seeds the projector's initialisation


def has_cls_token(vision_config: Any) -> bool:
    """CLIP towers prepend a CLS token to the patches; SigLIP towers do not."""
    return vision_config.model_type == "clip_vision_model"


def resolve_strategy(vision_config: Any, strategy: str | None) -> str:
    if strategy is None:
        return "default" if has_cls_token(vision_config) else "full"
    if strategy not in ("default", "full"):
        raise UserError(f"select strategy must be 'default' or 'full', got {strategy!r}")
    return strategy


def image_seq_length(vision_config: Any, strategy: str) -> int:
    """Image tokens the LM sees per image for this tower and strategy."""
    patches = (vision_config.image_size // vision_config.patch_size) ** 2
    tokens = patches + (1 if has_cls_token(vision_config) else 0)
    return tokens - 1 if strategy == "default" else tokens


def check_feature_layer(vision_config: Any, layer: int) -> None:
    """``hidden_states`` has num_hidden_layers + 1 entries (index 0: the embeddings)."""
    depth = vision_config.num_hidden_layers
    if not -(depth + 1) <= layer <= depth:
        raise UserError(f"vision_feature_layer {layer} is outside the tower's hidden states "
                        f"(depth {depth}: valid {-(depth + 1)}..{depth})")


MIN_PROMPT_TOKENS = 32  # room a context must leave beside the image tokens: a short question and its answer


def check_context(text_config: Any, image_tokens: int) -> None:
    """Refuse an LM whose context cannot hold one image's tokens plus a short prompt (vLLM refuses those prompts)."""
    context = getattr(text_config, "max_position_embeddings", None)
    if context is not None and image_tokens + MIN_PROMPT_TOKENS > context:
        raise UserError(f"the LM's context ({context} positions) cannot hold {image_tokens} image tokens plus a "
                        f"{MIN_PROMPT_TOKENS}-token prompt; use an LM with a longer context or a tower with fewer "
                        f"patches (larger patch size, smaller image size)")


# -- the parts ------------------------------------------------------------------------------------
def vision_tower_from_encoder(encoder: Any):
    """The encoder's vision half as a standalone ``CLIPVisionModel``/``SiglipVisionModel`` (weights copied)."""
    from transformers import CLIPVisionModel, SiglipVisionModel

    model = getattr(encoder, "model", None)
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    tower_class = {"clip": CLIPVisionModel, "siglip": SiglipVisionModel}.get(model_type)
    if tower_class is None:
        raise UserError(f"encoder {getattr(encoder, 'name', encoder)!r} is not a CLIP or SigLIP model "
                        f"(model_type {model_type!r}); only those towers fit a Llava model")
    tower = tower_class(model.config.vision_config)
    source = model.vision_model  # a full vision model (transformers 5) or its inner transformer (4.x)
    target = tower if set(source.state_dict()) == set(tower.state_dict()) else tower.vision_model
    target.load_state_dict(source.state_dict())
    return tower.eval()


def load_language_model(spec: str):
    """A causal LM and its tokenizer from a local directory or an HF hub id."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from openeyes.complete_load import load_complete
    from openeyes.hub import load_failure, locate

    source = locate(spec, "language model", "a transformers causal-LM directory, an HF hub id or zoo:NAME")
    if Path(source).is_dir() and not (Path(source) / "config.json").is_file():
        raise UserError(f"language model {spec}: {source} has no config.json (not a transformers directory)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = load_complete(AutoModelForCausalLM, source)
    except (OSError, ValueError) as problem:
        raise load_failure("language model", source, problem) from None
    return model.eval(), tokenizer


def prepare_tokenizer(tokenizer: Any, language_model: Any) -> int:
    """Add ``<image>`` (and a pad token) when missing, resize the LM's embeddings; returns the image token id."""
    added = []
    if IMAGE_TOKEN not in tokenizer.get_vocab():
        added.append(IMAGE_TOKEN)
    if added:
        tokenizer.add_special_tokens({"additional_special_tokens": added}, replace_extra_special_tokens=False)
    if tokenizer.pad_token is None:
        tokenizer.add_special_tokens({"pad_token": "<pad>"})
    if len(tokenizer) > language_model.get_input_embeddings().weight.shape[0]:
        language_model.resize_token_embeddings(len(tokenizer))
    tokenizer.padding_side = "left"  # batched generation pads on the left
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)


def build_processor(image_processor: Any, tokenizer: Any, vision_config: Any, strategy: str):
    """A ``LlavaProcessor`` whose ``<image>`` expansion matches ``image_seq_length``."""
    from transformers import LlavaProcessor

    return LlavaProcessor(
        image_processor=image_processor, tokenizer=tokenizer, patch_size=vision_config.patch_size,
        vision_feature_select_strategy=strategy, chat_template=CHAT_TEMPLATE, image_token=IMAGE_TOKEN,
        num_additional_image_tokens=1 if has_cls_token(vision_config) else 0,
    )


def new_projector(config: Any, projector: str, seed: int):
    """A freshly initialised ``multi_modal_projector`` for ``config`` (linear: linear_2 = identity)."""
    import torch
    from transformers.models.llava.modeling_llava import LlavaMultiModalProjector

    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    module = LlavaMultiModalProjector(config)
    std = getattr(config.text_config, "initializer_range", 0.02)
    with torch.no_grad():
        for linear in (module.linear_1, module.linear_2):
            linear.weight.normal_(0.0, std)
            linear.bias.zero_()
        if projector == "linear":
            module.linear_2.weight.copy_(torch.eye(module.linear_2.weight.shape[0]))
    torch.random.set_rng_state(generator_state)
    return module


def llava_config(vision_config: Any, text_config: Any, image_token_id: int, options: AssembleOptions):
    from transformers import LlavaConfig

    if options.projector not in PROJECTORS:
        raise UserError(f"unknown projector {options.projector!r}; choose from {', '.join(PROJECTORS)}")
    if vision_config.model_type not in VISION_MODEL_TYPES:
        raise UserError(f"vision tower type {vision_config.model_type!r} is not CLIP or SigLIP")
    strategy = resolve_strategy(vision_config, options.select_strategy)
    check_feature_layer(vision_config, options.vision_feature_layer)
    return LlavaConfig(
        vision_config=vision_config.to_dict(), text_config=text_config.to_dict(), image_token_index=image_token_id,
        image_seq_length=image_seq_length(vision_config, strategy), projector_hidden_act=PROJECTORS[options.projector][0],
        vision_feature_select_strategy=strategy, vision_feature_layer=options.vision_feature_layer,
        tie_word_embeddings=bool(getattr(text_config, "tie_word_embeddings", False)),
    )


def compose(tower: Any, decoder: Any, lm_head: Any, config: Any, projector: Any):
    """A ``LlavaForConditionalGeneration`` built on the meta device, then given the real parts."""
    import torch
    from transformers import LlavaForConditionalGeneration

    with torch.device("meta"):
        model = LlavaForConditionalGeneration(config)
    model.model.vision_tower = tower
    model.model.multi_modal_projector = projector
    model.model.language_model = decoder  # embeddings + layers + norm
    model.lm_head = lm_head
    if config.tie_word_embeddings:
        model.lm_head.weight = model.model.language_model.get_input_embeddings().weight
    leftover = [name for name, tensor in model.state_dict().items() if tensor.is_meta]
    if leftover:
        raise RuntimeError(f"parts left uninitialised after composing the Llava model: {leftover[:3]}")
    return model.eval()


def assemble(encoder: Any, language_model: Any, tokenizer: Any, options: AssembleOptions):
    """(model, processor): a Llava MLLM over ``encoder``'s vision tower and ``language_model``."""
    image_token_id = prepare_tokenizer(tokenizer, language_model)
    tower = vision_tower_from_encoder(encoder)
    config = llava_config(tower.config, language_model.config, image_token_id, options)
    check_context(language_model.config, config.image_seq_length)
    projector = new_projector(config, options.projector, options.seed)
    model = compose(tower, language_model.model, language_model.lm_head, config, projector)
    set_generation_ids(model, tokenizer)
    processor = build_processor(encoder.image_processor, tokenizer, tower.config, config.vision_feature_select_strategy)
    return model, processor


def set_generation_ids(model: Any, tokenizer: Any) -> None:
    generation = model.generation_config
    generation.pad_token_id = tokenizer.pad_token_id
    generation.eos_token_id = tokenizer.eos_token_id
    generation.bos_token_id = tokenizer.bos_token_id


def projector_name(config: Any) -> str:
    """``mlp2x_gelu`` or ``linear`` from a LlavaConfig."""
    return "linear" if config.projector_hidden_act == "linear" else "mlp2x_gelu"
