"""Many threads reading and writing one store: no errors, no stale or missing records."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from chroma_grpc.store import RecordBatch, Store


def test_concurrent_readers_and_writers(tmp_path: Path) -> None:
    s = Store(tmp_path, exact_search_threshold=300)
    info, _ = s.create_collection("busy")
    rng = np.random.default_rng(0)
    s.add(
        info.id,
        RecordBatch(
            ids=[f"s{i:04d}" for i in range(400)], embeddings=rng.standard_normal((400, 8))
        ),
    )
    errors: list[BaseException] = []
    stop = time.monotonic() + 3.0

    def writer(n: int) -> None:
        r = np.random.default_rng(n)
        i = 0
        try:
            while time.monotonic() < stop:
                ids = [f"w{n}-{i}-{j}" for j in range(5)]
                s.add(
                    info.id,
                    RecordBatch(
                        ids=ids, embeddings=r.standard_normal((5, 8)), metadatas=[{"w": n}] * 5
                    ),
                )
                s.update(info.id, RecordBatch(ids=ids[:2], embeddings=r.standard_normal((2, 8))))
                s.delete(info.id, ids=ids[2:4])
                i += 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def reader(n: int) -> None:
        r = np.random.default_rng(100 + n)
        try:
            while time.monotonic() < stop:
                hits = s.query(
                    info.id,
                    r.standard_normal((3, 8)),
                    n_results=10,
                    where={"w": {"$gte": 0}} if n % 2 else None,
                )
                for hit in hits:
                    assert len(hit.ids) == len(set(hit.ids)) == 10
                    assert list(hit.distances) == sorted(hit.distances)  # type: ignore[arg-type]
                got = s.get(info.id, limit=50)
                assert got.ids == sorted(got.ids)
                s.count(info.id)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def catalog() -> None:
        k = 0
        try:
            while time.monotonic() < stop:
                other, _ = s.create_collection(f"tmp{k}")
                s.add(other.id, RecordBatch(ids=["a"], embeddings=np.ones((1, 2))))
                s.delete_collection(f"tmp{k}")
                k += 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    threads += [threading.Thread(target=reader, args=(n,)) for n in range(4)]
    threads.append(threading.Thread(target=catalog))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    all_ids = s.get(info.id).ids
    assert not [i for i in all_ids if i.startswith("w") and int(i.rsplit("-", 1)[1]) in (2, 3)]
    # The live index agrees with SQLite after the storm.
    index = s._index_of(info.id)
    assert index is not None and index.live == s.count(info.id) == len(all_ids)
    s.close()
