"""The graph kept current: background builds, growth, compaction, calibration, saved graphs.

Correctness only (every answer checked against brute force or recall against exact search);
timings belong to the benchmarks.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from chroma_grpc.store import RecordBatch, Store, _faiss, _maintenance, _vector_index
from chroma_grpc.store._vector_index import GraphBuild, HnswParams, VectorIndex
from chroma_grpc.store.errors import InvalidCollectionException
from chroma_grpc.store.types import Vectors

DIM = 16


def _vectors(n: int, seed: int, dim: int = DIM) -> Vectors:
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def _brute(current: dict[int, np.ndarray], q: np.ndarray, k: int) -> list[int]:
    keys = sorted(current)
    m = np.stack([current[i] for i in keys]).astype(np.float64)
    d = ((m - q.astype(np.float64)) ** 2).sum(axis=1)
    return [keys[i] for i in np.argsort(d, kind="stable")[:k]]


def _check(index: VectorIndex, current: dict[int, np.ndarray], seed: int) -> None:
    """Live rowids agree, and with an exhaustive ef every answer is the brute-force one."""
    assert index.live == len(current)
    for q in _vectors(3, seed):
        ((rowids, _),) = index.search(q[None, :], 5)
        assert rowids.tolist() == _brute(current, q, 5)


def _same_vectors(index: VectorIndex, current: dict[int, np.ndarray]) -> None:
    """Every live rowid sits at one position holding its current vector."""
    assert sorted(index._pos_of) == sorted(current)
    positions = np.array([index._pos_of[r] for r in sorted(current)])
    assert (index._rowids[positions] == np.array(sorted(current))).all()
    np.testing.assert_array_equal(
        index._vectors_at(positions), np.stack([current[r] for r in sorted(current)])
    )


def test_graph_build_catches_up_with_writes_made_meanwhile() -> None:
    """Adds, re-embeds (also of held-out calibration vectors) and deletes between build steps
    all survive the swap."""
    rng = np.random.default_rng(0)
    index = VectorIndex(DIM, "l2", HnswParams(), exact_threshold=100)
    current: dict[int, np.ndarray] = {}
    x = _vectors(3000, 1)
    index.apply(np.zeros(0, np.int64), np.arange(3000, dtype=np.int64), x)
    current.update(enumerate(x))
    build = GraphBuild(index, chunk=250)
    next_rowid = 3000
    while build.step():
        if next_rowid > 3400:
            continue
        live = np.array(sorted(current))
        moved = rng.choice(live, size=20, replace=False)
        deleted = [int(r) for r in rng.choice(live, size=10, replace=False) if r not in moved]
        fresh = _vectors(20, next_rowid)
        index.apply(moved, moved, _vectors(20, 10**6 + next_rowid))  # re-embed: new positions
        current.update(zip(moved.tolist(), _vectors(20, 10**6 + next_rowid), strict=True))
        index.apply(np.asarray(deleted, np.int64), np.zeros(0, np.int64), None)
        for r in deleted:
            current.pop(r)
        added = np.arange(next_rowid, next_rowid + 20, dtype=np.int64)
        index.apply(np.zeros(0, np.int64), added, fresh)
        current.update(zip(added.tolist(), fresh, strict=True))
        next_rowid += 20
    assert build.held is not None and len(build.held) > 0
    # Re-embed some held-out records just before the swap, too.
    held = build.held_rowids[:5]
    held = held[np.isin(held, list(current))]
    index.apply(held, held, _vectors(len(held), 77))
    current.update(zip(held.tolist(), _vectors(len(held), 77), strict=True))
    build.complete()
    build.finish()
    assert index.has_graph and index.graph_source == "built"
    _same_vectors(index, current)
    index.params = HnswParams(search_ef=400)  # through the graph, exhaustively
    assert index.uses_hnsw
    _check(index, current, seed=5)
    index.maintain()  # grows the tail written meanwhile into the graph
    assert index.graph_size == index.positions
    _same_vectors(index, current)
    _check(index, current, seed=6)


@pytest.mark.parametrize("space", ["l2", "cosine", "ip"])
def test_saved_links_round_trip_exactly(space: str) -> None:
    x = _vectors(800, 2)
    index = VectorIndex(DIM, space, HnswParams(search_ef=32), exact_threshold=100)  # type: ignore[arg-type]
    index.apply(np.zeros(0, np.int64), np.arange(800, dtype=np.int64), x)
    index.maintain()
    index.apply(np.arange(10, dtype=np.int64), np.zeros(0, np.int64), None)
    snapshot = index.graph_snapshot()
    assert snapshot is not None and len(snapshot.dead_vectors) == 10
    again = VectorIndex(DIM, space, HnswParams(search_ef=32), exact_threshold=100)  # type: ignore[arg-type]
    rowids = np.arange(10, 800, dtype=np.int64)
    pages = [(rowids[start : start + 300], x[10 + start : 310 + start]) for start in (0, 300, 600)]
    assert again.restore(snapshot, pages)  # page by page, straight into the graph's storage
    assert again.graph_size == 800 and again.live == 790
    q = _vectors(20, 3)
    for a, b in zip(index.search(q, 7), again.search(q, 7), strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


def test_restore_takes_new_rowids_as_tail_and_refuses_missing_ones() -> None:
    x = _vectors(600, 4)
    index = VectorIndex(DIM, "cosine", HnswParams(search_ef=32), exact_threshold=100)
    index.apply(np.zeros(0, np.int64), np.arange(600, dtype=np.int64), x)
    index.maintain()
    snapshot = index.graph_snapshot()
    assert snapshot is not None
    extra = _vectors(5, 5)
    rowids = np.arange(605, dtype=np.int64)  # 600..604: written after the save
    again = VectorIndex(DIM, "cosine", HnswParams(search_ef=32), exact_threshold=100)
    assert again.restore(
        snapshot, [(rowids[:300], x[:300]), (rowids[300:], np.vstack([x[300:], extra]))]
    )
    assert again.graph_size == 600 and again.positions == 605
    ((found, distances),) = again.search(extra[2:3], 1)
    assert found.tolist() == [602] and distances[0] == pytest.approx(0.0, abs=1e-5)

    missing = VectorIndex(DIM, "cosine", HnswParams(search_ef=32), exact_threshold=100)
    assert not missing.restore(snapshot, [(rowids[:300], x[:300])])  # SQLite lacks 300..599
    assert missing.positions == 0 and not missing.has_graph


def test_calibration_chooses_the_graph_or_a_scan_by_measurement() -> None:
    """Easy (clustered) data gets the graph at a small ef; data where the graph would need
    more work than a scan stays on exact search, with exact answers."""
    rng = np.random.default_rng(4)
    centres = rng.standard_normal((20, 32)).astype(np.float32) * 4
    easy = (centres[rng.integers(0, 20, 4000)] + rng.standard_normal((4000, 32))).astype(np.float32)
    index = VectorIndex(32, "l2", HnswParams(), exact_threshold=500)
    index.apply(np.zeros(0, np.int64), np.arange(4000, dtype=np.int64), easy)
    index.maintain()
    assert index.calibration is not None and index.uses_hnsw
    assert index.calibration.recall >= 0.99 and index.search_ef < 400

    hard = _vectors(2000, 5, dim=256)  # high-dimensional noise, barely past the threshold
    index = VectorIndex(256, "l2", HnswParams(m=8), exact_threshold=1500)
    index.apply(np.zeros(0, np.int64), np.arange(2000, dtype=np.int64), hard)
    index.maintain()
    assert index.has_graph and not index.uses_hnsw
    q = _vectors(5, 6, dim=256)
    for row, (rowids, _) in zip(q, index.search(q, 10), strict=True):
        assert rowids.tolist() == _brute(dict(enumerate(hard)), row, 10)


def _store(tmp_path: Path | None, threshold: int = 200) -> Store:
    return Store(tmp_path, exact_search_threshold=threshold, allow_reset=True)


def test_store_graph_stays_current_under_every_kind_of_write(tmp_path: Path) -> None:
    s = _store(tmp_path)
    info, _ = s.create_collection("coll", {"hnsw:search_ef": 200})
    current: dict[int, np.ndarray] = {}

    def add(kind: str, ids: list[int], vectors: Vectors) -> None:
        getattr(s, kind)(info.id, RecordBatch(ids=[str(i) for i in ids], embeddings=vectors))
        current.update(zip(ids, vectors, strict=True))

    def answers_match(seed: int) -> None:
        for q in _vectors(4, seed):
            (hit,) = s.query(info.id, q[None, :], n_results=6)
            assert [int(i) for i in hit.ids] == _brute(current, q, 6)

    add("add", list(range(600)), _vectors(600, 10))
    answers_match(1)  # exact while the graph builds in the background
    assert s.wait_until_indexed(timeout=60)
    index = s._index_of(info.id)
    assert index is not None and index.uses_hnsw and index.graph_size == 600
    add("add", list(range(600, 700)), _vectors(100, 11))  # into the tail, searched exactly
    answers_match(2)
    add("upsert", list(range(650, 750)), _vectors(100, 12))  # half new, half re-embedded
    add("update", list(range(0, 50)), _vectors(50, 13))
    s.delete(info.id, ids=[str(i) for i in range(100, 130)])
    for i in range(100, 130):
        current.pop(i)
    answers_match(3)
    assert s.wait_until_indexed(timeout=60)
    assert index.graph_size == index.positions  # the tail has been grown into the graph
    answers_match(4)

    # Past 30% tombstones a compacted graph is built in the background and swapped in.
    builds = VectorIndex.graph_builds
    s.delete(info.id, ids=[str(i) for i in range(130, 450)])
    for i in range(130, 450):
        current.pop(i)
    answers_match(5)
    assert s.wait_until_indexed(timeout=60)
    assert VectorIndex.graph_builds == builds + 1
    assert index.positions == index.live == len(current) == s.count(info.id)
    answers_match(6)
    s.close()

    # Restart: the saved graph is adopted, and still answers right.
    builds = VectorIndex.graph_builds
    again = _store(tmp_path)
    answers = again.query(info.id, _vectors(4, 6), n_results=6)
    assert [[int(i) for i in hit.ids] for hit in answers] == [
        _brute(current, q, 6) for q in _vectors(4, 6)
    ]
    reloaded = again._index_of(info.id)
    assert reloaded is not None and reloaded.graph_source == "file"
    assert VectorIndex.graph_builds == builds
    again.close()


def _recall(s: Store, cid: str, data: Vectors, queries: Vectors) -> float:
    truth = [_brute(dict(enumerate(data)), q, 10) for q in queries]
    hits = s.query(cid, queries, n_results=10)
    found = [[int(i) for i in h.ids] for h in hits]
    return float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)]))


def test_damaged_links_are_detected_and_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A saved graph whose links were scrambled (same size, plausible values) is refused by its
    checksum, logged, and rebuilt: recall after the restart is what it was before."""
    monkeypatch.setattr(_maintenance, "SAVE_DELAY_SECONDS", 0.0)
    data, queries = _vectors(3000, 20, dim=32), _vectors(50, 21, dim=32)
    s = _store(tmp_path, threshold=500)
    info, _ = s.create_collection("coll", {"hnsw:search_ef": 64})
    s.add(info.id, RecordBatch(ids=[str(i) for i in range(3000)], embeddings=data))
    assert s.wait_until_indexed(timeout=60)
    before = _recall(s, info.id, data, queries)
    assert before >= 0.95
    s.close()

    graph = next((tmp_path / "indexes").glob("*.graph"))
    raw = bytearray(graph.read_bytes())
    neighbors = np.frombuffer(raw, dtype=np.int32)
    # Point every link in the file's link region at node 0: a valid-looking, useless graph.
    region = slice(len(neighbors) // 8, len(neighbors) // 2)
    neighbors_copy = neighbors.copy()
    neighbors_copy[region] = np.where(neighbors_copy[region] > 0, 0, neighbors_copy[region])
    graph.write_bytes(neighbors_copy.tobytes())

    builds = VectorIndex.graph_builds
    with caplog.at_level(logging.WARNING, logger="chroma_grpc.store._index_files"):
        again = _store(tmp_path, threshold=500)
        assert _recall(again, info.id, data, queries) >= before - 0.02  # exact until rebuilt
        assert again.wait_until_indexed(timeout=60)
    assert any("damaged" in r.getMessage() for r in caplog.records)
    assert VectorIndex.graph_builds == builds + 1
    index = again._index_of(info.id)
    assert index is not None and index.graph_source == "built" and index.uses_hnsw
    assert _recall(again, info.id, data, queries) >= before - 0.02
    again.close()


def test_single_queries_run_on_one_thread_batches_on_all() -> None:
    _faiss.use_threads_for(1)
    import faiss

    assert faiss.omp_get_max_threads() == 1
    _faiss.use_threads_for(100)
    assert faiss.omp_get_max_threads() == _faiss.CORES


def test_unknown_collection_ids_leave_nothing_behind(tmp_path: Path) -> None:
    """An id from a client that names no collection gets no slot, and never reaches a path."""
    s = _store(tmp_path)
    info, _ = s.create_collection("real", {"hnsw:search_ef": 50})
    s.add(info.id, RecordBatch(ids=["a"], embeddings=_vectors(1, 1)))
    bait = tmp_path / "bait.json"
    bait.write_text("{}")
    for bad in ("../bait", "nope"):
        for call in (
            lambda b=bad: s.query(b, _vectors(1, 2)),
            lambda b=bad: s.add(b, RecordBatch(ids=["x"], embeddings=_vectors(1, 3))),
            lambda b=bad: s.delete(b, ids=["x"]),
        ):
            with pytest.raises(InvalidCollectionException):
                call()
        assert s._maintainer.find(bad) is None
    assert bait.exists()
    assert s.query(info.id, _vectors(1, 1), n_results=1)[0].ids == ["a"]
    s.close()


def test_hard_data_gets_a_denser_graph_that_survives_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When calibration finds the data hard, a graph with M and construction_ef left to us is
    rebuilt denser; the saved denser graph is adopted after a restart. A user's M wins."""
    monkeypatch.setattr(_vector_index, "DENSE_MIN_GRAPH", 500)
    monkeypatch.setattr(_vector_index, "HARD_EF", 16)  # any calibration counts as hard here
    data = _vectors(1500, 30, dim=48)
    s = _store(tmp_path, threshold=500)
    ours, _ = s.create_collection("ours")
    theirs, _ = s.create_collection("theirs", {"hnsw:M": 12})
    for info in (ours, theirs):
        s.add(info.id, RecordBatch(ids=[str(i) for i in range(1500)], embeddings=data))
    assert s.wait_until_indexed(timeout=120)
    index = s._index_of(ours.id)
    assert index is not None and index.params.m == _vector_index.DENSE_M
    assert index.graph_size == 1500 and index.calibration is not None
    other = s._index_of(theirs.id)
    assert other is not None and other.params.m == 12
    expected = s.query(ours.id, _vectors(5, 31, dim=48), n_results=5)
    s.close()

    builds = VectorIndex.graph_builds
    again = _store(tmp_path, threshold=500)
    got = again.query(ours.id, _vectors(5, 31, dim=48), n_results=5)
    assert [r.ids for r in got] == [r.ids for r in expected]
    reloaded = again._index_of(ours.id)
    assert reloaded is not None and reloaded.graph_source == "file"
    assert reloaded.params.m == _vector_index.DENSE_M
    assert again.wait_until_indexed(timeout=120)
    assert VectorIndex.graph_builds == builds  # no rebuild: the denser graph was kept
    again.close()


def test_a_growing_graph_is_recalibrated_at_its_new_size() -> None:
    """Growth by half re-measures ef on vectors held back from the graph until then, so the
    calibration always describes (nearly) the whole graph."""
    index = VectorIndex(DIM, "l2", HnswParams(), exact_threshold=200)
    data = _vectors(4000, 40)
    index.apply(np.zeros(0, np.int64), np.arange(1000, dtype=np.int64), data[:1000])
    index.maintain()
    assert index.calibration is not None and index.calibration.graph_size <= 1000
    for start in range(1000, 4000, 250):  # a steady trickle, grown into the graph as it comes
        rows = np.arange(start, start + 250, dtype=np.int64)
        index.apply(np.zeros(0, np.int64), rows, data[start : start + 250])
        index.maintain()
    assert index.graph_size == index.positions == 4000
    assert index.calibration.graph_size >= 4000 / _vector_index.CALIBRATION_GROWTH


def test_a_small_graph_with_a_large_tail_is_measured_once_then_grown() -> None:
    index = VectorIndex(DIM, "l2", HnswParams(), exact_threshold=200)
    data = _vectors(1000, 41)
    index.apply(np.zeros(0, np.int64), np.arange(600, dtype=np.int64), data[:600])
    index.maintain()
    index.apply(np.zeros(0, np.int64), np.arange(600, 1000, dtype=np.int64), data[600:])
    index.maintain()  # returns: the tail outweighs what one more measurement could change
    assert index.graph_size == index.positions == 1000
