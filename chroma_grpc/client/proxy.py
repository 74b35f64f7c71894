"""StoreProxy: the StoreAPI of a chroma-grpc server, called over gRPC.

It stands in for the server's :class:`~chroma_grpc.store.Store` and behaves like one: the same
results, and the same exception class and message for the same mistake. To that end it checks
only what a request message cannot carry (the ``check_*_shape`` rules of
:mod:`chroma_grpc.store.validation`, which the Store runs first too) and lets the server's
store judge the rest; every ``grpc.RpcError`` is re-raised as the class the server named in
its ErrorInfo (:mod:`chroma_grpc.wire.errors`).

Writes stream as byte-sized chunks sized from the server's advertised receive limit (at most
2 MiB, and under half of a smaller limit), the last one committing the write; a write larger
than the server's ``max_stream_bytes`` goes as several streams, each committed (and atomic) on
its own. Reads gather the server's pages and resume from the last page's token if the stream
breaks; a reply is accepted whatever its size, since the server's send limit bounds it.
"""

from __future__ import annotations

import ipaddress
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import grpc

from chroma_grpc.client import _requests as calls
from chroma_grpc.client._progress import WriteProgress
from chroma_grpc.client._transport import AUTH_METADATA_KEYS, proxy_options
from chroma_grpc.store.types import (
    DEFAULT_DATABASE,
    DEFAULT_GET_INCLUDE,
    DEFAULT_QUERY_INCLUDE,
    DEFAULT_TENANT,
    PEEK_INCLUDE,
    CollectionInfo,
    DatabaseInfo,
    Metadata,
    Neighbours,
    RecordBatch,
    Records,
    ResultFields,
    StoreLimits,
    TenantInfo,
    Vectors,
    Where,
    WhereDocument,
)
from chroma_grpc.v1 import (
    collection_service_pb2_grpc,
    record_service_pb2,
    record_service_pb2_grpc,
    system_service_pb2,
    system_service_pb2_grpc,
    tenant_service_pb2_grpc,
)
from chroma_grpc.wire.collections import (
    from_proto_collection,
    from_proto_database,
    from_proto_tenant,
)
from chroma_grpc.wire.errors import raising_store_errors
from chroma_grpc.wire.records import (
    from_proto_query_response,
    merge_get_pages,
)

if TYPE_CHECKING:
    from chroma_grpc.config import Settings

# Keep idle connections alive through NATs/proxies; the server permits pings every 10 s.
# Message sizes follow the server's limits, not grpcio's 4 MiB default: sends are sized from
# its advertised receive limit (chunks), and replies are bounded by its send limit
# (max_send_message_bytes, 64 MiB by default), so the channel accepts any reply: a record the
# client could write (a 5 MiB document) always comes back through get, query and peek.
DEFAULT_CHANNEL_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.max_send_message_length", -1),
    ("grpc.max_receive_message_length", -1),
)
# The synchronous channel's response streams (QueryRecords, GetRecords) read their replies on
# the calling thread. By default grpcio starts a "channel spin" thread for every such call:
# measured at 0.3 ms of client CPU per single query (1.0 -> 0.7 ms), and as much latency.
# (The option's name is grpc.experimental.ChannelOptions.SingleThreadedUnaryStream.)
SYNC_CHANNEL_OPTIONS: tuple[tuple[str, Any], ...] = (("SingleThreadedUnaryStream", 1),)
# A read whose stream breaks (UNAVAILABLE) is resumed from its last page this many times.
READ_RESUMPTIONS = 3


class StoreProxy:
    """StoreAPI over a gRPC channel to a chroma-grpc server.

    Args:
        target: a ``host:port`` string (the channel is created and owned, so ``close()`` closes
            it) or an existing ``grpc.Channel`` (left open by ``close()``).
        options: extra channel options, for a string target.
        credentials: TLS credentials for a string target; None means plaintext.
        timeout: deadline in seconds applied to every call (the gRPC deadline is the only
            timeout; the server stops work once it passes); None means no deadline.
        metadata: call metadata sent with every call (e.g. an authorization header).
        settings: a chromadb-style ``Settings``; headers, client auth and TLS are read as
            :mod:`chroma_grpc.client._transport` describes, and ``chroma_grpc_progress``
            turns on the write progress line.
        progress: print a progress line to stderr per chunk of add/upsert/update; None
            follows ``settings.chroma_grpc_progress`` (False without settings).
    """

    def __init__(
        self,
        target: str | grpc.Channel,
        *,
        options: Sequence[tuple[str, Any]] = (),
        credentials: grpc.ChannelCredentials | None = None,
        timeout: float | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        settings: Settings | None = None,
        progress: bool | None = None,
    ) -> None:
        folded = proxy_options(settings, metadata, credentials, progress)
        self._progress = folded.progress
        if isinstance(target, str) and folded.credentials is None:
            warn_plaintext_token(target, folded.metadata)
        if isinstance(target, grpc.Channel):
            self._channel, self._owns_channel = target, False
        else:
            channel_options = [*DEFAULT_CHANNEL_OPTIONS, *SYNC_CHANNEL_OPTIONS, *options]
            self._channel = (
                grpc.secure_channel(target, folded.credentials, options=channel_options)
                if folded.credentials is not None
                else grpc.insecure_channel(target, options=channel_options)
            )
            self._owns_channel = True
        self._system = system_service_pb2_grpc.SystemServiceStub(self._channel)
        self._collections = collection_service_pb2_grpc.CollectionServiceStub(self._channel)
        self._records = record_service_pb2_grpc.RecordServiceStub(self._channel)
        self._tenants = tenant_service_pb2_grpc.TenantServiceStub(self._channel)
        self._timeout = timeout
        self._metadata = folded.metadata
        self._info: system_service_pb2.GetServerInfoResponse | None = None
        self._info_lock = threading.Lock()

    # -- server info -------------------------------------------------------------------------

    @property
    def server_info(self) -> system_service_pb2.GetServerInfoResponse:
        """The server's advertised version and limits, fetched once on first use."""
        with self._info_lock:
            if self._info is None:
                with raising_store_errors():
                    self._info = self._system.GetServerInfo(
                        system_service_pb2.GetServerInfoRequest(),
                        timeout=self._timeout,
                        metadata=self._metadata,
                    )
            return self._info

    @property
    def limits(self) -> StoreLimits:
        return calls.limits_of(self.server_info)

    @property
    def allow_reset(self) -> bool:
        return self.server_info.allow_reset

    @property
    def embeds_texts(self) -> bool:
        return self.server_info.server_side_embedding

    @property
    def chunk_bytes(self) -> int:
        """Bytes per write chunk: about 2 MiB, less if the server accepts smaller messages or
        streams."""
        return calls.chunk_bytes_for(self.server_info)

    def _unary(self, method: Callable[..., _Reply], request: Any) -> _Reply:
        """One unary call with this proxy's deadline and metadata, errors as store errors."""
        with raising_store_errors():
            return method(request, timeout=self._timeout, metadata=self._metadata)

    def heartbeat(self) -> int:
        reply = self._unary(self._system.Heartbeat, system_service_pb2.HeartbeatRequest())
        return int(reply.nanosecond_heartbeat)

    def close(self) -> None:
        """Close the channel if this object created it."""
        if self._owns_channel:
            self._channel.close()

    def reset(self) -> None:
        self._unary(self._system.Reset, system_service_pb2.ResetRequest())

    # -- tenants and databases ---------------------------------------------------------------

    def create_tenant(self, name: str) -> TenantInfo:
        reply = self._unary(self._tenants.CreateTenant, calls.create_tenant(name))
        return from_proto_tenant(reply.tenant)

    def get_tenant(self, name: str) -> TenantInfo:
        return from_proto_tenant(
            self._unary(self._tenants.GetTenant, calls.get_tenant(name)).tenant
        )

    def create_database(self, name: str, tenant: str = DEFAULT_TENANT) -> DatabaseInfo:
        reply = self._unary(self._tenants.CreateDatabase, calls.create_database(name, tenant))
        return from_proto_database(reply.database)

    def get_database(self, name: str, tenant: str = DEFAULT_TENANT) -> DatabaseInfo:
        reply = self._unary(self._tenants.GetDatabase, calls.get_database(name, tenant))
        return from_proto_database(reply.database)

    # -- collections -------------------------------------------------------------------------

    def create_collection(
        self,
        name: str,
        metadata: Metadata | None = None,
        get_or_create: bool = False,
        tenant: str = DEFAULT_TENANT,
        database: str = DEFAULT_DATABASE,
    ) -> tuple[CollectionInfo, bool]:
        request = calls.create_collection(name, metadata, get_or_create, tenant, database)
        return calls.created(self._unary(self._collections.CreateCollection, request))

    def get_collection(
        self,
        name: str | None = None,
        collection_id: str | None = None,
        tenant: str = DEFAULT_TENANT,
        database: str = DEFAULT_DATABASE,
    ) -> CollectionInfo:
        request, check_scope = calls.get_collection(name, collection_id, tenant, database)
        if check_scope:
            self.count_collections(tenant=tenant, database=database)
        reply = self._unary(self._collections.GetCollection, request)
        return from_proto_collection(reply.collection)

    def list_collections(
        self,
        limit: int | None = None,
        offset: int | None = None,
        tenant: str = DEFAULT_TENANT,
        database: str = DEFAULT_DATABASE,
    ) -> list[CollectionInfo]:
        """Chroma's limit/offset over AIP-158 pages: ``offset`` is the first page's skip, and
        pages are fetched until ``limit`` collections (or all of them) are in."""
        request, wanted = calls.list_collections(limit, offset, tenant, database)
        found: list[CollectionInfo] = []
        while calls.next_list_page(request, wanted, len(found)):
            reply = self._unary(self._collections.ListCollections, request)
            found.extend(from_proto_collection(c) for c in reply.collections)
            if not reply.next_page_token:
                break
            request.page_token = reply.next_page_token
        return found if wanted is None else found[:wanted]

    def count_collections(
        self, tenant: str = DEFAULT_TENANT, database: str = DEFAULT_DATABASE
    ) -> int:
        request = calls.count_collections(tenant, database)
        return int(self._unary(self._collections.CountCollections, request).count)

    def modify_collection(
        self, collection_id: str, name: str | None = None, metadata: Metadata | None = None
    ) -> CollectionInfo:
        request = calls.modify_collection(collection_id, name, metadata)
        reply = self._unary(self._collections.UpdateCollection, request)
        return from_proto_collection(reply.collection)

    def delete_collection(
        self, name: str, tenant: str = DEFAULT_TENANT, database: str = DEFAULT_DATABASE
    ) -> None:
        request = calls.delete_collection(name, tenant, database)
        self._unary(self._collections.DeleteCollection, request)

    # -- writes ------------------------------------------------------------------------------

    def _write(
        self,
        rpc: grpc.StreamUnaryMultiCallable[calls.WriteRequest, Any],
        request_type: type[calls.WriteRequest],
        collection_id: str,
        batch: RecordBatch,
    ) -> None:
        """Stream the chunks (the shape is checked before the first); the last one of each
        stream commits it (a batch over the server's per-stream limit goes as several)."""
        progress = write_progress(request_type, batch) if self._progress else None
        streams = calls.write_streams(
            request_type,
            collection_id,
            batch,
            self.limits,
            self.server_info,
            None if progress is None else progress.sent,
        )
        with reporting(progress):
            for requests in streams:
                with raising_store_errors():
                    rpc(requests, timeout=self._timeout, metadata=self._metadata)

    def add(self, collection_id: str, batch: RecordBatch) -> None:
        self._write(
            self._records.AddRecords, record_service_pb2.AddRecordsRequest, collection_id, batch
        )

    def upsert(self, collection_id: str, batch: RecordBatch) -> None:
        self._write(
            self._records.UpsertRecords,
            record_service_pb2.UpsertRecordsRequest,
            collection_id,
            batch,
        )

    def update(self, collection_id: str, batch: RecordBatch) -> None:
        self._write(
            self._records.UpdateRecords,
            record_service_pb2.UpdateRecordsRequest,
            collection_id,
            batch,
        )

    def delete(
        self,
        collection_id: str,
        ids: Sequence[str] | None = None,
        where: Where | None = None,
        where_document: WhereDocument | None = None,
    ) -> int:
        request = calls.delete(collection_id, ids, where, where_document)
        return int(self._unary(self._records.DeleteRecords, request).deleted_count)

    # -- reads -------------------------------------------------------------------------------

    def get(
        self,
        collection_id: str,
        ids: Sequence[str] | None = None,
        where: Where | None = None,
        where_document: WhereDocument | None = None,
        limit: int | None = None,
        offset: int | None = None,
        include: ResultFields = DEFAULT_GET_INCLUDE,
    ) -> Records:
        request, fields = calls.get(
            collection_id, ids, where, where_document, limit, offset, include
        )
        with raising_store_errors():
            return merge_get_pages(self._get_pages(request), fields)

    def _get_pages(
        self, request: record_service_pb2.GetRecordsRequest
    ) -> Iterator[record_service_pb2.GetRecordsResponse]:
        """The pages of a read; a stream that breaks (UNAVAILABLE) after some pages is resumed
        from the last page's token, a few times at most."""
        resumptions = 0
        while True:
            token = ""
            try:
                for page in self._records.GetRecords(
                    request, timeout=self._timeout, metadata=self._metadata
                ):
                    yield page
                    token = page.next_page_token
                return
            except grpc.RpcError as error:
                if not resumable(error, token, resumptions):
                    raise
                resumptions += 1
                request.page_token = token

    def query(
        self,
        collection_id: str,
        query_embeddings: Vectors | None,
        n_results: int = 10,
        where: Where | None = None,
        where_document: WhereDocument | None = None,
        include: ResultFields = DEFAULT_QUERY_INCLUDE,
        query_texts: Sequence[str] | None = None,
    ) -> list[Neighbours]:
        request, fields = calls.query(
            collection_id,
            query_embeddings,
            n_results,
            where,
            where_document,
            include,
            query_texts,
            self.limits,
        )
        with raising_store_errors():
            replies = self._records.QueryRecords(
                request, timeout=self._timeout, metadata=self._metadata
            )
            return [from_proto_query_response(reply, fields) for reply in replies]

    def count(self, collection_id: str) -> int:
        return int(self._unary(self._records.CountRecords, calls.count(collection_id)).count)

    def peek(self, collection_id: str, limit: int = 10) -> Records:
        """The store's peek is ``get(limit=limit)`` with embeddings; paged GetRecords gives
        the same result without PeekRecords' single (possibly > 4 MiB) reply."""
        return self.get(collection_id, limit=limit, include=PEEK_INCLUDE)


_Reply = TypeVar("_Reply")


def write_progress(request_type: type[Any], batch: RecordBatch) -> WriteProgress:
    verb = request_type.__name__.removesuffix("RecordsRequest").lower()
    return WriteProgress(verb, len(batch.ids))


@contextmanager
def reporting(progress: WriteProgress | None) -> Iterator[None]:
    """A write's last progress line (if it has one): committed, or failed when the block raises."""
    if progress is None:
        yield
        return
    try:
        yield
    except BaseException:
        progress.failed()
        raise
    progress.done()


def resumable(error: grpc.RpcError, token: str, resumptions: int) -> bool:
    """Whether a read that broke after a page (``token``) should be resumed from it."""
    code = error.code() if isinstance(error, (grpc.Call, grpc.aio.AioRpcError)) else None
    broken = code == grpc.StatusCode.UNAVAILABLE
    return broken and bool(token) and resumptions < READ_RESUMPTIONS


def target_hosts(target: str) -> list[str]:
    """The hosts a grpc target names: ``host:port``, ``[v6]:port``, or a multi-address target
    of several gateways (``ipv4:a:p,b:p`` / ``ipv6:[a]:p,[b]:p``)."""
    for scheme in ("ipv4:", "ipv6:", "dns:///", "dns:"):
        if target.startswith(scheme):
            target = target[len(scheme) :]
            break
    return [entry.rpartition(":")[0].strip("[]") or entry for entry in target.split(",")]


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def warn_plaintext_token(target: str, metadata: Sequence[tuple[str, str]]) -> None:
    """Credentials over plaintext are readable on the network; fine on loopback only."""
    if not any(key in AUTH_METADATA_KEYS for key, _ in metadata):
        return
    if not all(_is_loopback(host) for host in target_hosts(target)):
        warnings.warn(
            f"Sending credentials to {target} without TLS: anyone on the network can read "
            "them. Enable TLS (HttpClient(ssl=True) / chroma_server_ssl_enabled).",
            stacklevel=3,
        )
