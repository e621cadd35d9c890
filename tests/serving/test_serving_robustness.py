"""Hostile traffic over real HTTP: one bad request fails only itself (poisoned requests among
concurrent good ones in the same micro-batches), a 500 leaves the pooled connection usable, a slow
image host neither freezes the event loop nor holds a request past the fetch deadline, extreme
sampling values decode, index rows stored with non-finite metadata still answer after a restart,
and a busy port ends ``openeyes serve`` with one line and exit code 2."""
import json
import socket
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import numpy as np

from conftest import CLIENT_TIMEOUT_S, HUNG_AFTER_S, data_uri, free_port, png_bytes, server_env, start_standalone

IMG = data_uri(png_bytes(seed=7))
HANG_GUARD_S = HUNG_AFTER_S  # only a request that would never answer runs into this (a starved nice-19 server may take minutes)


def fire_together(url: str, requests: list[tuple[str, dict]]) -> list[httpx.Response]:
    """POST every (path, kwargs) at once from its own thread; the responses in order."""
    start = threading.Barrier(len(requests))

    def one(request):
        path, kwargs = request
        with httpx.Client(base_url=url, timeout=CLIENT_TIMEOUT_S) as client:
            start.wait()
            return client.post(path, **kwargs)

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(one, requests))


def raw_json(body: bytes) -> dict:
    return {"content": body, "headers": {"content-type": "application/json"}}


def test_poisoned_text_requests_fail_alone_in_shared_batches(server):
    good = [("/embed/texts", {"json": {"texts": [f"a red circle number {i}", "a blue square"]}}) for i in range(30)]
    poison = [("/embed/texts", raw_json('{"texts": ["ok", "\\ud800 lone"]}'.encode())),
              ("/embed/texts", raw_json(b'{"texts": ["\xed\xa0\x80 utf-8 encoded surrogate"]}')),
              ("/embed/texts", raw_json('{"texts": ["utf-16"]}'.encode("utf-16-le")))]
    for round_ in range(2):  # two rounds, so the poison lands in batches more than once
        mixed = good[:10] + poison[:1] + good[10:20] + poison[1:2] + good[20:] + poison[2:]
        responses = fire_together(server.url, mixed)
        statuses = [r.status_code for r in responses]
        bad_at = {10, 21, 32}
        assert all(statuses[i] == 200 for i in range(len(mixed)) if i not in bad_at), statuses
        assert all(statuses[i] == 400 for i in bad_at), statuses
        assert all(len(r.json()["embeddings"]) == 2 for i, r in enumerate(responses) if i not in bad_at)


def chat(content, **options) -> dict:
    return {"json": {"messages": [{"role": "user", "content": content}], "max_tokens": 3, **options}}


def test_poisoned_generation_requests_fail_alone_in_shared_batches(server):
    image_first = [{"type": "image_url", "image_url": {"url": IMG}}, {"type": "text", "text": "what color?"}]
    good = [("/v1/chat/completions", chat(image_first)), ("/v1/chat/completions", chat("hello there")),
            ("/vqa", {"json": {"image": IMG, "question": "what shape?", "max_new_tokens": 3}})] * 3
    placeholder = [("/v1/chat/completions", chat("what is <image> here")),
                   ("/v1/chat/completions", chat(image_first[:1] + [{"type": "text", "text": "<image> and <image>"}]))]
    extreme = [("/v1/chat/completions", chat("hi", temperature=1e-300)),
               ("/v1/chat/completions", chat("hi", temperature=1.0, top_p=1e-300)),
               ("/vqa", {"json": {"image": IMG, "question": "q", "temperature": 1e-300, "max_new_tokens": 3}})]
    responses = fire_together(server.url, good + placeholder + extreme)
    statuses = [r.status_code for r in responses]
    assert statuses == [200] * len(good) + [400] * len(placeholder) + [200] * len(extreme), statuses
    assert all("<image>" in r.json()["error"]["message"] for r in responses[len(good):len(good) + len(placeholder)])


def test_a_500_leaves_the_pooled_connection_usable(tmp_path):
    """The service's own app with one route that fails: each 500 is a complete response with the
    envelope, and the same pooled client goes on working (no reset connections)."""
    import uvicorn

    from openeyes.serving.api import AppState, build_app

    app = build_app(AppState(), api_key=None, max_body_bytes=1024)

    @app.get("/boom")
    async def boom():
        raise RuntimeError("a bug")

    port = free_port()
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=CLIENT_TIMEOUT_S) as client:
            for _ in range(200):  # wait for the server to listen
                try:
                    client.get("/livez")
                    break
                except httpx.ConnectError:
                    threading.Event().wait(0.05)
            for _ in range(20):
                failed = client.get("/boom")
                assert failed.status_code == 500 and failed.json()["error"]["type"] == "server_error"
                assert client.get("/livez").status_code == 200  # the same pool: a dropped connection raises here
    finally:
        uv.should_exit = True
        thread.join(HUNG_AFTER_S)


class TrickleHost(BaseHTTPRequestHandler):
    """Answers 200 and then one byte every 0.2 s until released: no single read ever times out."""

    def do_GET(self):
        self.server.asked.set()
        self.send_response(200)
        self.send_header("content-type", "image/png")
        self.send_header("content-length", "1000000")
        self.end_headers()
        while not self.server.release.wait(0.2):
            try:
                self.wfile.write(b"\0")
                self.wfile.flush()
            except OSError:
                return

    def log_message(self, *args):
        pass


def test_a_slow_image_host_neither_freezes_the_service_nor_outlives_the_fetch_deadline(server):
    host = ThreadingHTTPServer(("127.0.0.1", 0), TrickleHost)
    host.asked, host.release = threading.Event(), threading.Event()
    threading.Thread(target=host.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{host.server_address[1]}/slow.png"
    try:
        with ThreadPoolExecutor(1) as pool, server.client() as client:
            pending = pool.submit(client.post, "/embed/images", json={"images": [url]})
            assert host.asked.wait(HANG_GUARD_S), "the service never fetched the URL"
            with httpx.Client(base_url=server.url, timeout=HANG_GUARD_S) as other:
                assert other.get("/livez").status_code == 200  # while the host still trickles
                assert other.post("/embed/texts", json={"texts": ["meanwhile"]}).status_code == 200
            slow = pending.result(HANG_GUARD_S)  # the host trickles on until released below
            assert slow.status_code == 400 and "longer than" in slow.json()["error"]["message"], slow.text
    finally:
        host.release.set()
        host.shutdown()


def test_extreme_sampling_values_decode(server):
    with server.client() as client:
        for options in ({"temperature": 1e-300}, {"temperature": 5e-324}, {"temperature": 1e-8, "top_p": 1e-300},
                        {"temperature": 2.0, "top_p": 5e-324, "seed": 2**63 - 1}):
            response = client.post("/v1/chat/completions", **chat("hi", **options))
            assert response.status_code == 200, (options, response.text[:300])
            streamed = client.post("/v1/chat/completions", **chat("hi", stream=True, **options))
            assert streamed.status_code == 200 and '"type": "internal"' not in streamed.text, streamed.text[-300:]
        vqa = client.post("/vqa", json={"image": IMG, "question": "q", "temperature": 1e-300, "max_new_tokens": 3})
        assert vqa.status_code == 200, vqa.text[:300]


def test_rows_stored_with_non_finite_metadata_still_answer_after_a_restart(artifacts, tmp_path):
    """Rows written before the API refused non-finite numbers (or by other tools) do not turn every
    search that returns them into a 500."""
    from openeyes.encoders.loading import load_encoder
    from openeyes.serving.index_store import IndexStore
    from openeyes.serving.runtime import encoder_fingerprint

    encoder = load_encoder(artifacts["encoder"])
    dim = int(encoder.embed_dim)
    store = IndexStore.open(tmp_path / "idx", dim=dim, fingerprint=encoder_fingerprint(artifacts["encoder"]), encoder_name="tiny-clip")
    store.add(["bad"], np.ones((1, dim), np.float32), [{"x": float("nan"), "y": [float("inf"), 1.5], "z": "ok"}])
    store.close()
    live = start_standalone(encoder=artifacts["encoder"], mllm="none", index=str(tmp_path / "idx"), ui="0")
    try:
        with live.client() as client:
            found = client.post("/index/search", json={"text": "a red circle", "top_k": 3})
            assert found.status_code == 200, found.text[:300]
            assert found.json()["results"][0]["metadata"] == {"x": None, "y": [None, 1.5], "z": "ok"}
            refused = client.post("/index/add", **raw_json(b'{"items": [{"text": "a", "metadata": {"v": [1e400]}}]}'))
            assert refused.status_code == 400 and refused.json()["error"]["param"] == "items[0].metadata"
    finally:
        live.stop()


def test_a_busy_port_ends_serve_with_one_line_and_exit_2(artifacts):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for mode in (["--standalone"], []):
            run = subprocess.run([sys.executable, "-m", "openeyes.cli", "serve", "--encoder", artifacts["encoder"], "--mllm", "none",
                                  "--port", str(port), *mode], capture_output=True, text=True, env=server_env(), timeout=HUNG_AFTER_S)
            assert run.returncode == 2, (mode, run.returncode, run.stderr[-2000:])
            lines = [line for line in run.stderr.splitlines() if line.strip()]
            assert len(lines) == 1 and str(port) in lines[0], run.stderr[-2000:]


def test_index_metadata_round_trips_finite_numbers(server):
    with server.client() as client:
        metadata = {"score": 1e300, "tiny": 5e-324, "neg": -0.0, "nested": [{"a": 1}]}
        added = client.post("/index/add", json={"items": [{"id": "finite", "text": "finite metadata", "metadata": metadata}]})
        assert added.status_code == 200
        found = client.post("/index/search", json={"text": "finite metadata", "top_k": 1000}).json()["results"]
        row = next(r for r in found if r["id"] == "finite")
        assert row["metadata"] == json.loads(json.dumps(metadata))
        client.post("/index/delete", json={"ids": ["finite"]})


def test_metrics_label_route_templates_not_raw_paths(server):
    with server.client() as client:
        for i in range(30):
            client.get(f"/random-{i}-path")
            client.get(f"/embed/texts/x{i}")
            client.delete(f"/index/add?i={i}")
        text = client.get("/metrics").text
    assert "random-" not in text and "/embed/texts/x" not in text
    assert 'openeyes_requests_total{route="other",status="404"}' in text
    assert 'openeyes_requests_total{route="/index/add",status="405"}' in text
