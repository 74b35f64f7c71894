"""Background index work: one thread keeps every collection's graph current and saved.

Each collection has an :class:`IndexSlot`: its readers-writer lock and its in-memory
:class:`VectorIndex`. Writes and queries use the slot under its lock; everything slow happens
on the maintainer's thread, one short step at a time, round-robin over collections:

* *rebuild* (a first graph, or compaction of tombstones): a :class:`GraphBuild` copies live
  vectors under the shared lock a chunk at a time, inserts them into a private graph with no
  lock held, calibrates it, then swaps it in under the exclusive lock (a catch-up of
  milliseconds). Queries meanwhile are answered by exact search of the old index.
* *grow*: tail vectors enter the graph under the exclusive lock in steps sized to take about
  ``GROW_STEP_SECONDS``, so a query or a write waits at most one step.
* *calibrate*: the search breadth is re-measured when the graph has doubled or halved.
* *save* (persistent stores): once a collection has been quiet for ``SAVE_DELAY_SECONDS``, its
  links are copied under the shared lock and written out with no lock held.

Nothing here takes the store's catalog lock, so deleting, modifying or resetting a collection
never waits for its build: the slot is marked cancelled and the build is dropped at its next
step. Every step runs with one OpenMP thread, leaving the other cores to serve requests.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np

from chroma_grpc.store import _catalog, _faiss, _reads
from chroma_grpc.store._catalog import CollectionRow
from chroma_grpc.store._index_files import GraphKey, IndexFiles
from chroma_grpc.store._locks import RWLock
from chroma_grpc.store._sqlite import Database
from chroma_grpc.store._vector_index import GraphBuild, HnswParams, VectorIndex

GROW_STEP_SECONDS = 0.005
BUILD_STEP_SECONDS = 0.1
SAVE_DELAY_SECONDS = 1.0
LOAD_PAGE = 20_000

log = logging.getLogger(__name__)


def _malloc_trim() -> None:
    """Hand memory freed by a build or a load back to the OS.

    A build or load frees hundreds of MB of temporaries of a few MB each, which glibc serves
    from its heap (its mmap threshold rises to 32 MB once large blocks are freed) and keeps:
    measured at 100k vectors, 475 bytes per vector stayed resident until ``malloc_trim``.
    A no-op where the C library has no such call."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


_LIBC_NAME = ctypes.util.find_library("c")
_LIBC = None
if _LIBC_NAME:
    try:
        _LIBC = ctypes.CDLL(_LIBC_NAME)
        _LIBC.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError):
        _LIBC = None


@dataclass(eq=False)
class IndexSlot:
    """One collection's lock, its vector index (None until first used) and its save state."""

    lock: RWLock = field(default_factory=RWLock)
    index: VectorIndex | None = None
    cancelled: bool = False
    saved_version: int = -1
    changed_at: float = 0.0
    file_mutex: threading.Lock = field(default_factory=threading.Lock)


class IndexMaintainer:
    """Owns the slots of one store and the thread that maintains their indexes."""

    def __init__(self, db: Database, files: IndexFiles | None, exact_threshold: int) -> None:
        self._db = db
        self._files = files
        self._threshold = exact_threshold
        self._slots: dict[str, IndexSlot] = {}
        self._cond = threading.Condition(threading.Lock())
        self._due: dict[str, float] = {}  # collection id -> monotonic time its work is due
        self._running: str | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._seconds_per_insert = 1e-4

    # -- slots ----------------------------------------------------------------------------------
    def slot(self, collection_id: str) -> IndexSlot:
        with self._cond:
            found = self._slots.get(collection_id)
            if found is None:
                found = self._slots[collection_id] = IndexSlot()
            return found

    def find(self, collection_id: str) -> IndexSlot | None:
        with self._cond:
            return self._slots.get(collection_id)

    def discard(self, collection_id: str) -> None:
        """Drop the slot of an id that names no collection (files are never touched for it:
        such an id comes from a client and must not reach a path)."""
        with self._cond:
            slot = self._slots.pop(collection_id, None)
            self._due.pop(collection_id, None)
        if slot is not None:
            slot.cancelled = True
            slot.index = None

    def slots(self) -> list[tuple[str, IndexSlot]]:
        with self._cond:
            return list(self._slots.items())

    def forget(self, collection_id: str) -> None:
        """The collection (a real one, ``collection_id`` from the catalog) is gone: cancel its
        work and remove its files (a save in flight discards what it wrote). The caller holds
        the slot's exclusive lock."""
        with self._cond:
            slot = self._slots.pop(collection_id, None)
            self._due.pop(collection_id, None)
        if slot is not None:
            slot.cancelled = True
            slot.index = None
            with slot.file_mutex:
                if self._files is not None:
                    self._files.remove(collection_id)
        elif self._files is not None:
            self._files.remove(collection_id)

    def forget_all(self, collection_ids: Iterable[str]) -> None:
        for collection_id in collection_ids:
            self.forget(collection_id)

    # -- loading --------------------------------------------------------------------------------
    def load(self, slot: IndexSlot, row: CollectionRow) -> VectorIndex | None:
        """The collection's index, read from SQLite (and its saved graph when that verifies)
        if not in memory yet. The caller holds the slot's exclusive lock; the database lock is
        taken one page at a time, so other collections' requests go on meanwhile."""
        if slot.index is not None or row.dimension is None:
            return slot.index
        params = HnswParams.from_metadata(row.info.metadata)
        index = VectorIndex(row.dimension, row.space, params, self._threshold)
        with self._db.reading() as conn:
            applied_seq = _catalog.applied_seq(conn, row.seq)
        saved = None
        if self._files is not None:
            # A graph we made denser for hard data is as valid as one with the defaults.
            keys = [
                GraphKey(applied_seq, row.dimension, row.space, p)
                for p in dict.fromkeys((params, params.denser()))
            ]
            found = self._files.load(row.id, keys)
            if found is not None:
                saved, index.params = found[0], found[1].params
        if saved is not None and index.restore(saved, self._vector_pages(row.seq, row.dimension)):
            slot.saved_version = index.version
        else:
            if saved is not None:
                log.info("index file of %s does not match SQLite; rebuilding", row.id)
            rowids, vectors = self._read_vectors(row.seq, row.dimension)
            index.apply(rowids[:0], rowids, vectors)
            del rowids, vectors
        slot.index = index
        _malloc_trim()
        self.notify(row.id)
        return index

    def _vector_pages(
        self, collection_seq: int, dimension: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every stored vector of the collection with its rowid, in rowid order, a page at a
        time (the database lock is never held long; the caller's exclusive lock keeps the
        collection's writers out)."""
        after = -1
        while True:
            with self._db.reading() as conn:
                rowids, vectors = _reads.vectors_page(
                    conn, collection_seq, dimension, after, LOAD_PAGE
                )
            if len(rowids) == 0:
                return
            yield rowids, vectors
            after = int(rowids[-1])

    def _read_vectors(self, collection_seq: int, dimension: int) -> tuple[np.ndarray, np.ndarray]:
        """Every stored vector of the collection, in rowid order, in one preallocated array."""
        with self._db.reading() as conn:
            total = _reads.count_records(conn, collection_seq)  # a bound: some lack vectors
        rowids = np.empty(total, dtype=np.int64)
        vectors = np.empty((total, dimension), dtype=np.float32)
        done = 0
        for page_ids, page in self._vector_pages(collection_seq, dimension):
            rowids[done : done + len(page_ids)] = page_ids
            vectors[done : done + len(page_ids)] = page
            done += len(page_ids)
        return rowids[:done], vectors[:done]

    # -- scheduling -----------------------------------------------------------------------------
    def notify(self, collection_id: str, delay: float = 0.0) -> None:
        """The collection changed: look at it ``delay`` seconds from now (or sooner)."""
        now = time.monotonic()
        with self._cond:
            slot = self._slots.get(collection_id)
            if slot is None or self._stopping:
                return
            if delay == 0.0:
                slot.changed_at = now
            due = now + delay
            self._due[collection_id] = min(self._due.get(collection_id, due), due)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="chroma-grpc-index", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no work is running or due now (a save scheduled later does not count)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._running is not None or any(
                due <= time.monotonic() for due in self._due.values()
            ):
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(0.05 if remaining is None else min(remaining, 0.05))
            return True

    def close(self) -> None:
        """Stop the thread (abandoning a build in progress) and save what changed."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()
        for collection_id, slot in self.slots():
            with slot.lock.read():
                self._save(collection_id, slot)

    def _run(self) -> None:
        _faiss.use_background_threads()
        while True:
            with self._cond:
                collection_id = self._next_due()
                if collection_id is None:
                    return
                self._running = collection_id
            delay: float | None = None
            try:
                delay = self._step(collection_id)
            except Exception:  # noqa: BLE001 - the thread must survive; SQLite is the truth
                log.exception("index maintenance of %s failed; reloading it", collection_id)
                self._drop(collection_id)
            finally:
                with self._cond:
                    self._running = None
                    if delay is not None and collection_id in self._slots:
                        due = time.monotonic() + delay
                        self._due[collection_id] = min(self._due.get(collection_id, due), due)
                    self._cond.notify_all()

    def _next_due(self) -> str | None:
        """The collection whose work is due first, waiting until one is; None to stop."""
        while not self._stopping:
            if self._due:
                collection_id, due = min(self._due.items(), key=lambda item: item[1])
                wait = due - time.monotonic()
                if wait <= 0:
                    del self._due[collection_id]
                    return collection_id
                self._cond.wait(wait)
            else:
                self._cond.wait()
        return None

    def _drop(self, collection_id: str) -> None:
        slot = self._slots.get(collection_id)
        if slot is not None:
            with slot.lock.write():
                slot.index = None

    # -- steps ----------------------------------------------------------------------------------
    def _step(self, collection_id: str) -> float | None:
        """One unit of work; returns the delay before this collection's next look, or None."""
        slot = self._slots.get(collection_id)
        if slot is None or slot.cancelled:
            return None
        with slot.lock.read():
            index = slot.index
            work = None if index is None else index.next_work()
        if index is None:
            return None
        if work is None:
            return self._maybe_save(collection_id, slot)
        if work == "rebuild":
            self._rebuild(slot, index)
        elif work == "grow":
            self._grow(slot, index)
        elif work == "compact":
            with slot.lock.write():
                if slot.index is index:
                    index.compact()
        else:
            with slot.lock.read():
                queries = index.held_out_queries()
            index.calibrate(queries, guard=slot.lock.read)
        return 0.0

    def _live(self, slot: IndexSlot, index: VectorIndex) -> bool:
        return not (self._stopping or slot.cancelled) and slot.index is index

    def _steps_of(self, seconds: float) -> int:
        """How many graph insertions take about ``seconds`` (measured as we go)."""
        return max(16, int(seconds / self._seconds_per_insert))

    def _measured(self, count: int, elapsed: float) -> None:
        if count:
            self._seconds_per_insert = 0.7 * self._seconds_per_insert + 0.3 * elapsed / count

    def _rebuild(self, slot: IndexSlot, index: VectorIndex) -> None:
        """Build off to the side in steps of ``BUILD_STEP_SECONDS`` (so a cancel or close is
        noticed quickly), then swap in under the exclusive lock."""
        build = GraphBuild(index)
        while self._live(slot, index):
            build.chunk = self._steps_of(BUILD_STEP_SECONDS)
            before, started = build.target.positions, time.perf_counter()
            if not build.step(guard=slot.lock.read):
                break
            self._measured(build.target.positions - before, time.perf_counter() - started)
        if not self._live(slot, index):
            return
        build.complete()
        with slot.lock.write():
            if self._live(slot, index):
                build.finish()
        del build
        _malloc_trim()

    def _grow(self, slot: IndexSlot, index: VectorIndex) -> None:
        with slot.lock.write():
            if slot.index is not index:
                return
            started = time.perf_counter()
            done = index.grow(self._steps_of(GROW_STEP_SECONDS))
            elapsed = time.perf_counter() - started
        self._measured(done, elapsed)

    def _maybe_save(self, collection_id: str, slot: IndexSlot) -> float | None:
        if self._files is None:
            return None
        quiet = time.monotonic() - slot.changed_at
        if quiet < SAVE_DELAY_SECONDS:
            return SAVE_DELAY_SECONDS - quiet
        self._save(collection_id, slot, locked=False)
        return None

    def _save(self, collection_id: str, slot: IndexSlot, locked: bool = True) -> None:
        """Write the collection's graph if it changed since the last save (or remove a file
        that no longer applies). The links are copied under the shared lock (taken here unless
        ``locked``); the file is written without it. Failures are logged: files are a cache."""
        if self._files is None:
            return
        with nullcontext() if locked else slot.lock.read():
            index = slot.index
            if index is None or index.version == slot.saved_version or slot.cancelled:
                return
            version = index.version
            snapshot = index.graph_snapshot()
            key = None
            if snapshot is not None:
                with self._db.reading() as conn:
                    row = _catalog.by_id(conn, collection_id)
                    if row is None:
                        return
                    seq = _catalog.applied_seq(conn, row.seq)
                key = GraphKey(seq, index.dimension, index.space, index.params)
        try:
            if snapshot is None or key is None:
                with slot.file_mutex:
                    if not slot.cancelled:
                        self._files.remove(collection_id)
                        slot.saved_version = version
                return
            token, manifest = self._files.write_data(collection_id, snapshot)
            with slot.file_mutex:
                if slot.cancelled:
                    self._files.discard(collection_id, token)
                    return
                self._files.commit(collection_id, key, token, manifest, snapshot)
                slot.saved_version = version
        except (OSError, RuntimeError, ValueError) as exc:
            log.warning("could not save the index of %s: %s", collection_id, exc)
