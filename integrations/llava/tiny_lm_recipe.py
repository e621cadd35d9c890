"""``openeyes integrate tiny-lm``: train the embedded tiny causal LM from scratch on the world's text.

The corpus is every conversation of the given LLaVA JSON files (captions, instruction turns,
and the world's ``scene_text`` rows, where a caption stands in for the image), rendered in the
openeyes chat format without the image (``<image>`` lines dropped), so the LM learns the
world's vocabulary, the question and answer formats and, from ``scene_text``, to answer from a
description in its context; what an image shows it learns later, through the projector (LLaVA
stages 1 and 2). ``data.loss_on`` trains on every token or on the assistant replies only. A
byte-level BPE is trained on the same corpus first. The result is a plain transformers Llama
directory (``--lm DIR`` of ``openeyes integrate llava``) with an openeyes card.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from openeyes.config import to_dict
from openeyes.errors import UserError
from openeyes.trainer.config import OptimConfig, TrainerConfig
from openeyes.trainer.resume import resolve_resume

IGNORE_INDEX = -100
LOSS_ON = ("all", "answers")  # data.loss_on values


@dataclass
class TinyLMModel:
    """Sizes of the Llama (any other LlamaConfig field stays at tiny_llama_config's value)."""

    vocab_size: int = 1024  # BPE vocabulary, specials included
    hidden_size: int = 128  # model width
    intermediate_size: int = 384  # SwiGLU width
    num_hidden_layers: int = 4  # decoder layers
    num_attention_heads: int = 4  # query heads
    num_key_value_heads: int = 2  # grouped key/value heads
    max_position_embeddings: int = 512  # longest sequence (image tokens included, later)


@dataclass
class TinyLMData:
    """Where the text comes from."""

    files: list[str] = field(default_factory=list)  # LLaVA JSON files (captions, conversations)
    max_length: int = 128  # tokens per training sequence (longer ones are cut)
    limit: int | None = None  # first N conversations per file (smoke runs)
    loss_on: str = "all"  # "all" tokens (plain LM), or "answers": assistant replies only (LLaVA's SFT masking)


@dataclass
class TinyLMOptim(OptimConfig):
    lr: float = 1e-3  # peak learning rate
    weight_decay: float = 0.01  # AdamW decay
    warmup_ratio: float = 0.03  # linear warm-up share of the steps


@dataclass
class TinyLMTrainConfig:
    """One tiny-LM training run."""

    name: str = "tiny-lm"  # artifact name in the card
    out: str = "runs/tiny-lm/artifact"  # the transformers LM directory written at the end
    model: TinyLMModel = field(default_factory=TinyLMModel)  # Llama sizes
    data: TinyLMData = field(default_factory=TinyLMData)  # corpus
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(steps=2000, batch_size=64, log_every=50,
                                                                          checkpoint_every=500, keep_checkpoints=1,
                                                                          out_dir="runs/tiny-lm/run"))
    optim: TinyLMOptim = field(default_factory=TinyLMOptim)  # AdamW + warm-up + cosine


def conversation_segment_lists(path: str | Path, limit: int | None = None) -> list[list[tuple[str, bool]]]:
    """Each conversation of a LLaVA JSON file as chat-format (text, is_answer) pieces without the image."""
    from openeyes.datasets.llava import load_llava_json
    from openeyes.integrations.llava.chat import IMAGE_TOKEN, conversation_segments, llava_turns_to_messages

    path = Path(path)
    if not path.is_file():
        raise UserError(f"tiny-LM corpus file {path} not found")
    conversations = []
    for number, row in enumerate(load_llava_json(path)[:limit] if limit else load_llava_json(path)):
        if not isinstance(row, dict) or not isinstance(row.get("conversations"), list):
            raise UserError(f"{path} row {number}: expected an object with a 'conversations' list")
        messages = llava_turns_to_messages(row["conversations"], f"{path} row {number}")
        messages = [{**m, "content": m["content"].replace(IMAGE_TOKEN + "\n", "").replace(IMAGE_TOKEN, "")}
                    for m in messages]
        conversations.append(conversation_segments(messages, "</s>"))
    return conversations


class TokenizedConversations(Dataset):
    """``dataset[i] = (ids, trained)``: conversation i's token ids (bos first, cut to ``max_length``)
    and which of them the loss covers.

    ``loss_on="all"`` tokenizes the whole text and trains on every token; ``"answers"`` tokenizes
    piece by piece (as the LLaVA collate does) and trains on the assistant replies only.
    """

    def __init__(self, conversations: list[list[tuple[str, bool]]], tokenizer: Any, max_length: int,
                 loss_on: str = "all"):
        if loss_on not in LOSS_ON:
            raise UserError(f"data.loss_on must be one of {', '.join(LOSS_ON)}, got {loss_on!r}")
        self.items = [self._encode(segments, tokenizer, loss_on, max_length) for segments in conversations]

    @staticmethod
    def _encode(segments, tokenizer, loss_on: str, max_length: int) -> tuple[list[int], list[bool]]:
        if loss_on == "all":
            ids = tokenizer("".join(piece for piece, _ in segments))["input_ids"][:max_length]
            return ids, [True] * len(ids)
        ids, trained = [tokenizer.bos_token_id], [False]
        for piece, is_answer in segments:
            piece_ids = tokenizer(piece, add_special_tokens=False)["input_ids"]
            ids += piece_ids
            trained += [is_answer] * len(piece_ids)
        return ids[:max_length], trained[:max_length]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[list[int], list[bool]]:
        return self.items[index]


class PadCollate:
    """Right-pads (ids, trained) pairs: ``input_ids``/``attention_mask``/``labels`` [B, L]
    (padding and untrained tokens ignored in the loss)."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, samples: list[tuple[list[int], list[bool]]]) -> dict[str, torch.Tensor]:
        length = max(len(ids) for ids, _ in samples)
        input_ids = torch.full((len(samples), length), self.pad_id, dtype=torch.long)  # [B, L]
        mask = torch.zeros((len(samples), length), dtype=torch.long)  # [B, L]
        trained = torch.zeros((len(samples), length), dtype=torch.bool)  # [B, L]
        for row, (ids, flags) in enumerate(samples):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            mask[row, : len(ids)] = 1
            trained[row, : len(flags)] = torch.tensor(flags, dtype=torch.bool)
        labels = input_ids.masked_fill(~trained | (mask == 0), IGNORE_INDEX)  # [B, L]
        return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}


def lm_loss(model: Any, batch: dict) -> dict:
    output = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
    return {"loss": output.loss}


def train_tiny_lm(config: TinyLMTrainConfig) -> Path:
    """Train tokenizer and LM; write the LM directory (weights, tokenizer, card) to ``config.out``."""
    from openeyes.artifacts import write_card
    from openeyes.integrations.llava.tiny_lm import build_tiny_llama, train_tiny_lm_tokenizer
    from openeyes.trainer import Trainer

    if not config.data.files:
        raise UserError("data.files is empty: give the LLaVA JSON files of the corpus")
    if config.data.loss_on not in LOSS_ON:
        raise UserError(f"data.loss_on must be one of {', '.join(LOSS_ON)}, got {config.data.loss_on!r}")
    config.trainer.place_beside(config.out)
    resolve_resume(config.trainer.resume, config.trainer.out_dir)  # refuse a used run folder before building anything
    from openeyes.integrations.llava.chat import render_segments

    conversations = [c for path in config.data.files for c in conversation_segment_lists(path, config.data.limit)]
    texts = [render_segments(segments) for segments in conversations]
    tokenizer = train_tiny_lm_tokenizer(texts, vocab_size=config.model.vocab_size,
                                        max_length=config.model.max_position_embeddings)
    sizes = {k: v for k, v in to_dict(config.model).items() if k != "vocab_size"}
    model = build_tiny_llama(tokenizer, seed=config.trainer.seed, **sizes).train()
    dataset = TokenizedConversations(conversations, tokenizer, config.data.max_length, config.data.loss_on)

    def export(trained, out_dir, summary):
        trained.eval()
        trained.save_pretrained(config.out)
        tokenizer.save_pretrained(config.out)
        write_card(config.out, "lm", config.name, base="random init", config=to_dict(config),
                   data={"files": config.data.files, "conversations": len(texts)}, seed=config.trainer.seed,
                   steps=summary.get("steps"), metrics={"final_log": summary.get("last") or {}})

    Trainer(config.trainer, config.optim, model, lm_loss, dataset, PadCollate(tokenizer.pad_token_id),
            export=export, run_info={"recipe": "tiny_lm", "name": config.name}, run_config=to_dict(config)).train()
    return Path(config.out)
