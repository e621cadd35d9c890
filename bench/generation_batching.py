"""Generation throughput of batch 8 over one request at a time on a tiny MLLM; prints one JSON line.

    nice -n 19 python bench/generation_batching.py   # target: speedup >= 3
"""
import json
import time

import openeyes  # noqa: F401  (CPU-torchvision fix first)
import numpy as np
import torch
from PIL import Image


def build():
    from openeyes.integrations.llava.tiny_lm import random_tiny_llava
    from openeyes.mllm.local import TransformersMLLM

    model, processor = random_tiny_llava()
    return TransformersMLLM(model, processor, batch_size=8)


def main(n: int = 16, max_new_tokens: int = 24) -> None:
    torch.set_num_threads(1)
    mllm = build()
    mllm.tokenizer.eos_token = mllm.tokenizer.pad_token  # the random LM (almost) never emits pad: every row runs max_new_tokens
    rng = np.random.default_rng(0)
    requests = [(Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)), f"What is in image {i}?")
                for i in range(n)]
    mllm.generate(requests[:8], max_new_tokens=4)  # warm-up
    start = time.perf_counter()
    for request in requests:
        mllm.generate([request], max_new_tokens=max_new_tokens)
    single = time.perf_counter() - start
    start = time.perf_counter()
    mllm.generate(requests, max_new_tokens=max_new_tokens, batch_size=8)
    batched = time.perf_counter() - start
    print(json.dumps({"bench": "generation_batching", "requests": n, "max_new_tokens": max_new_tokens,
                      "one_at_a_time_req_per_s": round(n / single, 2), "batch8_req_per_s": round(n / batched, 2),
                      "speedup": round(single / batched, 2), "target": 3.0}))


if __name__ == "__main__":
    main()
