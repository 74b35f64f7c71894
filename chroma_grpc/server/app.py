"""``create_server``: one function wiring store -> servicers -> an asyncio gRPC server, plus
health, reflection, interceptors (per-RPC log line and metrics, the concurrency cap, token
auth, request decoding) and TLS.

The server runs on ``grpc.aio`` (docs/server-model.md): open streams cost no thread, and store
calls run on a bounded pool of worker threads entered through per-collection queues
(:mod:`chroma_grpc.server._execution`). :class:`ChromaServer` runs the event loop in a thread
of its own, so callers start and stop it from synchronous code, as they would a
``grpc.Server``. ``create_server`` returns it unstarted with its bound port, as the grpc
examples do, so tests can bind port 0 and ``main()`` only parses arguments.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar, cast

import grpc
from grpc_health.v1 import health, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from chroma_grpc.server._adapter import ServiceRegistry
from chroma_grpc.server._decoding import DecodingInterceptor, transport_receive_limit
from chroma_grpc.server._execution import UNGATED, Scheduler
from chroma_grpc.server._handlers import Interceptor
from chroma_grpc.server._health import ServerHealth
from chroma_grpc.server._tls import ServerTLS, TLSConfigError
from chroma_grpc.server._write_streams import StreamLimits, WriteStreams
from chroma_grpc.server.collections import CollectionServicer
from chroma_grpc.server.interceptors import (
    AUTH_EXEMPT_PREFIXES,
    HEALTH_PREFIX,
    AdmissionInterceptor,
    AuthInterceptor,
    ObservingInterceptor,
    RpcSink,
    checked_token,
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

__all__ = ["ChromaServer", "ServerTLS", "TLSConfigError", "bracket_host", "create_server"]

T = TypeVar("T")
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
DEFAULT_WORKERS = min(32, (os.cpu_count() or 1) + 4)
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


class _EventLoopThread:
    """An asyncio event loop running in a daemon thread of its own."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="chroma-grpc-loop", daemon=True
        )
        self._thread.start()

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class ChromaServer:
    """A chroma-grpc server; ``start`` / ``stop`` / ``wait_for_termination`` work as on a
    ``grpc.Server``, from any thread.

    ``loop`` is the server's event loop. StoreAPI calls run on worker threads, never on it,
    so a StoreAPI implementation that needs asyncio may submit coroutines to it
    (``asyncio.run_coroutine_threadsafe``) and wait for them.
    """

    def __init__(
        self,
        runner: _EventLoopThread,
        server: grpc.aio.Server,
        server_health: ServerHealth,
        scheduler: Scheduler,
    ) -> None:
        self._runner = runner
        self._server = server
        self.health = server_health
        self._scheduler = scheduler
        self._stopping: threading.Event | None = None
        self._stop_lock = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._runner.loop

    def start(self) -> None:
        self._runner.submit(self._server.start()).result()

    def stop(self, grace: float | None = None) -> threading.Event:
        """Flip health to NOT_SERVING, stop accepting RPCs, give running ones ``grace`` s
        (None: none), then let running store calls finish. The event is set when all is done."""
        with self._stop_lock:
            if self._stopping is not None:
                return self._stopping
            stopped = self._stopping = threading.Event()

        async def stopping() -> None:
            await self.health.shutting_down()
            await self._server.stop(grace)

        done = self._runner.submit(stopping())

        def finish() -> None:
            try:
                done.result()
            finally:
                self._scheduler.shutdown()
                self._runner.close()
                stopped.set()

        threading.Thread(target=finish, name="chroma-grpc-stop", daemon=True).start()
        return stopped

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        """Block until :meth:`stop` has finished (True) or ``timeout`` s passed (False)."""
        with self._stop_lock:
            stopping = self._stopping
        if stopping is None:
            stopping = threading.Event()
            self._runner.submit(self._server.wait_for_termination()).add_done_callback(
                lambda _: stopping.set()
            )
        return stopping.wait(timeout)


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
    reflection_requires_auth: bool = False,
    options: Sequence[tuple[str, Any]] = (),
    auth_token: str | None = None,
    tls: ServerTLS | None = None,
    rpc_sinks: Sequence[RpcSink] = (log_rpc,),
    stream_limits: StreamLimits | None = None,
) -> tuple[ChromaServer, int]:
    """Build the server over an open ``store``; returns it unstarted with its bound port.

    ``allow_reset`` None follows ``store.allow_reset``; False forbids Reset whatever the store
    allows. ``port`` 0 picks a free port. Health reports SERVING for "" and each service as
    soon as this returns, since the store is already open. ``max_message_bytes`` sets both
    directions unless ``max_receive_message_bytes`` / ``max_send_message_bytes`` override it;
    ``max_workers`` threads run store calls (default: cores + 4, at most 32);
    ``maximum_concurrent_rpcs`` None or 0 means no cap. ``auth_token`` makes every RPC but
    health (and reflection, unless ``reflection_requires_auth``) require it; ``tls`` serves
    TLS (mTLS when it has a client CA). ``stream_limits`` bound write streams. Each finished
    RPC is reported to ``rpc_sinks`` (by default one log line; add ``ServerMetrics.observe``).

    Raises ValueError for an unusable token or limits, TLSConfigError for TLS files that
    cannot work, RuntimeError when the address cannot be bound.
    """
    receive_bytes = max_receive_message_bytes or max_message_bytes
    send_bytes = max_send_message_bytes or max_message_bytes
    token = checked_token(auth_token) if auth_token is not None else None
    limits = stream_limits or StreamLimits()
    if tls is not None:
        tls.check()
    settings = ServerSettings(
        max_receive_message_bytes=receive_bytes,
        max_send_message_bytes=send_bytes,
        allow_reset=store.allow_reset if allow_reset is None else allow_reset,
        server_side_embedding=store.embeds_texts,
        max_concurrent_rpcs=maximum_concurrent_rpcs or 0,
        streams=limits,
    )
    scheduler = Scheduler(max_workers or DEFAULT_WORKERS)
    server_health = ServerHealth(SERVICE_NAMES)

    async def build() -> tuple[grpc.aio.Server, int]:
        interceptors: list[Interceptor] = [
            ObservingInterceptor((*rpc_sinks, server_health.observe))
        ]
        if maximum_concurrent_rpcs:
            interceptors.append(AdmissionInterceptor(maximum_concurrent_rpcs))
        if token is not None:
            exempt = (HEALTH_PREFIX,) if reflection_requires_auth else AUTH_EXEMPT_PREFIXES
            interceptors.append(AuthInterceptor(token, exempt))
        interceptors.append(
            DecodingInterceptor(receive_bytes, lambda call: scheduler.run(UNGATED, call))
        )
        server = grpc.aio.server(
            interceptors=interceptors,
            options=[
                ("grpc.max_receive_message_length", transport_receive_limit(receive_bytes)),
                ("grpc.max_send_message_length", send_bytes),
                *KEEPALIVE_OPTIONS,
                *options,
            ],
        )
        # It takes registrations as a grpc.Server would (all the generated functions use).
        services = cast(grpc.Server, ServiceRegistry(server, scheduler, store))
        system_service_pb2_grpc.add_SystemServiceServicer_to_server(
            SystemServicer(store, settings), services
        )
        collection_service_pb2_grpc.add_CollectionServiceServicer_to_server(
            CollectionServicer(store), services
        )
        writes = WriteStreams(store, scheduler, limits)
        record_service_pb2_grpc.add_RecordServiceServicer_to_server(
            RecordServicer(store, max_send_message_bytes=send_bytes, writes=writes), services
        )
        tenant_service_pb2_grpc.add_TenantServiceServicer_to_server(TenantServicer(store), services)
        health_pb2_grpc.add_HealthServicer_to_server(server_health.servicer, server)
        if reflection_enabled:
            reflection.enable_server_reflection(
                (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
            )
        address = f"{bracket_host(host)}:{port}"
        try:
            if tls is not None:
                bound = server.add_secure_port(address, tls.credentials())
            else:
                bound = server.add_insecure_port(address)
        except BaseException:
            await server.stop(None)
            raise
        await server_health.serving()
        return server, bound

    runner = _EventLoopThread()
    try:
        server, bound_port = runner.submit(build()).result()
    except BaseException:
        scheduler.shutdown()
        runner.close()
        raise
    return ChromaServer(runner, server, server_health, scheduler), bound_port


def bracket_host(host: str) -> str:
    """IPv6 literals need brackets in a target ("[::1]:50051")."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
