"""Saved HNSW graphs: reused on reopen when they match SQLite and verify, rejected (and rebuilt)
otherwise."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from chroma_grpc.store import RecordBatch, Store, _maintenance
from chroma_grpc.store._vector_index import VectorIndex
from chroma_grpc.store.types import QueryResult, Vectors

THRESHOLD = 50
DIM = 16


def _vectors(n: int, seed: int) -> Vectors:
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


@pytest.fixture(autouse=True)
def _save_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Save as soon as a collection's background work is done, not after a quiet second."""
    monkeypatch.setattr(_maintenance, "SAVE_DELAY_SECONDS", 0.0)


def _open(path: Path | None) -> Store:
    return Store(path, exact_search_threshold=THRESHOLD, allow_reset=True)


def _fill(s: Store, name: str = "big", n: int = 400, space: str = "l2") -> str:
    # A set search_ef makes queries use the graph even where a scan would be as fast.
    info, _ = s.create_collection(name, {"hnsw:space": space, "hnsw:search_ef": 100})
    s.add(info.id, RecordBatch(ids=[f"r{i}" for i in range(n)], embeddings=_vectors(n, 1)))
    return info.id


def _query(s: Store, cid: str) -> list[QueryResult]:
    """Query (loading the index), then let the background work (build, save) finish."""
    assert s.wait_until_indexed(timeout=60)
    s.query(cid, _vectors(1, 98), n_results=1)
    assert s.wait_until_indexed(timeout=60)
    return s.query(cid, _vectors(5, 99), n_results=8)


def _same(a: list[QueryResult], b: list[QueryResult]) -> None:
    assert [r.ids for r in a] == [r.ids for r in b]
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.distances, y.distances)


def _source(s: Store, cid: str) -> str | None:
    index = s._index_of(cid)
    assert index is not None
    return index.graph_source


def _files(path: Path, cid: str) -> list[Path]:
    return sorted((path / "indexes").glob(f"{cid}.*"))


@pytest.mark.parametrize("space", ["l2", "cosine", "ip"])
def test_reopen_uses_saved_graph(tmp_path: Path, space: str) -> None:
    s = _open(tmp_path)
    cid = _fill(s, space=space)
    s.delete(cid, ids=["r3", "r7"])
    before = _query(s, cid)
    assert _source(s, cid) == "built"
    assert len(_files(tmp_path, cid)) == 2  # commit record, graph data
    s.close()

    builds = VectorIndex.graph_builds
    again = _open(tmp_path)
    _same(_query(again, cid), before)
    assert _source(again, cid) == "file"
    assert VectorIndex.graph_builds == builds
    again.close()


def test_writes_after_reopen_are_saved_at_close(tmp_path: Path) -> None:
    s = _open(tmp_path)
    cid = _fill(s)
    _query(s, cid)
    s.close()

    again = _open(tmp_path)
    _query(again, cid)
    again.upsert(cid, RecordBatch(ids=["r0", "new"], embeddings=_vectors(2, 7)))
    again.delete(cid, ids=["r1"])
    expected = _query(again, cid)
    assert "new" in {i for r in again.query(cid, _vectors(2, 7), n_results=1) for i in r.ids}
    again.close()

    builds = VectorIndex.graph_builds
    third = _open(tmp_path)
    _same(_query(third, cid), expected)
    assert _source(third, cid) == "file" and VectorIndex.graph_builds == builds
    assert len(_files(tmp_path, cid)) == 2  # the previous generation was removed
    third.close()


def test_stale_file_is_rejected(tmp_path: Path) -> None:
    s = _open(tmp_path)
    cid = _fill(s)
    _query(s, cid)
    s.close()
    old = tmp_path / "old-indexes"
    shutil.copytree(tmp_path / "indexes", old)

    again = _open(tmp_path)
    again.add(cid, RecordBatch(ids=["late"], embeddings=_vectors(1, 5)))
    expected = _query(again, cid)
    again.close()
    shutil.rmtree(tmp_path / "indexes")
    shutil.copytree(old, tmp_path / "indexes")
    shutil.rmtree(old)

    third = _open(tmp_path)
    _same(_query(third, cid), expected)
    assert _source(third, cid) == "built"
    assert third.query(cid, _vectors(1, 5), n_results=1)[0].ids == ["late"]
    third.close()


@pytest.mark.parametrize("damage", ["truncate", "scribble", "garbage-json"])
def test_damaged_file_is_rejected(tmp_path: Path, damage: str) -> None:
    s = _open(tmp_path)
    cid = _fill(s)
    expected = _query(s, cid)
    s.close()
    graph = next(p for p in _files(tmp_path, cid) if p.suffix == ".graph")
    if damage == "truncate":
        with open(graph, "r+b") as handle:
            handle.truncate(graph.stat().st_size // 2)
    elif damage == "scribble":  # same size, links (the file's head) changed
        data = bytearray(graph.read_bytes())
        data[:4096] = b"\x3f" * 4096
        graph.write_bytes(bytes(data))
    else:
        (tmp_path / "indexes" / f"{cid}.json").write_text("{not json")

    again = _open(tmp_path)
    _same(_query(again, cid), expected)
    assert _source(again, cid) == "built"
    again.close()


def test_delete_collection_and_reset_remove_files(tmp_path: Path) -> None:
    s = _open(tmp_path)
    first = _fill(s, "first")
    second = _fill(s, "second")
    _query(s, first)
    _query(s, second)
    assert _files(tmp_path, first) and _files(tmp_path, second)
    s.delete_collection("first")
    assert not _files(tmp_path, first) and _files(tmp_path, second)
    s.reset()
    assert list((tmp_path / "indexes").iterdir()) == []
    s.close()


def test_exact_mode_and_memory_stores_write_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = _open(tmp_path / "db")
    cid = _fill(s, n=THRESHOLD)  # at the threshold: exact search, no graph
    _query(s, cid)
    index = s._index_of(cid)
    assert index is not None and not index.has_graph
    s.close()
    assert list((tmp_path / "db" / "indexes").iterdir()) == []

    monkeypatch.chdir(tmp_path / "db")
    memory = _open(None)
    big = _fill(memory)
    _query(memory, big)
    index = memory._index_of(big)
    assert index is not None and index.has_graph
    memory.close()
    assert sorted(p.name for p in (tmp_path / "db").iterdir())[0] == "chroma.sqlite3"
    assert list((tmp_path / "db" / "indexes").iterdir()) == []


def test_graph_dropped_below_threshold_removes_its_file(tmp_path: Path) -> None:
    s = _open(tmp_path)
    cid = _fill(s, n=100)
    _query(s, cid)
    assert _files(tmp_path, cid)
    s.delete(cid, ids=[f"r{i}" for i in range(90)])
    _query(s, cid)
    index = s._index_of(cid)
    assert index is not None and not index.has_graph
    assert not _files(tmp_path, cid)
    s.close()
    assert not _files(tmp_path, cid)
