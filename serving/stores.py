"""Which retrieval store serves ``--index``: the small interface the routes use, and the choice.

- nothing: the FAISS store in memory (one process);
- a folder: the FAISS store on disk (``serving.index_store``, one process);
- ``postgresql://...``: the shared store in PostgreSQL + pgvector (``serving.pg_store``), for any
  number of workers and replicas. ``openeyes serve`` turns a folder holding a local Postgres
  (``serving.pg_local``), and the default of ``--workers N > 1``, into such a URL before the
  workers start (``serving.cli``).
"""
from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class RetrievalStore(Protocol):
    """What ``serving.api`` calls on ``runtime.index``."""

    persistent: bool  # whether the rows outlive the process

    @property
    def count(self) -> int: ...

    def add(self, ids: list[str], vectors: np.ndarray, metadata: list[Any] | None = None) -> list[str]: ...

    def delete(self, ids: list[str]) -> int: ...

    def search(self, query: np.ndarray, top_k: int) -> list[dict[str, Any]]: ...

    def probe(self) -> None: ...

    def close(self) -> None: ...


def open_store(location: str | None, *, dim: int, fingerprint: str, encoder_name: str) -> RetrievalStore:
    """The store for ``location`` (None, a folder, or a ``postgresql://`` URL)."""
    from openeyes.serving.pg_store import PgIndexStore, is_database_url

    if is_database_url(location):
        return PgIndexStore.open(location, dim=dim, fingerprint=fingerprint, encoder_name=encoder_name)
    from openeyes.serving.index_store import IndexStore

    return IndexStore.open(location, dim=dim, fingerprint=fingerprint, encoder_name=encoder_name)


def require_shared(location: str | None, workers: int) -> None:
    """Refuse a store that several worker processes would each hold a private copy of."""
    from openeyes.errors import UserError
    from openeyes.serving.pg_store import is_database_url

    if workers > 1 and not is_database_url(location):
        raise UserError(f"--workers {workers} needs a shared index (a postgresql:// URL); {location or 'an in-memory index'} "
                        "would give each worker its own copy")
