"""The OpenAI-compatible HTTP backend against a small chat-completions server on 127.0.0.1 (loopback only)."""
import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from openeyes.errors import UserError
from openeyes.mllm.openai_backend import OpenAIChatMLLM, api_root
from runner_chat_server import ChatServer


@pytest.fixture
def server():
    with ChatServer() as running:
        yield running


def _image(seed=0):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8))


CLIENTS = ["urllib", pytest.param("httpx", marks=pytest.mark.skipif(
    __import__("importlib").util.find_spec("httpx") is None, reason="httpx not installed"))]


@pytest.mark.parametrize("client", CLIENTS)
def test_request_shape_and_answers(server, client):
    mllm = OpenAIChatMLLM(server.url + "/v1", api_key="sekret", client=client, backoff=0.0)
    server.answer = None  # answer the text length: each reply belongs to its own request
    prompts = ["What is it?", "Is there a circle in the image?", "hi"]
    outputs = mllm.generate([(_image(i), p) for i, p in enumerate(prompts)], max_new_tokens=7)
    assert outputs == [f"len={len(p)}" for p in prompts]
    assert len(server.seen) == len(prompts)
    # requests go out concurrently, so find the first prompt's request by its text part
    (body,) = [b for b in server.seen if b["messages"][0]["content"][-1] == {"type": "text", "text": prompts[0]}]
    assert body["model"] == "echo-model" and body["max_tokens"] == 7 and body["temperature"] == 0.0
    assert "stop" not in body and "top_p" not in body
    image_part, _ = body["messages"][0]["content"]
    uri = image_part["image_url"]["url"]
    assert image_part["type"] == "image_url" and uri.startswith("data:image/png;base64,")
    decoded = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert np.array_equal(np.asarray(decoded.convert("RGB")), np.asarray(_image(0)))
    assert all(h.get("Authorization") == "Bearer sekret" for h in server.headers)


def test_sampling_stop_and_marker_placement(server):
    mllm = OpenAIChatMLLM(server.url, model="m", backoff=0.0)
    server.answer = "Yes. And more"
    text = mllm.generate([([_image(1), _image(2)], "left <image> right <image> which?")], temperature=0.5,
                         top_p=0.9, stop=["."], seed=3)[0]
    assert text == "Yes"  # cut at the stop string
    body = server.seen[-1]
    assert body["temperature"] == 0.5 and body["top_p"] == 0.9 and body["stop"] == ["."] and body["seed"] == 3
    kinds = [part["type"] for part in body["messages"][0]["content"]]
    assert kinds == ["text", "image_url", "text", "image_url", "text"]


@pytest.mark.parametrize("client", CLIENTS)
def test_retries_on_429_and_5xx(server, client):
    mllm = OpenAIChatMLLM(server.url, model="m", backoff=0.01, max_retries=3, client=client)
    server.failures = [(429, "slow down"), (503, "busy")]
    assert mllm.generate([(_image(), "q")])[0] == "Yes"
    assert len(server.seen) == 3


def test_gives_up_after_the_retries(server):
    mllm = OpenAIChatMLLM(server.url, model="m", backoff=0.0, max_retries=2)
    server.failures = [(500, "boom")] * 5
    with pytest.raises(UserError, match="after 3 tries.*HTTP 500: boom"):
        mllm.generate([(_image(), "q")])
    assert len(server.seen) == 3


@pytest.mark.parametrize("client", CLIENTS)
def test_client_errors_are_not_retried(server, client):
    mllm = OpenAIChatMLLM(server.url, model="m", backoff=0.0, client=client)
    server.failures = [(400, "image too large")]
    with pytest.raises(UserError, match="HTTP 400: image too large"):
        mllm.generate([(_image(), "q")])
    assert len(server.seen) == 1


def test_unreachable_endpoint_and_bad_url():
    with pytest.raises(UserError, match="http:// or https://"):
        api_root("localhost:8000")
    assert api_root("http://h:1/v1/chat/completions/") == "http://h:1"
    with socket_closed_port() as port:
        mllm = OpenAIChatMLLM(f"http://127.0.0.1:{port}", model="m", backoff=0.0, max_retries=1, timeout=2)
        with pytest.raises(UserError, match="failed after 2 tries"):
            mllm.generate(["q"])


class socket_closed_port:
    """A loopback port with nothing listening."""

    def __enter__(self):
        import socket

        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        return self.port

    def __exit__(self, *exc):
        return False


def test_runner_through_the_endpoint(server, world_root, tmp_path):
    """`openeyes eval mllm --model http://...`: a server that always says "Yes" scores POPE accordingly."""
    from openeyes.cli import main
    from openeyes.eval_mllm.mllm import pope

    out = tmp_path / "pope"
    assert main(["eval", "mllm", "--model", server.url, "--model-name", "echo-model", "--api-key", "k",
                 "--bench", "pope", "--data", str(world_root), "--limit", "12", "--no-progress",
                 "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    from openeyes.eval_mllm.mllm.sampling import spread

    gold = [item.label for item in spread(pope.load(world_root / "pope"), 12, pope.limit_key)]
    assert results["metrics"]["yes_ratio"] == 1.0
    assert results["metrics"]["accuracy"] == gold.count("yes") / 12
    assert len(server.seen) == 12 and {b["max_tokens"] for b in server.seen} == {128}
    assert server.seen[0]["messages"][0]["content"][1]["text"].endswith("Answer the question using a single word or phrase.")
