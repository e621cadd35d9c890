"""Training data for the projector (stage 1) and instruction tuning (stage 2), and the collate.

Reads LLaVA conversation JSON (``blip_laion_cc_sbu_558k.json``-style captions for stage 1,
``llava_v1_5_mix665k.json``-style multi-turn chats for stage 2) or a world export folder
(``openeyes world generate --only llava_pretrain,llava_instruct``). Image paths are relative
to ``image_folder`` (default: ``images/`` beside the JSON when it exists, else the JSON's
folder, as LLaVA's ``--image_folder``). Rows without an image are skipped and counted.

The collate builds what ``LlavaForConditionalGeneration`` trains on: each conversation cut into
chat-format segments (``chat.conversation_segments``), every ``<image>`` expanded to
``image_seq_length`` image tokens, segments tokenized separately and concatenated after bos;
``labels`` are the ids of answer segments (every gpt turn in stage 2; the caption in stage 1)
and -100 everywhere else (prompt, image tokens, padding). Batches are right-padded.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from openeyes.datasets.common import load_image, resolve_image
from openeyes.datasets.llava import load_llava_json
from openeyes.errors import UserError
from openeyes.integrations.llava.chat import IMAGE_TOKEN, conversation_segments, llava_turns_to_messages

IGNORE_INDEX = -100
STAGE_FILES = {1: ("llava_pretrain", "blip_laion_cc_sbu_558k.json"), 2: ("llava_instruct", "llava_v1_5_mix665k.json")}


def find_stage_json(data: str | Path, stage: int) -> Path:
    """``data`` itself (a JSON file), or the stage's JSON inside a world export / export subfolder."""
    path = Path(data).expanduser()
    if path.is_file():
        return path
    if not path.is_dir():
        raise UserError(f"training data {data} not found (give a LLaVA JSON file or a world export folder)")
    folder, name = STAGE_FILES[stage]
    for candidate in (path / name, path / folder / name):
        if candidate.is_file():
            return candidate
    raise UserError(f"{path} has no {name} (nor {folder}/{name}); generate it with "
                    f"`openeyes world generate --out {path} --only {folder}` or pass the JSON file")


@dataclass(frozen=True)
class ConversationRecord:
    image: Path  # the image file
    messages: list  # [{"role": "user"|"assistant", "content": str}], alternating, user first
    row: str  # "file row 7 (id ...)", for errors


class ConversationDataset(Dataset):
    """``dataset[i] == {"image": PIL RGB, "messages": [...]}``."""

    def __init__(self, records: list[ConversationRecord], source: Path, skipped: int = 0):
        self.records = records
        self.source = str(source)
        self.skipped = skipped  # rows without an image

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict:
        record = self.records[index]
        return {"image": load_image(record.image, record.row), "messages": record.messages}


def read_conversations(path: str | Path, *, stage: int, image_folder: str | Path | None = None,
                       check_files: bool = True, limit: int | None = None) -> ConversationDataset:
    """LLaVA JSON -> dataset; stage 1 keeps the first (human, gpt) exchange, stage 2 every turn."""
    path = find_stage_json(path, stage)
    rows = load_llava_json(path)
    root = Path(image_folder) if image_folder else (path.parent / "images" if (path.parent / "images").is_dir() else path.parent)
    records, skipped = [], 0
    for number, row in enumerate(rows[:limit] if limit else rows):
        where = f"{path} row {number}" + (f" (id {row.get('id')})" if isinstance(row, dict) and "id" in row else "")
        if not isinstance(row, dict) or not isinstance(row.get("conversations"), list):
            raise UserError(f"{where}: expected an object with 'image' and a 'conversations' list")
        if "image" not in row:
            skipped += 1
            continue
        messages = llava_turns_to_messages(row["conversations"], where)
        if stage == 1:
            messages = messages[:2]
        if len(messages) < 2:
            raise UserError(f"{where}: needs at least one human turn and one gpt turn")
        if IMAGE_TOKEN not in messages[0]["content"]:
            messages[0] = {**messages[0], "content": IMAGE_TOKEN + "\n" + messages[0]["content"]}
        records.append(ConversationRecord(resolve_image(row["image"], root, where, check_files), messages, where))
    if not records:
        raise UserError(f"LLaVA JSON {path} has no rows with an image")
    return ConversationDataset(records, path, skipped)


class ConversationCollate:
    """Samples -> ``input_ids``/``attention_mask``/``labels`` [B, L] (right-padded), ``pixel_values`` [B, 3, H, W]."""

    def __init__(self, processor: Any, image_seq_length: int, max_length: int = 512):
        self.tokenizer = processor.tokenizer
        self.image_processor = processor.image_processor
        self.image_token = processor.image_token
        self.image_token_id = processor.image_token_id
        self.image_seq_length = image_seq_length
        self.max_length = max_length
        bos = self.tokenizer.bos_token_id
        probe = self.tokenizer("a")["input_ids"]  # does the tokenizer put bos first (Llama) or not (Qwen2)?
        self.prefix = [bos] if bos is not None and probe and probe[0] == bos else []

    def encode(self, messages: list) -> tuple[list[int], list[int]]:
        """(input ids, labels) of one conversation."""
        ids, labels = list(self.prefix), [IGNORE_INDEX] * len(self.prefix)
        for text, is_answer in conversation_segments(messages, self.tokenizer.eos_token):
            text = text.replace(IMAGE_TOKEN, self.image_token * self.image_seq_length)
            piece = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            ids.extend(piece)
            labels.extend(piece if is_answer else [IGNORE_INDEX] * len(piece))
        return ids[: self.max_length], labels[: self.max_length]

    def __call__(self, samples: list[dict]) -> dict[str, torch.Tensor]:
        encoded = [self.encode(sample["messages"]) for sample in samples]
        for ids, _ in encoded:
            count = sum(1 for token in ids if token == self.image_token_id)
            if count != self.image_seq_length:
                raise UserError(f"a training sample holds {count} image tokens after truncation to "
                                f"{self.max_length} tokens, expected {self.image_seq_length}; raise data.max_length")
        length = max(len(ids) for ids, _ in encoded)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.full((len(samples), length), pad, dtype=torch.long)  # [B, L]
        labels = torch.full((len(samples), length), IGNORE_INDEX, dtype=torch.long)  # [B, L]
        attention_mask = torch.zeros((len(samples), length), dtype=torch.long)  # [B, L]
        for row, (ids, target) in enumerate(encoded):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            labels[row, : len(target)] = torch.tensor(target)
            attention_mask[row, : len(ids)] = 1
        pixels = self.image_processor([sample["image"] for sample in samples], return_tensors="pt")["pixel_values"]
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels, "pixel_values": pixels}
