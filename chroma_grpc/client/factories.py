"""Client factories with chromadb 0.4.24's signatures: they fill in ``Settings`` and pick a store.

``EphemeralClient`` and ``PersistentClient`` run the store in-process (shared per process, see
:mod:`._systems`); ``HttpClient`` talks gRPC to a chroma-grpc server. Note the port: the
signature keeps chromadb's default of 8000 for compatibility, but ``chroma-grpc run`` serves on
50051 by default, so pass ``port=50051`` (or run the server with ``--port 8000``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Union

from chroma_grpc.client import _systems
from chroma_grpc.client._gateways import channel_target, host_list
from chroma_grpc.client.api import ClientAPI
from chroma_grpc.config import Settings
from chroma_grpc.errors import AuthorizationError
from chroma_grpc.store import Store
from chroma_grpc.store.api import StoreAPI
from chroma_grpc.store.types import DEFAULT_DATABASE, DEFAULT_TENANT
from chroma_grpc.store.validation import SERVER_UNREACHABLE_MESSAGE

__all__ = [
    "Client",
    "EphemeralClient",
    "HttpClient",
    "PersistentClient",
    "configure",
    "get_settings",
    "open_store",
]

EMBEDDED_API_IMPL = "chromadb.api.segment.SegmentAPI"
REMOTE_API_IMPL = "chromadb.api.fastapi.FastAPI"
DEFAULT_GRPC_PORT = 50051
LEGACY_CONFIG_ERROR = (
    "You are using a deprecated configuration of Chroma (chroma_db_impl). "
    "Please remove it from your Settings; see https://docs.trychroma.com/migration"
)

_default_settings: Settings | None = None


def configure(**kwargs: Any) -> None:
    """Replace the module-level default ``Settings`` used by :func:`Client`."""
    global _default_settings
    _default_settings = Settings(**kwargs)


def get_settings() -> Settings:
    """The module-level default ``Settings`` (read from the environment on first use)."""
    global _default_settings
    if _default_settings is None:
        _default_settings = Settings()
    return _default_settings


def EphemeralClient(
    settings: Settings | None = None,
    tenant: str = DEFAULT_TENANT,
    database: str = DEFAULT_DATABASE,
) -> ClientAPI:
    """An in-memory client; every one in a process shares the same data.

    Args:
        settings: base settings (``is_persistent`` is forced to False).
        tenant: an existing tenant (``AdminClient.create_tenant``).
        database: an existing database of that tenant (``AdminClient.create_database``).
    """
    settings = (settings or Settings()).copy(update={"is_persistent": False})
    return _client(settings, tenant, database, _embedded_store)


def PersistentClient(
    path: Union[str, os.PathLike[str]] = "./chroma",
    settings: Settings | None = None,
    tenant: str = DEFAULT_TENANT,
    database: str = DEFAULT_DATABASE,
) -> ClientAPI:
    """A client that stores its data in the directory ``path`` (durable at each return).

    Args:
        path: the data directory, created if needed.
        settings: base settings (``persist_directory``/``is_persistent`` are overridden).
        tenant: an existing tenant (``AdminClient.create_tenant``).
        database: an existing database of that tenant (``AdminClient.create_database``).
    """
    settings = (settings or Settings()).copy(
        update={"persist_directory": os.fspath(path), "is_persistent": True}
    )
    return _client(settings, tenant, database, _embedded_store)


def HttpClient(
    host: str | Sequence[str] = "localhost",
    port: int = 8000,
    ssl: bool = False,
    headers: dict[str, str] | None = None,
    settings: Settings | None = None,
    tenant: str = DEFAULT_TENANT,
    database: str = DEFAULT_DATABASE,
) -> ClientAPI:
    """A client of a chroma-grpc server (gRPC, despite chromadb's name for it).

    Args:
        host: the server's host name; or a cluster's gateways, ``"h1:p1,h2:p2"`` or a list
            of ``host[:port]``: calls are balanced over them and retried on another when
            one is unavailable (:mod:`chroma_grpc.client._gateways`).
        port: the server's port (chroma-grpc's default is 50051; 8000 is chromadb's), and
            of any gateway listed without one.
        ssl: use TLS, verified against the system roots or the CA file named by
            ``settings.chroma_server_ssl_verify``; ``chroma_client_tls_cert`` /
            ``chroma_client_tls_key`` add a client certificate (mTLS).
        headers: sent as gRPC metadata on every call (keys are lower-cased), e.g.
            ``{"Authorization": "Bearer <token>"}``; ``chroma_client_auth_credentials`` in
            ``settings`` works as in chromadb (see :mod:`chroma_grpc.client._transport`).
        settings: base settings; a different host/port already set there is an error.
        tenant: an existing tenant (``AdminClient.create_tenant``).
        database: an existing database of that tenant (``AdminClient.create_database``).

    Raises:
        ValueError: conflicting host/port in settings, no server answering, or no such
            tenant or database.
    """
    settings = remote_settings(host_list(host), port, ssl, headers, settings, REMOTE_API_IMPL)
    return _client(settings, tenant, database, _remote_store)


def remote_settings(
    host: str,
    port: int,
    ssl: bool,
    headers: dict[str, str] | None,
    settings: Settings | None,
    api_impl: str,
) -> Settings:
    """``HttpClient``'s arguments folded into its settings, as chromadb does (also for the
    async client).

    Raises:
        ValueError: a different host or port already set in ``settings``.
    """
    host, port, ssl = host_list(host), int(port), bool(ssl)
    settings = (settings or Settings()).copy(update={"chroma_api_impl": api_impl})
    if settings.chroma_server_host and settings.chroma_server_host != host:
        raise ValueError(
            f"Chroma server host provided in settings[{settings.chroma_server_host}] is "
            f"different to the one provided in HttpClient: [{host}]"
        )
    if settings.chroma_server_http_port and settings.chroma_server_http_port != port:
        raise ValueError(
            f"Chroma server http port provided in settings[{settings.chroma_server_http_port}] "
            f"is different to the one provided in HttpClient: [{port}]"
        )
    return settings.copy(
        update={
            "chroma_server_host": host,
            "chroma_server_http_port": port,
            "chroma_server_ssl_enabled": ssl,
            "chroma_server_headers": headers,
        }
    )


def Client(
    settings: Settings | None = None,
    tenant: str = DEFAULT_TENANT,
    database: str = DEFAULT_DATABASE,
) -> ClientAPI:
    """A client chosen by ``settings`` (default: :func:`get_settings`).

    Remote when ``chroma_api_impl`` names a FastAPI/gRPC client or ``chroma_server_host`` is
    set; otherwise persistent when ``is_persistent``, else in-memory.
    """
    settings = settings if settings is not None else get_settings()
    return _client(settings, tenant, database, open_store)


def open_store(settings: Settings) -> StoreAPI:
    """The store ``settings`` name: a chroma-grpc server when ``chroma_api_impl`` names a
    FastAPI/gRPC client or ``chroma_server_host`` is set, else the process's shared embedded
    store (persistent when ``is_persistent``, else in-memory).

    Raises:
        ValueError: a legacy configuration, or no server answering.
    """
    impl = settings.chroma_api_impl.lower()
    if "fastapi" in impl or "grpc" in impl or settings.chroma_server_host:
        return _remote_store(settings)
    return _embedded_store(settings)


def _embedded_store(settings: Settings) -> StoreAPI:
    if settings.is_persistent:
        path = Path(settings.persist_directory).expanduser().resolve()
        identifier = str(path)
        store_path: Path | None = path
    else:
        identifier, store_path = "ephemeral", None

    def open_new() -> StoreAPI:
        return Store(store_path, allow_reset=settings.allow_reset)

    return _systems.shared_store(identifier, settings, open_new)


def _remote_store(settings: Settings) -> StoreAPI:
    from chroma_grpc.client.proxy import StoreProxy  # grpc only for remote clients

    target, options = server_target(settings)
    store = StoreProxy(target, options=options, settings=settings)
    try:
        store.heartbeat()
    except AuthorizationError:
        store.close()
        raise
    except Exception as error:
        store.close()
        raise ValueError(SERVER_UNREACHABLE_MESSAGE) from error
    return store


def server_target(settings: Settings) -> tuple[str, list[tuple[str, Any]]]:
    """The grpc target of the server ``settings`` name (chroma-grpc's port if none is set), and
    the channel options it needs: none for one server; balancing and retries for a cluster's
    gateways (``host="h1:p1,h2:p2"``, :mod:`chroma_grpc.client._gateways`)."""
    host = settings.require("chroma_server_host")
    port = settings.chroma_server_http_port or settings.chroma_server_grpc_port
    return channel_target(host, port or DEFAULT_GRPC_PORT)


def _client(
    settings: Settings, tenant: str, database: str, opener: Callable[[Settings], StoreAPI]
) -> ClientAPI:
    """A client on the store ``opener`` opens, in an existing tenant and database."""
    if settings.chroma_db_impl is not None:
        raise ValueError(LEGACY_CONFIG_ERROR)
    store = opener(settings)
    try:
        return ClientAPI(store, settings, tenant, database)
    except BaseException:
        if not _systems.is_shared(store):
            store.close()
        raise
