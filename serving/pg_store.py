"""The shared retrieval index: the same store API as ``serving.index_store`` on PostgreSQL + pgvector.

Every worker and every replica that opens the same ``postgresql://`` URL sees one index, so
``--workers N`` and several ``openeyes serve`` behind a load balancer answer alike. Layout::

    openeyes_index_meta  (name PK, fingerprint, encoder, dim)     which encoder's vectors the table holds
    openeyes_index       (id text PK, embedding vector(D), metadata jsonb)
                         + HNSW index on embedding (vector_ip_ops)

Vectors are L2-normalised before they are stored, so the inner product is the cosine and the
score matches the FAISS store's. An add (insert or replace) or delete is one transaction; it
is acknowledged only after its ``COMMIT`` returned, so what was acknowledged survives the
death of any openeyes process. When the database cannot be reached the call raises
``ApiError(503)`` with the reason; the next call reconnects (no restart of openeyes needed).
"""
from __future__ import annotations

import json
import math
import queue
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

import numpy as np

from openeyes.errors import UserError
from openeyes.serving.errors import ApiError
from openeyes.serving.index_store import unit_rows

TABLE = "openeyes_index"
META_TABLE = "openeyes_index_meta"
SCHEMA_LOCK = 0x6F70656E  # advisory lock key: one worker creates the schema, the others wait
T = TypeVar("T")


def is_database_url(location: str | None) -> bool:
    return bool(location) and str(location).startswith(("postgresql://", "postgres://"))


class VectorBytes:
    """A float32 vector [D] in pgvector's binary wire format (sent as a ``vector`` parameter)."""

    __slots__ = ("data",)

    def __init__(self, vector: np.ndarray):
        header = np.asarray([vector.shape[-1], 0], dtype=">u2")  # dim, unused
        self.data = header.tobytes() + np.asarray(vector, dtype=">f4").tobytes()


def vector_dumper(oid: int):
    """A psycopg binary dumper of ``VectorBytes`` for the ``vector`` type with this OID."""
    from psycopg.adapt import Dumper
    from psycopg.pq import Format

    class VectorDumper(Dumper):
        format = Format.BINARY

        def dump(self, obj: VectorBytes) -> bytes:
            return obj.data

    VectorDumper.oid = oid
    return VectorDumper


def metadata_json(metadata: Any, param: str) -> str | None:
    """JSON text for a JSONB column; JSONB holds neither NaN/Infinity nor NUL characters."""
    if metadata is None:
        return None
    try:
        text = json.dumps(metadata, allow_nan=False)
    except ValueError:
        raise UserError(f"{param} holds a non-finite number (NaN or Infinity), which JSON cannot carry") from None
    if "\\u0000" in text:
        raise UserError(f"{param} holds a NUL character (\\u0000), which the index database cannot store")
    return text


class PgIndexStore:
    """An id -> (vector, metadata) store with top-k cosine search, in PostgreSQL."""

    persistent = True

    def __init__(self, url: str, dim: int, fingerprint: str, encoder_name: str, *, pool_size: int = 8,
                 ef_search: int = 100, connect_timeout: float = 5.0):
        self.url = url
        self.directory = None  # no folder: the database holds the data
        self.dim = dim
        self.fingerprint = fingerprint
        self.encoder_name = encoder_name
        self.ef_search = ef_search  # HNSW candidate list per query (raised to top_k when larger)
        self.connect_timeout = connect_timeout  # seconds before an unreachable database is a 503
        self._idle: queue.LifoQueue = queue.LifoQueue(maxsize=pool_size)
        self._slots = threading.BoundedSemaphore(pool_size)  # at most pool_size connections in use per process
        self._closed = threading.Event()
        self._dumper = None  # binary dumper of VectorBytes, once the vector type's OID is known

    # -- opening ----------------------------------------------------------------------------------
    @classmethod
    def open(cls, url: str, *, dim: int, fingerprint: str, encoder_name: str = "", **options: Any) -> "PgIndexStore":
        """Connect, create the table and its HNSW index if missing, refuse another encoder's table."""
        store = cls(url, dim, fingerprint, encoder_name, **options)
        try:
            store._run(store._create_schema)
            oid = store._run(lambda conn: conn.execute("SELECT 'vector'::regtype::oid").fetchone()[0])
            store._dumper = vector_dumper(int(oid))
        except ApiError as problem:
            raise UserError(f"cannot open the index database {store.where}: {problem.message}") from None
        return store

    @property
    def where(self) -> str:
        """The URL without its password (for messages)."""
        from psycopg.conninfo import conninfo_to_dict

        try:
            parts = conninfo_to_dict(self.url)
        except Exception:
            return "postgresql://..."
        return f"postgresql://{parts.get('user', '')}@{parts.get('host', '')}/{parts.get('dbname', '')}"

    def _create_schema(self, conn) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute(f"CREATE TABLE IF NOT EXISTS {META_TABLE} (name text PRIMARY KEY, fingerprint text NOT NULL, "
                     "encoder text NOT NULL, dim integer NOT NULL)")
        row = conn.execute(f"SELECT fingerprint, encoder, dim FROM {META_TABLE} WHERE name = %s", (TABLE,)).fetchone()
        if row is None:
            conn.execute(f"INSERT INTO {META_TABLE} VALUES (%s, %s, %s, %s)", (TABLE, self.fingerprint, self.encoder_name, self.dim))
        elif row[0] != self.fingerprint or row[2] != self.dim:
            raise UserError(
                f"the index in {self.where} was built with encoder {row[1]!r} (fingerprint {row[0]}, dim {row[2]}); this "
                f"server's encoder is {self.encoder_name!r} (fingerprint {self.fingerprint}, dim {self.dim}). Its vectors are "
                "not comparable: use another database or the same encoder")
        conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id text PRIMARY KEY, embedding vector({self.dim}) NOT NULL, "
                     "metadata jsonb)")
        conn.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_hnsw ON {TABLE} USING hnsw (embedding vector_ip_ops)")

    # -- connections ------------------------------------------------------------------------------
    def _connect(self):
        import psycopg

        return psycopg.connect(self.url, connect_timeout=max(1, int(self.connect_timeout)), autocommit=False)

    @contextmanager
    def _connection(self) -> Iterator[tuple[Any, bool]]:
        """(connection, reused): an idle pooled one when there is one, else a new one."""
        if not self._slots.acquire(timeout=120):
            raise ApiError(503, "the index database connections are all busy; retry later")
        try:
            try:
                conn, reused = self._idle.get_nowait(), True
            except queue.Empty:
                conn, reused = self._connect(), False
            if self._dumper is not None:
                conn.adapters.register_dumper(VectorBytes, self._dumper)
            try:
                yield conn, reused
            except BaseException:
                conn.close()
                raise
            if self._closed.is_set() or conn.closed:
                conn.close()
                return
            try:
                self._idle.put_nowait(conn)
            except queue.Full:
                conn.close()
        finally:
            self._slots.release()

    def _run(self, work: Callable[[Any], T]) -> T:
        """``work(conn)`` in one committed transaction; a broken pooled connection is replaced once.

        Every store operation is idempotent (upsert, delete by id, reads), so repeating it on a
        fresh connection after the old one turned out dead (e.g. Postgres restarted) is safe.
        """
        import psycopg

        for attempt in (0, 1):
            try:
                with self._connection() as (conn, reused):
                    try:
                        with conn.transaction():
                            return work(conn)
                    except psycopg.OperationalError:
                        if reused and attempt == 0:
                            raise _Stale() from None
                        raise
            except _Stale:  # the database went away since: the other idle connections are dead too
                self._drain_idle()
                continue
            except psycopg.DataError as problem:
                raise UserError(f"the index database refused the data: {str(problem).splitlines()[0]}") from None
            except psycopg.OperationalError as problem:
                detail = str(problem).strip().splitlines()[0] if str(problem).strip() else type(problem).__name__
                raise ApiError(503, f"the index database {self.where} is unavailable ({detail}); retry later") from None
        raise AssertionError("unreachable")

    # -- public API (same as IndexStore) ----------------------------------------------------------
    @property
    def count(self) -> int:
        return self._run(lambda conn: int(conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]))

    def add(self, ids: list[str], vectors: np.ndarray, metadata: list[Any] | None = None) -> list[str]:
        """Insert or replace rows; returns the ids once they are committed."""
        vectors, metadata = unit_rows(ids, vectors, metadata, self.dim)  # [N, D], [N]
        rows = [(id_, VectorBytes(v), metadata_json(m, f"items[{i}].metadata"))
                for i, (id_, v, m) in enumerate(zip(ids, vectors, metadata))]

        def upsert(conn) -> None:
            with conn.cursor() as cursor:
                cursor.executemany(f"INSERT INTO {TABLE} (id, embedding, metadata) VALUES (%s, %b, %s::jsonb) "
                                   "ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding, metadata = EXCLUDED.metadata",
                                   rows)

        self._run(upsert)
        return list(ids)

    def delete(self, ids: list[str]) -> int:
        """Remove the rows with these ids; returns how many existed."""
        unique = list(dict.fromkeys(ids))
        return self._run(lambda conn: conn.execute(f"DELETE FROM {TABLE} WHERE id = ANY(%s)", (unique,)).rowcount)

    def get(self, id_: str) -> tuple[np.ndarray, Any] | None:
        row = self._run(lambda conn: conn.execute(f"SELECT embedding::text, metadata FROM {TABLE} WHERE id = %s",
                                                  (id_,)).fetchone())
        if row is None:
            return None
        return np.asarray(json.loads(row[0]), dtype=np.float32), row[1]

    def search(self, query: np.ndarray, top_k: int) -> list[dict[str, Any]]:
        """The ``top_k`` rows with the highest cosine to ``query`` [D], best first (HNSW, approximate)."""
        query = np.asarray(query, dtype=np.float32).reshape(-1)
        query = query / (np.linalg.norm(query) + 1e-12)
        vector = VectorBytes(query)
        ef = min(1000, max(self.ef_search, top_k))

        def nearest(conn) -> list[tuple]:
            conn.execute(f"SET LOCAL hnsw.ef_search = {int(ef)}")
            return conn.execute(f"SELECT id, metadata, -(embedding <#> %b) AS score FROM {TABLE} "
                                "ORDER BY embedding <#> %b LIMIT %s", (vector, vector, top_k)).fetchall()

        return [{"id": id_, "score": float(score) if math.isfinite(score) else 0.0, "metadata": meta}
                for id_, meta, score in self._run(nearest)]

    def probe(self) -> None:
        """Raise ``ApiError(503)`` when the database does not answer."""
        self._run(lambda conn: conn.execute("SELECT 1").fetchone())

    def snapshot(self) -> None:
        """Nothing to compact: the database keeps its own log."""

    def close(self) -> None:
        self._closed.set()
        self._drain_idle()

    def _drain_idle(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


class _Stale(Exception):
    """A pooled connection turned out dead; retry on a new one."""
