"""The retrieval index: exact vs FAISS search, persistence, compaction, encoder fingerprint, and
durability of acknowledged adds across a ``kill -9`` of a real writer process."""
import json
import os
import signal
import subprocess
import sys
import textwrap

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
    assert _recall(exact, approx, queries) >= 0.9 and approx._ann is not None  # the IVF index is built
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
