"""k-NN: Chroma's distances, clamping, filtered exactness, HNSW freshness and recall."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chroma_grpc.store import RecordBatch, Store, _faiss
from chroma_grpc.store._vector_index import HnswParams, VectorIndex


def _store(tmp_path: Path, threshold: int = 10_000) -> Store:
    return Store(tmp_path, exact_search_threshold=threshold)


@pytest.mark.parametrize(
    ("space", "expected"),
    [
        ("l2", {"a": 20.0, "b": 25.0, "c": 0.0}),
        ("ip", {"a": -2.0, "b": 1.0, "c": -24.0}),
        ("cosine", {"a": 0.4, "b": 1.0, "c": 0.0}),
    ],
)
def test_distances_are_chromas(tmp_path: Path, space: str, expected: dict[str, float]) -> None:
    s = _store(tmp_path)
    info, _ = s.create_collection("dist", {"hnsw:space": space})
    s.add(info.id, RecordBatch(ids=["a", "b", "c"], embeddings=np.array([[1, 0], [0, 0], [3, 4]])))
    (hit,) = s.query(info.id, np.array([[3.0, 4.0]]), n_results=3)
    assert hit.distances is not None
    got = dict(zip(hit.ids, hit.distances.tolist(), strict=True))
    assert got == pytest.approx(expected, abs=1e-6)
    assert list(hit.distances) == sorted(hit.distances)
    s.close()


def test_query_clamps_and_defaults(tmp_path: Path) -> None:
    s = _store(tmp_path)
    info, _ = s.create_collection("clamp")
    s.add(info.id, RecordBatch(ids=["a", "b"], embeddings=np.eye(2), documents=["x", None]))
    hits = s.query(info.id, np.eye(2), n_results=10)
    assert [h.ids for h in hits] == [["a", "b"], ["b", "a"]]
    assert hits[0].documents == ["x", None] and hits[0].embeddings is None
    assert hits[0].metadatas == [None, None] and hits[0].uris is None
    full = s.query(info.id, np.eye(2)[:1], include=frozenset({"embeddings", "uris"}))[0]
    assert (
        full.distances is None and full.embeddings is not None and full.embeddings.shape == (2, 2)
    )
    none = s.query(info.id, np.eye(2)[:1], where={"nope": 1})[0]
    assert (
        none.ids == []
        and none.documents == []
        and none.distances is not None
        and len(none.distances) == 0
    )
    s.close()


def test_never_embedded_collection_accepts_any_dimension(tmp_path: Path) -> None:
    s = _store(tmp_path)
    info, _ = s.create_collection("empty")
    hits = s.query(info.id, np.ones((2, 7)))
    assert [h.ids for h in hits] == [[], []]
    s.close()


def _data(n: int, d: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def _brute(space: str, current: dict[str, np.ndarray], q: np.ndarray, k: int) -> list[str]:
    names = sorted(current)
    m = np.stack([current[n] for n in names]).astype(np.float64)
    qq = q.astype(np.float64)
    if space == "l2":
        d = ((m - qq) ** 2).sum(axis=1)
    elif space == "ip":
        d = 1 - m @ qq
    else:
        d = 1 - (m @ qq) / (np.linalg.norm(m, axis=1) * np.linalg.norm(qq))
    return [names[i] for i in np.argsort(d, kind="stable")[:k]]


@pytest.mark.parametrize("space", ["l2", "cosine", "ip"])
def test_hnsw_never_returns_stale_vectors(tmp_path: Path, space: str) -> None:
    s = _store(tmp_path, threshold=200)
    info, _ = s.create_collection("fresh", {"hnsw:space": space, "hnsw:search_ef": 64})
    x = _data(600, 8)
    ids = [f"id{i:04d}" for i in range(600)]
    current = dict(zip(ids, x, strict=True))
    s.add(info.id, RecordBatch(ids=ids, embeddings=x))
    assert s.wait_until_indexed(timeout=60)  # the graph is built in the background
    index = s._index_of(info.id)
    assert index is not None and index.uses_hnsw
    # Move id0000 far away and put id0001 exactly where id0000 was; delete id0002.
    far = (-50.0 * x[:1]).astype(np.float32)
    s.update(info.id, RecordBatch(ids=["id0000", "id0001"], embeddings=np.vstack([far, x[:1]])))
    current["id0000"], current["id0001"] = far[0], x[0]
    s.delete(info.id, ids=["id0002"])
    del current["id0002"]
    for q in (x[0], x[2], far[0], x[5]):
        (hit,) = s.query(info.id, q[None, :], n_results=5)
        assert hit.ids == _brute(space, current, q, 5)
    (hit,) = s.query(info.id, x[2:3], n_results=600)
    assert "id0002" not in hit.ids and len(hit.ids) == 599
    # Enough churn to trigger compaction; results stay consistent with SQLite.
    s.delete(info.id, ids=ids[100:400])
    for i in ids[100:400]:
        current.pop(i, None)
    (hit,) = s.query(info.id, x[150:151], n_results=10)
    assert hit.ids == _brute(space, current, x[150], 10)
    assert index.live == 299
    s.close()


def test_filtered_query_is_exact_and_complete(tmp_path: Path) -> None:
    s = _store(tmp_path, threshold=300)
    info, _ = s.create_collection("filtered")
    x = _data(2000, 16, seed=3)
    ids = [f"r{i:05d}" for i in range(2000)]
    s.add(
        info.id, RecordBatch(ids=ids, embeddings=x, metadatas=[{"m": i % 7} for i in range(2000)])
    )
    q = _data(5, 16, seed=4)
    for where in ({"m": 3}, {"m": {"$ne": 3}}):
        hits = s.query(info.id, q, n_results=25, where=where)
        allowed = np.array([(i % 7 == 3) == ("$ne" not in str(where)) for i in range(2000)])
        for row, hit in enumerate(hits):
            assert len(hit.ids) == 25
            assert all(allowed[int(i[1:])] for i in hit.ids)
            dist = ((x - q[row]) ** 2).sum(axis=1)
            dist[~allowed] = np.inf
            truth = {ids[i] for i in np.argsort(dist)[:25]}
            assert len(truth & set(hit.ids)) >= 24
    s.close()


def test_exact_recall_on_10k_gaussian_vectors() -> None:
    x = _data(10_000, 64, seed=7)
    q = _data(50, 64, seed=8)
    index = VectorIndex(64, "l2", HnswParams())
    index.apply(np.zeros(0, np.int64), np.arange(10_000, dtype=np.int64), x)
    hits = index.search(q, 10)
    dist = ((q[:, None, :].astype(np.float64) - x[None, :, :]) ** 2).sum(axis=2)
    truth = np.argsort(dist, axis=1)[:, :10]
    recall = np.mean(
        [len(set(h[0].tolist()) & set(t.tolist())) / 10 for h, t in zip(hits, truth, strict=True)]
    )
    assert recall >= 0.99
    np.testing.assert_allclose(hits[0][1], np.sort(dist[0])[:10], rtol=1e-5, atol=1e-4)


def test_hnsw_recall_with_defaults() -> None:
    x = _data(6000, 32, seed=9)
    q = _data(50, 32, seed=10)
    index = VectorIndex(32, "cosine", HnswParams(), exact_threshold=1000)
    index.apply(np.zeros(0, np.int64), np.arange(6000, dtype=np.int64), x)
    index.maintain()
    assert index.uses_hnsw
    hits = index.search(q, 10)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    truth = np.argsort(-(q @ xn.T), axis=1)[:, :10]
    recall = np.mean(
        [len(set(h[0].tolist()) & set(t.tolist())) / 10 for h, t in zip(hits, truth, strict=True)]
    )
    assert recall >= 0.98


def test_a_batch_searched_in_chunks_answers_as_its_queries_one_by_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch's graph search is cut into chunks run on the shared search threads (with a
    filter's selector too); every query gets exactly what it gets alone, in order."""
    monkeypatch.setattr(_faiss, "CORES", 2)  # chunked even on a one-core machine
    x = _data(4000, 16, seed=11)
    q = _data(61, 16, seed=12)  # not a multiple of the chunk size
    index = VectorIndex(16, "l2", HnswParams(search_ef=32), exact_threshold=500)
    index.apply(np.zeros(0, np.int64), np.arange(4000, dtype=np.int64), x)
    index.maintain()
    assert index.uses_hnsw
    allowed = np.arange(0, 4000, 2, dtype=np.int64)  # half: not selective, still the graph
    for subset in (None, allowed):
        batch = index.search(q, 10, subset)
        for row, (rowids, distances) in enumerate(batch):
            alone_ids, alone_distances = index.search(q[row : row + 1], 10, subset)[0]
            np.testing.assert_array_equal(rowids, alone_ids)
            np.testing.assert_array_equal(distances, alone_distances)
            if subset is not None:
                assert np.isin(rowids, allowed).all()


def test_search_ef_metadata_is_honoured() -> None:
    params = HnswParams.from_metadata(
        {"hnsw:M": 8, "hnsw:search_ef": 12, "hnsw:construction_ef": 40}
    )
    assert params == HnswParams(m=8, construction_ef=40, search_ef=12)
    assert HnswParams.from_metadata(None) == HnswParams(
        m=16, construction_ef=100, search_ef=None, chosen=True
    )


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_a_scan_split_by_rows_finds_what_one_scan_finds(
    monkeypatch: pytest.MonkeyPatch, metric: _faiss.Metric
) -> None:
    """One query over a large block is scanned in row slices on the search threads; the merged
    answer (with a filter's bitmap cut at the slices) is the single scan's."""
    monkeypatch.setattr(_faiss, "CORES", 3)
    monkeypatch.setattr(_faiss, "SPLIT_SCAN_MIN_ROWS", 100)
    base = _data(1003, 8, seed=13)
    queries = _data(2, 8, seed=14)
    allowed = np.random.default_rng(15).random(1003) < 0.3
    for bitmap in (None, np.packbits(allowed, bitorder="little")):
        whole = _faiss.exact_knn(queries, base, 10, metric, bitmap)
        split = _faiss.exact_knn(queries, base, 10, metric, bitmap, parallel=True)
        np.testing.assert_array_equal(split[1], whole[1])
        np.testing.assert_allclose(split[0], whole[0], rtol=1e-6)
        if bitmap is not None:
            assert allowed[split[1]].all()
