"""Long work on one collection does not stall RPCs on another (issue #8, item 1).

Against one ``chroma-grpc run`` process: large adds to collection A for several seconds (as
many as that takes, however fast the machine), five more writes queued behind them, then
queries on A while the server builds its HNSW graph in the background, with more writes
queued behind those. All the while, Heartbeat, health and reads and queries of collection B
keep answering (correctly, and well under the time A's work takes). Writes to B are measured
too: SQLite has one writer, so they may wait for A's transaction to commit (one store call),
never for A's stream or queue.

Bounds are generous (timing goals belong to the benchmarks); the latencies are printed
(``pytest -s``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

from chroma_grpc.client.proxy import StoreProxy
from chroma_grpc.store.types import RecordBatch
from tests.helpers.servers import start_server_process

DIM = 32
CHUNK = 20_000  # records per add on A
MIN_BUSY_S = 4.0  # A is kept busy adding for at least this long
QUEUED = 5
READ_BOUND_S = 1.0  # generous; the work on A takes several seconds
WRITE_BOUND_S = 5.0


def _vectors(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((n, DIM), dtype=np.float32)


def _timed(action: Callable[[], object], into: list[float]) -> object:
    started = time.perf_counter()
    result = action()
    into.append(time.perf_counter() - started)
    return result


def test_long_work_on_one_collection_does_not_stall_another(tmp_path: Path) -> None:
    with start_server_process(tmp_path / "data", "--no-server-embedding") as server:
        setup = StoreProxy(server.address, timeout=120)
        a, _ = setup.create_collection("busy-a", {"hnsw:construction_ef": 200})
        b, _ = setup.create_collection("quiet-b")
        b_vectors = _vectors(200, 1)
        b_ids = [f"b{i:03d}" for i in range(200)]
        setup.add(b.id, RecordBatch(ids=b_ids, embeddings=b_vectors))

        errors: list[BaseException] = []
        work: list[threading.Thread] = []

        def on_a(action: Callable[[StoreProxy], object]) -> None:
            def run() -> None:
                proxy = StoreProxy(server.address, timeout=300)
                try:
                    action(proxy)
                except BaseException as error:  # noqa: BLE001 - reported below
                    errors.append(error)
                finally:
                    proxy.close()

            thread = threading.Thread(target=run)
            thread.start()
            work.append(thread)

        added: list[int] = []

        def keep_adding(proxy: StoreProxy) -> None:
            count = 0
            deadline = time.monotonic() + MIN_BUSY_S
            while time.monotonic() < deadline:
                ids = [f"a{count + i:07d}" for i in range(CHUNK)]
                vectors = _vectors(CHUNK, 100 + count)
                proxy.add(a.id, RecordBatch(ids=ids, embeddings=vectors, documents=["doc"] * CHUNK))
                count += CHUNK
            added.append(count)

        started = time.monotonic()
        on_a(keep_adding)  # phase 1: adds for seconds, writes queued behind them
        for n in range(QUEUED):
            on_a(lambda p, n=n: p.upsert(a.id, RecordBatch([f"q{n}"], _vectors(1, 10 + n))))
        reads, writes = _probe_b_while(work[0], server.address, b.id, b_ids, b_vectors, 0)
        for _ in range(3):  # phase 2: queries while A's graph builds, writes queued again
            on_a(lambda p: p.query(a.id, _vectors(1, 3), n_results=3))
        for n in range(QUEUED):
            on_a(lambda p, n=n: p.upsert(a.id, RecordBatch([f"r{n}"], _vectors(1, 20 + n))))
        more_reads, more_writes = _probe_b_while(
            work[-1], server.address, b.id, b_ids, b_vectors, len(writes)
        )
        for thread in work:
            thread.join(300)
        busy_s = time.monotonic() - started
        assert not errors, errors[:3]
        reads += more_reads
        writes += more_writes
        print(f"\nA busy for {busy_s:.1f} s; B reads: {len(reads)}, max "
              f"{max(reads) * 1000:.0f} ms, p99 {np.percentile(reads, 99) * 1000:.0f} ms; "
              f"B writes: {len(writes)}, max {max(writes) * 1000:.0f} ms")  # fmt: skip
        assert busy_s > 3 * READ_BOUND_S, "A's work ended too soon to show anything: enlarge it"
        assert max(reads) < READ_BOUND_S, sorted(reads)[-5:]
        assert max(writes) < WRITE_BOUND_S, sorted(writes)[-5:]

        # Everything A was sent is there, once.
        assert setup.count(a.id) == added[0] + 2 * QUEUED
        hit = setup.query(a.id, _vectors(CHUNK, 100)[7:8], n_results=1)[0]
        assert hit.ids == ["a0000007"]
        setup.close()


def _probe_b_while(
    busy: threading.Thread,
    address: str,
    b_id: str,
    ids: list[str],
    vectors: np.ndarray,
    written: int,
) -> tuple[list[float], list[float]]:
    """Heartbeat, health, count, get, query and a write of B, in turn, until ``busy`` ends
    (at least a few rounds); the latencies of reads and of writes. B holds ``ids`` and
    ``written`` records this probe's earlier rounds added."""
    proxy = StoreProxy(address, timeout=60)
    reads: list[float] = []
    writes: list[float] = []
    rng = np.random.default_rng(3)
    with grpc.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        rounds = 0
        while busy.is_alive() or rounds < 3:
            rounds += 1
            _timed(proxy.heartbeat, reads)
            reply = _timed(lambda: health.Check(health_pb2.HealthCheckRequest(), timeout=10), reads)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING  # type: ignore[attr-defined]
            assert _timed(lambda: proxy.count(b_id), reads) == len(ids) + written + rounds - 1
            row = int(rng.integers(len(ids)))
            one = [ids[row]]
            got = _timed(lambda one=one: proxy.get(b_id, ids=one), reads)
            assert got.ids == one  # type: ignore[attr-defined]
            query = vectors[row : row + 1]
            found = _timed(lambda q=query: proxy.query(b_id, q, n_results=1), reads)
            assert found[0].ids == one  # type: ignore[index]
            write = RecordBatch([f"w{rounds}-{time.monotonic_ns()}"], vectors[:1])
            _timed(lambda w=write: proxy.add(b_id, w), writes)
            time.sleep(0.01)
    proxy.close()
    return reads, writes
