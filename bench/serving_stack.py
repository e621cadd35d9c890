"""BentoML's serving stack against the same app under plain uvicorn (``--standalone``); JSON lines.

    python bench/serving_stack.py --seconds 20 --rounds 3

Both servers run at once with the same ViT-B/32-sized random CLIP (``serving_load.build_vit_b32``);
rounds alternate between them, one route at a time (``/livez``: the bare stack; ``/embed/texts``;
``/embed/images`` with one 224 px image), concurrency 32. Per server and route: requests/s, p50/p99
and the server's CPU milliseconds per request (its whole process tree, from psutil), which is what
the stack costs and is far less disturbed by other load on the machine than requests/s.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from contextlib import ExitStack
from pathlib import Path

import psutil

from serving_load import build_vit_b32, request_for, run, served

ROUTES = {"livez": None, "texts": "texts", "images": "images"}


def server_tree(url: str) -> list[psutil.Process]:
    """The process serving ``url`` (found by its ``--port`` argument) and its children."""
    port = url.rsplit(":", 1)[1]
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "--port" in cmdline and cmdline[cmdline.index("--port") + 1:][:1] == [port]:
            return [process, *process.children(recursive=True)]
    raise SystemExit(f"no server process found for {url}")


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def request_of(route: str) -> tuple[str, dict | None]:
    return ("/livez", None) if route == "livez" else request_for(ROUTES[route], side=224)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="per server and route, split over the rounds")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--route", action="append", choices=sorted(ROUTES), help="default: all")
    args = parser.parse_args()
    routes = args.route or list(ROUTES)
    with tempfile.TemporaryDirectory(prefix="openeyes-stack-") as tmp, ExitStack() as stack:
        encoder = build_vit_b32(Path(tmp))
        urls = {"bentoml": stack.enter_context(served(encoder, "none", args.threads)),
                "standalone": stack.enter_context(served(encoder, "none", args.threads, extra=("--standalone",)))}
        trees = {name: server_tree(url) for name, url in urls.items()}
        totals: dict[tuple[str, str], list[float]] = {}  # (server, route) -> [ok requests, seconds, cpu seconds, errors]
        for route in routes:
            for url in urls.values():  # warm-up
                asyncio.run(measure(url, route, args.concurrency, 2))
        for _ in range(args.rounds):
            for route in routes:
                for name, url in urls.items():
                    before = cpu_seconds(trees[name])
                    result = asyncio.run(measure(url, route, args.concurrency, args.seconds / args.rounds))
                    used = cpu_seconds(trees[name]) - before
                    ok = result["requests"] - result["errors"]
                    row = totals.setdefault((name, route), [0, 0.0, 0.0, 0])
                    row[0] += ok
                    row[1] += result["seconds"]
                    row[2] += used
                    row[3] += result["errors"]
                    print(json.dumps({"measure": "round", "server": name, "route": route, **result,
                                      "server_cpu_ms_per_request": round(1000 * used / max(ok, 1), 3)}), flush=True)
        for route in routes:
            rate = {name: totals[(name, route)][0] / totals[(name, route)][1] for name in urls}
            cpu = {name: 1000 * totals[(name, route)][2] / max(totals[(name, route)][0], 1) for name in urls}
            print(json.dumps({"measure": "stack", "route": route, "bentoml_rps": round(rate["bentoml"], 2),
                              "standalone_rps": round(rate["standalone"], 2),
                              "bentoml_over_standalone_rps": round(rate["bentoml"] / rate["standalone"], 3),
                              "bentoml_cpu_ms_per_request": round(cpu["bentoml"], 3),
                              "standalone_cpu_ms_per_request": round(cpu["standalone"], 3),
                              "errors": {name: totals[(name, route)][3] for name in urls}}), flush=True)


async def measure(url: str, route: str, concurrency: int, seconds: float) -> dict:
    return await run(url, route, concurrency, seconds, None, side=224, request=request_of(route))


if __name__ == "__main__":
    main()
