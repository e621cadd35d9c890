"""Entry script for the trainer tests: trains the toy pair and exports its final weights.

    python tests/trainer/train_toy.py --out DIR [--steps 12] [--batch-size 8] ...
    python -m openeyes.trainer.launch --multi_gpu --num_processes 2 ... tests/trainer/train_toy.py --out DIR --batch-size 4
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import openeyes  # noqa: F401
import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).parent))
from trainer_toy import ToyPair, ToyPairs, contrastive_loss  # noqa: E402

from openeyes.trainer.config import OptimConfig, TrainerConfig  # noqa: E402
from openeyes.trainer.loop import Trainer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--grad-accum", type=int, default=1)
    parser.add_argument("--checkpoint-every", type=int, default=4)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--augment", type=float, default=0.05)
    parser.add_argument("--sleep", type=float, default=0.0, help="seconds to wait after each step")
    parser.add_argument("--resume", default="auto")
    args = parser.parse_args()
    torch.set_num_threads(1)

    def on_step_end(model, step):
        if args.sleep:
            time.sleep(args.sleep)

    def export(model, out_dir, summary):
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(Path(out_dir) / "final.safetensors"))

    config = TrainerConfig(steps=args.steps, batch_size=args.batch_size, grad_accum=args.grad_accum,
                           checkpoint_every=args.checkpoint_every, keep_checkpoints=2, log_every=1,
                           out_dir=args.out, resume=args.resume, progress_bar=False, seed=3)
    optim = OptimConfig(lr=3e-3, warmup_steps=2, weight_decay=0.1)
    trainer = Trainer(config, optim, ToyPair(dropout=args.dropout), lambda m, b: contrastive_loss(m, b, args.augment),
                      ToyPairs(64), on_step_end=on_step_end, export=export)
    trainer.train()


if __name__ == "__main__":
    main()
