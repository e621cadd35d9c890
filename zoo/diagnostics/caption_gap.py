"""Does an MLLM use its image? Caption loss with the true images vs with images shuffled in the batch.

The gap (nats per answer token) is what the image tells the LM about the caption; 0 means the
model ignores it. Reads a world export's LLaVA caption set (``llava_pretrain``).

    python zoo/diagnostics/caption_gap.py --mllm runs/llava/tiny-llava-s1 --data runs/llava/world-train
"""
from __future__ import annotations

import argparse
import json

import openeyes  # noqa: F401
import torch

from openeyes.integrations.llava.data import ConversationCollate, read_conversations
from openeyes.mllm.loading import load_mllm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mllm", required=True)
    parser.add_argument("--data", required=True, help="world export root or LLaVA caption JSON")
    parser.add_argument("--start", type=int, default=11000, help="first caption row used")
    parser.add_argument("--n", type=int, default=48)
    args = parser.parse_args()
    model, processor, _ = load_mllm(args.mllm)
    model.eval()
    dataset = read_conversations(args.data, stage=1)
    collate = ConversationCollate(processor, model.config.image_seq_length, 160)
    batch = collate([dataset[i] for i in range(args.start, args.start + args.n)])
    shuffled = dict(batch, pixel_values=batch["pixel_values"].roll(1, dims=0))
    with torch.no_grad():
        true_loss, shuffled_loss = model(**batch).loss.item(), model(**shuffled).loss.item()
    print(json.dumps({"mllm": args.mllm, "n": args.n, "true_images": true_loss, "shuffled_images": shuffled_loss,
                      "gap": shuffled_loss - true_loss}))


if __name__ == "__main__":
    main()
