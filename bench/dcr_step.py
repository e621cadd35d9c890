"""Benchmark of one DCR step (Algorithm 1) on tiny models; prints one JSON line.

    speedup_vs_literal      literal per-anchor loop (test transcription) / vectorized step, B = 16 (target >= 5)
    ratio_vs_plain          vectorized step (one chunk) / a plain batched denoiser forward+backward over the
                            same B (B + 1) (x_t, condition) rows (target <= 1.25)
    ratio_vs_plain_chunked  the same with chunking + activation recomputation (smallest chunk)
    peak_memory_mb          peak memory of the step for three chunk sizes (CUDA: max_memory_allocated;
                            CPU: growth of the peak RSS (VmHWM, reset first) of a fresh subprocess during the step)

Run: ``nice -n 19 python bench/dcr_step.py [--batch 16] [--device cpu|cuda]``.
"""
from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

import openeyes  # noqa: F401  (before transformers image processors)
from openeyes.encoders.tiny import build_tiny_clip
from openeyes.encoders.tokenizer import train_caption_tokenizer
from openeyes.training.objectives.dcr import DcrConditioner, DcrInputs, dcr_loss, encoder_features, negative_indices
from openeyes.training.prior.model import PriorModelConfig, build_prior

CAPTIONS = ["a red circle left of a blue square", "two green triangles above a yellow star", "three blue stars"] * 10
PRIOR = dict(image_size=16, block_out_channels=[16, 32], attention_head_dim=8, text_width=32, text_layers=1, text_heads=2)
ENCODER = dict(image_size=32, patch_size=8, vision_width=64, vision_layers=2, vision_heads=4, vision_mlp=256,
               text_width=32, text_layers=1, text_heads=2, embed_dim=32)


def build(batch: int, device: str):
    torch.manual_seed(0)
    tokenizer = train_caption_tokenizer(CAPTIONS, vocab_size=300, max_length=16)
    prior = build_prior(PriorModelConfig(**PRIOR), tokenizer, seed=0).requires_grad_(False).eval().to(device)
    encoder = build_tiny_clip(tokenizer, seed=1, **ENCODER).train().to(device)
    encoder.model.text_model.requires_grad_(False)
    conditioner = DcrConditioner(encoder.embed_dim, encoder.vision_width, prior.condition_width).to(device)
    images = torch.rand(batch, 3, 32, 32, device=device)
    views = images.flip(-1)
    with torch.no_grad():
        x0 = prior.to_model_space(images)
    noise = torch.randn_like(x0)
    t = prior.schedule.sample_times(batch, device=device)
    return prior, encoder, conditioner, images, views, x0, noise, t


def vectorized_step(prior, encoder, conditioner, images, views, x0, noise, t, chunk_size):
    z, z_aug, _, _ = encoder_features(encoder, images, views, 0.0, -2, None)
    inputs = DcrInputs(x0, noise, t, negative_indices(images.shape[0]).to(x0.device), z, z_aug)
    loss, _ = dcr_loss(prior, conditioner, inputs, 0.1, chunk_size)
    loss.backward()
    return loss


def literal_step(prior, encoder, conditioner, images, views, x0, noise, t):
    """Lines 4-20 of Algorithm 1 one anchor and one candidate at a time (as the exactness test)."""
    empty = prior.empty_condition()
    condition = lambda pixels: conditioner(encoder.encode_image(encoder.normalize(pixels)), None, empty)  # noqa: E731
    losses = []
    for i in range(images.shape[0]):
        t_i = t[i:i + 1]
        x_t = prior.schedule.add_noise(x0[i:i + 1], noise[i:i + 1], t_i)
        anchor = prior.predict(x_t, t_i, condition(images[i:i + 1])).flatten()
        positives = [prior.predict(x_t, t_i, condition(views[i:i + 1])).flatten(),
                     prior.schedule.target(x0[i:i + 1], noise[i:i + 1], t_i).flatten()]
        negatives = [prior.predict(x_t, t_i, condition(images[j:j + 1])).flatten()
                     for j in range(images.shape[0]) if j != i]
        sims = torch.stack([F.cosine_similarity(anchor, c, dim=0) for c in positives + negatives]) / 0.1
        losses.append(-0.5 * (sims[0] + sims[1]) + torch.logsumexp(sims, 0))
    loss = torch.stack(losses).mean()
    loss.backward()
    return loss


def plain_step(prior, x0, noise, t, conditions):
    """One batched denoiser forward + backward over the same B (B + 1) rows (conditions: leaf)."""
    batch = x0.shape[0]
    rows = torch.arange(batch, device=x0.device).repeat_interleave(batch + 1)
    x_t = prior.schedule.add_noise(x0, noise, t)
    prediction = prior.predict(x_t[rows], t[rows], conditions)
    prediction.float().pow(2).mean().backward()


def timed(fn, repeats: int, device: str) -> float:
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2 ** 20


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as handle:
        line = next(l for l in handle if l.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def measure_memory(batch: int, chunk: int, device: str) -> float:
    """Peak memory (MB) of one vectorized step with ``chunk`` rows per denoiser call."""
    parts = build(batch, device)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        vectorized_step(*parts, chunk)
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2 ** 20
    with open("/proc/self/clear_refs", "w") as handle:  # reset the peak-RSS mark (VmHWM) to the current RSS
        handle.write("5")
    base = _rss_mb()
    vectorized_step(*parts, chunk)
    return _peak_rss_mb() - base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--memory-only", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_only is not None:
        print(measure_memory(args.batch, args.memory_only, args.device))
        return

    batch, device = args.batch, args.device
    rows = batch * (batch + 1)
    parts = build(batch, device)
    prior, encoder, conditioner, images, views, x0, noise, t = parts
    vectorized_step(*parts, 0)  # warm-up
    vectorized = timed(lambda: vectorized_step(*parts, 0), args.repeats, device)
    smallest_chunk = max(1, rows // 16)
    chunked = timed(lambda: vectorized_step(*parts, smallest_chunk), args.repeats, device)
    literal = timed(lambda: literal_step(*parts), 1, device)
    with torch.no_grad():
        width = prior.empty_condition().shape
    conditions = torch.randn(rows, *width, device=device, requires_grad=True)
    plain_step(prior, x0, noise, t, conditions)  # warm-up
    plain = timed(lambda: plain_step(prior, x0, noise, t, conditions), args.repeats, device)

    chunks = [0, max(1, rows // 4), smallest_chunk]
    memory = {}
    for chunk in chunks:
        command = [sys.executable, __file__, "--batch", str(batch), "--device", device, "--threads", str(args.threads),
                   "--memory-only", str(chunk)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        memory[str(chunk or rows)] = round(float(output), 1)
    print(json.dumps({
        "batch": batch, "denoiser_rows": rows, "device": device, "threads": args.threads,
        "seconds": {"vectorized": round(vectorized, 4), f"vectorized_chunk{smallest_chunk}": round(chunked, 4),
                    "literal": round(literal, 4), "plain_forward_backward": round(plain, 4)},
        "speedup_vs_literal": round(literal / vectorized, 2), "speedup_target": 5.0,
        "ratio_vs_plain": round(vectorized / plain, 3), "ratio_vs_plain_chunked": round(chunked / plain, 3),
        "ratio_target": 1.25,
        "peak_memory_mb": memory, "memory_method": "cuda.max_memory_allocated" if device == "cuda" else "peak RSS growth",
    }))


if __name__ == "__main__":
    main()
