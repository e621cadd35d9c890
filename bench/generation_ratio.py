"""VQA and chat throughput over HTTP against the same MLLM batched in-process; prints JSON lines.

    python bench/generation_ratio.py --seconds 60 --concurrency 16        # target: ratio >= 0.6 per route

Serves ``--mllm`` (default ``zoo:tiny-llava``) with ``openeyes serve`` and alternates slices of
(a) in-process ``TransformersMLLM.generate_completions`` over batches of ``--concurrency`` requests,
(b) ``POST /vqa`` and (c) ``POST /v1/chat/completions`` at that concurrency, every request the same
world image and question with greedy decoding of ``--max-new-tokens`` tokens, so that other load on the
machine hits all sides alike. Reported per side: requests/s; then each route's rate over in-process.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import time
from pathlib import Path

from serving_load import run, served

EXAMPLE = Path(__file__).resolve().parents[1] / "serving" / "examples" / "world-05-blue-circle.png"
QUESTION = "Is the circle blue? Answer yes or no."


class InProcessGeneration:
    """The MLLM loaded in this process; requests/s of batched greedy generation."""

    def __init__(self, spec: str, batch: int, max_new_tokens: int, threads: int):
        import torch
        from PIL import Image

        from openeyes.mllm.local import TransformersMLLM
        from openeyes.mllm.protocol import SamplingParams, as_request
        from openeyes.zoo_registry import resolve

        torch.set_num_threads(threads)
        self.mllm = TransformersMLLM.from_pretrained(resolve(spec), batch_size=batch)
        image = Image.open(EXAMPLE).convert("RGB")
        self.requests = [as_request((image, QUESTION)) for _ in range(batch)]
        self.params = SamplingParams(max_new_tokens=max_new_tokens, temperature=0.0)
        self.mllm.generate_completions(self.requests[:2], self.params)  # warm-up

    def measure(self, seconds: float) -> tuple[int, float]:
        done, began = 0, time.perf_counter()
        while time.perf_counter() - began < seconds:
            self.mllm.generate_completions(self.requests, self.params)
            done += len(self.requests)
        return done, time.perf_counter() - began


def http_requests(model: str, max_new_tokens: int) -> dict[str, tuple[str, dict]]:
    uri = "data:image/png;base64," + base64.b64encode(EXAMPLE.read_bytes()).decode()
    return {"vqa": ("/vqa", {"image": uri, "question": QUESTION, "max_new_tokens": max_new_tokens}),
            "chat": ("/v1/chat/completions", {"model": model, "max_tokens": max_new_tokens, "temperature": 0, "messages": [
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": uri}}, {"type": "text", "text": QUESTION}]}]})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mllm", default="zoo:tiny-llava")
    parser.add_argument("--encoder", default="zoo:tiny-clip", help="the server's encoder (not measured)")
    parser.add_argument("--concurrency", type=int, default=16, help="HTTP clients, and the in-process batch")
    parser.add_argument("--seconds", type=float, default=60.0, help="per side, split over the rounds")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2, help="torch threads, served and in-process")
    args = parser.parse_args()
    inside = InProcessGeneration(args.mllm, args.concurrency, args.max_new_tokens, args.threads)
    totals = {side: [0, 0.0, 0] for side in ("in_process", "vqa", "chat")}  # done, seconds, errors
    with served(args.encoder, args.mllm, args.threads) as url:
        requests = http_requests(inside.mllm.name, args.max_new_tokens)
        for route, request in requests.items():  # warm-up
            asyncio.run(run(url, route, args.concurrency, 3, None, request=request))
        for _ in range(args.rounds):
            done, elapsed = inside.measure(args.seconds / args.rounds)
            totals["in_process"][0] += done
            totals["in_process"][1] += elapsed
            line = {"measure": "round", "in_process_rps": round(done / elapsed, 2)}
            for route, request in requests.items():
                http = asyncio.run(run(url, route, args.concurrency, args.seconds / args.rounds, None, request=request))
                totals[route][0] += http["requests"] - http["errors"]
                totals[route][1] += http["seconds"]
                totals[route][2] += http["errors"]
                line[f"{route}_rps"], line[f"{route}_p50_ms"] = http["throughput_rps"], http["p50_ms"]
            print(json.dumps(line), flush=True)
    rate = {side: done / max(seconds, 1e-9) for side, (done, seconds, _) in totals.items()}
    print(json.dumps({"measure": "ratio", "mllm": args.mllm, "concurrency": args.concurrency, "max_new_tokens": args.max_new_tokens,
                      "threads": args.threads, "in_process_rps": round(rate["in_process"], 2),
                      **{f"{route}_rps": round(rate[route], 2) for route in ("vqa", "chat")},
                      **{f"{route}_over_in_process": round(rate[route] / rate["in_process"], 3) for route in ("vqa", "chat")},
                      "errors": {route: totals[route][2] for route in ("vqa", "chat")}, "target": 0.6}), flush=True)


if __name__ == "__main__":
    main()
