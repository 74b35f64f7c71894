"""kill -9 of ``chroma-grpc run`` during streamed writes, again and again: every acknowledged
batch is there after the restart, and no batch is ever there in part.

The server gets a small ``--max-receive-message-bytes``, so the Python client streams each
batch in several chunks and kills land mid-stream, mid-commit and between batches. Each restart
also proves the killed server's folder lock was released. CHROMA_GRPC_SOAK=1: 25 cycles.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

import chroma_grpc
from chroma_grpc.errors import ChromaError
from tests.helpers.servers import start_server_process

from .conftest import http_client, soak

BATCH = 500
DIMENSION = 128  # 500 x 128 x 4 B = 256 KB of vectors: 3+ chunks under a 96 KiB message limit
WRITERS = 2


def _batch_ids(batch: int) -> list[str]:
    return [f"b{batch:06d}-{i:04d}" for i in range(BATCH)]


def _check(collection: chroma_grpc.Collection, acknowledged: set[int]) -> set[int]:
    """Every acknowledged batch present; every present batch whole and unmixed."""
    sizes = Counter(i.split("-")[0] for i in collection.get(include=[])["ids"])
    partial = {b: n for b, n in sizes.items() if n != BATCH}
    assert not partial, f"partially applied batches: {partial}"
    present = {int(b[1:]) for b in sizes}
    missing = acknowledged - present
    assert not missing, f"acknowledged batches lost: {sorted(missing)}"
    if present:
        sample = random.choice(sorted(present))
        got = collection.get(where={"batch": sample}, include=["embeddings"])
        assert len(got["ids"]) == BATCH
        assert np.all(np.asarray(got["embeddings"]) == sample)
    return present


def test_kill_9_during_streamed_writes_loses_no_acknowledged_batch(tmp_path: Path) -> None:
    data = tmp_path / "data"
    args = ("--max-receive-message-bytes", str(96 * 1024), "--no-server-embedding")
    rng = random.Random(7)
    acknowledged: set[int] = set()
    counter = iter(range(1_000_000))
    lock = threading.Lock()
    kills = 0
    for _cycle in range(soak(4, 25)):
        server = start_server_process(data, *args)
        collection = http_client(server).get_or_create_collection("kill", embedding_function=None)
        _check(collection, acknowledged)

        def write(collection: chroma_grpc.Collection = collection) -> None:
            while True:
                with lock:
                    batch = next(counter)
                try:
                    collection.add(
                        ids=_batch_ids(batch),
                        embeddings=np.full((BATCH, DIMENSION), batch, np.float32),
                        metadatas=[{"batch": batch}] * BATCH,
                    )
                except ChromaError:  # the server died under this call: not acknowledged
                    return
                with lock:
                    acknowledged.add(batch)

        writers = [threading.Thread(target=write, daemon=True) for _ in range(WRITERS)]
        for writer in writers:
            writer.start()
        time.sleep(rng.uniform(0.4, 1.6))
        assert server.stop(signal.SIGKILL) == -signal.SIGKILL, "".join(server.output)
        kills += 1
        for writer in writers:
            writer.join(timeout=60)
            assert not writer.is_alive(), "a client call hung after the server was killed"

    with start_server_process(data, *args) as server:
        collection = http_client(server).get_collection("kill", embedding_function=None)
        present = _check(collection, acknowledged)
    assert kills == soak(4, 25) and len(acknowledged) >= kills  # batches went through each time
    assert present >= acknowledged
