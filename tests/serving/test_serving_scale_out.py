"""Scale-out path: server A proxies VQA and chat to server B (another openeyes service acting as
the OpenAI-compatible engine, as ``vllm serve`` would), and ``--workers`` reaches BentoML."""
import json
import subprocess
import sys
import time

import pytest

from conftest import HUNG_AFTER_S, data_uri, png_bytes, server_env, start_standalone

IMG = data_uri(png_bytes(seed=5))
QUESTION = "What color is the circle?"


@pytest.fixture(scope="module")
def engine(artifacts):
    """Server B: the tiny MLLM, no UI; it plays the engine's part."""
    live = start_standalone(encoder=artifacts["encoder"], mllm=artifacts["mllm"], ui="0")
    yield live
    live.stop()


@pytest.fixture(scope="module")
def front(artifacts, engine):
    """Server A: its own encoder, VQA proxied to B by URL."""
    live = start_standalone(encoder=artifacts["encoder"], mllm=engine.url + "/v1", ui="0")
    yield live
    live.stop()


def chat_calls(client) -> float:
    """B's count of answered chat completions, from its Prometheus metrics."""
    for line in client.get("/metrics").text.splitlines():
        if line.startswith('openeyes_requests_total{route="/v1/chat/completions",status="200"}'):
            return float(line.split()[-1])
    return 0.0


def test_vqa_and_chat_are_answered_by_the_engine(front, engine):
    with front.client() as a, engine.client() as b:
        assert a.get("/readyz").json()["components"]["mllm"] == "ok"  # the probe went through B
        assert a.get("/v1/models").json()["data"][0]["id"] == "tiny-llava"  # B's model name
        body = {"image": IMG, "question": QUESTION, "max_new_tokens": 6}
        via_a, from_b = a.post("/vqa", json=body), b.post("/vqa", json=body)
        assert via_a.status_code == 200 and via_a.json()["answer"] == from_b.json()["answer"]
        assert via_a.json()["model"] == "tiny-llava"
        messages = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": IMG}},
                                                 {"type": "text", "text": QUESTION}]}]
        chat_a = a.post("/v1/chat/completions", json={"messages": messages, "max_tokens": 6}).json()
        chat_b = b.post("/v1/chat/completions", json={"messages": messages, "max_tokens": 6}).json()
        assert chat_a["choices"][0]["message"]["content"] == chat_b["choices"][0]["message"]["content"] == from_b.json()["answer"]
        before = chat_calls(b)
        assert a.post("/vqa", json=body).status_code == 200
        assert chat_calls(b) == before + 1  # A's VQA became one chat completion on B


def test_streaming_is_relayed_from_the_engine(front, engine):
    with front.client() as a, engine.client() as b:
        plain = b.post("/vqa", json={"image": IMG, "question": QUESTION, "max_new_tokens": 6}).json()["answer"]
        with a.stream("POST", "/vqa", json={"image": IMG, "question": QUESTION, "max_new_tokens": 6, "stream": True}) as r:
            events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]" and json.loads(events[-2]) == {"done": True}
        assert "".join(json.loads(e)["delta"] for e in events[:-2]) == plain


def test_workers_option_reaches_the_bentoml_service():
    from openeyes.serving.runtime import ServeConfig
    from openeyes.serving.settings import config_from_env, config_to_env, workers_from_env

    env = config_to_env(ServeConfig(mllm="http://127.0.0.1:9/v1", mllm_api_key="k"), workers=3)
    assert workers_from_env(env) == 3 and workers_from_env({}) == 1
    back = config_from_env(env)
    assert back.mllm == "http://127.0.0.1:9/v1" and back.mllm_api_key == "k"
    code = "from openeyes.serving.cli import app; app()"
    shown = subprocess.run([sys.executable, "-c", code, "--help"], capture_output=True, text=True, env=server_env(),
                           timeout=HUNG_AFTER_S).stdout
    assert "--workers" in shown and "--mllm-api-key" in shown and "OpenAI-compatible" in shown


def test_engine_down_is_a_503_not_a_crash(front, engine):
    """Runs last in this module: it stops the engine."""
    engine.stop()
    with front.client() as a:
        response = a.post("/vqa", json={"image": IMG, "question": QUESTION, "max_new_tokens": 3})
        assert response.status_code == 503 and engine.url in response.json()["error"]["message"]
        deadline = time.time() + 10
        while a.get("/readyz").status_code != 503:  # the cached probe expires within 2 s
            assert time.time() < deadline, "readiness still 200 with the engine down"
            time.sleep(0.5)
        assert a.post("/embed/texts", json={"texts": ["still serving embeddings"]}).status_code == 200
