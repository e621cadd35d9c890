"""Which shapes are present, read linearly from an encoder's patch tokens, and how that read-out does on POPE.

A logistic regression per noun on the mean patch token of one vision layer (world training
scenes, seed 5; held out: seed 6, test split) gives the balanced accuracy of "is there a X"; the
same probes then answer a POPE folder's questions. This bounds what a projector + LM could get
from the features without any binding skill.

    python zoo/diagnostics/presence_probe.py --encoder zoo:tiny-clip --layer -1 --pope runs/evidence/mllm/world-0/pope
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import openeyes  # noqa: F401
import numpy as np
from PIL import Image
from sklearn.linear_model import LogisticRegression

from openeyes.encoders.loading import load_encoder
from openeyes.eval_mllm.encoder.data.images import batched
from openeyes.eval_mllm.encoder.embed import embed_image_patches
from openeyes.world.dataset import WorldImageText
from openeyes.world.vocab import NOUNS


class InMemoryImages:
    """PIL images already decoded, as the ImageStore that ``embed_image_patches`` reads."""

    def __init__(self, images: list[Image.Image]):
        self.images = images

    def iter_batches(self, batch_size: int):
        yield from batched(self.images, batch_size)


def patch_means(encoder, images: list[Image.Image], layer: int, batch_size: int = 128) -> np.ndarray:
    """[N, W] mean patch token of ``layer`` (CLS left out)."""
    return embed_image_patches(encoder, InMemoryImages(images), batch_size, layer).numpy()


def world_split(encoder, seed: int, split: str, n: int, layer: int) -> tuple[np.ndarray, np.ndarray]:
    dataset = WorldImageText(seed, split, size=encoder.image_size)
    items = [dataset[i] for i in range(n)]
    features = patch_means(encoder, [Image.fromarray(item["image"]) for item in items], layer)
    return features, np.array([item["labels"]["nouns_present"] for item in items])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", required=True)
    parser.add_argument("--layer", type=int, default=-1)
    parser.add_argument("--train", type=int, default=3000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--pope", type=Path, help="optional POPE folder (coco_pope_random.json, images/)")
    args = parser.parse_args()
    encoder = load_encoder(args.encoder)
    train_x, train_y = world_split(encoder, 5, "train", args.train, args.layer)
    test_x, test_y = world_split(encoder, 6, "test", args.test, args.layer)
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    probes, balanced = {}, {}
    for k, noun in enumerate(NOUNS):
        if train_y[:, k].min() == train_y[:, k].max():
            continue
        probes[noun] = LogisticRegression(max_iter=3000, class_weight="balanced").fit(train_x, train_y[:, k])
        predicted = probes[noun].predict(test_x)
        present = test_y[:, k] == 1
        balanced[noun] = float((predicted[present].mean() + (1 - predicted[~present]).mean()) / 2)
    report = {"encoder": args.encoder, "layer": args.layer, "balanced_accuracy": float(np.mean(list(balanced.values()))),
              "per_noun": balanced}
    if args.pope:
        rows = [json.loads(line) for line in (args.pope / "coco_pope_random.json").read_text().splitlines() if line.strip()]
        rows = [row for row in rows[:400] if row["text"].split(" ")[-4] in probes]  # "Is there a X in the image?"
        features = (patch_means(encoder, [Image.open(args.pope / "images" / row["image"]).convert("RGB")
                                          for row in rows], args.layer) - mean) / std
        agree = [int(probes[row["text"].split(" ")[-4]].predict(f[None])[0]) == (row["label"] == "yes")
                 for row, f in zip(rows, features)]
        report["pope_agreement"] = float(np.mean(agree))
        report["pope_questions"] = len(agree)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
