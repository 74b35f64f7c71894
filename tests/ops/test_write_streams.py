"""Write streams are bounded (issue #8, item 2) on a real ``chroma-grpc run`` process: the
collection is checked on the first message, one stream and all streams together hold a bounded
number of bytes, every refusal names its limit and writes nothing, and the Python client
splits a write that one stream cannot carry."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from chroma_grpc.client.proxy import StoreProxy
from chroma_grpc.errors import (
    InvalidCollectionException,
    ResourceExhaustedError,
    WriteNotCommittedError,
)
from chroma_grpc.store.types import RecordBatch
from chroma_grpc.v1 import record_service_pb2, record_service_pb2_grpc, types_pb2
from chroma_grpc.wire.errors import raising_store_errors
from chroma_grpc.wire.vectors import to_proto_vectors
from tests.helpers.servers import ServerProcess, start_server_process

MiB = 1024 * 1024
CHUNK_BYTES = 200_000
MISSING = "00000000-0000-4000-8000-000000000000"
LIMITS = ("--max-stream-bytes", str(MiB), "--max-total-stream-bytes", str(3 * MiB // 2))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    path = tmp_path_factory.mktemp("streams")
    with start_server_process(path, "--no-server-embedding", *LIMITS) as process:
        yield process


def chunk(
    first: int, count: int = 1, *, collection: str | None = None, commit: bool = False
) -> record_service_pb2.AddRecordsRequest:
    """``count`` records of about CHUNK_BYTES / count bytes of document each."""
    document = "d" * (CHUNK_BYTES // count)
    batch = types_pb2.RecordBatch(
        records=[types_pb2.Record(id=f"r{first + k}", document=document) for k in range(count)]
    )
    batch.embeddings.CopyFrom(to_proto_vectors(np.ones((count, 2), np.float32)))
    request = record_service_pb2.AddRecordsRequest(batch=batch, commit=commit)
    if collection is not None:
        request.collection.CopyFrom(types_pb2.CollectionRef(id=collection))
    return request


class Sender:
    """A request stream that counts what grpc took from it and can be held open."""

    def __init__(self, collection: str, chunks: int, *, hold: threading.Event | None = None):
        self.collection, self.chunks, self.hold = collection, chunks, hold
        self.taken = 0

    def __iter__(self) -> Iterator[record_service_pb2.AddRecordsRequest]:
        for index in range(self.chunks):
            last = index == self.chunks - 1
            first = self.collection if index == 0 else None
            yield chunk(index, collection=first, commit=last and self.hold is None)
            self.taken += 1
        if self.hold is not None:
            self.hold.wait(60)


def add(address: str, requests: object, timeout: float = 30) -> None:
    with grpc.insecure_channel(address) as channel, raising_store_errors():
        stub = record_service_pb2_grpc.RecordServiceStub(channel)
        stub.AddRecords(iter(requests), timeout=timeout)  # type: ignore[call-overload]


def test_the_limits_are_advertised(server: ServerProcess) -> None:
    info = StoreProxy(server.address).server_info
    assert (info.max_stream_bytes, info.max_total_stream_bytes) == (MiB, 3 * MiB // 2)
    assert info.stream_idle_timeout_seconds == 60


def test_an_unknown_collection_is_refused_on_the_first_message(server: ServerProcess) -> None:
    never = threading.Event()  # the stream would stay open: only the first message is sent
    sender = Sender(MISSING, 1, hold=never)
    with pytest.raises(InvalidCollectionException, match=f"Collection {MISSING} does not exist"):
        add(server.address, sender, timeout=20)
    never.set()


def test_a_stream_over_its_byte_limit_is_refused_and_writes_nothing(
    server: ServerProcess,
) -> None:
    proxy = StoreProxy(server.address)
    info, _ = proxy.create_collection("one-stream")
    sender = Sender(info.id, 200)  # 40 MB in 200 kB messages, 1 MiB allowed
    with pytest.raises(ResourceExhaustedError, match="--max-stream-bytes") as refused:
        add(server.address, sender)
    assert "1,048,576 bytes per stream" in str(refused.value)
    assert "several writes" in str(refused.value)
    # The server stopped reading at its limit: the client could not hand over the rest (what
    # it did take beyond the first 1 MiB sat in flow-control windows, never in the server).
    assert sender.taken < 100, "the server read on past its limit"
    assert proxy.count(info.id) == 0
    proxy.close()


def test_all_streams_together_are_bounded(server: ServerProcess) -> None:
    proxy = StoreProxy(server.address)
    info, _ = proxy.create_collection("all-streams")
    release = threading.Event()
    holding = Sender(info.id, 4, hold=release)  # 800 kB held, uncommitted
    failed: list[BaseException] = []
    held = threading.Thread(target=_failure, args=(server.address, holding, failed))
    held.start()
    try:
        while holding.taken < 4:
            release.wait(0.05)
        release.wait(0.5)  # let the server read them
        with pytest.raises(ResourceExhaustedError, match="--max-total-stream-bytes") as refused:
            add(server.address, Sender(info.id, 5))  # 1 MB more would pass 1.5 MiB
        assert "Retry shortly" in str(refused.value)
    finally:
        release.set()
        held.join()
    assert [type(e) for e in failed] == [WriteNotCommittedError]  # it never committed
    add(server.address, Sender(info.id, 5))  # the first stream ended: room again
    assert proxy.count(info.id) == 5
    proxy.close()


def _failure(address: str, requests: object, into: list[BaseException]) -> None:
    try:
        add(address, requests)
    except BaseException as error:  # noqa: BLE001 - checked by the caller
        into.append(error)


def test_the_client_splits_a_write_one_stream_cannot_carry(server: ServerProcess) -> None:
    proxy = StoreProxy(server.address)
    info, _ = proxy.create_collection("split")
    rows = 3000  # 3000 x 1 KiB documents + 3000 x 128-d vectors: about 4.6 MB
    vectors = np.random.default_rng(0).random((rows, 128), dtype=np.float32)
    batch = RecordBatch(
        ids=[f"s{i:05d}" for i in range(rows)], embeddings=vectors, documents=["x" * 1024] * rows
    )
    proxy.add(info.id, batch)
    assert proxy.count(info.id) == rows
    got = proxy.get(info.id, ids=["s02999"], include=frozenset({"embeddings", "documents"}))
    np.testing.assert_array_equal(np.asarray(got.embeddings)[0], vectors[-1])
    assert got.documents == ["x" * 1024]
    proxy.close()


def test_a_stream_that_fits_in_memory_limits_is_written_whole(tmp_path: Path) -> None:
    """Control: the same 8 MB stream goes through with the default limits."""
    with start_server_process(tmp_path / "data", "--no-server-embedding") as server:
        proxy = StoreProxy(server.address)
        info, _ = proxy.create_collection("whole")
        add(server.address, Sender(info.id, 40))
        assert proxy.count(info.id) == 40
        proxy.close()
