"""A graph build never stalls anything else: not other collections, not the catalog, not even
queries and writes on the collection being built (answered exactly meanwhile).

The build is made slow on purpose (a low exact-search threshold, a dense graph); the assertions
are on correctness and on "not blocked for the build's duration", with generous bounds: timing
goals belong to the benchmarks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from chroma_grpc.store import RecordBatch, Store
from chroma_grpc.store.types import Vectors

THRESHOLD = 1_000
DIM = 64
BIG = 20_000
SLOW_GRAPH = {"hnsw:M": 32, "hnsw:construction_ef": 400}
PROMPT_S = 1.0  # "promptly": far below a build that takes several seconds


def _vectors(n: int, seed: int) -> Vectors:
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


def _nearest(data: Vectors, ids: list[str], q: Vectors, k: int) -> list[str]:
    dist = ((data.astype(np.float64) - q.astype(np.float64)) ** 2).sum(axis=1)
    return [ids[i] for i in np.argsort(dist, kind="stable")[:k]]


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path, exact_search_threshold=THRESHOLD, allow_reset=True)
    yield s
    s.close()


def _start_big_build(s: Store, name: str = "big") -> tuple[str, Vectors, list[str]]:
    """A collection past the threshold whose graph takes seconds to build."""
    info, _ = s.create_collection(name, SLOW_GRAPH)
    data = _vectors(BIG, 1)
    ids = [f"b{i:05d}" for i in range(BIG)]
    for start in range(0, BIG, 4_000):
        s.add(info.id, RecordBatch(ids=ids[start : start + 4_000], embeddings=data[start:][:4_000]))
    return info.id, data, ids


def _building(s: Store, collection_id: str) -> bool:
    index = s._index_of(collection_id)
    return index is not None and not index.has_graph and not s.wait_until_indexed(timeout=0.05)


def test_everything_answers_while_a_graph_builds(store: Store) -> None:
    s = store
    other, _ = s.create_collection("other")
    small = _vectors(300, 2)
    small_ids = [f"s{i:03d}" for i in range(300)]
    s.add(other.id, RecordBatch(ids=small_ids, embeddings=small))
    big, data, ids = _start_big_build(s)
    assert _building(s, big)

    latencies: list[float] = []
    probes = _vectors(6, 3)
    for round_, q in enumerate(probes):
        # Queries on the building collection: exact answers, at once.
        (hit,) = s.query(big, q[None, :], n_results=5)
        assert hit.ids == _nearest(data, ids, q, 5)
        latencies.append(_timed(lambda q=q: s.query(big, q[None, :], n_results=5)))
        # Writes to it too, and they are visible at once.
        new = np.asarray(q * 0.001, dtype=np.float32)[None, :]
        latencies.append(_timed(lambda r=round_, v=new: s.add(big, RecordBatch([f"new{r}"], v))))
        data, ids = np.vstack([data, new]), [*ids, f"new{round_}"]
        (hit,) = s.query(big, new, n_results=1)
        assert hit.ids == [f"new{round_}"]
        # Another collection: queries and writes.
        (hit,) = s.query(other.id, q[None, :], n_results=3)
        assert hit.ids == _nearest(small, small_ids, q, 3)
        latencies.append(
            _timed(lambda r=round_, q=q: s.upsert(other.id, RecordBatch([f"o{r}"], q[None, :])))
        )
        # The catalog.
        latencies.append(_timed(lambda r=round_: s.create_collection(f"tmp{r}")))
        latencies.append(_timed(lambda r=round_: s.delete_collection(f"tmp{r}")))
        latencies.append(_timed(lambda: s.list_collections()))
    assert _building(s, big), "the build finished too soon to show anything: make it bigger"
    assert max(latencies) < PROMPT_S, sorted(latencies)[-5:]

    # Once built, the graph answers with the records written meanwhile.
    assert s.wait_until_indexed(timeout=300)
    index = s._index_of(big)
    assert index is not None and index.has_graph and index.live == BIG + len(probes)
    (hit,) = s.query(big, probes[:1] * 0.001, n_results=1)
    assert hit.ids == ["new0"]


def test_concurrent_queries_keep_answering_during_a_build(store: Store) -> None:
    s = store
    big, data, ids = _start_big_build(s)
    assert _building(s, big)
    stop = time.monotonic() + 1.0
    worst: list[float] = []
    errors: list[BaseException] = []

    def reader(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            while time.monotonic() < stop:
                q = rng.standard_normal(DIM).astype(np.float32)
                started = time.perf_counter()
                (hit,) = s.query(big, q[None, :], n_results=3)
                worst.append(time.perf_counter() - started)
                assert hit.ids == _nearest(data, ids, q, 3)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert _building(s, big)
    assert len(worst) >= 10 and max(worst) < PROMPT_S


@pytest.mark.parametrize("change", ["delete", "modify", "reset"])
def test_changing_a_building_collection_does_not_wait_for_its_build(
    store: Store, tmp_path: Path, change: str
) -> None:
    s = store
    big, _, _ = _start_big_build(s)
    keep, _ = s.create_collection("keep")
    s.add(keep.id, RecordBatch(ids=["k"], embeddings=_vectors(1, 9)))
    assert _building(s, big)
    if change == "delete":
        elapsed = _timed(lambda: s.delete_collection("big"))
    elif change == "modify":  # new graph parameters: the build in progress is obsolete
        elapsed = _timed(lambda: s.modify_collection(big, metadata={"hnsw:M": 8}))
    else:
        elapsed = _timed(s.reset)
    assert elapsed < PROMPT_S
    assert _timed(lambda: s.create_collection("after")) < PROMPT_S
    # The abandoned build stops at its next step instead of running to the end.
    if change == "modify":
        s.query(big, _vectors(1, 4), n_results=1)  # reloads with the new parameters
        index = s._index_of(big)
        assert index is not None and index.params.m == 8
    else:
        assert s.wait_until_indexed(timeout=PROMPT_S * 5)
        assert not [p for p in (tmp_path / "indexes").iterdir() if p.name.startswith(big)]
    if change != "reset":
        assert s.query(keep.id, _vectors(1, 9), n_results=1)[0].ids == ["k"]
