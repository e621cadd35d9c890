"""Bounded load test of a running openeyes server on loopback; prints one JSON line per route.

    python bench/serving_load.py --url http://127.0.0.1:3000 --concurrency 64 --seconds 60 --route embeddings
    python bench/serving_load.py --route vqa --concurrency 64 --seconds 60

Each client loops on its request until the time is up; reported: requests, errors (non-200 or
transport), throughput (req/s) and latency p50/p99 (ms).
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import time

import httpx
import numpy as np


def _image_uri(seed: int = 0, side: int = 64) -> str:
    from PIL import Image

    array = np.random.default_rng(seed).integers(0, 255, (side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def request_for(route: str) -> tuple[str, dict]:
    image = _image_uri()
    if route == "embeddings":
        return "/v1/embeddings", {"input": [image]}
    if route == "texts":
        return "/embed/texts", {"texts": ["a red circle left of a blue square"]}
    if route == "vqa":
        return "/vqa", {"image": image, "question": "What color is the circle?", "max_new_tokens": 8}
    raise SystemExit(f"unknown route {route!r}; use embeddings, texts or vqa")


async def run(url: str, route: str, concurrency: int, seconds: float, api_key: str | None) -> dict:
    path, body = request_for(route)
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
                    response = await client.post(path, json=body)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:3000")
    parser.add_argument("--route", action="append", help="embeddings | texts | vqa (repeatable)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--api-key", default=None)
    args = parser.parse_args()
    if "127.0.0.1" not in args.url and "localhost" not in args.url:
        raise SystemExit("this benchmark only targets loopback servers")
    for route in args.route or ["embeddings"]:
        print(json.dumps(asyncio.run(run(args.url, route, args.concurrency, args.seconds, args.api_key))), flush=True)


if __name__ == "__main__":
    main()
