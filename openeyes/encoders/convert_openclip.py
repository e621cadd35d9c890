"""Convert an open_clip ViT CLIP into a transformers ``CLIPModel`` (+ tokenizer, image processor).

Every weight is mapped explicitly (conv1, class/positional embeddings, ln_pre, the fused
attention ``in_proj`` split into q/k/v, out_proj, ln_1/ln_2, mlp c_fc/c_proj, ln_post, the
transposed ``proj`` and ``text_projection``, token/positional text embeddings, ln_final,
logit_scale); LayerScale factors, when present, are folded into the projections they scale.
Activation (gelu / quick_gelu / tanh gelu) and LayerNorm eps come from the modules themselves.

Text pooling: open_clip's default pools at ``argmax(input_ids)`` (the EOT token has the largest
id); transformers does exactly that when ``text_config.eos_token_id == 2`` (its legacy rule), so
that value is written for ``argmax`` towers; ``eos`` towers get their eos id.

Refused with ``UserError``: ModifiedResNet and timm vision towers, HF text towers, attentional
poolers, pooling other than the CLS token, no ln_pre, custom attention blocks, text CLS
embedding, bidirectional text, text projection bias, logit bias (sigmoid-loss models).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

import openeyes  # noqa: F401
from openeyes.encoders.tiny import LEGACY_ARGMAX_EOS_ID
from openeyes.errors import UserError

HF_BOS, HF_EOS = "<|startoftext|>", "<|endoftext|>"
OPEN_CLIP_SPECIALS = {"<start_of_text>": HF_BOS, "<end_of_text>": HF_EOS}


# -- tower inspection -----------------------------------------------------------------------
class TextTower:
    """The pieces of an open_clip text transformer, wherever the model keeps them."""

    def __init__(self, model: nn.Module):
        source = getattr(model, "text", None)
        if source is not None:  # CustomTextCLIP
            from open_clip.transformer import TextTransformer

            if not isinstance(source, TextTransformer):
                raise UserError(f"cannot convert a {type(source).__name__} text tower (only open_clip's TextTransformer)")
            self.pool_type, self.eos_id = source.pool_type, source.eos_id
            if source.cls_emb is not None:
                raise UserError("cannot convert a text tower with a CLS embedding (embed_cls)")
            self.attn_mask = source.attn_mask
        else:  # CLIP keeps the text tower's parts at top level
            source = model
            self.pool_type, self.eos_id = model.text_pool_type, getattr(model, "text_eos_id", None)
            self.attn_mask = model.attn_mask
        self.token_embedding = source.token_embedding
        self.positional_embedding = source.positional_embedding
        self.transformer = source.transformer
        self.ln_final = source.ln_final
        self.text_projection = source.text_projection


def _check_vision(visual: nn.Module) -> None:
    from open_clip.transformer import VisionTransformer

    if not isinstance(visual, VisionTransformer):
        raise UserError(
            f"cannot convert a {type(visual).__name__} vision tower to a transformers CLIPModel: only open_clip ViTs "
            "(not ModifiedResNet or timm towers)"
        )
    if visual.attn_pool is not None:
        raise UserError("cannot convert a ViT with an attentional pooler (CoCa-style) to CLIPModel")
    if visual.pool_type != "tok":
        raise UserError(f"cannot convert a ViT pooling by {visual.pool_type!r}: CLIPModel pools the CLS token")
    if isinstance(visual.ln_pre, nn.Identity):
        raise UserError("cannot convert a ViT without ln_pre (no_ln_pre): CLIPModel always applies it")
    if visual.proj is None:
        raise UserError("cannot convert a ViT without an output projection")
    if len(set(visual.image_size)) != 1 or len(set(visual.patch_size)) != 1:
        raise UserError("cannot convert a non-square ViT (image or patch size) to CLIPModel")


def _check_blocks(transformer: nn.Module, tower: str) -> None:
    from open_clip.transformer import ResidualAttentionBlock

    for block in transformer.resblocks:
        if type(block) is not ResidualAttentionBlock or not isinstance(block.attn, nn.MultiheadAttention):
            raise UserError(f"cannot convert the {tower} tower: custom attention blocks ({type(block).__name__})")
        if not isinstance(getattr(block, "ln_attn", nn.Identity()), nn.Identity):
            raise UserError(f"cannot convert the {tower} tower: scale_attn layer norms have no CLIPModel equivalent")
        if not isinstance(block.mlp[1], nn.Module) or len(block.mlp) != 3:
            raise UserError(f"cannot convert the {tower} tower: MLP with extra layers (scale_fc)")


def activation_name(transformer: nn.Module) -> str:
    """transformers' ``hidden_act`` for the activation inside an open_clip MLP."""
    from open_clip.transformer import QuickGELU

    act = transformer.resblocks[0].mlp.gelu
    if isinstance(act, QuickGELU):
        return "quick_gelu"
    if isinstance(act, nn.GELU):
        return "gelu" if act.approximate == "none" else "gelu_pytorch_tanh"
    raise UserError(f"cannot convert activation {type(act).__name__}")


def layer_norm_eps(*norms: nn.Module) -> float:
    eps = {float(norm.eps) for norm in norms}
    if len(eps) != 1:
        raise UserError(f"cannot convert: layer norms use different eps values {sorted(eps)}")
    return eps.pop()


def _text_eos_token_id(text: TextTower) -> int:
    if text.pool_type == "argmax":
        return LEGACY_ARGMAX_EOS_ID
    if text.pool_type == "eos" and text.eos_id is not None and text.eos_id != LEGACY_ARGMAX_EOS_ID:
        return int(text.eos_id)
    raise UserError(f"cannot convert text pooling {text.pool_type!r} (eos id {text.eos_id}): CLIPModel pools by argmax or first eos")


# -- config + weights -------------------------------------------------------------------------
def hf_clip_config(model: nn.Module, *, bos_token_id: int | None = None, pad_token_id: int | None = None):
    """The ``CLIPConfig`` matching an open_clip ViT CLIP (raises UserError for unsupported variants)."""
    from transformers import CLIPConfig

    visual = model.visual
    _check_vision(visual)
    text = TextTower(model)
    if text.attn_mask is None:
        raise UserError("cannot convert a text tower without causal mask: CLIPModel's text encoder is causal")
    if isinstance(text.text_projection, nn.Linear) and text.text_projection.bias is not None:
        raise UserError("cannot convert a text projection with bias: CLIPModel's has none")
    if text.text_projection is None:
        raise UserError("cannot convert a text tower without projection")
    if getattr(model, "logit_bias", None) is not None:
        raise UserError("cannot convert a model with a logit bias (sigmoid loss): CLIPModel has no logit_bias")
    _check_blocks(visual.transformer, "vision")
    _check_blocks(text.transformer, "text")
    vision_block, text_block = visual.transformer.resblocks[0], text.transformer.resblocks[0]
    vocab_size, text_width = text.token_embedding.weight.shape
    embed_dim = visual.proj.shape[1]
    vision_config = dict(
        image_size=visual.image_size[0],
        patch_size=visual.patch_size[0],
        hidden_size=visual.transformer.width,
        intermediate_size=vision_block.mlp.c_fc.out_features,
        num_hidden_layers=len(visual.transformer.resblocks),
        num_attention_heads=vision_block.attn.num_heads,
        hidden_act=activation_name(visual.transformer),
        layer_norm_eps=layer_norm_eps(visual.ln_pre, visual.ln_post, *_block_norms(visual.transformer)),
    )
    text_config = dict(
        vocab_size=vocab_size,
        hidden_size=text_width,
        intermediate_size=text_block.mlp.c_fc.out_features,
        num_hidden_layers=len(text.transformer.resblocks),
        num_attention_heads=text_block.attn.num_heads,
        max_position_embeddings=text.positional_embedding.shape[0],
        hidden_act=activation_name(text.transformer),
        layer_norm_eps=layer_norm_eps(text.ln_final, *_block_norms(text.transformer)),
        eos_token_id=_text_eos_token_id(text),
        bos_token_id=bos_token_id if bos_token_id is not None else vocab_size - 2,
        pad_token_id=pad_token_id if pad_token_id is not None else 0,
    )
    return CLIPConfig(
        text_config=text_config,
        vision_config=vision_config,
        projection_dim=int(embed_dim),
        logit_scale_init_value=float(model.logit_scale.detach().reshape(-1)[0]),
    )


def _block_norms(transformer: nn.Module) -> list[nn.Module]:
    return [norm for block in transformer.resblocks for norm in (block.ln_1, block.ln_2)]


def _layer_scale(module: nn.Module, width: int) -> torch.Tensor:
    """LayerScale factors [width] (ones for nn.Identity)."""
    gamma = getattr(module, "gamma", None)
    return torch.ones(width) if gamma is None else gamma.detach().float()


def _block_weights(block: nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    """One open_clip ResidualAttentionBlock -> CLIPEncoderLayer weights (LayerScale folded)."""
    width = block.ln_1.weight.shape[0]
    q, k, v = block.attn.in_proj_weight.detach().chunk(3, dim=0)  # each [width, width]
    q_bias, k_bias, v_bias = block.attn.in_proj_bias.detach().chunk(3, dim=0)
    gamma_attn = _layer_scale(block.ls_1, width).to(q.dtype)
    gamma_mlp = _layer_scale(block.ls_2, width).to(q.dtype)
    out_proj, fc1, fc2 = block.attn.out_proj, block.mlp.c_fc, block.mlp.c_proj
    return {
        f"{prefix}.self_attn.q_proj.weight": q,
        f"{prefix}.self_attn.q_proj.bias": q_bias,
        f"{prefix}.self_attn.k_proj.weight": k,
        f"{prefix}.self_attn.k_proj.bias": k_bias,
        f"{prefix}.self_attn.v_proj.weight": v,
        f"{prefix}.self_attn.v_proj.bias": v_bias,
        f"{prefix}.self_attn.out_proj.weight": out_proj.weight.detach() * gamma_attn[:, None],
        f"{prefix}.self_attn.out_proj.bias": out_proj.bias.detach() * gamma_attn,
        f"{prefix}.layer_norm1.weight": block.ln_1.weight.detach(),
        f"{prefix}.layer_norm1.bias": block.ln_1.bias.detach(),
        f"{prefix}.layer_norm2.weight": block.ln_2.weight.detach(),
        f"{prefix}.layer_norm2.bias": block.ln_2.bias.detach(),
        f"{prefix}.mlp.fc1.weight": fc1.weight.detach(),
        f"{prefix}.mlp.fc1.bias": fc1.bias.detach(),
        f"{prefix}.mlp.fc2.weight": fc2.weight.detach() * gamma_mlp[:, None],
        f"{prefix}.mlp.fc2.bias": fc2.bias.detach() * gamma_mlp,
    }


def _norm_weights(norm: nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    return {f"{prefix}.weight": norm.weight.detach(), f"{prefix}.bias": norm.bias.detach()}


def hf_clip_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every CLIPModel weight, computed from the open_clip model."""
    visual, text = model.visual, TextTower(model)
    state = {
        "vision_model.embeddings.class_embedding": visual.class_embedding.detach(),
        "vision_model.embeddings.patch_embedding.weight": visual.conv1.weight.detach(),
        "vision_model.embeddings.position_embedding.weight": visual.positional_embedding.detach(),
        **_norm_weights(visual.ln_pre, "vision_model.pre_layrnorm"),
        **_norm_weights(visual.ln_post, "vision_model.post_layernorm"),
        "visual_projection.weight": visual.proj.detach().t(),  # [width, D] -> [D, width]
        "text_model.embeddings.token_embedding.weight": text.token_embedding.weight.detach(),
        "text_model.embeddings.position_embedding.weight": text.positional_embedding.detach(),
        **_norm_weights(text.ln_final, "text_model.final_layer_norm"),
        "logit_scale": model.logit_scale.detach().reshape(()),
    }
    if isinstance(text.text_projection, nn.Linear):
        state["text_projection.weight"] = text.text_projection.weight.detach()  # already [D, width]
    else:
        state["text_projection.weight"] = text.text_projection.detach().t()  # [width, D] -> [D, width]
    for index, block in enumerate(visual.transformer.resblocks):
        state.update(_block_weights(block, f"vision_model.encoder.layers.{index}"))
    for index, block in enumerate(text.transformer.resblocks):
        state.update(_block_weights(block, f"text_model.encoder.layers.{index}"))
    return state


def openclip_to_hf(model: nn.Module, *, bos_token_id: int | None = None, pad_token_id: int | None = None):
    """An open_clip ViT CLIP -> an equivalent transformers ``CLIPModel`` (eval mode, float32)."""
    from transformers import CLIPModel

    config = hf_clip_config(model, bos_token_id=bos_token_id, pad_token_id=pad_token_id)
    hf_model = CLIPModel(config)
    state = {key: value.float().clone() for key, value in hf_clip_state_dict(model).items()}
    expected = {key for key in hf_model.state_dict()}
    missing, unexpected = expected - set(state), set(state) - expected
    if missing or unexpected:  # a bug in the mapping, not user input
        raise RuntimeError(f"open_clip -> CLIPModel mapping incomplete: missing {sorted(missing)}, unexpected {sorted(unexpected)}")
    hf_model.load_state_dict(state, strict=True)
    return hf_model.eval()


# -- tokenizer, encoder, artifact -------------------------------------------------------------
def openclip_tokenizer_to_hf(tokenizer: Any, context_length: int):
    """open_clip's SimpleTokenizer -> an equivalent transformers ``CLIPTokenizer`` (same ids)."""
    from open_clip.tokenizer import HFTokenizer, SimpleTokenizer
    from transformers import CLIPTokenizer

    if isinstance(tokenizer, HFTokenizer):
        hf_tokenizer = tokenizer.tokenizer
        hf_tokenizer.model_max_length = context_length
        return hf_tokenizer
    if not isinstance(tokenizer, SimpleTokenizer):
        if hasattr(tokenizer, "save_pretrained"):  # already a transformers tokenizer
            return tokenizer
        raise UserError(f"cannot convert tokenizer {type(tokenizer).__name__}; pass a transformers tokenizer")
    vocab = {OPEN_CLIP_SPECIALS.get(token, token): index for token, index in tokenizer.encoder.items()}
    merges = [tuple(pair) for pair, _ in sorted(tokenizer.bpe_ranks.items(), key=lambda item: item[1])]
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=context_length)


def openclip_encoder_to_hf(encoder: Any, tokenizer: Any = None):
    """An ``OpenClipEncoder`` -> an ``HFEncoder`` with the same embeddings, preprocessing and ids."""
    from openeyes.encoders.hf_backend import HFEncoder, clip_image_processor

    hf_tokenizer = openclip_tokenizer_to_hf(tokenizer if tokenizer is not None else encoder.tokenizer, encoder.context_length)
    hf_model = openclip_to_hf(encoder.model, bos_token_id=hf_tokenizer.bos_token_id, pad_token_id=hf_tokenizer.pad_token_id)
    if len(hf_tokenizer) > hf_model.config.text_config.vocab_size:
        raise UserError(
            f"tokenizer has {len(hf_tokenizer)} tokens but the text tower only {hf_model.config.text_config.vocab_size}; "
            "pass the tokenizer the model was trained with"
        )
    processor = clip_image_processor(encoder.image_size, encoder.transform.mean, encoder.transform.std)
    return HFEncoder(hf_model, processor, hf_tokenizer, name=encoder.name)


def save_openclip_artifact(
    encoder: Any,
    out_dir: str | Path,
    *,
    name: str,
    base: str | None = None,
    tokenizer: Any = None,
    config: dict[str, Any] | None = None,
    **card: Any,
) -> Path:
    """Convert an ``OpenClipEncoder`` and write it as an openeyes encoder artifact."""
    from openeyes.encoders.artifact import save_encoder_artifact

    hf_encoder = openclip_encoder_to_hf(encoder, tokenizer=tokenizer)
    config = {"converted_from": "open_clip", **(config or {})}
    return save_encoder_artifact(hf_encoder, out_dir, name=name, base=base or encoder.name, config=config, **card)
