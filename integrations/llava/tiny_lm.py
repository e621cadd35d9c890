"""A tiny causal LM made locally: a byte-level BPE tokenizer trained with ``tokenizers`` and a random Llama.

For tests and the embedded tiny LLaVA (no LM can be downloaded here). The tokenizer has
``<s>`` (bos, added to every encoding), ``</s>`` (eos), ``<pad>``, ``<image>`` and the
openeyes chat template; byte-level pre-tokenization keeps spaces, so decoding is exact and
cutting a conversation at turn boundaries tokenizes the same as the whole.
"""
from __future__ import annotations

from typing import Any, Iterable

from openeyes.integrations.llava.chat import CHAT_TEMPLATE, IMAGE_TOKEN

BOS_TOKEN, EOS_TOKEN, PAD_TOKEN = "<s>", "</s>", "<pad>"
SPECIAL_TOKENS = (BOS_TOKEN, EOS_TOKEN, PAD_TOKEN, IMAGE_TOKEN)  # ids 0, 1, 2, 3


def train_tiny_lm_tokenizer(texts: Iterable[str], vocab_size: int = 512, max_length: int = 512):
    """Train a byte-level BPE on ``texts``; returns a ``PreTrainedTokenizerFast`` with ``<image>`` and a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size <= len(SPECIAL_TOKENS) + 256:
        raise ValueError(f"vocab_size must exceed {len(SPECIAL_TOKENS) + 256} (specials + byte alphabet), got {vocab_size}")
    backend = Tokenizer(models.BPE(unk_token=None))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    backend.train_from_iterator((str(text) for text in texts), trainer=trainer)
    backend.post_processor = processors.TemplateProcessing(
        single=f"{BOS_TOKEN} $A", pair=f"{BOS_TOKEN} $A $B", special_tokens=[(BOS_TOKEN, backend.token_to_id(BOS_TOKEN))],
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token=BOS_TOKEN, eos_token=EOS_TOKEN, pad_token=PAD_TOKEN, unk_token=None,
        extra_special_tokens={"image_token": IMAGE_TOKEN}, model_max_length=max_length, padding_side="left",
        model_input_names=["input_ids", "attention_mask"],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def tiny_llama_config(tokenizer: Any, **overrides: Any):
    """A small ``LlamaConfig`` sized to ``tokenizer`` (overrides: any LlamaConfig field)."""
    from transformers import LlamaConfig

    settings = dict(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        rms_norm_eps=1e-5,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    settings.update(overrides)
    return LlamaConfig(**settings)


def build_tiny_llama(tokenizer: Any, *, seed: int | None = 0, **overrides: Any):
    """A randomly initialised tiny ``LlamaForCausalLM`` for ``tokenizer`` (eval mode)."""
    import torch
    from transformers import LlamaForCausalLM

    if seed is not None:
        torch.manual_seed(seed)
    model = LlamaForCausalLM(tiny_llama_config(tokenizer, **overrides)).eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    return model


def save_tiny_lm(model: Any, tokenizer: Any, directory: str) -> str:
    """Write the LM + tokenizer as a transformers directory (what ``--lm DIR`` reads)."""
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return str(directory)


RANDOM_MLLM_TEXTS = ["a red circle left of a blue square", "What color is the moon? Blue"] * 5


def random_tiny_llava(texts: list[str] = RANDOM_MLLM_TEXTS):
    """(model, processor) of a randomly initialised tiny LLaVA (32 px CLIP tower + tiny Llama), for tests and benches."""
    from openeyes.encoders.tiny import build_tiny_clip
    from openeyes.encoders.tokenizer import train_caption_tokenizer
    from openeyes.integrations.llava.assemble import AssembleOptions, assemble

    encoder = build_tiny_clip(train_caption_tokenizer(texts, vocab_size=300, max_length=16), image_size=32,
                              patch_size=8, vision_width=64, vision_mlp=128, text_width=32, text_layers=1, embed_dim=24)
    tokenizer = train_tiny_lm_tokenizer(texts, vocab_size=300)
    return assemble(encoder, build_tiny_llama(tokenizer), tokenizer, AssembleOptions())
