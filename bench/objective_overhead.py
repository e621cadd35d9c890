"""Train-step cost of each objective relative to plain CLIP, on the same model and batch.

    python bench/objective_overhead.py [--batch 64] [--steps 5] [--threads 2]

Prints one JSON line per objective: ``step_s`` (forward + backward + AdamW step),
``overhead_vs_clip`` (step time / CLIP's step time, measured in the same run), and
``loss_share``: the share of the step spent in the objective itself, i.e. its forward and
backward given the clean-view embeddings already computed (heads, extra views, EMA targets
included). The model is the zoo's tiny CLIP architecture at random init.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

OBJECTIVES = {
    "clip": [("clip", {})],
    "saco": [("clip", {}), ("saco", {"mode": "continue"})],
    "clipin": [("clip", {}), ("clipin", {"pre_dim": 256, "contrastive_dim": 128, "noncontrastive_dim": 1024,
                                         "predictor_hidden_dim": 256, "contrastive": False})],
    "nclip": [("nclip", {"output_dim": 4096, "hidden_dim": 512})],
    "xclip": [("xclip", {"nclip": {"output_dim": 4096, "hidden_dim": 512}})],
}


def build(batch_size: int):
    from openeyes.encoders.tokenizer import train_caption_tokenizer
    from openeyes.training.recipes.encoder_data import ImageTextCollate
    from openeyes.world.dataset import WorldImageText

    data = WorldImageText(0, "train", size=64, length=batch_size)
    samples = [data[i] for i in range(batch_size)]
    tokenizer = train_caption_tokenizer([s["text"] for s in samples] * 4, vocab_size=512)
    batch = ImageTextCollate(64)(samples)
    batch["index"] = torch.arange(batch_size)
    return tokenizer, batch


class ObjectiveRun:
    """One objective on its own fresh tiny CLIP, with its optimizer: times steps on demand."""

    def __init__(self, name: str, tokenizer, batch):
        from openeyes.config import from_dict
        from openeyes.encoders.tiny import build_tiny_clip
        from openeyes.training.objectives import CONFIGS, Composite, build_objective, weighted_entry

        self.batch = batch
        self.encoder = build_tiny_clip(tokenizer, seed=0).train()
        entries = [weighted_entry(build_objective(n, self.encoder, from_dict(CONFIGS[n], o))) for n, o in OBJECTIVES[name]]
        self.composite = Composite(entries)
        params = [p for p in list(self.encoder.parameters()) + list(self.composite.parameters()) if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=1e-4)

    def step_seconds(self) -> float:
        start = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        self.composite(self.encoder, self.batch)["loss"].backward()
        self.optimizer.step()
        self.composite.on_step_end(self.encoder)
        return time.perf_counter() - start

    def loss_seconds(self) -> float:
        """Objective forward + backward with the clean-view embeddings given as leaves."""
        from openeyes.training.objectives.base import FeatureCache

        cache = FeatureCache(self.encoder, self.batch)
        with torch.no_grad():
            image, text = cache.image_embeds(), cache.text_embeds()
        cache._values["image_embeds"] = image.clone().requires_grad_(True)  # [B, D] leaf
        cache._values["text_embeds"] = text.clone().requires_grad_(True)  # [B, D] leaf
        start = time.perf_counter()
        total = 0.0
        for objective in self.composite.objectives:
            terms = objective(self.encoder, self.batch, cache)
            total = total + sum(v for k, v in terms.items() if not k.startswith("_"))
        total.backward()
        self.optimizer.zero_grad(set_to_none=True)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import openeyes  # noqa: F401  (CPU-torchvision fix before anything imports torchvision)

    tokenizer, batch = build(args.batch)
    runs = {name: ObjectiveRun(name, tokenizer, batch) for name in OBJECTIVES}
    for run in runs.values():
        run.step_seconds()  # warm-up
    steps = {name: [] for name in runs}
    losses = {name: [] for name in runs}
    for _ in range(args.steps):  # interleaved rounds, so machine noise hits every objective alike
        for name, run in runs.items():
            steps[name].append(run.step_seconds())
            losses[name].append(run.loss_seconds())
    clip_step = statistics.median(steps["clip"])
    for name in runs:
        step_s, loss_s = statistics.median(steps[name]), statistics.median(losses[name])
        print(json.dumps({"bench": "objective_overhead", "objective": name, "batch": args.batch,
                          "step_s": round(step_s, 4), "overhead_vs_clip": round(step_s / clip_step, 3),
                          "loss_share": round(min(1.0, loss_s / step_s), 3)}), flush=True)


if __name__ == "__main__":
    main()
