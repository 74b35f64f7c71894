"""Writers and readers on one collection at once: every acknowledged write is there exactly
once, and no reader ever sees a batch in part.

Writers add batches of fresh ids and upsert earlier batches of their own; readers check that
every batch they see is whole and that filtered reads and queries return only what they asked
for. Runs embedded (threads sharing one ``PersistentClient``) and over gRPC (threads sharing
one ``HttpClient`` to a ``chroma-grpc run`` subprocess). CHROMA_GRPC_SOAK=1: 20x longer.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable

import numpy as np

import chroma_grpc
from chroma_grpc import ClientAPI

from .conftest import soak

BATCH = 50
WRITERS = 4
READERS = 3


def _ids(writer: int, batch: int) -> list[str]:
    return [f"w{writer}-b{batch:04d}-{i:02d}" for i in range(BATCH)]


def test_writers_and_readers_on_one_collection(client: ClientAPI) -> None:
    batches = soak(40, 800)
    name = "busy"
    client.create_collection(name, embedding_function=None)
    acknowledged: dict[str, int] = {}  # batch prefix -> version acknowledged last
    lock = threading.Lock()
    done = threading.Event()
    failures: list[BaseException] = []

    def collection() -> chroma_grpc.Collection:
        return client.get_collection(name, embedding_function=None)

    def guarded(work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except BaseException as error:  # reported by the main thread
                failures.append(error)
                done.set()

        return run

    def writer(w: int) -> Callable[[], None]:
        def work() -> None:
            rng = random.Random(w)
            mine = collection()
            for b in range(batches):
                prefix = f"w{w}-b{b:04d}"
                mine.add(
                    ids=_ids(w, b),
                    embeddings=np.full((BATCH, 8), w * 1000 + b, np.float32),
                    metadatas=[{"batch": prefix, "v": 1}] * BATCH,
                )
                with lock:
                    acknowledged[prefix] = 1
                if b and rng.random() < 0.3:  # rewrite an earlier batch of ours, whole
                    old = rng.randrange(b)
                    mine.upsert(
                        ids=_ids(w, old),
                        embeddings=np.full((BATCH, 8), -(w * 1000 + old), np.float32),
                        metadatas=[{"batch": f"w{w}-b{old:04d}", "v": 2}] * BATCH,
                    )
                    with lock:
                        acknowledged[f"w{w}-b{old:04d}"] = 2

        return work

    def reader(r: int) -> Callable[[], None]:
        def work() -> None:
            rng = random.Random(100 + r)
            mine = collection()
            while not done.is_set():
                with lock:
                    seen = dict(acknowledged)
                sizes = Counter(i.rsplit("-", 1)[0] for i in mine.get(include=[])["ids"])
                assert all(n == BATCH for n in sizes.values()), sizes
                assert set(seen) <= set(sizes), "an acknowledged batch is not visible"
                if not seen:
                    continue
                prefix = rng.choice(sorted(seen))
                got = mine.get(where={"batch": prefix}, include=["metadatas", "embeddings"])
                assert sorted(got["ids"]) == _ids(int(prefix[1]), int(prefix[4:]))
                versions = {m["v"] for m in got["metadatas"]}
                assert len(versions) == 1 and versions <= {1, 2}, versions  # never mixed
                signs = {float(np.sign(e[0])) for e in got["embeddings"]} - {0.0}
                assert len(signs) <= 1, "an upsert was seen half applied"
                hits = mine.query(
                    query_embeddings=[[0.0] * 8], n_results=5, where={"batch": prefix}
                )
                assert hits["ids"][0] and all(i.startswith(prefix) for i in hits["ids"][0])

        return work

    threads = [threading.Thread(target=guarded(writer(w))) for w in range(WRITERS)]
    readers = [threading.Thread(target=guarded(reader(r))) for r in range(READERS)]
    for thread in threads + readers:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    done.set()
    for thread in readers:
        thread.join(timeout=60)
    assert not failures, failures[0]

    final = collection().get(include=["metadatas"])
    assert len(final["ids"]) == len(set(final["ids"])) == WRITERS * batches * BATCH
    assert collection().count() == WRITERS * batches * BATCH
    version = {i: m["v"] for i, m in zip(final["ids"], final["metadatas"], strict=True)}
    for prefix, v in acknowledged.items():
        w, b = int(prefix[1]), int(prefix[4:])
        assert {version[i] for i in _ids(w, b)} == {v}, prefix
