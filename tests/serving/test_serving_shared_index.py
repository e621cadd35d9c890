"""One index for every worker and replica, over HTTP, on a real PostgreSQL + pgvector that the
tests start: ``openeyes serve --workers 2`` with default settings; two replicas sharing one
database under 16 concurrent clients; ``kill -9`` of a worker and of a replica; Postgres
restarted under load. Every wait is on a condition (readiness, an answer), never a fixed sleep."""
from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import psutil
import pytest

from conftest import LiveServer, free_port, fresh_database, server_env
from openeyes.serving import pg_local

CLI = "from openeyes.serving.cli import app; app()"
CLIENTS = 16


def serve(artifacts, *args: str) -> LiveServer:
    """``openeyes serve`` at nice 19; ready once /readyz is 200 (minutes when the machine is busy)."""
    port = free_port()
    command = ["nice", "-n", "19", sys.executable, "-c", CLI, "--encoder", artifacts["encoder"], "--mllm", "none", "--no-ui",
               "--threads", "1", "--port", str(port), *args]
    return LiveServer(command, server_env(), port, timeout=900)


def info(client: httpx.Client) -> dict:
    return client.get("/index/count").json()


def vector_of(name: str, dim: int) -> list[float]:
    return np.random.default_rng(abs(hash(name)) % 2**32).standard_normal(dim).astype(np.float32).tolist()


def top_id(client: httpx.Client, name: str, meta: dict) -> str | None:
    hits = client.post("/index/search", json={"vector": vector_of(name, meta["dim"]), "fingerprint": meta["fingerprint"],
                                              "top_k": 1}).json()["results"]
    return hits[0]["id"] if hits and hits[0]["score"] > 0.999 else None


class Ledger:
    """What the clients were told: acknowledged adds and deletes (with when), and violations seen."""

    def __init__(self, tag: str):
        self.tag = tag  # prefix of the ids this ledger's clients write (unique per test)
        self.lock = threading.Lock()
        self.added: set[str] = set()
        self.deleted_at: dict[str, float] = {}  # id -> monotonic time its delete was acknowledged
        self.uncertain: set[str] = set()  # writes that failed or died in flight: may or may not have committed
        self.violations: list[str] = []
        self.statuses: dict[int, int] = {}
        self.messages: list[str] = []

    def saw(self, response: httpx.Response) -> None:
        with self.lock:
            self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
            if response.status_code == 503:
                self.messages.append(response.json()["error"]["message"])


def client_loop(urls: list[str], meta: dict, worker: int, ledger: Ledger, stop: threading.Event, ops: int | None) -> None:
    """Adds, deletes its own older rows, searches; alternates replicas; records every acknowledgement."""
    rng = np.random.default_rng(worker)
    clients = [httpx.Client(base_url=url, timeout=60) for url in urls]
    mine: list[str] = []
    n = 0
    try:
        while not stop.is_set() and (ops is None or n < ops):
            client = clients[n % len(clients)]
            kind = rng.choice(["add", "add", "delete", "search"]) if mine else "add"
            try:
                if kind == "add":
                    name = f"{ledger.tag}c{worker}-{n}"
                    r = client.post("/index/add", json={"items": [{"id": name, "vector": vector_of(name, meta["dim"]),
                                                                   "metadata": {"c": worker}}],
                                                        "fingerprint": meta["fingerprint"]})
                    with ledger.lock:
                        (ledger.added if r.status_code == 200 else ledger.uncertain).add(name)
                    if r.status_code == 200:
                        mine.append(name)
                elif kind == "delete":
                    name = mine.pop(int(rng.integers(0, len(mine))))
                    r = client.post("/index/delete", json={"ids": [name]})
                    with ledger.lock:
                        if r.status_code == 200:
                            ledger.deleted_at[name] = time.monotonic()
                        else:
                            ledger.uncertain.add(name)
                else:
                    sent = time.monotonic()
                    name = mine[int(rng.integers(0, len(mine)))]
                    r = client.post("/index/search", json={"vector": vector_of(name, meta["dim"]), "top_k": 5,
                                                           "fingerprint": meta["fingerprint"]})
                    if r.status_code == 200:
                        with ledger.lock:
                            for hit in r.json()["results"]:
                                if ledger.deleted_at.get(hit["id"], float("inf")) < sent:
                                    ledger.violations.append(f"{hit['id']} returned after its delete was acknowledged")
                ledger.saw(r)
            except httpx.HTTPError:  # the server died under this request: nothing was acknowledged
                if kind != "search":
                    with ledger.lock:
                        ledger.uncertain.add(name)
            n += 1
    finally:
        for client in clients:
            client.close()


def run_clients(urls, meta, ledger, stop, ops=None) -> list[threading.Thread]:
    threads = [threading.Thread(target=client_loop, args=(urls, meta, w, ledger, stop, ops), daemon=True) for w in range(CLIENTS)]
    for thread in threads:
        thread.start()
    return threads


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def check_ledger(client: httpx.Client, meta: dict, ledger: Ledger, before: int = 0) -> None:
    """Every acknowledged add is found, no acknowledged delete is, the count agrees (``before``: rows added earlier)."""
    assert not ledger.violations, ledger.violations[:5]
    live = ledger.added - set(ledger.deleted_at) - ledger.uncertain
    missing = [name for name in live if top_id(client, name, meta) != name]
    assert not missing, f"{len(missing)} acknowledged adds lost, e.g. {missing[:5]}"
    back = [name for name in set(ledger.deleted_at) - ledger.uncertain if top_id(client, name, meta) == name]
    assert not back, f"deleted rows still found: {back[:5]}"
    assert before + len(live) <= info(client)["count"] <= before + len(live) + len(ledger.uncertain)


def test_workers_2_with_default_settings_answer_as_one_index(artifacts):
    """No --index: the CLI starts a local Postgres for both workers; a killed worker loses nothing;
    stopping the server stops that Postgres and removes its temporary folder."""
    earlier = set(Path(tempfile.gettempdir()).glob("openeyes-index-*"))
    live = serve(artifacts, "--workers", "2")
    ours = set(Path(tempfile.gettempdir()).glob("openeyes-index-*")) - earlier
    try:
        assert len(ours) == 1 and pg_local.is_running(next(iter(ours)))
        with live.client() as client:
            meta = info(client)
            assert meta["count"] == 0
            for i in range(12):
                r = client.post("/index/add", json={"items": [{"id": f"w{i}", "vector": vector_of(f"w{i}", meta["dim"])}],
                                                    "fingerprint": meta["fingerprint"]})
                assert r.status_code == 200 and r.json()["count"] == i + 1
            for _ in range(3):  # fresh connections each, so the accepting worker varies
                with live.client() as other:
                    counts = {info(other)["count"] for _ in range(10)}
                    assert counts == {12}
                    assert all(top_id(other, f"w{i}", meta) == f"w{i}" for i in range(12))
            workers = [p for p in psutil.Process(live.process.pid).children(recursive=True)
                       if "_bentoml_impl.worker" in " ".join(p.cmdline())]
            assert len(workers) == 2, [" ".join(p.cmdline()) for p in workers]
            ledger, stop = Ledger("workers-"), threading.Event()
            threads = run_clients([live.url], meta, ledger, stop)
            wait_for(lambda: len(ledger.added) >= 40, 120, "40 acknowledged adds")
            victim = workers[-1]
            os.kill(victim.pid, signal.SIGKILL)  # a worker dies mid-stream; the other keeps answering
            wait_for(lambda: len(ledger.added) >= 80, 180, "adds after the worker was killed")
            stop.set()
            for thread in threads:
                thread.join(60)
            wait_for(lambda: live.client().get("/readyz").status_code == 200, 120, "readiness after the kill")
            check_ledger(client, meta, ledger, before=12)
        live.process.terminate()  # a plain stop: the server, then its local Postgres
        assert live.process.wait(600) == 0
        assert not any(folder.exists() for folder in ours)
        assert not [p for p in psutil.process_iter(["cmdline"]) if any(str(f) in " ".join(p.info["cmdline"] or []) for f in ours)]
    finally:
        live.stop()


@pytest.fixture(scope="module")
def replicas(artifacts, postgres):
    from concurrent.futures import ThreadPoolExecutor

    url = fresh_database(postgres, "replicas")
    with ThreadPoolExecutor(2) as pool:  # both load at once
        a, b = pool.map(lambda _: serve(artifacts, "--standalone", "--index", url), range(2))
    yield a, b
    a.stop()
    b.stop()


def test_postgres_restart_under_load_is_503_then_recovers_without_restarting_openeyes(replicas, postgres):
    a, b = replicas
    with b.client() as cb:
        meta = info(cb)
        ledger, stop = Ledger("restart-"), threading.Event()
        threads = run_clients([a.url, b.url], meta, ledger, stop)
        try:
            wait_for(lambda: len(ledger.added) >= 40, 300, "adds before the restart")
            pg_local.stop(postgres)
            try:
                wait_for(lambda: ledger.statuses.get(503, 0) >= 5, 120, "503s while Postgres is down")
                down = cb.get("/readyz")
                assert down.status_code == 503 and "index" in down.json()["error"]["message"]
            finally:
                pg_local.start(postgres)
            ok_before = ledger.statuses.get(200, 0)
            wait_for(lambda: ledger.statuses.get(200, 0) >= ok_before + 40, 300, "successes after the restart")
        finally:
            stop.set()
            for thread in threads:
                thread.join(60)
        assert all("unavailable" in message for message in ledger.messages), ledger.messages[:3]
        assert set(ledger.statuses) <= {200, 503}, ledger.statuses
        wait_for(lambda: cb.get("/readyz").status_code == 200, 60, "readiness after the restart")
        check_ledger(cb, meta, ledger)


def test_two_replicas_share_one_database_under_concurrent_clients_and_a_kill_9(replicas):
    """Runs after the restart test (module order): it kills replica A."""
    a, b = replicas
    with a.client() as ca, b.client() as cb:
        meta = info(ca)
        before = meta["count"]
        r = ca.post("/index/add", json={"items": [{"id": "via-a", "vector": vector_of("via-a", meta["dim"]),
                                                   "metadata": {"from": "a"}}], "fingerprint": meta["fingerprint"]})
        assert r.status_code == 200
        assert top_id(cb, "via-a", meta) == "via-a" and info(cb)["count"] == before + 1  # at once, via the other replica
        assert cb.post("/index/delete", json={"ids": ["via-a"]}).json()["deleted"] == 1
        assert top_id(ca, "via-a", meta) is None and info(ca)["count"] == before

        ledger, stop = Ledger("kill-"), threading.Event()
        threads = run_clients([a.url, b.url], meta, ledger, stop)
        wait_for(lambda: len(ledger.added) >= 120 and len(ledger.deleted_at) >= 20, 300, "a mixed stream")
        os.kill(a.process.pid, signal.SIGKILL)  # replica A dies with requests in flight
        a.process.wait()
        wait_for(lambda: len(ledger.added) >= 200, 300, "adds through the surviving replica")
        stop.set()
        for thread in threads:
            thread.join(60)
        assert ledger.statuses.get(500, 0) == 0, ledger.statuses
        check_ledger(cb, meta, ledger, before)
