"""The retrieval index: vectors + ids + metadata, exact or FAISS search, durable on disk.

On disk (``--index DIR``)::

    meta.json            {"kind": "index", "fingerprint", "encoder", "dim", "generation": g}
    snapshot-<g>.npy     float32 vectors [N, D] at the last compaction
    snapshot-<g>.json    {"ids": [...], "metadata": [...]} in the same row order
    log-<g>.jsonl        every add/delete since that snapshot, one JSON line each

An add or delete is acknowledged only after its log line is written and ``fsync``-ed, so a
``kill -9`` loses nothing that was acknowledged; a torn last line (the write the kill
interrupted, never acknowledged) is cut off on open. Every ``snapshot_every`` log records the
store compacts: it writes snapshot ``g+1`` and an empty log ``g+1`` (each fsync-ed), then
atomically replaces ``meta.json`` (the commit point), then deletes generation ``g``. A crash at
any step leaves either the old or the new generation complete.

Vectors are L2-normalized; the score is the cosine. Below ``faiss_threshold`` vectors the
search is exact (one matrix product); at and above it a FAISS IVF-Flat index (``serving.ann``,
inner product) is built on the first search and then kept in sync: adds, replacements and
deletes update it in place (each row has a stable integer key), and it is retrained only when
the collection outgrows the size it was trained for. Training runs in a background thread on a
copy of the rows (minutes at ~1M vectors; the copy doubles the vectors' memory meanwhile), never
under the store's lock: searches and writes go on (on the previous IVF index, or exact search
before the first one), the writes made meanwhile are replayed onto the new index, which is then
swapped in. The store refuses to open a folder made with a different encoder (card fingerprint).
"""
from __future__ import annotations

import base64
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from openeyes.artifacts import write_json_atomic
from openeyes.errors import UserError
from openeyes.serving.ann import IVFIndex, IVFSettings

META_NAME = "meta.json"
log = logging.getLogger("openeyes.serving")


def unit_rows(ids: list[str], vectors: np.ndarray, metadata: list[Any] | None, dim: int) -> tuple[np.ndarray, list[Any]]:
    """Check and L2-normalise the vectors of an add ([N, D] float32); metadata as a list of N."""
    vectors = np.asarray(vectors, dtype=np.float32).reshape(len(ids), -1)  # [N, D]
    if vectors.shape[1] != dim:
        raise UserError(f"vectors have dimension {vectors.shape[1]}; this index holds {dim}-d vectors")
    vectors = vectors / (np.linalg.norm(vectors, axis=-1, keepdims=True) + 1e-12)
    return vectors, list(metadata) if metadata is not None else [None] * len(ids)


class IndexStore:
    """An id -> (vector, metadata) store with top-k cosine search."""

    def __init__(self, directory: Path | None, dim: int, fingerprint: str, encoder_name: str, *,
                 faiss_threshold: int = 50_000, snapshot_every: int = 10_000, ann: IVFSettings | None = None):
        self.directory = directory
        self.dim = dim
        self.fingerprint = fingerprint
        self.encoder_name = encoder_name
        self.faiss_threshold = faiss_threshold  # at or above this count, search uses the FAISS IVF index
        self.snapshot_every = snapshot_every  # log records between compactions
        self.ann_settings = ann or IVFSettings()
        self.generation = 0
        self._vectors = np.zeros((0, dim), dtype=np.float32)  # [capacity, D]; rows [0, count) are live
        self._ids: list[str] = []
        self._metadata: list[Any] = []
        self._row: dict[str, int] = {}
        self._keys: list[int] = []  # the ANN key of each row (stable while rows move)
        self._row_of_key: dict[int, int] = {}
        self._next_key = 0
        self._lock = threading.RLock()
        self._log = None
        self._log_records = 0
        self._ann: IVFIndex | None = None  # built on the first large search, then kept in sync
        self._build: threading.Thread | None = None  # the background (re)training, while it runs
        self._pending: list[tuple] | None = None  # writes made during it: ("add", keys, vectors) | ("remove", keys)
        self._ann_epoch = 0  # bumped when the rows are replaced wholesale: a build of older rows is dropped

    # -- opening ----------------------------------------------------------------------------------
    @classmethod
    def open(cls, directory: str | Path | None, *, dim: int, fingerprint: str, encoder_name: str = "", **options: Any) -> "IndexStore":
        """Open (or create) the store at ``directory``; ``None`` keeps it in memory only."""
        if directory is None:
            return cls(None, dim, fingerprint, encoder_name, **options)
        path = Path(directory).expanduser()
        if path.exists() and not path.is_dir():
            raise UserError(f"index {path} is a file; give a folder")
        path.mkdir(parents=True, exist_ok=True)
        store = cls(path, dim, fingerprint, encoder_name, **options)
        meta_path = path / META_NAME
        if meta_path.is_file():
            store._load(json.loads(meta_path.read_text()))
        else:
            store._write_meta()
        store._log = open(store._log_path(store.generation), "ab")
        return store

    def _load(self, meta: dict[str, Any]) -> None:
        if meta.get("kind") != "index":
            raise UserError(f"{self.directory} holds a {meta.get('kind')!r} artifact, not an index")
        if meta.get("fingerprint") != self.fingerprint or int(meta.get("dim", -1)) != self.dim:
            raise UserError(
                f"index {self.directory} was built with encoder {meta.get('encoder')!r} (fingerprint {meta.get('fingerprint')}, "
                f"dim {meta.get('dim')}); this server's encoder is {self.encoder_name!r} (fingerprint {self.fingerprint}, "
                f"dim {self.dim}). Its vectors are not comparable: use another --index folder or the same encoder"
            )
        self.generation = int(meta["generation"])
        vectors_path = self.directory / f"snapshot-{self.generation}.npy"
        if vectors_path.is_file():
            vectors = np.load(vectors_path, allow_pickle=False)
            rows = json.loads((self.directory / f"snapshot-{self.generation}.json").read_text())
            self._bulk_set(rows["ids"], vectors, rows["metadata"])
        self._replay(self._log_path(self.generation))

    def _replay(self, log_path: Path) -> None:
        if not log_path.is_file():
            return
        good_bytes = 0
        with open(log_path, "rb") as handle:
            for line in handle:
                if not line.endswith(b"\n"):
                    break  # torn tail: the interrupted (never acknowledged) write
                try:
                    record = json.loads(line)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    break
                self._apply(record)
                good_bytes += len(line)
                self._log_records += 1
        if good_bytes < log_path.stat().st_size:
            with open(log_path, "r+b") as handle:
                handle.truncate(good_bytes)
                handle.flush()
                os.fsync(handle.fileno())

    # -- public API -------------------------------------------------------------------------------
    @property
    def count(self) -> int:
        return len(self._ids)

    @property
    def persistent(self) -> bool:
        return self.directory is not None

    def probe(self) -> None:
        """Always answers: the rows are in this process."""

    def add(self, ids: list[str], vectors: np.ndarray, metadata: list[Any] | None = None) -> list[str]:
        """Insert or replace rows; returns the ids once they are durable."""
        vectors, metadata = unit_rows(ids, vectors, metadata, self.dim)  # [N, D], [N]
        records = [{"op": "add", "id": i, "v": base64.b64encode(v.tobytes()).decode(), "m": m}
                   for i, v, m in zip(ids, vectors, metadata)]
        with self._lock:
            self._append(records)
            unique = list(dict.fromkeys(ids))
            replaced = [self._keys[self._row[i]] for i in unique if i in self._row]
            for record in records:
                self._apply(record)
            rows = [self._row[i] for i in unique]
            self._ann_write("remove", np.asarray(replaced, dtype=np.int64))
            self._ann_write("add", np.asarray([self._keys[r] for r in rows], dtype=np.int64), self._vectors[rows])
            self._maybe_compact()
        return list(ids)

    def delete(self, ids: list[str]) -> int:
        """Remove the rows with these ids; returns how many existed."""
        with self._lock:
            present = [i for i in dict.fromkeys(ids) if i in self._row]
            keys = np.asarray([self._keys[self._row[i]] for i in present], dtype=np.int64)
            records = [{"op": "del", "id": i} for i in present]
            self._append(records)
            for record in records:
                self._apply(record)
            self._ann_write("remove", keys)
            self._maybe_compact()
        return len(present)

    def get(self, id_: str) -> tuple[np.ndarray, Any] | None:
        with self._lock:
            row = self._row.get(id_)
            return None if row is None else (self._vectors[row].copy(), self._metadata[row])

    def search(self, query: np.ndarray, top_k: int) -> list[dict[str, Any]]:
        """The ``top_k`` rows with the highest cosine to ``query`` [D], best first."""
        query = np.asarray(query, dtype=np.float32).reshape(-1)
        query = query / (np.linalg.norm(query) + 1e-12)
        with self._lock:
            count = self.count
            if count == 0:
                return []
            k = min(top_k, count)
            if count >= self.faiss_threshold:
                scores, rows = self._ann_search(query, k)
            else:
                if self._ann is not None or self._build is not None:  # shrank below the threshold: free the copy
                    self._drop_ann()
                scores, rows = self._exact_search(query, k)
            return [{"id": self._ids[r], "score": float(s), "metadata": self._metadata[r]} for r, s in zip(rows, scores)]

    def snapshot(self) -> None:
        """Compact: write the next generation's snapshot and empty log, commit via meta.json."""
        if self.directory is None:
            return
        with self._lock:
            new = self.generation + 1
            count = self.count
            _save_npy_durable(self.directory / f"snapshot-{new}.npy", self._vectors[:count])
            write_json_atomic(self.directory / f"snapshot-{new}.json", {"ids": self._ids, "metadata": self._metadata})
            new_log = open(self._log_path(new), "ab")
            os.fsync(new_log.fileno())
            old = self.generation
            self.generation = new
            self._write_meta()  # the commit point
            _fsync_dir(self.directory)
            self._log.close()
            self._log, self._log_records = new_log, 0
            for stale in (f"snapshot-{old}.npy", f"snapshot-{old}.json", f"log-{old}.jsonl"):
                (self.directory / stale).unlink(missing_ok=True)

    def ann_ready(self, timeout: float | None = None) -> bool:
        """Wait for a background IVF build to finish; whether an IVF index is in use."""
        build = self._build
        if build is not None:
            build.join(timeout)
        return self._ann is not None and self._build is None

    def close(self) -> None:
        with self._lock:
            if self._log is not None:
                self._log.close()
                self._log = None

    # -- internals --------------------------------------------------------------------------------
    def _log_path(self, generation: int) -> Path:
        return self.directory / f"log-{generation}.jsonl"

    def _write_meta(self) -> None:
        write_json_atomic(self.directory / META_NAME, {
            "kind": "index", "fingerprint": self.fingerprint, "encoder": self.encoder_name,
            "dim": self.dim, "generation": self.generation,
        })

    def _append(self, records: list[dict[str, Any]]) -> None:
        if self._log is None or not records:
            return
        payload = b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in records)
        self._log.write(payload)
        self._log.flush()
        os.fsync(self._log.fileno())
        self._log_records += len(records)

    def _maybe_compact(self) -> None:
        if self.directory is not None and self._log_records >= self.snapshot_every:
            self.snapshot()

    def _apply(self, record: dict[str, Any]) -> None:
        id_ = record["id"]
        if record["op"] == "add":
            vector = np.frombuffer(base64.b64decode(record["v"]), dtype=np.float32)
            row = self._row.get(id_)
            if row is None:
                row = self._append_row(id_, vector, record.get("m"))
            else:
                self._vectors[row] = vector
                self._metadata[row] = record.get("m")
        elif record["op"] == "del":
            self._remove_row(id_)

    def _append_row(self, id_: str, vector: np.ndarray, metadata: Any) -> int:
        row = len(self._ids)
        if row >= self._vectors.shape[0]:
            grown = np.zeros((max(16, 2 * self._vectors.shape[0]), self.dim), dtype=np.float32)
            grown[:row] = self._vectors[:row]
            self._vectors = grown
        self._vectors[row] = vector
        self._ids.append(id_)
        self._metadata.append(metadata)
        self._row[id_] = row
        self._keys.append(self._next_key)
        self._row_of_key[self._next_key] = row
        self._next_key += 1
        return row

    def _remove_row(self, id_: str) -> None:
        row = self._row.pop(id_, None)
        if row is None:
            return
        last = len(self._ids) - 1
        del self._row_of_key[self._keys[row]]
        if row != last:  # move the last row into the hole
            self._vectors[row] = self._vectors[last]
            self._ids[row] = self._ids[last]
            self._metadata[row] = self._metadata[last]
            self._keys[row] = self._keys[last]
            self._row[self._ids[row]] = row
            self._row_of_key[self._keys[row]] = row
        self._ids.pop()
        self._metadata.pop()
        self._keys.pop()

    def _bulk_set(self, ids: list[str], vectors: np.ndarray, metadata: list[Any]) -> None:
        self._vectors = np.array(vectors, dtype=np.float32).reshape(len(ids), self.dim)
        self._ids, self._metadata = list(ids), list(metadata)
        self._row = {id_: row for row, id_ in enumerate(self._ids)}
        self._keys = list(range(len(self._ids)))
        self._row_of_key = {key: key for key in self._keys}
        self._next_key = len(self._ids)
        self._drop_ann()

    # -- the IVF index: searched and written under the lock, trained off it ----------------------
    def _exact_search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        count = self.count
        all_scores = self._vectors[:count] @ query  # [N]
        rows = np.argpartition(-all_scores, k - 1)[:k] if k < count else np.arange(count)
        rows = rows[np.argsort(-all_scores[rows], kind="stable")]
        return all_scores[rows], rows

    def _ann_write(self, op: str, keys: np.ndarray, vectors: np.ndarray | None = None) -> None:
        """Apply a write to the live IVF index, and remember it for the one being trained."""
        if not len(keys):
            return
        if self._ann is not None:
            self._ann.remove(keys) if op == "remove" else self._ann.add(keys, vectors)
        if self._pending is not None:
            self._pending.append((op, keys.copy(), None if vectors is None else vectors.copy()))

    def _drop_ann(self) -> None:
        self._ann, self._pending = None, None
        self._ann_epoch += 1

    def _start_build(self) -> None:
        """Train a new IVF index on a copy of the rows in a background thread (called under the lock)."""
        count = self.count
        vectors = self._vectors[:count].copy()  # [N, D]: rows move and change under later writes
        keys = np.asarray(self._keys, dtype=np.int64)  # [N]
        self._pending = []
        self._build = threading.Thread(target=self._build_off_lock, args=(vectors, keys, self._ann_epoch),
                                       name="ivf-build", daemon=True)
        self._build.start()

    def _train(self, vectors: np.ndarray, keys: np.ndarray) -> IVFIndex:
        """The slow part (k-means and filling the lists), run without the lock."""
        return IVFIndex.build(vectors, keys, self.ann_settings)

    def _build_off_lock(self, vectors: np.ndarray, keys: np.ndarray, epoch: int) -> None:
        try:
            ann = self._train(vectors, keys)
        except Exception:  # searches go on with the previous index or exact search; the next search retries
            log.exception("building the IVF index failed")
            ann = None
        with self._lock:
            pending, current = self._pending, epoch == self._ann_epoch
            self._build, self._pending = None, None
            if ann is None or not current:
                return
            for op, op_keys, op_vectors in pending:  # the writes made while it trained, in order
                ann.remove(op_keys) if op == "remove" else ann.add(op_keys, op_vectors)
            self._ann = ann

    def _ann_search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, list[int]]:
        count = self.count
        if self._build is None and (self._ann is None or self._ann.needs_rebuild(count)):
            self._start_build()
        if self._ann is None:  # the first build is still training: exact search meanwhile
            return self._exact_search(query, k)
        scores, keys = self._ann.search(query[None, :], k)  # [1, k] each
        found = [(score, self._row_of_key[int(key)]) for score, key in zip(scores[0], keys[0]) if key >= 0]
        return np.asarray([f[0] for f in found], dtype=np.float32), [f[1] for f in found]


def _save_npy_durable(path: Path, array: np.ndarray) -> None:
    tmp = path.with_suffix(".npy.tmp")
    with open(tmp, "wb") as handle:
        np.save(handle, array, allow_pickle=False)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
