"""How well a text LM answers the world's yes/no questions from a scene caption in its context.

Reads a world ``scene_text.json`` (captions standing in for images) and scores every
Yes/No turn by the first-answer-token logits ("Yes" vs "No") after the conversation so far:
accuracy, the yes-rate of the predictions and the margin's ROC AUC. A tiny LM that cannot do
this from text will not learn it from image tokens either.

    python zoo/diagnostics/text_presence.py --lm runs/llava/tiny-lm --scene-text WORLD/scene_text/scene_text.json
"""
from __future__ import annotations

import argparse
import json

import openeyes  # noqa: F401  (CPU torchvision fix before transformers)
import torch
from sklearn.metrics import roc_auc_score
from transformers import AutoModelForCausalLM, AutoTokenizer

from openeyes.integrations.llava.chat import llava_turns_to_messages


def yes_no_prompts(rows: list[dict]) -> list[tuple[list[dict], int]]:
    """(messages up to a Yes/No question, 1 if its answer is Yes) for every such turn."""
    items = []
    for number, row in enumerate(rows):
        messages = llava_turns_to_messages(row["conversations"], f"row {number}")
        for index in range(1, len(messages), 2):
            if messages[index]["content"] in ("Yes", "No"):
                items.append((messages[:index], int(messages[index]["content"] == "Yes")))
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lm", required=True, help="a causal LM directory with its tokenizer and chat template")
    parser.add_argument("--scene-text", required=True)
    parser.add_argument("--limit", type=int, default=500)
    args = parser.parse_args()
    tokenizer = AutoTokenizer.from_pretrained(args.lm)
    model = AutoModelForCausalLM.from_pretrained(args.lm).eval()
    yes = tokenizer(" Yes", add_special_tokens=False)["input_ids"][0]
    no = tokenizer(" No", add_special_tokens=False)["input_ids"][0]
    items = yes_no_prompts(json.load(open(args.scene_text)))[: args.limit]
    margins = []
    for messages, _ in items:
        ids = tokenizer.apply_chat_template(messages, return_tensors="pt", return_dict=True)["input_ids"]
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, -1]  # [V]
        margins.append(float(logits[yes] - logits[no]))
    gold = [label for _, label in items]
    predicted = [int(m > 0) for m in margins]
    print(json.dumps({"lm": args.lm, "n": len(items),
                      "accuracy": sum(p == g for p, g in zip(predicted, gold)) / len(items),
                      "yes_rate": sum(predicted) / len(items), "auc": roc_auc_score(gold, margins)}))


if __name__ == "__main__":
    main()
