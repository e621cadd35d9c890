"""The approximate index behind large retrieval collections: FAISS IVF-Flat over inner product.

Vectors carry stable integer keys (not row numbers), so adds, replacements and deletes update
the index in place; only growth far beyond the size it was trained for asks for a rebuild
(``needs_rebuild``). Why IVF and not HNSW: at 1M x 512 on 2 cores an IVF index trains and
fills in about a minute, HNSW construction takes many minutes, and IVF removes keys without
a rebuild. ``bench/faiss_index.py`` measures latency and recall@10 against exact search.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class IVFSettings:
    """How the IVF index is sized and searched (defaults meet recall@10 >= 0.95 at 1M x 512)."""

    lists_per_sqrt: float = 4.0  # nlist ~ lists_per_sqrt * sqrt(N), rounded to a power of two
    min_lists: int = 64  # nlist floor (small collections)
    max_lists: int = 16384  # nlist cap
    train_per_list: int = 40  # training vectors per list (FAISS warns below 39)
    nprobe: int = 64  # lists visited per query
    regrow: float = 4.0  # rebuild once the collection is this many times the trained size


def list_count(n: int, settings: IVFSettings) -> int:
    target = settings.lists_per_sqrt * np.sqrt(max(n, 1))
    power = 2 ** int(round(np.log2(max(target, 1))))
    return int(min(settings.max_lists, max(settings.min_lists, power)))


class IVFIndex:
    """IVF-Flat inner-product index keyed by int64 keys."""

    def __init__(self, dim: int, settings: IVFSettings | None = None):
        self.dim = dim
        self.settings = settings or IVFSettings()
        self.trained_for = 0  # collection size the coarse quantizer was trained on
        self._index = None

    @classmethod
    def build(cls, vectors: np.ndarray, keys: np.ndarray, settings: IVFSettings | None = None, seed: int = 0) -> "IVFIndex":
        """Train on a sample of ``vectors`` [N, D] and add them all under ``keys`` [N]."""
        import faiss

        ann = cls(vectors.shape[1], settings)
        n = len(vectors)
        nlist = list_count(n, ann.settings)
        quantizer = faiss.IndexFlatIP(ann.dim)
        index = faiss.IndexIVFFlat(quantizer, ann.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        sample_size = min(n, nlist * ann.settings.train_per_list)
        sample = vectors if sample_size == n else vectors[np.sort(np.random.default_rng(seed).choice(n, sample_size, replace=False))]
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
        index.nprobe = min(ann.settings.nprobe, nlist)
        ann._index = index
        ann.add(keys, vectors)
        ann.trained_for = n
        return ann

    @property
    def count(self) -> int:
        return 0 if self._index is None else int(self._index.ntotal)

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Insert ``vectors`` [n, D] under ``keys`` [n] (keys must not be present)."""
        if len(keys):
            self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(keys), self.dim),
                                     np.asarray(keys, dtype=np.int64))

    def remove(self, keys: np.ndarray) -> None:
        import faiss

        if len(keys):
            self._index.remove_ids(faiss.IDSelectorBatch(np.asarray(keys, dtype=np.int64)))

    def needs_rebuild(self, count: int) -> bool:
        return count > self.settings.regrow * max(self.trained_for, 1)

    def search(self, queries: np.ndarray, k: int, nprobe: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores [Q, k], keys [Q, k]); missing results have key -1."""
        if nprobe is not None:
            self._index.nprobe = nprobe
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        return self._index.search(queries, k)
