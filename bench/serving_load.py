"""Bounded load test of an openeyes server on loopback; prints one JSON line per measurement.

    python bench/serving_load.py --url http://127.0.0.1:3000 --concurrency 64 --seconds 60 --route embeddings
    python bench/serving_load.py --encoder DIR --mllm DIR --route embeddings --route vqa   # starts `openeyes serve`
    python bench/serving_load.py --ratio --seconds 30                                    # HTTP vs in-process

Each client loops on its request until the time is up; reported: requests, errors (non-200 or
transport), throughput (req/s) and latency p50/p99 (ms). ``--ratio`` builds a ViT-B/32-sized
random-init CLIP (vision 768 wide, 12 layers, patch 32, 224 px; small text tower), serves it
with ``openeyes serve --encoder`` and alternates slices of in-process batched image throughput
(batch 32) with HTTP ``/embed/images`` throughput at concurrency 32 (one 224 px image per
request), so that other load on the machine hits both alike; the target is a ratio >= 0.85.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np


def _image_uri(seed: int = 0, side: int = 64) -> str:
    from PIL import Image

    array = np.random.default_rng(seed).integers(0, 255, (side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def request_for(route: str, side: int = 64) -> tuple[str, dict]:
    image = _image_uri(side=side)
    if route == "images":
        return "/embed/images", {"images": [image]}
    if route == "embeddings":
        return "/v1/embeddings", {"input": [image]}
    if route == "texts":
        return "/embed/texts", {"texts": ["a red circle left of a blue square"]}
    if route == "vqa":
        return "/vqa", {"image": image, "question": "What color is the circle?", "max_new_tokens": 8}
    raise SystemExit(f"unknown route {route!r}; use embeddings, images, texts or vqa")


async def run(url: str, route: str, concurrency: int, seconds: float, api_key: str | None, side: int = 64,
              request: tuple[str, dict] | None = None) -> dict:
    """Closed-loop load: ``concurrency`` clients repeat one request (``request`` or the route's default;
    a ``(path, None)`` request is a GET)."""
    path, body = request or request_for(route, side)
    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120, headers=headers, limits=limits) as client:
        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    response = await (client.post(path, json=body) if body is not None else client.get(path))
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - started) if ok else None
                errors += 0 if ok else 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    lat = np.array(latencies) * 1000 if latencies else np.array([float("nan")])
    return {"route": route, "concurrency": concurrency, "seconds": round(elapsed, 2), "requests": len(latencies) + errors,
            "errors": errors, "throughput_rps": round(len(latencies) / elapsed, 2),
            "p50_ms": round(float(np.percentile(lat, 50)), 2), "p99_ms": round(float(np.percentile(lat, 99)), 2)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def served(encoder: str, mllm: str, threads: int, workers: int = 1, extra: tuple[str, ...] = ()):
    """``openeyes serve`` (BentoML; ``extra=("--standalone",)``: uvicorn alone) on a free loopback port;
    yields its URL once /readyz is 200."""
    import httpx

    port = free_port()
    command = [sys.executable, "-c", "from openeyes.serving.cli import app; app()", "--encoder", encoder, "--mllm", mllm,
               "--no-ui", "--port", str(port), "--threads", str(threads), "--workers", str(workers), *extra]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "BENTOML_DO_NOT_TRACK": "true", "TOKENIZERS_PARALLELISM": "false"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 300
        while True:
            if process.poll() is not None or time.time() > deadline:
                raise SystemExit(f"openeyes serve did not become ready (exit code {process.poll()})")
            try:
                if httpx.get(url + "/readyz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        yield url
    finally:
        stop_process(process)


def stop_process(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()


def build_vit_b32(directory: Path) -> str:
    """A random-init CLIP with ViT-B/32's vision tower (768 wide, 12 layers, patch 32, 224 px)."""
    import openeyes  # noqa: F401
    from openeyes.encoders.artifact import save_encoder_artifact
    from openeyes.encoders.tiny import build_tiny_clip
    from openeyes.encoders.tokenizer import train_caption_tokenizer

    tokenizer = train_caption_tokenizer(["a red circle left of a blue square", "a photo of a star"] * 8,
                                        vocab_size=300, max_length=16)
    encoder = build_tiny_clip(tokenizer, image_size=224, patch_size=32, vision_width=768, vision_layers=12,
                              vision_heads=12, vision_mlp=3072, text_width=64, text_layers=1, embed_dim=512,
                              name="vit-b32-random")
    return str(save_encoder_artifact(encoder, directory / "vit-b32-random", name="vit-b32-random"))


class InProcess:
    """The encoder loaded in this process: images/s of ``EncoderRuntime.embed_images`` (preprocessing included)."""

    def __init__(self, encoder_dir: str, batch: int, threads: int):
        import io as _io

        import torch
        from PIL import Image

        from openeyes.serving.runtime import EncoderRuntime

        torch.set_num_threads(threads)
        self.runtime = EncoderRuntime(encoder_dir)
        payload = base64.b64decode(_image_uri(side=224).split(",", 1)[1])
        self.images = [Image.open(_io.BytesIO(payload)).convert("RGB") for _ in range(batch)]
        self.runtime.embed_images(self.images[:2])  # warm-up

    def measure(self, seconds: float) -> tuple[int, float]:
        """(images embedded, elapsed s) over whole batches for about ``seconds``."""
        done, began = 0, time.perf_counter()
        while time.perf_counter() - began < seconds:
            self.runtime.embed_images(self.images)
            done += len(self.images)
        return done, time.perf_counter() - began


def ratio_bench(seconds: float, concurrency: int, threads: int, rounds: int = 3) -> None:
    """Alternate in-process and HTTP slices (``rounds`` of each, ``seconds`` in all per side), so
    that load from other processes on the machine hits both sides alike."""
    with tempfile.TemporaryDirectory(prefix="openeyes-vitb32-") as tmp:
        encoder_dir = build_vit_b32(Path(tmp))
        with served(encoder_dir, "none", threads) as url:
            inside = InProcess(encoder_dir, batch=concurrency, threads=threads)
            asyncio.run(run(url, "images", concurrency, 5, None, side=224))  # warm-up
            totals = {"in_images": 0, "in_s": 0.0, "http_images": 0, "http_s": 0.0, "http_errors": 0}
            for _ in range(rounds):
                done, elapsed = inside.measure(seconds / rounds)
                totals["in_images"] += done
                totals["in_s"] += elapsed
                http = asyncio.run(run(url, "images", concurrency, seconds / rounds, None, side=224))
                totals["http_images"] += http["requests"] - http["errors"]
                totals["http_s"] += http["seconds"]
                totals["http_errors"] += http["errors"]
                print(json.dumps({"measure": "round", "in_process_images_per_s": round(done / elapsed, 2), **http}), flush=True)
        in_rate = totals["in_images"] / totals["in_s"]
        http_rate = totals["http_images"] / totals["http_s"]
        print(json.dumps({"measure": "ratio", "model": "ViT-B/32-sized random CLIP", "batch": concurrency, "threads": threads,
                          "in_process_images_per_s": round(in_rate, 2), "http_images_per_s": round(http_rate, 2),
                          "http_errors": totals["http_errors"], "http_over_in_process": round(http_rate / in_rate, 3),
                          "target": 0.85}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:3000", help="a running server (unless --encoder is given)")
    parser.add_argument("--encoder", default=None, help="start `openeyes serve --encoder ENC` for the run instead of --url")
    parser.add_argument("--mllm", default="none", help="with --encoder: the MLLM to serve (needed for --route vqa)")
    parser.add_argument("--route", action="append", help="embeddings | images | texts | vqa (repeatable)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the served model (and in-process)")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--ratio", action="store_true", help="HTTP vs in-process throughput with a ViT-B/32-sized CLIP")
    args = parser.parse_args()
    if args.ratio:
        ratio_bench(args.seconds, 32 if args.concurrency == 64 else args.concurrency, args.threads)
        return
    if "127.0.0.1" not in args.url and "localhost" not in args.url:
        raise SystemExit("this benchmark only targets loopback servers")

    def measure(url: str) -> None:
        for route in args.route or ["embeddings"]:
            print(json.dumps(asyncio.run(run(url, route, args.concurrency, args.seconds, args.api_key))), flush=True)

    if args.encoder:
        with served(args.encoder, args.mllm, args.threads) as url:
            measure(url)
    else:
        measure(args.url)


if __name__ == "__main__":
    main()
