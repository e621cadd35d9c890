"""Train a small caption tokenizer in memory (no hub download), for tiny encoders and tests.

A lowercase byte-level BPE over the given captions, wrapped as a transformers fast tokenizer
with CLIP's special tokens: every encoding is ``<|startoftext|> ... <|endoftext|>`` and padding
uses a separate ``<pad>`` token. Ids: bos 0, eos 1, pad 2 (eos is never 2, so a CLIP text tower
configured with it pools at the first eos, not by the legacy argmax rule; see ``tiny.py``).
"""
from __future__ import annotations

from typing import Iterable

BOS_TOKEN = "<|startoftext|>"
EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<pad>"
SPECIAL_TOKENS = (BOS_TOKEN, EOS_TOKEN, PAD_TOKEN)  # ids 0, 1, 2 in this order


def train_caption_tokenizer(texts: Iterable[str], vocab_size: int = 1024, max_length: int = 32):
    """Train a lowercase BPE on ``texts``; returns a ``PreTrainedTokenizerFast`` padding to ``max_length``."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size <= len(SPECIAL_TOKENS) + 256:
        raise ValueError(f"vocab_size must exceed {len(SPECIAL_TOKENS) + 256} (specials + byte alphabet), got {vocab_size}")
    if max_length < 3:
        raise ValueError(f"max_length must be at least 3 (bos, one token, eos), got {max_length}")

    backend = Tokenizer(models.BPE(unk_token=None))
    backend.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Lowercase()])
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator((str(text) for text in texts), trainer=trainer)
    bos_id, eos_id = backend.token_to_id(BOS_TOKEN), backend.token_to_id(EOS_TOKEN)
    backend.post_processor = processors.TemplateProcessing(
        single=f"{BOS_TOKEN} $A {EOS_TOKEN}",
        pair=f"{BOS_TOKEN} $A {EOS_TOKEN} $B {EOS_TOKEN}",
        special_tokens=[(BOS_TOKEN, bos_id), (EOS_TOKEN, eos_id)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        unk_token=None,
        model_max_length=max_length,
        padding_side="right",
        truncation_side="right",
        model_input_names=["input_ids", "attention_mask"],
    )
