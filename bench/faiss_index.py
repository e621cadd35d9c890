"""Retrieval index at scale: exact FAISS search (IndexFlatIP) vs the IVF index the service uses
for large collections (``openeyes.serving.ann``), on clustered synthetic embeddings.

    python bench/faiss_index.py                      # 1M x 512 (several minutes, ~6 GB RAM)
    python bench/faiss_index.py --n 100000 --dim 128 # quick run

Data: a mixture of Gaussians (``--clusters`` centres, anisotropic noise), L2-normalized,
generated in chunks. Prints JSON lines: one for exact and one per nprobe tried (the service's
default is marked), each with build time, p50/p99 single-query latency (k=10) and recall@10
against exact search on ``--queries`` held-out queries. Target: p50 <= 20 ms at recall >= 0.95.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

CHUNK = 100_000  # vectors generated per chunk


def clustered(n: int, dim: int, clusters: int, seed: int, spread: tuple[float, float] = (1.0, 2.0)) -> np.ndarray:
    """``n`` unit vectors [n, dim] around ``clusters`` centres, built chunk by chunk; each cluster's
    noise scale is drawn from ``spread`` (relative to the centres' scale: larger = more overlap)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    scales = rng.uniform(*spread, clusters).astype(np.float32)  # clusters of different spread
    directions = rng.uniform(0.2, 1.0, dim).astype(np.float32)  # anisotropic noise
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, CHUNK):
        size = min(CHUNK, n - start)
        which = rng.integers(0, clusters, size)
        noise = rng.standard_normal((size, dim), dtype=np.float32) * directions
        block = centres[which] + scales[which, None] * noise
        out[start:start + size] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def latencies_ms(search, queries: np.ndarray) -> np.ndarray:
    times = []
    for query in queries:
        started = time.perf_counter()
        search(query[None, :])
        times.append((time.perf_counter() - started) * 1000)
    return np.asarray(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="indexed vectors")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=300, help="held-out queries (>= 200 for the report)")
    parser.add_argument("--clusters", type=int, default=2000)
    parser.add_argument("--spread", type=float, nargs=2, default=[1.0, 2.0], metavar=("LOW", "HIGH"),
                        help="range of per-cluster noise scales (1.5 3.0 makes clusters overlap: a harder case)")
    parser.add_argument("--nprobe", type=int, nargs="*", default=[16, 32, 64, 128], help="nprobe values to report")
    parser.add_argument("--threads", type=int, default=2, help="faiss threads (at most 2 on the shared machine)")
    args = parser.parse_args()

    import faiss

    from openeyes.serving.ann import IVFIndex, IVFSettings, list_count

    faiss.omp_set_num_threads(max(1, min(2, args.threads)))
    data = clustered(args.n + args.queries, args.dim, args.clusters, seed=0, spread=tuple(args.spread))
    vectors, queries = data[:args.n], data[args.n:]
    k = 10

    started = time.perf_counter()
    exact = faiss.IndexFlatIP(args.dim)
    exact.add(vectors)
    exact_build = time.perf_counter() - started
    _, truth = exact.search(queries, k)  # [Q, k]
    exact_ms = latencies_ms(lambda q: exact.search(q, k), queries[:20])
    print(json.dumps({"index": "exact IndexFlatIP", "n": args.n, "dim": args.dim, "spread": args.spread, "build_s": round(exact_build, 2),
                      "queries": 20, "p50_ms": round(float(np.percentile(exact_ms, 50)), 3),
                      "p99_ms": round(float(np.percentile(exact_ms, 99)), 3), "recall_at_10": 1.0}), flush=True)
    del exact

    settings = IVFSettings()
    started = time.perf_counter()
    ann = IVFIndex.build(vectors, np.arange(args.n, dtype=np.int64), settings)
    build = time.perf_counter() - started
    for nprobe in sorted(set(args.nprobe) | {settings.nprobe}):
        found = ann.search(queries, k, nprobe=nprobe)[1]  # [Q, k]
        recall = float(np.mean([len(set(f) & set(t)) / k for f, t in zip(found, truth)]))
        ms = latencies_ms(lambda q: ann.search(q, k), queries)
        print(json.dumps({"index": f"IVF{list_count(args.n, settings)},Flat", "n": args.n, "dim": args.dim, "spread": args.spread,
                          "nprobe": nprobe, "service_default": nprobe == settings.nprobe, "build_s": round(build, 2),
                          "queries": len(queries), "p50_ms": round(float(np.percentile(ms, 50)), 3),
                          "p99_ms": round(float(np.percentile(ms, 99)), 3), "recall_at_10": round(recall, 4),
                          "threads": faiss.omp_get_max_threads()}), flush=True)


if __name__ == "__main__":
    main()
