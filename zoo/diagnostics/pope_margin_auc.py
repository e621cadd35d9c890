"""How well an MLLM's "Yes" - "No" first-token logit margin separates POPE's present from absent objects.

Accuracy hides a model that leans to one answer everywhere; the margin's ROC AUC does not
(0.5 = no grounding at all). Reads a world (or POPE-layout) folder's ``coco_pope_<split>.json``.

    python zoo/diagnostics/pope_margin_auc.py --mllm zoo:tiny-llava --pope runs/evidence/mllm/world-0/pope
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import openeyes  # noqa: F401  (CPU torchvision fix before transformers)
import torch
from PIL import Image
from sklearn.metrics import roc_auc_score

from openeyes.eval_mllm.mllm.pope import SUFFIX
from openeyes.mllm.loading import load_mllm


def margins(model, processor, root: Path, rows: list[dict], batch_size: int) -> list[float]:
    """Logit("Yes") - logit("No") at the first answer position, one per question."""
    tokenizer = processor.tokenizer
    tokenizer.padding_side = "left"
    yes = tokenizer(" Yes", add_special_tokens=False)["input_ids"][0]
    no = tokenizer(" No", add_special_tokens=False)["input_ids"][0]
    values = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        texts = [processor.apply_chat_template(
            [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": row["text"] + SUFFIX}]}],
            add_generation_prompt=True) for row in chunk]
        images = [Image.open(root / "images" / row["image"]).convert("RGB") for row in chunk]
        batch = processor(images=images, text=texts, return_tensors="pt", padding=True)
        with torch.no_grad():
            logits = model(**batch).logits[:, -1]  # [B, V]
        values += (logits[:, yes] - logits[:, no]).tolist()
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mllm", required=True)
    parser.add_argument("--pope", required=True, type=Path, help="folder with coco_pope_<split>.json and images/")
    parser.add_argument("--split", default="random")
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=50)
    args = parser.parse_args()
    model, processor, _ = load_mllm(args.mllm)
    model.eval()
    lines = (args.pope / f"coco_pope_{args.split}.json").read_text().splitlines()
    rows = [json.loads(line) for line in lines if line.strip()][: args.limit]
    values = margins(model, processor, args.pope, rows, args.batch_size)
    gold = [1 if row["label"] == "yes" else 0 for row in rows]
    print(json.dumps({"mllm": args.mllm, "split": args.split, "n": len(rows),
                      "auc_yes_minus_no": roc_auc_score(gold, values)}))


if __name__ == "__main__":
    main()
