"""``create_server``: one function wiring store -> servicers -> grpc.Server, plus health,
reflection, interceptors (per-RPC log line and metrics, token auth) and TLS. It returns the
server unstarted with its bound port, as the grpc examples do, so tests can bind port 0 and
``main()`` only parses arguments."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from chroma_grpc.server.collections import CollectionServicer
from chroma_grpc.server.interceptors import (
    AuthInterceptor,
    ObservingInterceptor,
    RpcSink,
    log_rpc,
)
from chroma_grpc.server.records import RecordServicer
from chroma_grpc.server.system import ServerSettings, SystemServicer
from chroma_grpc.server.tenants import TenantServicer
from chroma_grpc.store.api import StoreAPI
from chroma_grpc.v1 import (
    collection_service_pb2,
    collection_service_pb2_grpc,
    record_service_pb2,
    record_service_pb2_grpc,
    system_service_pb2,
    system_service_pb2_grpc,
    tenant_service_pb2,
    tenant_service_pb2_grpc,
)

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
SERVICE_NAMES: tuple[str, ...] = (
    system_service_pb2.DESCRIPTOR.services_by_name["SystemService"].full_name,
    collection_service_pb2.DESCRIPTOR.services_by_name["CollectionService"].full_name,
    record_service_pb2.DESCRIPTOR.services_by_name["RecordService"].full_name,
    tenant_service_pb2.DESCRIPTOR.services_by_name["TenantService"].full_name,
)
# Clients commonly ping every 30 s even when idle; accept that instead of answering GOAWAY
# ("too_many_pings"): pings count as "bad" only under 10 s apart, and bad pings are tolerated
# (max_ping_strikes 0), so no ping interval a client picks gets it disconnected. The server
# pings idle clients every 60 s to drop dead connections.
KEEPALIVE_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_ping_strikes", 0),
)


@dataclass(frozen=True)
class ServerTLS:
    """PEM bytes for TLS; ``client_ca`` set means clients must present a certificate it signed."""

    certificate_chain: bytes
    private_key: bytes
    client_ca: bytes | None = None

    @classmethod
    def from_files(
        cls, cert: str | os.PathLike[str], key: str | os.PathLike[str], client_ca: Any = None
    ) -> ServerTLS:
        """Read the PEM files (``client_ca`` None: no client certificates required)."""
        return cls(
            Path(cert).read_bytes(),
            Path(key).read_bytes(),
            Path(client_ca).read_bytes() if client_ca is not None else None,
        )

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(self.private_key, self.certificate_chain)],
            root_certificates=self.client_ca,
            require_client_auth=self.client_ca is not None,
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
    max_receive_message_bytes: int | None = None,
    max_send_message_bytes: int | None = None,
    max_workers: int | None = None,
    maximum_concurrent_rpcs: int | None = None,
    allow_reset: bool | None = None,
    reflection_enabled: bool = True,
    options: Sequence[tuple[str, Any]] = (),
    auth_token: str | None = None,
    tls: ServerTLS | None = None,
    rpc_sinks: Sequence[RpcSink] = (log_rpc,),
) -> tuple[ChromaServer, int]:
    """Build the server over an open ``store``; returns it unstarted with its bound port.

    ``allow_reset`` None follows ``store.allow_reset``; False forbids Reset whatever the store
    allows. ``port`` 0 picks a free port. Health reports SERVING for "" and each service as
    soon as this returns, since the store is already open. ``max_message_bytes`` sets both
    directions unless ``max_receive_message_bytes`` / ``max_send_message_bytes`` override it;
    ``maximum_concurrent_rpcs`` None or 0 means no cap. ``auth_token`` makes every RPC but
    health require it; ``tls`` serves TLS (mTLS when it has a client CA). Each finished RPC
    is reported to ``rpc_sinks`` (by default one log line; add ``ServerMetrics.observe``).
    """
    receive_bytes = max_receive_message_bytes or max_message_bytes
    send_bytes = max_send_message_bytes or max_message_bytes
    workers = max_workers or min(32, (os.cpu_count() or 1) + 4)
    interceptors: list[grpc.ServerInterceptor[Any, Any]] = [ObservingInterceptor(rpc_sinks)]
    if auth_token:
        interceptors.append(AuthInterceptor(auth_token))
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chroma-grpc"),
        interceptors=interceptors,
        options=[
            ("grpc.max_receive_message_length", receive_bytes),
            ("grpc.max_send_message_length", send_bytes),
            *KEEPALIVE_OPTIONS,
            *options,
        ],
        maximum_concurrent_rpcs=maximum_concurrent_rpcs or None,
    )
    settings = ServerSettings(
        max_receive_message_bytes=receive_bytes,
        max_send_message_bytes=send_bytes,
        allow_reset=store.allow_reset if allow_reset is None else allow_reset,
        server_side_embedding=store.embeds_texts,
        max_concurrent_rpcs=maximum_concurrent_rpcs or 0,
    )
    system_service_pb2_grpc.add_SystemServiceServicer_to_server(
        SystemServicer(store, settings), server
    )
    collection_service_pb2_grpc.add_CollectionServiceServicer_to_server(
        CollectionServicer(store), server
    )
    record_service_pb2_grpc.add_RecordServiceServicer_to_server(
        RecordServicer(store, max_send_message_bytes=send_bytes), server
    )
    tenant_service_pb2_grpc.add_TenantServiceServicer_to_server(TenantServicer(store), server)

    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if reflection_enabled:
        reflection.enable_server_reflection(
            (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
    address = f"{_bracket(host)}:{port}"
    if tls is not None:
        bound_port = server.add_secure_port(address, tls.credentials())
    else:
        bound_port = server.add_insecure_port(address)
    for name in ("", *SERVICE_NAMES):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return ChromaServer(server, health_servicer), bound_port


def _bracket(host: str) -> str:
    """IPv6 literals need brackets in a target ("[::1]:50051")."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
