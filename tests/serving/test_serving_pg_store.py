"""The shared store (``serving.pg_store``) against a real PostgreSQL + pgvector started by the tests:
the same behaviour as the FAISS store, one index seen by every opener, encoder check, clean 503s."""
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from conftest import fresh_database
from openeyes.errors import UserError
from openeyes.serving import pg_local
from openeyes.serving.errors import ApiError
from openeyes.serving.index_store import IndexStore
from openeyes.serving.pg_store import PgIndexStore

DIM = 16


def open_pair(url):
    return (PgIndexStore.open(url, dim=DIM, fingerprint="fp-a", encoder_name="enc-a"),
            PgIndexStore.open(url, dim=DIM, fingerprint="fp-a", encoder_name="enc-a"))


def test_add_replace_delete_search_match_the_faiss_store(postgres):
    url = fresh_database(postgres, "store_semantics")
    shared = PgIndexStore.open(url, dim=DIM, fingerprint="fp-a", encoder_name="enc-a")
    local = IndexStore.open(None, dim=DIM, fingerprint="fp-a")
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((300, DIM)).astype(np.float32)
    ids = [f"row-{i}" for i in range(300)]
    metadata = [{"i": i, "tags": ["a", "b"], "nested": {"x": 1.5}} for i in range(300)]
    for store in (shared, local):
        store.add(ids, vectors, metadata)
        store.add(["row-7"], vectors[8:9], [{"replaced": True}])  # replacement keeps the count
        assert store.delete(["row-9", "row-9", "absent"]) == 1
        assert store.count == 299
    for q in rng.standard_normal((20, DIM)).astype(np.float32):
        a, b = shared.search(q, 10), local.search(q, 10)
        assert [r["id"] for r in a] == [r["id"] for r in b]
        assert np.allclose([r["score"] for r in a], [r["score"] for r in b], atol=1e-5)
        assert [r["metadata"] for r in a] == [r["metadata"] for r in b]
    assert shared.search(vectors[8], 2)[0]["score"] > 0.9999
    assert {r["id"] for r in shared.search(vectors[8], 2)} == {"row-7", "row-8"}
    assert "row-9" not in {r["id"] for r in shared.search(vectors[9], 5)}
    vector, meta = shared.get("row-7")
    assert meta == {"replaced": True} and np.allclose(vector, vectors[8] / np.linalg.norm(vectors[8]), atol=1e-6)
    shared.close()


def test_every_opener_sees_one_index_at_once(postgres):
    url = fresh_database(postgres, "store_shared")
    first, second = open_pair(url)
    vector = np.ones(DIM, dtype=np.float32)
    first.add(["shared"], vector[None, :], [{"by": "first"}])
    assert second.count == 1 and second.search(vector, 1)[0]["metadata"] == {"by": "first"}
    assert second.delete(["shared"]) == 1
    assert first.count == 0 and first.search(vector, 1) == []


def test_another_encoders_table_is_refused(postgres):
    url = fresh_database(postgres, "store_fingerprint")
    PgIndexStore.open(url, dim=DIM, fingerprint="fp-a", encoder_name="enc-a").close()
    with pytest.raises(UserError, match="enc-a.*not comparable"):
        PgIndexStore.open(url, dim=DIM, fingerprint="fp-b", encoder_name="enc-b")
    with pytest.raises(UserError, match="not comparable"):
        PgIndexStore.open(url, dim=DIM + 1, fingerprint="fp-a", encoder_name="enc-a")


def test_values_json_or_postgres_cannot_hold_are_user_errors_and_write_nothing(postgres):
    store = PgIndexStore.open(fresh_database(postgres, "store_bad_values"), dim=DIM, fingerprint="fp", encoder_name="e")
    vector = np.ones((1, DIM), dtype=np.float32)
    for ids, meta, message in ((["nan"], [{"x": float("nan")}], "non-finite"), (["nul"], [{"x": "a\x00b"}], "NUL"),
                               (["a\x00b"], [None], "NUL")):
        with pytest.raises(UserError, match=message):
            store.add(ids, vector, meta)
    with pytest.raises(UserError, match="dimension"):
        store.add(["short"], np.ones((1, DIM - 1), dtype=np.float32))
    assert store.count == 0


def fill_pool(store, n=4):
    """Have ``n`` connections in use at once, so that they then sit idle in the store's pool."""
    hold = threading.Barrier(n)
    with ThreadPoolExecutor(n) as pool:
        list(pool.map(lambda _: (hold.wait(30), store.count), range(n)))
    assert store._idle.qsize() >= 2


def test_database_down_is_a_503_and_the_store_recovers_by_itself(postgres):
    store = PgIndexStore.open(fresh_database(postgres, "store_restart"), dim=DIM, fingerprint="fp", encoder_name="e")
    store.add(["kept"], np.ones((1, DIM), dtype=np.float32))
    fill_pool(store)
    pg_local.stop(postgres)
    try:
        for call in (lambda: store.count, lambda: store.search(np.ones(DIM), 1), lambda: store.add(["x"], np.ones((1, DIM)))):
            with pytest.raises(ApiError) as caught:
                call()
            assert caught.value.status == 503 and "unavailable" in caught.value.message
    finally:
        pg_local.start(postgres)
    assert store.count == 1 and store.search(np.ones(DIM), 1)[0]["id"] == "kept"  # same store object, new connections
    fill_pool(store)
    pg_local.stop(postgres)  # a restart between two requests: every idle connection is dead now
    pg_local.start(postgres)
    for _ in range(4):  # the first call meets a dead connection, drops the idle ones and reconnects: no 503
        assert store.count == 1
