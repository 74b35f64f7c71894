"""Limits, deadlines, the concurrency cap and keepalive on a real ``chroma-grpc run`` process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

import chroma_grpc
from chroma_grpc.client.proxy import StoreProxy
from chroma_grpc.errors import (
    BatchSizeExceededError,
    InvalidArgumentError,
    ResourceExhaustedError,
)
from chroma_grpc.server.app import KEEPALIVE_OPTIONS
from chroma_grpc.store.types import RecordBatch
from chroma_grpc.v1 import record_service_pb2, record_service_pb2_grpc, types_pb2
from chroma_grpc.wire.errors import DeadlineExceededError, raising_store_errors
from chroma_grpc.wire.records import iter_batch_chunks
from chroma_grpc.wire.vectors import to_proto_vectors
from tests.helpers.servers import ServerProcess, start_server_process
from tests.ops.test_observability import scrape

MiB = 1024 * 1024
SMALL_LIMITS = (
    "--max-batch-size", "10", "--max-dimension", "8", "--max-n-results", "5",
    "--max-receive-message-bytes", str(MiB), "--max-send-message-bytes", str(2 * MiB),
    "--max-concurrent-rpcs", "7",
)  # fmt: skip


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    path = tmp_path_factory.mktemp("small-limits")
    with start_server_process(path, "--no-server-embedding", *SMALL_LIMITS) as server:
        yield server


def records_stub(channel: grpc.Channel) -> record_service_pb2_grpc.RecordServiceStub:
    return record_service_pb2_grpc.RecordServiceStub(channel)


def ref(collection_id: str) -> types_pb2.CollectionRef:
    return types_pb2.CollectionRef(id=collection_id)


def raw_add(address: str, collection_id: str, ids: list[str], vectors: np.ndarray) -> None:
    """AddRecords without the client's own checks, so the server's are what answers."""
    batch = types_pb2.RecordBatch(records=[types_pb2.Record(id=i) for i in ids])
    batch.embeddings.CopyFrom(to_proto_vectors(vectors.astype(np.float32)))
    request = record_service_pb2.AddRecordsRequest(
        collection=ref(collection_id), batch=batch, commit=True
    )
    with grpc.insecure_channel(address) as channel, raising_store_errors():
        records_stub(channel).AddRecords(iter([request]), timeout=30)


def test_limits_are_flags_advertised_by_server_info(small: ServerProcess) -> None:
    store = StoreProxy(small.address)
    info = store.server_info
    assert (info.max_batch_size, info.max_dimension, info.max_n_results) == (10, 8, 5)
    assert (info.max_receive_message_bytes, info.max_send_message_bytes) == (MiB, 2 * MiB)
    assert info.max_concurrent_rpcs == 7
    assert store.chunk_bytes < MiB // 2
    store.close()


def test_each_record_limit_says_what_it_is_and_how_to_stay_under(small: ServerProcess) -> None:
    store = StoreProxy(small.address)
    info, _ = store.create_collection("limits")
    ids = [str(i) for i in range(11)]
    advice = "batches of at most 10"
    with pytest.raises(BatchSizeExceededError, match=advice):  # client side, from server info
        store.add(info.id, RecordBatch(ids=ids, embeddings=np.ones((11, 3), np.float32)))
    with pytest.raises(BatchSizeExceededError, match=advice):  # the server's own check
        raw_add(small.address, info.id, ids, np.ones((11, 3)))
    with pytest.raises(InvalidArgumentError, match="--max-dimension"):
        raw_add(small.address, info.id, ["a"], np.ones((1, 9)))
    with pytest.raises(ResourceExhaustedError, match="ask for at most 5"):
        store.query(info.id, np.ones((1, 3), np.float32), n_results=6)
    request = record_service_pb2.QueryRecordsRequest(collection=ref(info.id), n_results=6)
    request.query_embeddings.CopyFrom(to_proto_vectors(np.ones((1, 3), np.float32)))
    with (
        grpc.insecure_channel(small.address) as channel,
        pytest.raises(ResourceExhaustedError, match="ask for at most 5"),
        raising_store_errors(),
    ):
        list(records_stub(channel).QueryRecords(request, timeout=30))
    store.close()


def test_a_10_mb_add_fits_through_a_1_mib_receive_limit(tmp_path: Any) -> None:
    args = ("--no-server-embedding", "--max-receive-message-bytes", str(MiB))
    with start_server_process(tmp_path / "data", *args) as server:
        store = StoreProxy(server.address)
        info, _ = store.create_collection("big")
        rows, dimension = 2600, 1024  # 10.6 MB of float32
        vectors = np.random.default_rng(0).random((rows, dimension), dtype=np.float32)
        batch = RecordBatch(ids=[f"r{i}" for i in range(rows)], embeddings=vectors)
        store.add(info.id, batch)
        assert store.count(info.id) == rows
        got = store.get(info.id, ids=["r7"], include=frozenset({"embeddings"}))
        np.testing.assert_array_equal(np.asarray(got.embeddings)[0], vectors[7])

        one_big_chunk = next(iter_batch_chunks(batch, 4 * MiB))  # what a naive client sends
        request = record_service_pb2.AddRecordsRequest(
            collection=ref(info.id), batch=one_big_chunk, commit=True
        )
        with (
            grpc.insecure_channel(server.address) as channel,
            pytest.raises(ResourceExhaustedError, match="--max-receive-message-bytes") as caught,
            raising_store_errors(),
        ):
            records_stub(channel).AddRecords(iter([request]), timeout=30)
        assert str(MiB) in str(caught.value)  # the limit, and the request's real size:
        assert str(request.ByteSize()) in str(caught.value)
        store.close()
    # The log records what the client saw, with the bytes that arrived.
    (line,) = [line for line in server.output if "AddRecords code=RESOURCE_EXHAUSTED" in line]
    assert f"request_bytes={request.ByteSize()}" in line


def test_replies_over_the_send_limit_say_how_to_shrink_them(tmp_path: Any) -> None:
    args = ("--no-server-embedding", "--max-send-message-bytes", str(256 * 1024))
    with start_server_process(tmp_path / "data", *args) as server:
        store = StoreProxy(server.address)
        info, _ = store.create_collection("wide")
        rows, dimension = 1000, 512  # 2 MB of vectors: pages must stay under 256 KiB
        vectors = np.random.default_rng(1).random((rows, dimension), dtype=np.float32)
        store.add(info.id, RecordBatch(ids=[f"r{i}" for i in range(rows)], embeddings=vectors))
        everything = store.get(info.id, include=frozenset({"embeddings"}))
        assert len(everything.ids) == rows
        with pytest.raises(ResourceExhaustedError, match="--max-send-message-bytes") as caught:
            store.query(info.id, vectors[:1], n_results=200, include=frozenset({"embeddings"}))
        assert "n_results" in str(caught.value) and "262,144" in str(caught.value)
        assert len(store.query(info.id, vectors[:1], n_results=200)[0].ids) == 200
        store.close()


def test_what_a_client_can_write_it_can_read(tmp_path: Any) -> None:
    """A 5 MiB document (over grpc's default 4 MiB receive limit) comes back through get,
    query and peek; when a reply cannot fit the server's send limit, the advice works."""
    document = "x" * (5 * MiB)
    with start_server_process(tmp_path / "data", "--no-server-embedding") as server:
        api = chroma_grpc.HttpClient(host=server.host, port=server.port)
        collection = api.create_collection("big-docs", embedding_function=None)
        collection.add(ids=["big", "small"], embeddings=[[1.0, 0.0], [0.0, 1.0]],
                       documents=[document, "s"])  # fmt: skip
        assert collection.get(ids=["big"])["documents"] == [document]
        found = collection.query(query_embeddings=[[1.0, 0.0]], n_results=2)
        assert found["documents"] == [[document, "s"]]
        assert collection.peek()["documents"] == [document, "s"]
    args = ("--no-server-embedding", "--max-send-message-bytes", str(4 * MiB))
    with start_server_process(tmp_path / "data", *args) as small_replies:
        api = chroma_grpc.HttpClient(host=small_replies.host, port=small_replies.port)
        collection = api.get_collection("big-docs", embedding_function=None)
        with pytest.raises(ResourceExhaustedError, match="--max-send-message-bytes"):
            collection.get(ids=["big"])
        assert collection.get(ids=["small"])["documents"] == ["s"]


def test_the_concurrency_cap_answers_resource_exhausted(tmp_path: Any) -> None:
    args = ("--no-server-embedding", "--max-concurrent-rpcs", "2", "--metrics-port", "0")
    with start_server_process(tmp_path / "data", *args) as server:
        store = StoreProxy(server.address)
        info, _ = store.create_collection("busy")
        release = threading.Event()
        request = record_service_pb2.AddRecordsRequest(
            collection=ref(info.id),
            batch=types_pb2.RecordBatch(records=[types_pb2.Record(id="x")]),
        )

        def held_open() -> Iterator[record_service_pb2.AddRecordsRequest]:
            yield request
            release.wait(30)  # the RPC stays in progress until released

        with grpc.insecure_channel(server.address) as channel:
            stub = records_stub(channel)
            calls = [stub.AddRecords.future(held_open(), timeout=30) for _ in range(2)]
            time.sleep(1.0)  # let both reach the server
            try:
                with pytest.raises(ResourceExhaustedError, match="--max-concurrent-rpcs"):
                    store.count(info.id)
            finally:
                release.set()
            for call in calls:
                with pytest.raises(grpc.RpcError) as ended:  # never committed: nothing written
                    call.result()
                assert ended.value.code() == grpc.StatusCode.ABORTED  # type: ignore[attr-defined]
        assert store.count(info.id) == 0  # and the server serves again
        store.close()
        counted = scrape(server)
    labels = (("grpc_code", "RESOURCE_EXHAUSTED"), ("grpc_method", "CountRecords"),
              ("grpc_service", "chroma_grpc.v1.RecordService"))  # fmt: skip
    assert counted[("chroma_grpc_server_handled_total", labels)] == 1
    refused = [line for line in server.output if "code=RESOURCE_EXHAUSTED" in line]
    assert any("CountRecords" in line for line in refused), "refusals are logged"
    assert any("--max-concurrent-rpcs" in line for line in server.output)


def test_the_server_stops_work_once_the_deadline_has_passed(tmp_path: Any) -> None:
    with start_server_process(tmp_path / "data", "--no-server-embedding") as server:
        store = StoreProxy(server.address)
        info, _ = store.create_collection("late")
        vectors = np.ones((2, 3), np.float32)

        def slow_stream() -> Iterator[record_service_pb2.AddRecordsRequest]:
            for index, record_id in enumerate(["a", "b"]):
                batch = types_pb2.RecordBatch(records=[types_pb2.Record(id=record_id)])
                batch.embeddings.CopyFrom(to_proto_vectors(vectors[index : index + 1]))
                request = record_service_pb2.AddRecordsRequest(batch=batch, commit=index == 1)
                if index == 0:
                    request.collection.CopyFrom(ref(info.id))
                yield request
                time.sleep(1.5)  # the 0.5 s deadline passes mid-stream

        with (
            grpc.insecure_channel(server.address) as channel,
            pytest.raises(DeadlineExceededError),
            raising_store_errors(),
        ):
            records_stub(channel).AddRecords(slow_stream(), timeout=0.5)
        time.sleep(2.0)  # whatever the server would still do, it has done by now
        assert store.count(info.id) == 0
        store.close()
    output = "".join(server.output)
    assert "RecordService/AddRecords code=DEADLINE_EXCEEDED" in output
    assert "Unexpected error" not in output and "Traceback" not in output


def _idle_pings_keep_the_connection(address: str) -> bool:
    """Ping every second while idle for 4 s; True if the channel never left READY (a
    ``too_many_pings`` GOAWAY drops it to IDLE). The ping-ack timeout is generous: on a loaded
    machine a late ack would drop the channel too, and that is not what this probes."""
    options = [
        ("grpc.keepalive_time_ms", 1000),
        ("grpc.keepalive_timeout_ms", 20_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
    ]
    states: list[grpc.ChannelConnectivity] = []
    with grpc.insecure_channel(address, options=options) as channel:
        channel.subscribe(states.append, try_to_connect=True)
        check: Callable[..., Any] = health_pb2_grpc.HealthStub(channel).Check
        check(health_pb2.HealthCheckRequest(), timeout=10)
        seen = len(states)
        time.sleep(4)
        changed = states[seen:]
        check(health_pb2.HealthCheckRequest(), timeout=10)
    return not changed


def test_client_keepalive_pings_do_not_get_the_connection_dropped(tmp_path: Any) -> None:
    """30 s is what clients commonly use; 1 s pings are 30x harsher and fit in a CI run."""
    with start_server_process(tmp_path / "data", "--no-server-embedding") as server:
        assert _idle_pings_keep_the_connection(server.address)
    assert dict(KEEPALIVE_OPTIONS)["grpc.http2.min_recv_ping_interval_without_data_ms"] <= 30_000


def test_the_keepalive_probe_detects_a_default_grpc_server() -> None:
    """Control: grpcio's defaults (5 min min interval, 2 strikes) do send too_many_pings."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        assert not _idle_pings_keep_the_connection(f"127.0.0.1:{port}")
    finally:
        server.stop(None)
