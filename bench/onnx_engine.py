"""The int8 ONNX engine (``--engine onnx-int8``) against torch: accuracy on the zoo, speed on ViT-B/32.

    python bench/onnx_engine.py                         # both parts (about 15 minutes on 2 cores)
    python bench/onnx_engine.py --part speed --rounds 3 # speed only

Accuracy: every built zoo encoder (zoo/tiny-*) scored fp32 (torch) and int8 on one held-out world
(``openeyes world generate --seed 100 --n 540 --size 64 --only mmvp_vlm,classification,retrieval``,
made under ``--world`` when missing) with ``openeyes eval encoder``'s scorers: zero-shot top-1,
MMVP-VLM (points), image and text retrieval R@5. Targets: |zero-shot top-1 diff| and |MMVP-VLM diff|
<= 0.5 points, |R@5 diff| <= 0.01. Speed: a random CLIP of ViT-B/32 size (224 px, patch 32, 768x12
vision, 512x12 text, 77 tokens), batch 32, torch eager vs the int8 engine in interleaved A/B rounds
(images then texts each round); medians and ratios. Target: images >= 1.8x torch.
Prints JSON lines: one per zoo encoder, one for speed.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCHES = "mmvp_vlm,zeroshot,retrieval"
LIMITS = {"zeroshot_top1": 0.5, "mmvp_vlm": 0.5, "image_R@5": 0.01, "text_R@5": 0.01}  # points, points, fraction


def scores(encoder, world: Path) -> dict[str, float]:
    from openeyes.eval_mllm.encoder.runner import evaluate_encoder

    result = evaluate_encoder(encoder, BENCHES, world)
    return {"zeroshot_top1": 100 * result["zeroshot"]["metrics"]["acc1"],  # points
            "mmvp_vlm": result["mmvp_vlm"]["metrics"]["pair_accuracy"],  # points
            "image_R@5": result["retrieval"]["metrics"]["image_retrieval_recall@5"],
            "text_R@5": result["retrieval"]["metrics"]["text_retrieval_recall@5"]}


def accuracy(world: Path, names: list[str]) -> None:
    from openeyes.encoders.loading import load_encoder
    from openeyes.zoo_registry import entries

    if not (world / "world.json").is_file():
        subprocess.run([sys.executable, "-m", "openeyes.cli", "world", "generate", "--out", str(world), "--seed", "100",
                        "--n", "540", "--size", "64", "--only", "mmvp_vlm,classification,retrieval"], check=True)
    zoo = entries()
    for name in names or sorted(n for n, e in zoo.items() if e.kind == "encoder" and e.built):
        fp32 = scores(load_encoder(f"zoo:{name}"), world)
        int8_encoder = load_encoder(f"zoo:{name}", engine="onnx-int8")
        int8 = scores(int8_encoder, world)
        diff = {k: round(int8[k] - fp32[k], 4) for k in fp32}
        print(json.dumps({"encoder": name, "fp32": {k: round(v, 4) for k, v in fp32.items()},
                          "int8": {k: round(v, 4) for k, v in int8.items()}, "diff": diff,
                          "probe_cosine": {k: round(v, 5) for k, v in int8_encoder.checked.items()},
                          "within_limits": all(abs(diff[k]) <= LIMITS[k] for k in diff)}), flush=True)


def vit_b32():
    """A random CLIP with ViT-B/32's shapes (tokenizer trained on a few captions, 77-token context)."""
    from openeyes.encoders.tiny import build_tiny_clip
    from openeyes.encoders.tokenizer import train_caption_tokenizer

    tokenizer = train_caption_tokenizer(["a red circle left of a blue square", "two green triangles"] * 20,
                                        vocab_size=400, max_length=77)
    return build_tiny_clip(tokenizer, image_size=224, patch_size=32, vision_width=768, vision_layers=12,
                           vision_heads=12, vision_mlp=3072, text_width=512, text_layers=12, text_heads=8,
                           max_length=77, embed_dim=512).eval()


def speed(rounds: int, batch: int) -> None:
    import torch

    from openeyes.encoders.onnx_engine import EngineConfig, build_engine

    base = vit_b32()
    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        engine = build_engine(base, None, EngineConfig(cache_dir=cache))
        build_s = time.perf_counter() - started
        pixels = torch.randn(batch, 3, 224, 224, generator=torch.Generator().manual_seed(0))  # [B, 3, 224, 224]
        tokens = base.tokenize([f"a photo of {i} red circles left of a blue square" for i in range(batch)])  # [B, 77]
        calls = {("images", "torch"): lambda: base.encode_image(pixels), ("images", "int8"): lambda: engine.encode_image(pixels),
                 ("texts", "torch"): lambda: base.encode_text(tokens), ("texts", "int8"): lambda: engine.encode_text(tokens)}
        timings: dict[tuple[str, str], list[float]] = {key: [] for key in calls}
        with torch.inference_mode():
            for call in calls.values():
                call()  # warm-up
            for _ in range(rounds):  # interleaved A/B: torch and int8 alternate within each round
                for key, call in calls.items():
                    started = time.perf_counter()
                    call()
                    timings[key].append(batch / (time.perf_counter() - started))
    rate = {f"{kind}_per_s_{engine_name}": round(statistics.median(values), 2) for (kind, engine_name), values in timings.items()}
    print(json.dumps({"speed": "ViT-B/32-sized random CLIP", "batch": batch, "text_tokens": int(tokens["input_ids"].shape[1]),
                      "rounds": rounds, "threads": torch.get_num_threads(),
                      **rate, "images_ratio": round(rate["images_per_s_int8"] / rate["images_per_s_torch"], 2),
                      "texts_ratio": round(rate["texts_per_s_int8"] / rate["texts_per_s_torch"], 2),
                      "images_ratio_per_round": [round(b / a, 2) for a, b in zip(timings["images", "torch"], timings["images", "int8"])],
                      "texts_ratio_per_round": [round(b / a, 2) for a, b in zip(timings["texts", "torch"], timings["texts", "int8"])],
                      "probe_cosine": {k: round(v, 5) for k, v in engine.checked.items()}, "engine_build_s": round(build_s, 1)}),
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("all", "accuracy", "speed"), default="all")
    parser.add_argument("--world", type=Path, default=Path("runs/bench-onnx/world-100"), help="held-out world (made when missing)")
    parser.add_argument("--encoders", default="", help="comma-separated zoo names (default: every built zoo encoder)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved A/B speed rounds")
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    if args.part in ("all", "speed"):
        speed(args.rounds, args.batch)
    if args.part in ("all", "accuracy"):
        accuracy(args.world, [n for n in args.encoders.split(",") if n])


if __name__ == "__main__":
    main()
