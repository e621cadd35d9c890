"""Rendering speed of the synthetic world, one core: prints one JSON line (not a test).

    python bench/world_speed.py [--size 64] [--images 2000]

``images_per_s_per_core`` times ``render`` alone on pre-sampled scenes; ``items_per_s_per_core``
times whole ``WorldImageText`` items (sampling + rendering + caption).
"""
from __future__ import annotations

import argparse
import json
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--images", type=int, default=2000)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    from openeyes.world.config import WorldConfig
    from openeyes.world.dataset import WorldImageText
    from openeyes.world.render import render

    data = WorldImageText(seed=0, split="train", size=args.size, length=args.images)
    config = WorldConfig(image_size=args.size)
    scenes = [data.scene(i) for i in range(args.images)]
    render(scenes[0], config)  # warm caches
    start = time.perf_counter()
    for scene in scenes:
        render(scene, config)
    render_rate = args.images / (time.perf_counter() - start)
    start = time.perf_counter()
    for i in range(args.images):
        data[i]
    item_rate = args.images / (time.perf_counter() - start)
    print(json.dumps({"bench": "world_render", "size": args.size, "images_per_s_per_core": round(render_rate, 1),
                      "items_per_s_per_core": round(item_rate, 1)}))


if __name__ == "__main__":
    main()
