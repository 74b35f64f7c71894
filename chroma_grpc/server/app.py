"""``create_server``: one function wiring store -> servicers -> grpc.Server, plus health and
reflection. It returns the server unstarted with its bound port, as the grpc examples do, so
tests can bind port 0 and ``main()`` only parses arguments."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent import futures
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from chroma_grpc.server.collections import CollectionServicer
from chroma_grpc.server.records import RecordServicer
from chroma_grpc.server.system import ServerSettings, SystemServicer
from chroma_grpc.store.api import StoreAPI
from chroma_grpc.v1 import (
    collection_service_pb2,
    collection_service_pb2_grpc,
    record_service_pb2,
    record_service_pb2_grpc,
    system_service_pb2,
    system_service_pb2_grpc,
)

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
SERVICE_NAMES: tuple[str, ...] = (
    system_service_pb2.DESCRIPTOR.services_by_name["SystemService"].full_name,
    collection_service_pb2.DESCRIPTOR.services_by_name["CollectionService"].full_name,
    record_service_pb2.DESCRIPTOR.services_by_name["RecordService"].full_name,
)
# Clients commonly ping every 30 s even when idle; accept that instead of answering GOAWAY
# ("too_many_pings"). The server pings idle clients every 60 s to drop dead connections.
KEEPALIVE_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_ping_strikes", 0),
)


class ChromaServer(grpc.Server):
    """A grpc.Server whose ``stop`` first reports NOT_SERVING on the health service.

    Delegates everything else to the real server, so callers use it as any grpc.Server.
    """

    def __init__(self, server: grpc.Server, health_servicer: health.HealthServicer) -> None:
        self._server = server
        self.health = health_servicer

    def add_generic_rpc_handlers(self, generic_rpc_handlers: Any) -> None:
        self._server.add_generic_rpc_handlers(generic_rpc_handlers)

    def add_registered_method_handlers(self, service_name: Any, method_handlers: Any) -> None:
        self._server.add_registered_method_handlers(service_name, method_handlers)  # type: ignore[attr-defined]

    def add_insecure_port(self, address: str) -> int:
        return self._server.add_insecure_port(address)

    def add_secure_port(self, address: str, server_credentials: grpc.ServerCredentials) -> int:
        return self._server.add_secure_port(address, server_credentials)

    def start(self) -> None:
        self._server.start()

    def stop(self, grace: float | None = None) -> threading.Event:
        """Flip health to NOT_SERVING, then stop accepting RPCs and drain for ``grace`` s."""
        self.health.enter_graceful_shutdown()
        return self._server.stop(grace)

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        return self._server.wait_for_termination(timeout)


def create_server(
    store: StoreAPI,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    max_workers: int | None = None,
    maximum_concurrent_rpcs: int | None = None,
    allow_reset: bool | None = None,
    reflection_enabled: bool = True,
    options: Sequence[tuple[str, Any]] = (),
) -> tuple[ChromaServer, int]:
    """Build the server over an open ``store``; returns it unstarted with its bound port.

    ``allow_reset`` None follows ``store.allow_reset``; False forbids Reset whatever the store
    allows. ``port`` 0 picks a free port. Health reports SERVING for "" and each service as
    soon as this returns, since the store is already open.
    """
    workers = max_workers or min(32, (os.cpu_count() or 1) + 4)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chroma-grpc"),
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            *KEEPALIVE_OPTIONS,
            *options,
        ],
        maximum_concurrent_rpcs=maximum_concurrent_rpcs,
    )
    settings = ServerSettings(
        max_receive_message_bytes=max_message_bytes,
        max_send_message_bytes=max_message_bytes,
        allow_reset=store.allow_reset if allow_reset is None else allow_reset,
        server_side_embedding=store.embeds_texts,
    )
    # The generated registration functions are untyped.
    system_service_pb2_grpc.add_SystemServiceServicer_to_server(  # type: ignore[no-untyped-call]
        SystemServicer(store, settings), server
    )
    collection_service_pb2_grpc.add_CollectionServiceServicer_to_server(  # type: ignore[no-untyped-call]
        CollectionServicer(store), server
    )
    record_service_pb2_grpc.add_RecordServiceServicer_to_server(  # type: ignore[no-untyped-call]
        RecordServicer(store), server
    )

    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if reflection_enabled:
        reflection.enable_server_reflection(
            (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
    bound_port = server.add_insecure_port(f"{_bracket(host)}:{port}")
    for name in ("", *SERVICE_NAMES):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return ChromaServer(server, health_servicer), bound_port


def _bracket(host: str) -> str:
    """IPv6 literals need brackets in a target ("[::1]:50051")."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
