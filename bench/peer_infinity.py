"""Peer benchmark: openeyes' embedding server vs infinity-emb, on the same CLIP weights; JSON lines.

    .venv/bin/python bench/peer_infinity.py --seconds 20 --rounds 3 --concurrency 32

What it does, in one process:
1. infinity-emb 0.0.78 lives in its own virtualenv (it pins transformers<5; the project runs 5.x),
   created once under ~/.cache/openeyes/peers/infinity-0.0.78 (``--venv`` to move it): CPU torch
   2.13.0, torchvision 0.28.0 (--no-deps) with openeyes' CPU-torchvision op fix as a ``.pth`` hook,
   then ``infinity-emb[server,torch]`` + pillow, timm, aiohttp, ``transformers<5`` (not its
   ``[vision]`` extra: that drags colpali-engine, which caps torch, and pip backtracks into CUDA wheels).
2. A ViT-B/32-sized random-init CLIP (seed 0; vision 768 wide, 12 layers, patch 32, 224 px; text
   512 wide, 12 layers, 8 heads, 77 positions, vocab of open_clip's CLIP BPE, 49,408 tokens) is
   written as an openeyes encoder artifact (a transformers ``CLIPModel`` folder + ``openeyes.json``),
   plus ``max_length: 77`` in config.json (infinity truncates texts at ``config.max_length``, 20 by default).
3. ``openeyes serve --encoder DIR --mllm none --no-ui --threads T --workers 1`` and ``infinity_emb v2
   --model-id DIR --engine torch --device cpu --no-compile --batch-size 32`` start on loopback, both with
   OMP_NUM_THREADS=MKL_NUM_THREADS=T (infinity's torch takes its thread count from that), T=--threads.
   Both must agree on the embeddings of a few texts and images (cosine >= 0.9999), printed.
4. Each round measures, for texts then images, openeyes, infinity and the in-process limit (the same
   model via ``EncoderRuntime`` in this process, batch --concurrency, decoded images, texts padded to
   the longest in the batch as infinity does, no HTTP) for
   --seconds each, so machine noise hits all alike; then a bare health route (/livez, /health).
   HTTP load: --concurrency clients, each looping on one item per request (openeyes /embed/texts,
   /embed/images; infinity /embeddings with ``modality`` text/image), bodies encoded once.
5. The client's own CPU seconds (this process, aiohttp) are set against the servers' (psutil, whole
   process trees) for every slice.
Printed: per server and kind throughput (items/s), p50/p99 latency, errors, CPU seconds and items per
CPU second (the work's own process(es): less sensitive than items/s to other load on the machine); ratio lines
(openeyes/infinity, each server/in-process); health req/s; client cost. Both servers are stopped
(process groups) on exit, error or Ctrl-C.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving_load import _image_uri, free_port  # noqa: E402  (the same 224 px PNG as serving_load --ratio)

ROOT = Path(__file__).resolve().parents[1]
INFINITY_VERSION = "0.0.78"
DEFAULT_VENV = Path.home() / ".cache" / "openeyes" / "peers" / f"infinity-{INFINITY_VERSION}"
INSTALL_STEPS = (  # pip arguments, in order; torch first so nothing else can pick another torch
    ("install", "--upgrade", "pip"),
    ("install", "torch==2.13.0"),
    ("install", "--no-deps", "torchvision==0.28.0"),
    ("install", f"infinity-emb[server,torch]=={INFINITY_VERSION}", "pillow", "timm", "aiohttp", "transformers<5",
     "torch==2.13.0", "torchvision==0.28.0"),
)
TEXT = "a red circle left of a blue square"
CHECK_TEXTS = ["a photo of a cat", "a red circle left of a blue square", "two dogs playing in the snow on a sunny day"]
KINDS = ("texts", "images")
SERVER_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "BENTOML_DO_NOT_TRACK": "true", "DO_NOT_TRACK": "1",
              "INFINITY_ANONYMOUS_USAGE_STATS": "0", "TOKENIZERS_PARALLELISM": "false"}


_stopping = False  # set by the first SIGINT/SIGTERM: load loops stop, servers are shut down


def _interrupt(signum: int, frame: object) -> None:
    """SIGINT/SIGTERM: raise KeyboardInterrupt once (later signals are ignored while cleaning up).

    Installed instead of asyncio.run's own SIGINT handling, which only cancels the running task:
    aiohttp's request code can absorb that cancellation, so a Ctrl-C during a slice was lost."""
    global _stopping
    if not _stopping:
        _stopping = True
        raise KeyboardInterrupt


def emit(**record: object) -> None:
    print(json.dumps(record), flush=True)


# -- infinity's virtualenv -----------------------------------------------------------------------
def ensure_infinity_venv(venv: Path) -> Path:
    """Create (once) and return the python of infinity's own virtualenv; prints a setup line."""
    python, marker = venv / "bin" / "python", venv / ".openeyes-peer-ready"
    spec = json.dumps(INSTALL_STEPS)
    if marker.is_file() and marker.read_text() == spec and python.exists():
        emit(measure="setup", venv=str(venv), reused=True, seconds=0.0)
        return python
    began = time.perf_counter()
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    for step in INSTALL_STEPS:
        subprocess.run([str(python), "-m", "pip", "--quiet", *step], check=True)
    # openeyes' fix for the CUDA-only torchvision 0.28.0 next to CPU torch, as a start-up hook there
    # (the module is self-contained; infinity's transformers imports torchvision through timm).
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    shutil.copy(ROOT / "openeyes" / "_torchvision_compat.py", Path(site) / "_openeyes_torchvision_compat.py")
    (Path(site) / "openeyes-torchvision.pth").write_text(
        "import _openeyes_torchvision_compat as m; m.ensure_torchvision_importable()\n")
    subprocess.run([str(python), "-c", "import infinity_emb.cli, torchvision, transformers; "
                    "assert transformers.__version__ < '5'"], check=True, env={**os.environ, **SERVER_ENV})
    marker.write_text(spec)
    emit(measure="setup", venv=str(venv), reused=False, seconds=round(time.perf_counter() - began, 1))
    return python


# -- the model -----------------------------------------------------------------------------------
def build_clip_b32(directory: Path) -> str:
    """A random-init ViT-B/32-sized CLIP (both towers) as an openeyes encoder artifact; returns its path."""
    import openeyes  # noqa: F401
    from open_clip.tokenizer import SimpleTokenizer

    from openeyes.encoders.artifact import save_encoder_artifact
    from openeyes.encoders.convert_openclip import openclip_tokenizer_to_hf
    from openeyes.encoders.tiny import build_tiny_clip

    out = directory / "clip-b32-random"
    if (out / "openeyes.json").is_file():
        return str(out)
    tokenizer = openclip_tokenizer_to_hf(SimpleTokenizer(), context_length=77)  # CLIP's BPE, ships with open_clip
    encoder = build_tiny_clip(tokenizer, seed=0, name="clip-b32-random", image_size=224, patch_size=32,
                              vision_width=768, vision_layers=12, vision_heads=12, vision_mlp=3072, text_width=512,
                              text_layers=12, text_heads=8, max_length=77, embed_dim=512)
    save_encoder_artifact(encoder, out, name="clip-b32-random", seed=0)
    config_path = out / "config.json"  # infinity truncates at config.max_length (transformers 4 default: 20)
    config_path.write_text(json.dumps({**json.loads(config_path.read_text()), "max_length": 77}, indent=2))
    return str(out)


# -- servers -------------------------------------------------------------------------------------
@dataclass
class Server:
    name: str
    url: str
    health: str
    routes: dict[str, tuple[str, bytes]]  # kind -> (path, JSON body of one item)
    process: subprocess.Popen

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the server's process tree (live processes)."""
        import psutil

        total = 0.0
        try:
            root = psutil.Process(self.process.pid)
            for proc in [root, *root.children(recursive=True)]:
                try:
                    times = proc.cpu_times()
                    total += times.user + times.system
                except psutil.Error:
                    pass
        except psutil.Error:
            pass
        return total


def stop_group(process: subprocess.Popen, grace: float = 20.0) -> None:
    """SIGTERM the process group, wait up to ``grace`` s, then SIGKILL it."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    except ProcessLookupError:
        pass


@contextmanager
def launched(name: str, command: list[str], url: str, ready_path: str, env: dict[str, str], timeout: float,
             log_dir: Path) -> Iterator[subprocess.Popen]:
    """Start ``command`` in its own process group; yield it once ``url + ready_path`` answers 200."""
    import httpx

    log_path = log_dir / f"{name}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env={**os.environ, **SERVER_ENV, **env}, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        began, deadline = time.perf_counter(), time.perf_counter() + timeout
        while True:
            if process.poll() is not None or time.perf_counter() > deadline:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise SystemExit(f"{name} did not become ready (exit code {process.poll()}); log tail:\n{tail}")
            try:
                if httpx.get(url + ready_path, timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        emit(measure="ready", server=name, seconds=round(time.perf_counter() - began, 1), pid=process.pid)
        yield process
    finally:
        stop_group(process)


def body(payload: dict) -> bytes:
    return json.dumps(payload).encode()


def start_openeyes(stack: ExitStack, encoder: str, threads: int, image: str, log_dir: Path) -> Server:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-c", "from openeyes.serving.cli import app; app()", "--encoder", encoder, "--mllm", "none",
               "--no-ui", "--host", "127.0.0.1", "--port", str(port), "--threads", str(threads), "--workers", "1"]
    env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    process = stack.enter_context(launched("openeyes", command, url, "/readyz", env, 600, log_dir))
    routes = {"texts": ("/embed/texts", body({"texts": [TEXT]})), "images": ("/embed/images", body({"images": [image]}))}
    return Server("openeyes", url, "/livez", routes, process)


def start_infinity(stack: ExitStack, python: Path, encoder: str, threads: int, batch: int, image: str,
                   log_dir: Path) -> Server:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(python), "-m", "infinity_emb.cli", "v2", "--model-id", encoder, "--served-model-name", "clip",
               "--engine", "torch", "--device", "cpu", "--dtype", "float32", "--no-compile", "--batch-size", str(batch),
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    process = stack.enter_context(launched("infinity", command, url, "/health", env, 600, log_dir))
    routes = {"texts": ("/embeddings", body({"model": "clip", "input": [TEXT], "modality": "text"})),
              "images": ("/embeddings", body({"model": "clip", "input": [image], "modality": "image"}))}
    return Server("infinity", url, "/health", routes, process)


# -- load ----------------------------------------------------------------------------------------
@dataclass
class Tally:
    """What one (side, kind) accumulated over the rounds."""

    items: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    client_cpu_s: float = 0.0
    server_cpu_s: float = 0.0  # CPU of whoever did the work: the server's process tree, or this process in-process

    def add(self, items: int, errors: int, seconds: float, latencies_ms: list[float], client_cpu: float = 0.0,
            server_cpu: float = 0.0) -> None:
        self.items += items
        self.errors += errors
        self.seconds += seconds
        self.latencies_ms += latencies_ms
        self.client_cpu_s += client_cpu
        self.server_cpu_s += server_cpu

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        return round(float(np.percentile(self.latencies_ms, q)), 2) if self.latencies_ms else float("nan")


async def load(url: str, path: str, payload: bytes | None, concurrency: int,
               seconds: float) -> tuple[int, int, float, list[float]]:
    """(ok, errors, elapsed s, latencies ms): ``concurrency`` loops POSTing ``payload`` (GET when None)."""
    import aiohttp

    latencies: list[float] = []
    errors = 0
    headers = {"content-type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(url, connector=connector, timeout=timeout) as session:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline and not _stopping:
                started = time.perf_counter()
                try:
                    request = session.get(path) if payload is None else session.post(path, data=payload, headers=headers)
                    async with request as response:
                        await response.read()
                        ok = response.status == 200
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    ok = False
                if ok:
                    latencies.append((time.perf_counter() - started) * 1000)
                else:
                    errors += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return len(latencies), errors, elapsed, latencies


def http_slice(server: Server, kind: str, concurrency: int, seconds: float, tally: Tally | None) -> dict:
    """One measured slice; also the client's and the server's CPU seconds during it."""
    path, payload = server.routes[kind] if kind in server.routes else (server.health, None)
    client0, server0 = time.process_time(), server.cpu_seconds()
    ok, errors, elapsed, latencies = asyncio.run(load(server.url, path, payload, concurrency, seconds))
    client_cpu, server_cpu = time.process_time() - client0, server.cpu_seconds() - server0
    if tally is not None:
        tally.add(ok, errors, elapsed, latencies, client_cpu, server_cpu)
    return {"side": server.name, "kind": kind, "per_s": round(ok / elapsed, 2), "errors": errors,
            "client_cpu_s": round(client_cpu, 2), "server_cpu_s": round(server_cpu, 2)}


class InProcess:
    """The same artifact in this process via ``EncoderRuntime``: batches of ``batch`` texts or decoded images."""

    def __init__(self, encoder: str, batch: int, threads: int, image: str):
        import torch
        from PIL import Image

        from openeyes.serving.runtime import EncoderRuntime

        torch.set_num_threads(threads)
        self.runtime = EncoderRuntime(encoder)
        decoded = Image.open(io.BytesIO(base64.b64decode(image.split(",", 1)[1]))).convert("RGB")
        self.batches = {"texts": [TEXT] * batch, "images": [decoded] * batch}
        self.embed = {"texts": self.embed_texts, "images": self.runtime.embed_images}
        self._torch = torch

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Like ``EncoderRuntime.embed_texts`` but padded to the longest text of the batch, not to the
        context (77): the text tower is causal, so the embedding is the same and the work is less."""
        torch, encoder = self._torch, self.runtime.encoder
        with torch.inference_mode():
            tokens = encoder.tokenizer(texts, padding=True, truncation=True, max_length=encoder.max_length,
                                       return_tensors="pt")
            emb = encoder.encode_text({"input_ids": tokens["input_ids"], "attention_mask": tokens["attention_mask"]})
            return torch.nn.functional.normalize(emb.float(), dim=-1).numpy()

    def token_counts(self) -> dict[str, int]:
        """Tokens of the benchmark text, and how many positions openeyes' own ``tokenize`` feeds the tower."""
        encoder = self.runtime.encoder
        return {"tokens": len(encoder.tokenizer(TEXT)["input_ids"]), "context": encoder.max_length,
                "openeyes_positions": int(encoder.tokenize([TEXT])["input_ids"].shape[1])}

    def measure(self, kind: str, seconds: float, tally: Tally | None) -> dict:
        done, latencies, began, cpu0 = 0, [], time.perf_counter(), time.process_time()
        while time.perf_counter() - began < seconds:
            started = time.perf_counter()
            self.embed[kind](self.batches[kind])
            latencies.append((time.perf_counter() - started) * 1000)
            done += len(self.batches[kind])
        elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu0
        if tally is not None:
            tally.add(done, 0, elapsed, latencies, server_cpu=cpu)  # the CPU doing the work: this process
        return {"side": "in_process", "kind": kind, "per_s": round(done / elapsed, 2), "cpu_s": round(cpu, 2)}


# -- agreement -----------------------------------------------------------------------------------
def fetch_embeddings(server: Server, kind: str, items: list[str]) -> np.ndarray:
    import httpx

    if server.name == "openeyes":
        response = httpx.post(server.url + server.routes[kind][0], json={kind: items}, timeout=300)
        response.raise_for_status()
        vectors = response.json()["embeddings"]
    else:
        response = httpx.post(server.url + "/embeddings", timeout=300,
                              json={"model": "clip", "input": items, "modality": kind[:-1]})
        response.raise_for_status()
        vectors = [row["embedding"] for row in sorted(response.json()["data"], key=lambda row: row["index"])]
    return np.asarray(vectors, dtype=np.float64)


def cosines(a: np.ndarray, b: np.ndarray) -> list[float]:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return [round(float(x), 6) for x in (a * b).sum(axis=1)]


def check_agreement(servers: list[Server], inside: InProcess, threshold: float = 0.9999) -> bool:
    from PIL import Image

    images = [_image_uri(seed, side=224) for seed in (1, 2)]
    pils = [Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB") for uri in images]
    agree = True
    for kind, items, local in (("texts", CHECK_TEXTS, inside.embed_texts(CHECK_TEXTS)),
                               ("images", images, inside.runtime.embed_images(pils))):
        got = {server.name: fetch_embeddings(server, kind, items) for server in servers}
        pairs = {"openeyes_vs_infinity": cosines(got["openeyes"], got["infinity"]),
                 "openeyes_vs_in_process": cosines(got["openeyes"], local),
                 "infinity_vs_in_process": cosines(got["infinity"], local)}
        ok = min(min(values) for values in pairs.values()) >= threshold
        agree &= ok
        emit(measure="agreement", kind=kind, n=len(items), threshold=threshold, agree=ok, **pairs)
    return agree


# -- the run -------------------------------------------------------------------------------------
def report(tallies: dict[tuple[str, str], Tally], health: dict[str, Tally], args: argparse.Namespace) -> None:
    for (side, kind), tally in tallies.items():
        record = {"measure": "throughput", "side": side, "kind": kind, "items_per_s": round(tally.rate, 2),
                  "items": tally.items, "errors": tally.errors, "seconds": round(tally.seconds, 1),
                  "items_per_cpu_s": round(tally.items / tally.server_cpu_s, 2) if tally.server_cpu_s else None}
        if side == "in_process":
            record.update(batch=args.concurrency, batch_p50_ms=tally.percentile(50), batch_p99_ms=tally.percentile(99),
                          cpu_s=round(tally.server_cpu_s, 1))
        else:
            record.update(concurrency=args.concurrency, p50_ms=tally.percentile(50), p99_ms=tally.percentile(99),
                          server_cpu_s=round(tally.server_cpu_s, 1), client_cpu_s=round(tally.client_cpu_s, 2),
                          client_over_server_cpu=round(tally.client_cpu_s / max(tally.server_cpu_s, 1e-9), 4))
        emit(**record)
    for kind in KINDS:
        rate = {side: tallies[(side, kind)].rate for side in ("openeyes", "infinity", "in_process")}
        per_cpu = {side: tallies[(side, kind)].items / max(tallies[(side, kind)].server_cpu_s, 1e-9) for side in rate}
        emit(measure="ratio", kind=kind, openeyes_over_infinity=round(rate["openeyes"] / rate["infinity"], 3),
             openeyes_over_in_process=round(rate["openeyes"] / rate["in_process"], 3),
             infinity_over_in_process=round(rate["infinity"] / rate["in_process"], 3),
             per_cpu_s={"openeyes_over_infinity": round(per_cpu["openeyes"] / per_cpu["infinity"], 3),
                        "openeyes_over_in_process": round(per_cpu["openeyes"] / per_cpu["in_process"], 3),
                        "infinity_over_in_process": round(per_cpu["infinity"] / per_cpu["in_process"], 3)})
    for side, tally in health.items():
        emit(measure="health", side=side, route="/livez" if side == "openeyes" else "/health",
             requests_per_s=round(tally.rate, 1), errors=tally.errors, p50_ms=tally.percentile(50),
             server_cpu_s=round(tally.server_cpu_s, 1), client_cpu_s=round(tally.client_cpu_s, 2))
    http = [tally for (side, _), tally in tallies.items() if side != "in_process"] + list(health.values())
    client, servers = sum(t.client_cpu_s for t in http), sum(t.server_cpu_s for t in http)
    emit(measure="client_cost", client_cpu_s=round(client, 1), servers_cpu_s=round(servers, 1),
         client_over_servers=round(client / servers, 4) if servers else None,
         note="CPU seconds of this benchmark process vs the server process trees, summed over the measured HTTP slices")


def run(args: argparse.Namespace) -> bool:
    python = ensure_infinity_venv(args.venv)
    image = _image_uri(side=224)  # random 224 px PNG, as in serving_load --ratio
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="openeyes-peer-")))
        began = time.perf_counter()
        encoder = build_clip_b32(args.model_dir or tmp)
        emit(measure="model", path=encoder, seconds=round(time.perf_counter() - began, 1),
             shape="CLIP ViT-B/32 sized, random init seed 0 (vision 768x12 p32 224px; text 512x12 h8 ctx77 vocab 49408)")
        servers = [start_openeyes(stack, encoder, args.threads, image, tmp),
                   start_infinity(stack, python, encoder, args.threads, args.concurrency, image, tmp)]
        emit(measure="threads", torch_threads=args.threads, openeyes=f"--threads {args.threads} --workers 1, OMP_NUM_THREADS",
             infinity=f"OMP_NUM_THREADS=MKL_NUM_THREADS={args.threads} (torch default), --batch-size {args.concurrency}",
             in_process=f"torch.set_num_threads({args.threads})")
        inside = InProcess(encoder, args.concurrency, args.threads, image)
        emit(measure="text_item", text=TEXT, **inside.token_counts(),
             padding="infinity and in-process pad to the batch's longest text; openeyes as openeyes_positions says")
        agree = check_agreement(servers, inside)
        for server in servers:  # warm-up, not counted
            for kind in KINDS:
                http_slice(server, kind, args.concurrency, args.warmup, None)
        for kind in KINDS:
            inside.measure(kind, args.warmup, None)
        tallies = {(side, kind): Tally() for kind in KINDS for side in ("openeyes", "infinity", "in_process")}
        health = {server.name: Tally() for server in servers}
        for round_index in range(args.rounds):
            slices = []
            for kind in KINDS:
                for server in servers:
                    slices.append(http_slice(server, kind, args.concurrency, args.seconds, tallies[(server.name, kind)]))
                slices.append(inside.measure(kind, args.seconds, tallies[("in_process", kind)]))
            for server in servers:
                slices.append(http_slice(server, "health", args.concurrency, min(args.seconds, 5.0), health[server.name]))
            emit(measure="round", round=round_index + 1, load_avg_1m=round(os.getloadavg()[0], 2), slices=slices)
        report(tallies, health, args)
    return agree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each measured slice (per side, kind, round)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32, help="HTTP clients; also the in-process and infinity batch")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of each server and of the in-process model")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds per server and kind first")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="infinity's virtualenv (created when missing)")
    parser.add_argument("--model-dir", type=Path, default=None, help="keep/reuse the built model here (default: a temp dir)")
    args = parser.parse_args()
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)  # the clean-up paths run on SIGTERM too
    try:
        agree = run(args)
    except KeyboardInterrupt:
        sys.exit(130)
    if not agree:
        sys.exit("the two servers' embeddings disagree (see the agreement lines)")


if __name__ == "__main__":
    main()
