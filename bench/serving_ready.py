"""Time from ``openeyes serve`` start to ``/readyz`` 200 (models loaded and probed); one JSON line.

    python bench/serving_ready.py                    # the defaults (BentoML, zoo:tiny-clip, UI on)
    python bench/serving_ready.py --repeat 3 -- --standalone --no-ui

Arguments after ``--`` go to ``openeyes serve``. Target: <= 20 s on 2 cores with the defaults.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from serving_load import free_port, stop_process  # bench/ is on sys.path when run as a script


def time_to_ready(extra: list[str], timeout: float) -> dict:
    import httpx

    port = free_port()
    command = [sys.executable, "-c", "from openeyes.serving.cli import app; app()", "--port", str(port), *extra]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "BENTOML_DO_NOT_TRACK": "true"}
    began = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    live_at = ready_at = None
    try:
        while time.perf_counter() - began < timeout and process.poll() is None:
            try:
                if live_at is None and httpx.get(f"http://127.0.0.1:{port}/livez", timeout=2).status_code == 200:
                    live_at = time.perf_counter() - began
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                    ready_at = time.perf_counter() - began
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
    finally:
        stop_process(process)
    return {"measure": "time to ready", "args": extra, "live_s": None if live_at is None else round(live_at, 2),
            "ready_s": None if ready_at is None else round(ready_at, 2), "target_s": 20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("serve_args", nargs="*", help="options for openeyes serve (after --)")
    args = parser.parse_args()
    for _ in range(args.repeat):
        print(json.dumps(time_to_ready(args.serve_args, args.timeout)), flush=True)


if __name__ == "__main__":
    main()
