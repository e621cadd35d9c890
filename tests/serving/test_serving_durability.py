"""Durability over HTTP: ``kill -9`` the live service during a stream of concurrent ``/index/add``
calls; after a restart on the same ``--index`` folder the index loads (ready) and every add
that was acknowledged with a 200 is found."""
import os
import signal
import threading

import httpx
import numpy as np

from conftest import CLIENT_TIMEOUT_S, start_standalone

CLIENTS = 4  # concurrent writers, so that adds are in flight when the kill lands
ACKS_BEFORE_KILL = 160


def stream_adds(url: str, fingerprint: str, dim: int, writer: int, acknowledged: dict, stop: threading.Event) -> None:
    """Add 1-3 random vectors per request until stopped; record the ids of every 200."""
    rng = np.random.default_rng(writer)
    with httpx.Client(base_url=url, timeout=CLIENT_TIMEOUT_S) as client:
        n = 0
        while not stop.is_set():
            size = int(rng.integers(1, 4))
            items = []
            for _ in range(size):
                vector = rng.standard_normal(dim).astype(np.float32)
                items.append({"id": f"w{writer}-{n}", "vector": vector.tolist(), "metadata": {"writer": writer, "n": n}})
                n += 1
            try:
                response = client.post("/index/add", json={"items": items, "fingerprint": fingerprint})
            except httpx.HTTPError:
                return  # the server died: this request was never acknowledged
            if response.status_code == 200:
                for item in items:
                    acknowledged[item["id"]] = np.asarray(item["vector"], dtype=np.float32)


def test_acknowledged_http_adds_survive_kill_9_of_the_service(artifacts, tmp_path):
    index = str(tmp_path / "idx")
    first = start_standalone(encoder=artifacts["encoder"], mllm="none", index=index, ui="0")
    acknowledged: dict[str, np.ndarray] = {}
    stop = threading.Event()
    try:
        with first.client() as client:
            info = client.get("/index/count").json()
        writers = [threading.Thread(target=stream_adds, args=(first.url, info["fingerprint"], info["dim"], w, acknowledged, stop))
                   for w in range(CLIENTS)]
        for thread in writers:
            thread.start()
        while len(acknowledged) < ACKS_BEFORE_KILL and all(t.is_alive() for t in writers):
            threading.Event().wait(0.02)
        os.kill(first.process.pid, signal.SIGKILL)  # mid-stream: other adds are in flight
        first.process.wait()
        stop.set()
        for thread in writers:
            thread.join(30)
    finally:
        stop.set()
        first.stop()
    assert first.process.returncode == -signal.SIGKILL
    assert len(acknowledged) >= ACKS_BEFORE_KILL

    second = start_standalone(encoder=artifacts["encoder"], mllm="none", index=index, ui="0")  # ready = index loaded
    try:
        with second.client() as client:
            info = client.get("/index/count").json()
            assert info["count"] >= len(acknowledged)
            missing = []
            for id_, vector in acknowledged.items():
                hit = client.post("/index/search", json={"vector": vector.tolist(), "fingerprint": info["fingerprint"],
                                                         "top_k": 1}).json()["results"][0]
                if hit["id"] != id_ or hit["score"] < 0.999:
                    missing.append(id_)
            assert not missing, f"{len(missing)} acknowledged adds lost, e.g. {missing[:5]}"
            writer, n = next(iter(acknowledged)).lstrip("w").split("-")
            found = client.post("/index/search", json={"vector": acknowledged[f"w{writer}-{n}"].tolist(),
                                                       "fingerprint": info["fingerprint"], "top_k": 1}).json()["results"][0]
            assert found["metadata"] == {"writer": int(writer), "n": int(n)}
            assert client.post("/index/add", json={"items": [{"id": "after-restart", "text": "a red circle"}]}).status_code == 200
    finally:
        second.stop()
