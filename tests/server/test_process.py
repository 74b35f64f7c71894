"""The ``chroma-grpc run`` process: health, reflection, restart on the same folder, SIGTERM."""

from __future__ import annotations

import ctypes
import os
import platform
import signal
import sys
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from chroma_grpc.client.proxy import StoreProxy
from chroma_grpc.server.app import SERVICE_NAMES
from chroma_grpc.store.types import RecordBatch
from tests.helpers.servers import serve_in_process, start_server_process

SYS_TGKILL = 234  # x86-64 Linux


def health_status(address: str, service: str = "") -> int:
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        return int(reply.status)


def listed_services(address: str) -> set[str]:
    with grpc.insecure_channel(address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        (reply,) = list(stub.ServerReflectionInfo(iter([request]), timeout=10))
        return {s.name for s in reply.list_services_response.service}


def test_in_process_server_is_healthy_and_reflectable() -> None:
    from chroma_grpc.store import Store

    store = Store(None)
    with serve_in_process(store) as address:
        for service in ("", *SERVICE_NAMES):
            assert health_status(address, service) == health_pb2.HealthCheckResponse.SERVING
        assert {*SERVICE_NAMES, "grpc.health.v1.Health"} <= listed_services(address)
    store.close()


def test_cli_serves_restarts_on_the_same_data_and_exits_cleanly_on_sigterm(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    vectors = np.arange(12, dtype=np.float32).reshape(4, 3)
    server = start_server_process(data)
    try:
        assert health_status(server.address) == health_pb2.HealthCheckResponse.SERVING
        services = listed_services(server.address)
        assert set(SERVICE_NAMES) <= services
        assert "grpc.reflection.v1alpha.ServerReflection" in services
        remote = StoreProxy(server.address)
        assert remote.allow_reset is False
        info, _ = remote.create_collection("kept", {"k": 1})
        remote.add(info.id, RecordBatch(ids=list("abcd"), embeddings=vectors))
        remote.close()
    finally:
        code = server.stop(signal.SIGTERM)
    assert code == 0, "".join(server.output)

    with start_server_process(data, "--allow-reset") as again:
        remote = StoreProxy(again.address)
        assert remote.allow_reset is True
        restored = remote.get_collection("kept")
        assert restored == info.__class__(**{**vars(info), "dimension": 3})
        result = remote.get(info.id, include=frozenset({"embeddings"}))
        assert result.ids == list("abcd")
        np.testing.assert_array_equal(result.embeddings, vectors)  # type: ignore[arg-type]
        remote.reset()
        assert remote.count_collections() == 0
        remote.close()


def _signal_thread(pid: int, tid: int, sig: int) -> None:
    """tgkill(2): deliver ``sig`` to one thread of another process, as the kernel may
    deliver a process's SIGTERM to whichever of its threads does not block it."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(SYS_TGKILL, pid, tid, sig) != 0:
        raise OSError(ctypes.get_errno(), "tgkill")


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.machine() != "x86_64",
    reason="tgkill's syscall number is x86-64 Linux's",
)
def test_sigterm_delivered_to_a_worker_thread_still_stops_the_server(tmp_path: Path) -> None:
    """The main thread must not sleep through a signal another thread received (it did, now
    and then, under load: the process went on serving after SIGTERM)."""
    server = start_server_process(tmp_path / "data")
    remote = StoreProxy(server.address)
    remote.create_collection("warm")  # the store's worker threads exist now
    remote.close()
    pid = server.process.pid
    grpc_threads = [
        int(tid)
        for tid in os.listdir(f"/proc/{pid}/task")
        if Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip() == "event_engine"
    ]
    assert grpc_threads, "grpc's event engine threads are running"
    _signal_thread(pid, grpc_threads[0], signal.SIGTERM)
    try:
        code = server.process.wait(15)  # no second signal: that one might reach the main thread
    finally:
        server.stop(signal.SIGKILL)
    assert code == 0, "".join(server.output)


def test_sigint_also_shuts_down_cleanly(tmp_path: Path) -> None:
    server = start_server_process(tmp_path / "data")
    assert server.stop(signal.SIGINT) == 0
    assert any("listening on 127.0.0.1:" in line for line in server.output)


def test_allow_reset_from_the_environment(tmp_path: Path) -> None:
    with start_server_process(tmp_path / "data", env={"ALLOW_RESET": "TRUE"}) as server:
        remote = StoreProxy(server.address)
        assert remote.allow_reset is True
        remote.close()


def test_damage_found_while_serving_turns_health_not_serving(tmp_path: Path) -> None:
    """The store answers DATA_LOSS once SQLite finds a damaged page; from then on health says
    NOT_SERVING, so load balancers and orchestrators take the server out and restart it."""
    from chroma_grpc.errors import DataLossError
    from chroma_grpc.store import Store

    data = tmp_path / "data"
    seeded = Store(data)
    info, _ = seeded.create_collection("filled")
    rows = 3000  # about 2 MB: more than the pages a fresh connection has cached
    seeded.add(
        info.id,
        RecordBatch(
            ids=[f"r{i:05d}" for i in range(rows)],
            embeddings=np.ones((rows, 64), np.float32),
            documents=[f"document {i} " * 20 for i in range(rows)],
        ),
    )
    seeded.close()
    with start_server_process(data, "--no-server-embedding") as server:
        assert health_status(server.address) == health_pb2.HealthCheckResponse.SERVING
        database = data / "chroma.sqlite3"
        with open(database, "r+b") as handle:  # the disk goes bad under the running server
            size = database.stat().st_size
            for offset in range(4096 * 4, size - 4096, 4096 * 8):
                handle.seek(offset + 100)
                handle.write(b"\xff" * 64)
        remote = StoreProxy(server.address)
        with pytest.raises(DataLossError, match="is damaged"):
            remote.get(info.id, include=frozenset({"documents"}))
        remote.close()
        for service in ("", *SERVICE_NAMES):
            assert (
                health_status(server.address, service) == health_pb2.HealthCheckResponse.NOT_SERVING
            )
    assert any("health is NOT_SERVING" in line for line in server.output)
