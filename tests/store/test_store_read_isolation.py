"""Reads of a data folder never wait for a write in progress (issue #8, item 1): each reading
thread has a read-only connection and a WAL snapshot of its own, so a long write transaction on
one collection does not delay reads of another."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from chroma_grpc.store import RecordBatch, Store

PROMPT_S = 5.0  # generous: the point is "not blocked until the write ends", not a latency


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path)
    yield s
    s.close()


def _filled(s: Store, name: str, n: int = 3) -> str:
    info, _ = s.create_collection(name)
    vectors = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    s.add(info.id, RecordBatch(ids=[f"{name}{i}" for i in range(n)], embeddings=vectors))
    return info.id


def test_reads_go_on_while_a_write_transaction_is_open(store: Store) -> None:
    other = _filled(store, "other")
    busy = _filled(store, "busy")
    results: list[object] = []
    with store._db.atomic() as conn:  # a write in progress, held by this thread
        conn.execute("DELETE FROM records WHERE id = 'busy0'")
        reader = threading.Thread(
            target=lambda: results.extend(
                [
                    store.count(other),
                    store.get(other).ids,
                    store.query(other, np.zeros((1, 2), np.float32), n_results=1)[0].ids,
                    store.list_collections()[0].name,
                    store.count(busy),  # the uncommitted delete is not seen
                ]
            )
        )
        reader.start()
        reader.join(PROMPT_S)
        assert not reader.is_alive(), "a read waited for the write transaction"
        assert store.count(busy) == 2  # this thread reads its own uncommitted write
    assert results == [3, ["other0", "other1", "other2"], ["other0"], "other", 3]
    assert store.count(busy) == 2  # committed: every reader sees it now


def test_a_failed_write_leaves_readers_on_the_committed_data(store: Store) -> None:
    busy = _filled(store, "busy")
    with pytest.raises(RuntimeError), store._db.atomic() as conn:
        conn.execute("DELETE FROM records")
        raise RuntimeError("the write fails")
    seen: list[int] = []
    thread = threading.Thread(target=lambda: seen.append(store.count(busy)))
    thread.start()
    thread.join(PROMPT_S)
    assert seen == [3]


def test_an_in_memory_store_keeps_one_connection() -> None:
    s = Store(None)
    cid = _filled(s, "memory")
    with s._db.reading() as conn:
        assert conn is s._db.conn  # another connection would be another database
    assert s.count(cid) == 3
    s.close()


def test_closing_leaves_a_read_in_progress_whole(tmp_path: Path) -> None:
    s = Store(tmp_path)
    _filled(s, "closing")
    with s._db.reading() as conn:  # another thread is reading when the store closes
        closer = threading.Thread(target=s.close)
        closer.start()
        closer.join(PROMPT_S)
        assert not closer.is_alive()
        assert conn.execute("SELECT COUNT(*) FROM records").fetchone()[0] == 3
    with pytest.raises(sqlite3.ProgrammingError):  # closed once the read was done
        conn.execute("SELECT 1")
