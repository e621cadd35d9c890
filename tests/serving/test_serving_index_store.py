"""The retrieval index: exact vs FAISS search, persistence, compaction, encoder fingerprint, and
durability of acknowledged adds across a ``kill -9`` of a real writer process."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

from openeyes.errors import UserError
from openeyes.serving.index_store import IndexStore


def _vectors(n, d=16, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def test_exact_search_ranks_by_cosine_and_delete_and_upsert(tmp_path):
    store = IndexStore.open(None, dim=16, fingerprint="f")
    vectors = _vectors(50)
    store.add([f"v{i}" for i in range(50)], vectors, [{"i": i} for i in range(50)])
    hits = store.search(vectors[7], top_k=3)
    assert hits[0]["id"] == "v7" and hits[0]["metadata"] == {"i": 7} and hits[0]["score"] == pytest.approx(1.0, abs=1e-5)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert store.delete(["v7", "v7", "missing"]) == 1 and store.count == 49
    assert store.search(vectors[7], top_k=1)[0]["id"] != "v7"
    store.add(["v8"], vectors[9:10], [{"replaced": True}])  # upsert keeps the count
    assert store.count == 49 and store.search(vectors[9], 1)[0]["metadata"] in ({"replaced": True}, {"i": 9})
    assert len(store.search(vectors[0], top_k=1000)) == 49


def _clustered(n, d=32, clusters=40, seed=0):
    """Points around ``clusters`` random centres (embeddings have such structure; uniform noise has none)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, d))
    return (centres[rng.integers(0, clusters, n)] + 0.35 * rng.standard_normal((n, d))).astype(np.float32)


def _recall(exact, approx, queries, k=10):
    return np.mean([len({h["id"] for h in exact.search(q, k)} & {h["id"] for h in approx.search(q, k)}) / k for q in queries])


def test_faiss_ivf_matches_exact_and_stays_in_sync_with_adds_and_deletes():
    vectors = _clustered(4000, seed=1)
    ids = [str(i) for i in range(4000)]
    exact = IndexStore.open(None, dim=32, fingerprint="f", faiss_threshold=10**9)
    approx = IndexStore.open(None, dim=32, fingerprint="f", faiss_threshold=1000)
    exact.add(ids[:3000], vectors[:3000])
    approx.add(ids[:3000], vectors[:3000])
    queries = _clustered(30, seed=2)
    assert _recall(exact, approx, queries) >= 0.99  # the IVF index trains in the background: exact search meanwhile
    assert approx.ann_ready(timeout=300)  # the IVF index is built and swapped in
    assert _recall(exact, approx, queries) >= 0.9
    # after it is built: new rows, a replaced row and deletes go into the IVF index in place
    for store in (exact, approx):
        store.add(ids[3000:], vectors[3000:])
        store.add(["5"], vectors[3999:4000])
        store.delete([str(i) for i in range(10, 400)])
    assert approx.count == exact.count == 3610 and approx._ann.count == 3610
    assert _recall(exact, approx, queries) >= 0.9
    assert approx.search(vectors[3999], 2)[0]["id"] in ("5", "3999")
    assert all(int(h["id"]) not in range(10, 400) for q in vectors[10:40] for h in approx.search(q, 10))
    assert approx.search(vectors[3500], 1)[0]["id"] == "3500"  # added after the build, found by the IVF index


class GatedTraining(IndexStore):
    """The real store whose IVF training waits for a signal, to hold it "in progress" (minutes at ~1M)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.training, self.release = threading.Event(), threading.Event()

    def _train(self, vectors, keys):
        self.training.set()
        assert self.release.wait(300), "never released"
        return super()._train(vectors, keys)


def _finishes(call, timeout=60.0):
    """Run ``call`` in a thread; its result if it returned within ``timeout`` (it must not wait on training)."""
    box = []
    thread = threading.Thread(target=lambda: box.append(call()), daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "blocked behind the IVF training"
    return box[0]


def test_ivf_training_runs_off_the_lock_and_replays_the_writes_made_meanwhile():
    vectors = _clustered(6000, seed=3)
    ids = [str(i) for i in range(6000)]
    exact = IndexStore.open(None, dim=32, fingerprint="f", faiss_threshold=10**9)
    store = GatedTraining(None, 32, "f", "", faiss_threshold=1000)
    for target in (exact, store):
        target.add(ids[:2000], vectors[:2000])
    assert _finishes(lambda: store.search(vectors[5], 1))[0]["id"] == "5"  # starts the training, answers exactly
    assert store.training.wait(60)
    # training is in progress: writes and searches go on, exact meanwhile
    for target in (exact, store):
        _finishes(lambda: target.add(ids[2000:2500], vectors[2000:2500]))
        _finishes(lambda: target.add(["7"], vectors[4000:4001]))  # a replacement
        assert _finishes(lambda: target.delete([str(i) for i in range(100, 200)])) == 100
    assert _finishes(lambda: store.search(vectors[2100], 1))[0]["id"] == "2100" and store._ann is None
    store.release.set()
    assert store.ann_ready(timeout=300) and store._ann.count == store.count == 2400
    assert store.search(vectors[2100], 1)[0]["id"] == "2100"  # added during training, found by the IVF index
    assert store.search(vectors[4000], 1)[0]["id"] == "7"  # replaced during training
    assert all(int(h["id"]) not in range(100, 200) for q in vectors[100:130] for h in store.search(q, 10))
    # outgrowing it retrains in the background while the old IVF index keeps serving and taking writes
    store.training.clear()
    store.release.clear()
    old = store._ann
    for target in (exact, store):
        target.add(ids[2500:], vectors[2500:])  # 5900 rows > 2 x 2000... and the regrow factor below
    store.ann_settings.regrow = 2.0
    assert store.search(vectors[5000], 1)[0]["id"] == "5000" and store.training.wait(60)
    for target in (exact, store):
        _finishes(lambda: target.delete(["5000", "5001"]))
    assert _finishes(lambda: store.search(vectors[5000], 1))[0]["id"] != "5000" and store._ann is old
    store.release.set()
    assert store.ann_ready(timeout=300) and store._ann is not old and store._ann.count == store.count == exact.count
    assert _recall(exact, store, _clustered(30, seed=4)) >= 0.9


def test_persistence_compaction_and_torn_tail(tmp_path):
    path = tmp_path / "idx"
    store = IndexStore.open(path, dim=16, fingerprint="abc", encoder_name="enc", snapshot_every=5)
    vectors = _vectors(12)
    for i in range(12):
        store.add([f"v{i}"], vectors[i:i + 1], [{"i": i}])
    store.delete(["v3"])
    store.close()
    assert json.loads((path / "meta.json").read_text())["generation"] >= 2  # compacted at least twice
    with open(path / f"log-{json.loads((path / 'meta.json').read_text())['generation']}.jsonl", "ab") as log:
        log.write(b'{"op":"add","id":"torn","v":"AAAA')  # an interrupted, never acknowledged write
    again = IndexStore.open(path, dim=16, fingerprint="abc", encoder_name="enc", snapshot_every=5)
    assert again.count == 11 and again.get("v3") is None and again.get("torn") is None
    assert np.allclose(again.get("v11")[0], vectors[11] / np.linalg.norm(vectors[11]), atol=1e-6)
    again.add(["after"], vectors[:1])  # appending after the cut tail stays readable
    again.close()
    assert IndexStore.open(path, dim=16, fingerprint="abc").count == 12


def test_index_from_another_encoder_is_refused(tmp_path):
    IndexStore.open(tmp_path / "idx", dim=16, fingerprint="abc", encoder_name="a").close()
    with pytest.raises(UserError, match="fingerprint"):
        IndexStore.open(tmp_path / "idx", dim=16, fingerprint="other", encoder_name="b")
    with pytest.raises(UserError, match="dim"):
        IndexStore.open(tmp_path / "idx", dim=8, fingerprint="abc")


WRITER = textwrap.dedent("""
    import sys, numpy as np
    from openeyes.serving.index_store import IndexStore
    store = IndexStore.open(sys.argv[1], dim=16, fingerprint="fp", snapshot_every=25)
    rng = np.random.default_rng(0)
    i = 0
    while True:
        store.add([f"id{i}"], rng.standard_normal((1, 16)).astype(np.float32), [{"i": i}])
        print(f"id{i}", flush=True)  # acknowledged only after add() returned (fsync done)
        i += 1
""")


def test_acknowledged_adds_survive_kill_9(tmp_path):
    path = tmp_path / "idx"
    writer = subprocess.Popen(["nice", "-n", "19", sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    acknowledged = []
    try:
        for line in writer.stdout:
            acknowledged.append(line.strip())
            if len(acknowledged) >= 120:  # several compactions happened (every 25 records)
                break
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
    assert writer.returncode == -signal.SIGKILL
    store = IndexStore.open(path, dim=16, fingerprint="fp")
    missing = [i for i in acknowledged if store.get(i) is None]
    assert not missing and store.count >= len(acknowledged)
    assert store.get(acknowledged[-1])[1] == {"i": len(acknowledged) - 1}
