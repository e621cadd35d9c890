"""``openeyes serve`` under BentoML (the production path): readiness probes the models, routes,
the Gradio page at /ui, Prometheus metrics, the envelope; and the CLI's early user errors."""
import subprocess
import sys

import pytest

from conftest import HUNG_AFTER_S, LiveServer, data_uri, free_port, png_bytes, server_env

CLI = "from openeyes.serving.cli import app; app()"


@pytest.fixture(scope="module")
def bento(artifacts, tmp_path_factory):
    port = free_port()
    command = ["nice", "-n", "19", sys.executable, "-c", CLI, "--encoder", artifacts["encoder"], "--mllm", artifacts["mllm"],
               "--index", str(tmp_path_factory.mktemp("bento-index") / "idx"), "--port", str(port), "--threads", "1"]
    live = LiveServer(command, server_env(), port)
    yield live
    live.stop()


def test_bentoml_service_serves_routes_ui_and_metrics(bento):
    with bento.client() as client:
        assert client.get("/readyz").status_code == 200 and client.get("/livez").status_code == 200
        out = client.post("/embed/images", json={"images": [data_uri(png_bytes())]}).json()
        assert out["model"] == "tiny-clip" and len(out["embeddings"][0]) == out["dim"]
        answer = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 3})
        assert answer.status_code == 200 and answer.json()["choices"][0]["message"]["role"] == "assistant"
        assert client.post("/index/add", json={"items": [{"id": "a", "text": "a red circle"}]}).json()["count"] == 1
        bad = client.post("/embed/texts", json={"texts": [""]})
        assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
        page = client.get("/ui/")
        assert page.status_code == 200 and "gradio" in page.text.lower() and len(page.text) > 10_000
        assert "openeyes_requests_total" in client.get("/metrics").text
        assert "/v1/chat/completions" in client.get("/openapi.json").json()["paths"]


def test_cli_refuses_bad_options_before_starting(artifacts):
    code = ("import sys\nfrom openeyes.errors import UserError\nfrom openeyes.serving.cli import app\n"
            "try:\n    app(standalone_mode=False)\nexcept UserError as e:\n    print('error:', e, file=sys.stderr)\n    sys.exit(2)")

    def run(*args):
        args = (*args, "--port", str(free_port()))  # a server already on the default port must not change the verdict
        return subprocess.run(["nice", "-n", "19", sys.executable, "-c", code, *args], capture_output=True, text=True,
                              env=server_env(), timeout=HUNG_AFTER_S)

    unbuilt = run("--encoder", "zoo:no-such-model")
    assert unbuilt.returncode == 2 and "no-such-model" in unbuilt.stderr
    compare = run("--encoder", artifacts["encoder"], "--compare-encoders", "zoo:tiny-clip,zoo:no-such-encoder")
    assert compare.returncode == 2 and "no-such-encoder" in compare.stderr  # the UI's list is checked at start too
    from openeyes.serving.index_store import IndexStore

    IndexStore.open(artifacts["root"] / "faiss-index", dim=4, fingerprint="f").close()  # a one-process FAISS folder
    many = run("--encoder", artifacts["encoder"], "--index", str(artifacts["root"] / "faiss-index"), "--workers", "2")
    assert many.returncode == 2 and "--workers 1" in many.stderr and len(many.stderr.strip().splitlines()) == 1


def metric_lines(client) -> list[str]:
    return [line for line in client.get("/metrics").text.splitlines() if not line.startswith("#")]


def test_metrics_label_routes_not_raw_paths(bento):
    with bento.client() as client:
        for i in range(30):
            assert client.get(f"/no-such-route-{i}").status_code == 404
            client.post(f"/embed/texts/extra-{i}", json={"texts": ["a"]})
        client.post("/embed/texts", json={"texts": ["counted"]})
        lines = metric_lines(client)
    assert not [line for line in lines if "no-such-route" in line or "extra-" in line]  # bounded label values
    assert any(line.startswith('openeyes_requests_total{route="/embed/texts",status="200"}') for line in lines)


def test_another_bentoml_server_on_the_host_leaves_these_metrics_alone(bento, artifacts):
    with bento.client() as client:
        assert client.get("/index/count").status_code == 200
        before = [line for line in metric_lines(client) if line.startswith('openeyes_requests_total{route="/index/count"')]
        assert before
    port = free_port()
    other = LiveServer(["nice", "-n", "19", sys.executable, "-c", CLI, "--encoder", artifacts["encoder"], "--mllm", "none",
                        "--no-ui", "--port", str(port), "--threads", "1"], server_env(), port)
    try:
        with bento.client() as client:
            after = [line for line in metric_lines(client) if line.startswith('openeyes_requests_total{route="/index/count"')]
        assert after and float(after[0].split()[-1]) >= float(before[0].split()[-1])
    finally:
        other.stop()


def test_bentoml_pages_follow_the_key_policy(artifacts):
    """Under BentoML its own pages (/, /docs.json, /schema.json) and the app's docs and metrics need the key too."""
    port = free_port()
    command = ["nice", "-n", "19", sys.executable, "-c", CLI, "--encoder", artifacts["encoder"], "--mllm", "none",
               "--api-key", "sesame", "--port", str(port), "--threads", "1"]
    live = LiveServer(command, server_env(), port)
    try:
        with live.client() as anonymous, live.client(authorization="Bearer sesame") as keyed:
            assert anonymous.get("/livez").status_code == 200 and anonymous.get("/readyz").status_code == 200
            for path in ("/", "/docs.json", "/schema.json", "/docs", "/openapi.json", "/metrics", "/info"):
                denied = anonymous.get(path)
                assert denied.status_code == 401 and denied.json()["error"]["type"] == "authentication_error", path
            assert keyed.get("/openapi.json").status_code == 200 and keyed.get("/metrics").status_code == 200
    finally:
        live.stop()
