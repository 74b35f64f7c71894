"""Durability and the data folder: reopen, SIGKILL after an ack, one owner, damage refused at
open, a full disk, space given back after deletes, and schema migrations."""

from __future__ import annotations

import gzip
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chroma_grpc.store import (
    ChromaError,
    DataLossError,
    FailedPreconditionError,
    FolderInUseError,
    RecordBatch,
    ResourceExhaustedError,
    Store,
)
from chroma_grpc.store._sqlite import SCHEMA_VERSION

ROOT = Path(__file__).resolve().parents[2]


def test_reopen_sees_identical_data_and_neighbours(tmp_path: Path) -> None:
    s = Store(tmp_path)
    info, _ = s.create_collection("persist", {"hnsw:space": "cosine", "n": 1, "x": 0.5})
    x = np.random.default_rng(1).standard_normal((300, 12)).astype(np.float32)
    ids = [f"p{i:03d}" for i in range(300)]
    s.add(
        info.id,
        RecordBatch(
            ids=ids,
            embeddings=x,
            metadatas=[{"i": i, "f": i / 2, "b": i % 2 == 0, "s": str(i)} for i in range(300)],
            documents=[f"doc {i}" for i in range(300)],
            uris=[None] * 300,
        ),
    )
    s.delete(info.id, ids=ids[:10])
    include = frozenset({"embeddings", "metadatas", "documents", "uris"})
    before = s.get(info.id, include=include)
    hits_before = s.query(info.id, x[:5], n_results=7)
    s.close()

    again = Store(tmp_path)
    assert again.get_collection(name="persist") == again.get_collection(collection_id=info.id)
    assert again.get_collection(name="persist").metadata == {
        "hnsw:space": "cosine",
        "n": 1,
        "x": 0.5,
    }
    after = again.get(info.id, include=include)
    assert after.ids == before.ids and after.metadatas == before.metadatas
    assert after.documents == before.documents and after.uris == before.uris
    np.testing.assert_array_equal(after.embeddings, before.embeddings)  # type: ignore[arg-type]
    hits_after = again.query(info.id, x[:5], n_results=7)
    assert [h.ids for h in hits_after] == [h.ids for h in hits_before]
    assert again.get_collection(collection_id=info.id).dimension == 12
    again.close()


def test_schema_version_and_wal(tmp_path: Path) -> None:
    Store(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "chroma.sqlite3")
    assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] >= 1
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from chroma_grpc.store import RecordBatch, Store

    store = Store(sys.argv[1])
    info, _ = store.create_collection("crash")
    batch = 0
    while True:
        ids = [f"b{batch:05d}-{i:03d}" for i in range(200)]
        store.add(info.id, RecordBatch(ids=ids, embeddings=np.full((200, 4), batch, np.float32)))
        print(batch, flush=True)
        batch += 1
    """
)


def test_acknowledged_batches_survive_sigkill(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    acked = -1
    for line in proc.stdout:
        acked = int(line)
        if acked >= 15:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    s = Store(tmp_path)
    info = s.get_collection(name="crash")
    got = s.get(info.id, include=frozenset({"embeddings"}))
    batches: dict[str, int] = {}
    for id_ in got.ids:
        batches[id_[:6]] = batches.get(id_[:6], 0) + 1
    # Every acknowledged batch is there, and every batch present is whole.
    assert all(f"b{b:05d}" in batches for b in range(acked + 1))
    assert set(batches.values()) == {200}
    s.close()


# -- one owner per folder (in process; other processes: tests/reliability) ----------------------
def test_a_second_store_on_an_open_folder_is_refused_until_the_first_closes(
    tmp_path: Path,
) -> None:
    first = Store(tmp_path)
    with pytest.raises(FolderInUseError) as refused:
        Store(tmp_path)
    assert str(tmp_path) in refused.value.message
    assert f"this process (pid {os.getpid()})" in refused.value.message
    assert isinstance(refused.value, FailedPreconditionError)
    first.create_collection("still-works")
    first.close()
    again = Store(tmp_path)  # closing released the lock
    assert again.get_collection(name="still-works").name == "still-works"
    again.close()


# -- damaged or missing databases -------------------------------------------------------------
def _filled(path: Path, n: int = 3000, name: str = "filled") -> str:
    """A store at ``path`` with ``n`` records (about 2 MB), closed; returns the collection id."""
    s = Store(path)
    info, _ = s.create_collection(name)
    rng = np.random.default_rng(3)
    s.add(
        info.id,
        RecordBatch(
            ids=[f"r{i:05d}" for i in range(n)],
            embeddings=rng.standard_normal((n, 64)).astype(np.float32),
            metadatas=[{"i": i} for i in range(n)],
            documents=[f"document {i} " * 20 for i in range(n)],
        ),
    )
    s.close()
    return info.id


def test_garbage_in_the_middle_of_the_file_refuses_to_open(tmp_path: Path) -> None:
    _filled(tmp_path)
    database = tmp_path / "chroma.sqlite3"
    size = database.stat().st_size
    with open(database, "r+b") as handle:  # two pages of garbage, page-aligned, mid-file
        handle.seek((size // 2) // 4096 * 4096)
        handle.write(np.random.default_rng(0).bytes(8192))
    with pytest.raises(DataLossError) as refused:
        Store(tmp_path)
    message = refused.value.message
    assert str(database) in message and "is damaged" in message and "backup" in message
    assert refused.value.code.value == "DATA_LOSS"
    # Refusing released the folder: the operator can run tools on it, and the file is untouched.
    assert database.stat().st_size == size
    with pytest.raises(DataLossError):
        Store(tmp_path)


def test_a_file_that_is_not_a_database_refuses_to_open(tmp_path: Path) -> None:
    (tmp_path / "chroma.sqlite3").write_bytes(b"definitely not SQLite " * 500)
    with pytest.raises(DataLossError, match="is damaged .*file is not a database"):
        Store(tmp_path)


def test_zero_length_or_missing_database_beside_index_files_is_damage(tmp_path: Path) -> None:
    s = Store(tmp_path, exact_search_threshold=10)
    # A set search_ef makes the store use a graph even where a scan would be as fast.
    info, _ = s.create_collection("graph", {"hnsw:search_ef": 100})
    x = np.random.default_rng(1).standard_normal((50, 8)).astype(np.float32)
    s.add(info.id, RecordBatch(ids=[f"g{i}" for i in range(50)], embeddings=x))
    s.query(info.id, x[:1])  # loads the index; the graph is built in the background
    assert s.wait_until_indexed(timeout=60)
    s.close()  # saves the graph
    saved = sorted(p.name for p in (tmp_path / "indexes").iterdir())
    assert saved, "the graph should have been saved"
    database = tmp_path / "chroma.sqlite3"

    database.write_bytes(b"")
    with pytest.raises(DataLossError) as refused:
        Store(tmp_path)
    assert f"The database {database} is empty (0 bytes)" in refused.value.message
    assert "saved index file" in refused.value.message and "backup" in refused.value.message

    database.unlink()
    with pytest.raises(DataLossError, match="is missing"):
        Store(tmp_path)
    assert sorted(p.name for p in (tmp_path / "indexes").iterdir()) == saved  # nothing deleted
    assert not database.exists()  # and no empty database was created in its place


def test_an_empty_database_in_an_empty_folder_is_a_fresh_start(tmp_path: Path) -> None:
    (tmp_path / "chroma.sqlite3").write_bytes(b"")  # e.g. a crash before the first commit
    s = Store(tmp_path)
    assert s.count_collections() == 0
    s.close()


def test_index_files_the_database_does_not_explain_are_set_aside_not_deleted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    Store(tmp_path).close()
    indexes = tmp_path / "indexes"
    stranger = indexes / "3f2c6a9e-0000-4000-8000-000000000000.json"
    stranger.write_text("{}")
    (indexes / ".tmp-interrupted.faiss").write_bytes(b"partial")
    with caplog.at_level(logging.WARNING, logger="chroma_grpc.store._index_files"):
        Store(tmp_path).close()
    assert not stranger.exists()
    assert (indexes / "orphaned" / stranger.name).read_text() == "{}"
    assert not (indexes / ".tmp-interrupted.faiss").exists()  # an interrupted save's leftover
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert stranger.name in warning.getMessage() and "orphaned" in warning.getMessage()


def test_damage_found_while_serving_is_data_loss_and_stops_writes(tmp_path: Path) -> None:
    cid = _filled(tmp_path)
    s = Store(tmp_path)
    database = tmp_path / "chroma.sqlite3"
    with open(database, "r+b") as handle:  # the disk goes bad under a running store
        size = database.stat().st_size
        for offset in range(4096 * 4, size - 4096, 4096 * 8):
            handle.seek(offset + 100)
            handle.write(b"\xff" * 64)
    with s._db.reading() as conn:
        conn.execute("PRAGMA shrink_memory")  # forget cached pages
    with pytest.raises(DataLossError) as seen:
        s.get(cid, include=frozenset({"documents", "metadatas"}))
    assert str(database) in seen.value.message and "get" in seen.value.message
    with pytest.raises(DataLossError, match="add refused: The database .* is damaged"):
        s.add(cid, RecordBatch(ids=["new"], embeddings=np.ones((1, 64), np.float32)))
    s.close()
    with pytest.raises(DataLossError):
        Store(tmp_path)


# -- full disk ----------------------------------------------------------------------------------
def _limit_pages(store: Store, extra_pages: int | None) -> None:
    """Cap the database a few pages above its size: SQLite then fails writes with SQLITE_FULL,
    exactly as on a full disk (None lifts the cap)."""
    with store._db.writer() as conn:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        cap = 2**30 if extra_pages is None else pages + extra_pages
        conn.execute(f"PRAGMA max_page_count = {cap}")


def test_full_disk_is_resource_exhausted_and_keeps_what_was_written(tmp_path: Path) -> None:
    s = Store(tmp_path)
    info, _ = s.create_collection("full")
    early = RecordBatch(ids=["e1", "e2"], embeddings=np.ones((2, 4)), documents=["kept", "too"])
    s.add(info.id, early)
    _limit_pages(s, 4)
    big = RecordBatch(
        ids=[f"b{i}" for i in range(500)],
        embeddings=np.ones((500, 4)),
        documents=["x" * 1000] * 500,
    )
    with pytest.raises(ResourceExhaustedError) as full:
        s.add(info.id, big)
    assert full.value.message.startswith("The disk is full: add could not write to ")
    assert str(tmp_path / "chroma.sqlite3") in full.value.message
    assert s.get(info.id, include=frozenset({"documents"})).documents == ["kept", "too"]
    with pytest.raises(ResourceExhaustedError, match="disk is full: create_collection"):
        s.create_collection("x" * 60, {"padding": "y" * 100_000})
    _limit_pages(s, None)  # space freed: writes go on, nothing half-written is in the way
    s.add(info.id, big)
    assert s.count(info.id) == 502
    s.close()
    again = Store(tmp_path)
    assert again.count(info.id) == 502
    again.close()


# -- space is given back ------------------------------------------------------------------------
def _disk_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.glob("chroma.sqlite3*"))


def test_deleting_records_and_collections_gives_the_space_back(tmp_path: Path) -> None:
    cid = _filled(tmp_path)
    s = Store(tmp_path)
    full = _disk_bytes(tmp_path)
    assert full > 1_500_000
    s.delete(cid, ids=[f"r{i:05d}" for i in range(3000)])
    assert _disk_bytes(tmp_path) < full / 10
    s.close()

    _filled(tmp_path, name="second")
    s = Store(tmp_path)
    assert _disk_bytes(tmp_path) > full / 2
    s.delete_collection("second")
    assert _disk_bytes(tmp_path) < full / 10
    s.close()
    conn = sqlite3.connect(tmp_path / "chroma.sqlite3")
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
    assert conn.execute("PRAGMA freelist_count").fetchone()[0] == 0
    conn.close()


def test_small_deletes_do_not_vacuum(tmp_path: Path) -> None:
    cid = _filled(tmp_path)
    s = Store(tmp_path)
    s.delete(cid, ids=[f"r{i:05d}" for i in range(300)])  # 10%: below the threshold
    with s._db.reading() as conn:  # a few free pages stay for the next inserts to reuse
        assert conn.execute("PRAGMA freelist_count").fetchone()[0] > 0
    s.close()


# -- schema migrations --------------------------------------------------------------------------
FIXTURES = Path(__file__).parent / "fixtures"


def test_a_schema_1_database_opens_migrates_and_keeps_its_data(tmp_path: Path) -> None:
    """fixtures/schema_v1 was written by the code of commit 36a54cb (schema version 1, no
    auto-vacuum, deleted records and a deleted collection left as free pages)."""
    database = tmp_path / "chroma.sqlite3"
    database.write_bytes(gzip.decompress((FIXTURES / "schema_v1/chroma.sqlite3.gz").read_bytes()))
    before = sqlite3.connect(database)
    assert before.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == 1
    assert before.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    assert before.execute("PRAGMA freelist_count").fetchone()[0] > 0
    before.close()

    s = Store(tmp_path)
    info = s.get_collection(name="kept")
    assert info.metadata == {"hnsw:space": "cosine", "owner": "fixture"} and info.dimension == 8
    got = s.get(info.id, include=frozenset({"embeddings", "metadatas", "documents", "uris"}))
    x = np.random.default_rng(7).standard_normal((120, 8)).astype(np.float32)
    assert got.ids == [f"id{i:04d}" for i in range(100)]
    np.testing.assert_array_equal(got.embeddings, x[:100])  # type: ignore[arg-type]
    assert got.metadatas == [
        {"i": i, "f": i / 4, "b": i % 3 == 0, "s": f"v{i % 10}"} for i in range(100)
    ]
    assert got.documents == [f"document number {i}" for i in range(100)]
    assert got.uris == [f"u://{i}" if i % 2 else None for i in range(100)]
    (hits,) = s.query(info.id, x[:1], n_results=3)
    assert hits.ids[0] == "id0000"
    s.add(info.id, RecordBatch(ids=["new"], embeddings=x[100:101]))
    s.close()

    after = sqlite3.connect(database)
    assert after.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    assert after.execute("PRAGMA auto_vacuum").fetchone()[0] == 2
    assert after.execute("PRAGMA freelist_count").fetchone()[0] == 0
    assert after.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    after.close()
    Store(tmp_path).close()  # and a migrated file opens again without migrating


def test_a_schema_2_database_migrates_into_the_default_tenant_and_database(
    tmp_path: Path,
) -> None:
    """fixtures/schema_v2 was written by the code of commit b6925eb (schema version 2: names
    unique across the file, no tenants). Migration 3 rebuilds the collections table: every
    collection lands in the default scope with its records, and no collection seq is reused."""
    database = tmp_path / "chroma.sqlite3"
    database.write_bytes(gzip.decompress((FIXTURES / "schema_v2/chroma.sqlite3.gz").read_bytes()))
    before = sqlite3.connect(database)
    assert before.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == 2
    rows_before = before.execute(
        "SELECT seq, id, name, metadata, dimension, space, applied_seq FROM collections "
        "ORDER BY seq"
    ).fetchall()
    records_before = before.execute("SELECT * FROM records ORDER BY rowid").fetchall()
    metadata_before = before.execute("SELECT * FROM record_metadata ORDER BY 1, 2").fetchall()
    log_before = before.execute("SELECT * FROM write_log ORDER BY seq").fetchall()
    before.close()
    assert [r[2] for r in rows_before] == ["kept", "empty"]

    s = Store(tmp_path)
    assert [c.name for c in s.list_collections()] == ["kept", "empty"]
    kept = s.get_collection(name="kept", tenant="default_tenant", database="default_database")
    assert (kept.tenant, kept.database) == ("default_tenant", "default_database")
    assert kept.metadata == {"hnsw:space": "ip", "owner": "fixture", "n": 3}
    assert kept.dimension == 6
    got = s.get(kept.id, include=frozenset({"embeddings", "metadatas", "documents", "uris"}))
    x = np.random.default_rng(11).standard_normal((150, 6)).astype(np.float32)
    assert got.ids == [f"r{i:04d}" for i in range(120)]
    np.testing.assert_array_equal(got.embeddings, x[:120])  # type: ignore[arg-type]
    expected_metadata: list[Any] = [
        {"i": i, "f": i / 8, "b": i % 2 == 0, "s": f"k{i % 7}"} if i % 5 else None
        for i in range(120)
    ]
    for i in range(10):
        expected_metadata[i] = {**(expected_metadata[i] or {}), "updated": True}
    assert got.metadatas == expected_metadata
    assert got.documents == [f"text {i}" if i % 3 else None for i in range(120)]
    assert got.uris == [f"u://{i}" if i % 4 else None for i in range(120)]
    (hits,) = s.query(kept.id, x[5:6], n_results=1)  # ip: the largest dot product
    assert hits.ids == [f"r{int(np.argmax(x[:120] @ x[5])):04d}"]
    assert s.get_tenant("default_tenant").name == "default_tenant"
    assert s.get_database("default_database").id == "00000000-0000-0000-0000-000000000000"
    s.create_tenant("acme")
    s.create_database("docs", tenant="acme")
    again, _ = s.create_collection("kept", tenant="acme", database="docs")  # names per database
    s.close()

    after = sqlite3.connect(database)
    assert after.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    assert (
        after.execute(
            "SELECT seq, id, name, metadata, dimension, space, applied_seq FROM collections "
            "WHERE tenant = 'default_tenant' AND database = 'default_database' ORDER BY seq"
        ).fetchall()
        == rows_before
    )
    assert after.execute("SELECT seq FROM collections WHERE id = ?", (again.id,)).fetchone()[0] > 3
    assert after.execute("SELECT * FROM records ORDER BY rowid").fetchall() == records_before
    assert after.execute("SELECT * FROM record_metadata ORDER BY 1, 2").fetchall() == (
        metadata_before
    )
    assert after.execute("SELECT * FROM write_log ORDER BY seq").fetchall()[: len(log_before)] == (
        log_before
    )
    assert after.execute("PRAGMA foreign_key_check").fetchall() == []
    assert after.execute("PRAGMA freelist_count").fetchone()[0] == 0
    assert after.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    after.close()
    Store(tmp_path).close()  # and a migrated file opens again without migrating


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    Store(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "chroma.sqlite3")
    conn.execute("INSERT INTO schema_version VALUES (?, 0)", (SCHEMA_VERSION + 1,))
    conn.commit()
    conn.close()
    with pytest.raises(ChromaError, match="newer than this code"):
        Store(tmp_path)
