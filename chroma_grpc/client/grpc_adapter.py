"""GrpcStore: the StoreAPI over chroma-grpc's RPCs, raising the in-process Store's exceptions.

Writes stream as byte-sized chunks sized from the server's advertised receive limit (at most
2 MiB, and under half of a smaller limit), reads gather the server's pages, and every
``grpc.RpcError`` is re-raised as the ChromaError class the server sent
(:mod:`chroma_grpc.wire.errors`). Arguments the wire cannot carry (ragged vectors, non-str
keys, ...) are checked here with the store's own validators, so the message matches what the
embedded store says.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import threading
import uuid
import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import grpc

from chroma_grpc.client._progress import WriteProgress
from chroma_grpc.client._transport import AUTH_METADATA_KEYS, call_metadata, channel_credentials
from chroma_grpc.store.errors import InvalidCollectionException
from chroma_grpc.store.filters import validate_where, validate_where_document
from chroma_grpc.store.types import (
    DEFAULT_GET_INCLUDE,
    DEFAULT_QUERY_INCLUDE,
    PEEK_INCLUDE,
    CollectionInfo,
    GetResult,
    Include,
    Metadata,
    QueryResult,
    RecordBatch,
    StoreLimits,
    Vectors,
    Where,
    WhereDocument,
)
from chroma_grpc.store.validation import (
    validate_batch,
    validate_embeddings,
    validate_include,
    validate_limit_offset,
    validate_lookup_ids,
    validate_n_results,
)
from chroma_grpc.v1 import (
    collection_service_pb2,
    collection_service_pb2_grpc,
    record_service_pb2,
    record_service_pb2_grpc,
    system_service_pb2,
    system_service_pb2_grpc,
)
from chroma_grpc.wire.collections import from_proto_collection
from chroma_grpc.wire.errors import raising_store_errors
from chroma_grpc.wire.filters import to_proto_where, to_proto_where_document
from chroma_grpc.wire.metadata import to_proto_metadata
from chroma_grpc.wire.records import (
    DEFAULT_CHUNK_BYTES,
    from_proto_query_response,
    iter_batch_chunks,
    merge_get_pages,
    to_proto_include,
)
from chroma_grpc.wire.vectors import to_proto_vectors

if TYPE_CHECKING:
    from chroma_grpc.config import Settings

# Keep idle connections alive through NATs/proxies; the server permits pings every 10 s.
# Sends are capped by the server's advertised receive limit (chunks are sized from it). The
# receive limit stays at grpcio's 4 MiB default on purpose: the server pages replies well under
# it, so large reads work with the default that every other gRPC client also has.
DEFAULT_CHANNEL_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.max_send_message_length", -1),
)
# Leave headroom under the server's receive limit for the enclosing request's own fields.
_CHUNK_HEADROOM = 64 * 1024


class GrpcStore:
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
        if settings is not None:
            metadata = (*metadata, *call_metadata(settings))
            credentials = credentials or channel_credentials(settings)
            if progress is None:
                progress = settings.chroma_grpc_progress
        self._progress = bool(progress)
        if isinstance(target, str) and credentials is None:
            _warn_plaintext_token(target, metadata)
        if isinstance(target, grpc.Channel):
            self._channel, self._owns_channel = target, False
        else:
            channel_options = [*DEFAULT_CHANNEL_OPTIONS, *options]
            self._channel = (
                grpc.secure_channel(target, credentials, options=channel_options)
                if credentials is not None
                else grpc.insecure_channel(target, options=channel_options)
            )
            self._owns_channel = True
        self._system = system_service_pb2_grpc.SystemServiceStub(self._channel)  # type: ignore[no-untyped-call]
        self._collections = collection_service_pb2_grpc.CollectionServiceStub(self._channel)  # type: ignore[no-untyped-call]
        self._records = record_service_pb2_grpc.RecordServiceStub(self._channel)  # type: ignore[no-untyped-call]
        self._call: dict[str, Any] = {"timeout": timeout, "metadata": tuple(metadata)}
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
                        system_service_pb2.GetServerInfoRequest(), **self._call
                    )
            return self._info

    @property
    def limits(self) -> StoreLimits:
        info = self.server_info
        return StoreLimits(
            max_batch_size=info.max_batch_size,
            max_dimension=info.max_dimension,
            max_n_results=info.max_n_results,
        )

    @property
    def allow_reset(self) -> bool:
        return self.server_info.allow_reset

    @property
    def embeds_texts(self) -> bool:
        return self.server_info.server_side_embedding

    @property
    def chunk_bytes(self) -> int:
        """Bytes per write chunk: about 2 MiB, less if the server accepts smaller messages."""
        server_max = self.server_info.max_receive_message_bytes or DEFAULT_CHUNK_BYTES
        return max(1024, min(DEFAULT_CHUNK_BYTES, server_max // 2 - _CHUNK_HEADROOM))

    def heartbeat(self) -> int:
        with raising_store_errors():
            reply = self._system.Heartbeat(system_service_pb2.HeartbeatRequest(), **self._call)
        return int(reply.nanosecond_heartbeat)

    def close(self) -> None:
        """Close the channel if this object created it."""
        if self._owns_channel:
            self._channel.close()

    def reset(self) -> None:
        with raising_store_errors():
            self._system.Reset(system_service_pb2.ResetRequest(), **self._call)

    # -- collections -------------------------------------------------------------------------

    def create_collection(
        self, name: str, metadata: Metadata | None = None, get_or_create: bool = False
    ) -> tuple[CollectionInfo, bool]:
        request = collection_service_pb2.CreateCollectionRequest(
            name=name, get_or_create=get_or_create
        )
        if metadata is not None:
            request.metadata.CopyFrom(to_proto_metadata(metadata))
        with raising_store_errors():
            reply = self._collections.CreateCollection(request, **self._call)
        return from_proto_collection(reply.collection), reply.created

    def get_collection(
        self, name: str | None = None, collection_id: str | None = None
    ) -> CollectionInfo:
        request = collection_service_pb2.GetCollectionRequest(
            name=name or "", id=collection_id or ""
        )
        with raising_store_errors():
            reply = self._collections.GetCollection(request, **self._call)
        return from_proto_collection(reply.collection)

    def list_collections(
        self, limit: int | None = None, offset: int | None = None
    ) -> list[CollectionInfo]:
        request = collection_service_pb2.ListCollectionsRequest(offset=offset or 0)
        if limit is not None:
            request.limit = limit
        with raising_store_errors():
            reply = self._collections.ListCollections(request, **self._call)
        return [from_proto_collection(c) for c in reply.collections]

    def count_collections(self) -> int:
        with raising_store_errors():
            reply = self._collections.CountCollections(
                collection_service_pb2.CountCollectionsRequest(), **self._call
            )
        return int(reply.count)

    def modify_collection(
        self, collection_id: str, name: str | None = None, metadata: Metadata | None = None
    ) -> CollectionInfo:
        request = collection_service_pb2.UpdateCollectionRequest(id=collection_id)
        if name is not None:
            request.new_name = name
        if metadata is not None:
            request.new_metadata.CopyFrom(to_proto_metadata(metadata))
        with raising_store_errors():
            reply = self._collections.UpdateCollection(request, **self._call)
        return from_proto_collection(reply.collection)

    def delete_collection(self, name: str) -> None:
        request = collection_service_pb2.DeleteCollectionRequest(name=name)
        with raising_store_errors():
            self._collections.DeleteCollection(request, **self._call)

    # -- writes ------------------------------------------------------------------------------

    def _write(self, rpc: Any, request_type: Any, collection_id: str, batch: RecordBatch) -> None:
        """Validate here (errors must surface in the caller's thread, not grpc's request
        iterator thread), then stream the chunks; the id rides in the first request only."""
        is_update = request_type is record_service_pb2.UpdateRecordsRequest
        _check_collection_id(collection_id)
        server_embeds = self.embeds_texts and batch.documents is not None
        vectors = validate_batch(
            batch,
            self.limits,
            require_embeddings=not (is_update or server_embeds),
            is_update=is_update,
        )
        batch = dataclasses.replace(batch, embeddings=vectors)
        chunk_bytes = self.chunk_bytes
        progress = None
        if self._progress:
            verb = request_type.__name__.removesuffix("RecordsRequest").lower()
            progress = WriteProgress(verb, len(batch.ids))

        def requests() -> Iterator[Any]:
            sent = 0
            for index, chunk in enumerate(iter_batch_chunks(batch, chunk_bytes)):
                yield request_type(collection_id=collection_id if index == 0 else "", batch=chunk)
                sent += len(chunk.records)  # resumed: grpc has taken the chunk
                if progress is not None:
                    progress.sent(sent)

        try:
            with raising_store_errors():
                rpc(requests(), **self._call)
        except BaseException:
            if progress is not None:
                progress.failed()
            raise
        if progress is not None:
            progress.done()

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
        _check_collection_id(collection_id)
        request = record_service_pb2.DeleteRecordsRequest(
            collection_id=collection_id, ids=validate_lookup_ids(ids) or []
        )
        _set_filters(request, where, where_document)
        with raising_store_errors():
            reply = self._records.DeleteRecords(request, **self._call)
        # The wire carries only the count (a list of ids could outgrow a reply message), so
        # this returns one placeholder per deleted record: len() is right, the ids are not.
        return int(reply.deleted_count)

    # -- reads -------------------------------------------------------------------------------

    def get(
        self,
        collection_id: str,
        ids: Sequence[str] | None = None,
        where: Where | None = None,
        where_document: WhereDocument | None = None,
        limit: int | None = None,
        offset: int | None = None,
        include: Include = DEFAULT_GET_INCLUDE,
    ) -> GetResult:
        wanted = _wire_include(validate_include(include, allow_distances=False))
        _check_collection_id(collection_id)
        request = record_service_pb2.GetRecordsRequest(
            collection_id=collection_id,
            ids=validate_lookup_ids(ids) or [],
            limit=_non_negative(limit, "limit"),
            offset=_non_negative(offset, "offset"),
            include=to_proto_include(wanted),
        )
        _set_filters(request, where, where_document)
        with raising_store_errors():
            pages = self._records.GetRecords(request, **self._call)
            return merge_get_pages(pages, wanted, max_dimension=self.limits.max_dimension)

    def query(
        self,
        collection_id: str,
        query_embeddings: Vectors | None,
        n_results: int = 10,
        where: Where | None = None,
        where_document: WhereDocument | None = None,
        include: Include = DEFAULT_QUERY_INCLUDE,
        query_texts: Sequence[str] | None = None,
    ) -> list[QueryResult]:
        wanted = _wire_include(validate_include(include, allow_distances=True))
        # 0 means "default" on the wire, so bad values must be rejected here (store's rules).
        n_results = validate_n_results(n_results, self.limits)
        _check_collection_id(collection_id)
        request = record_service_pb2.QueryRecordsRequest(
            collection_id=collection_id, n_results=n_results, include=to_proto_include(wanted)
        )
        if query_texts is not None and query_embeddings is None:
            request.query_texts.extend(query_texts)
        else:
            vectors = validate_embeddings(query_embeddings, self.limits, field="query_embeddings")
            request.query_embeddings.CopyFrom(to_proto_vectors(vectors))
        _set_filters(request, where, where_document)
        max_dimension = self.limits.max_dimension
        with raising_store_errors():
            replies = self._records.QueryRecords(request, **self._call)
            results = [
                from_proto_query_response(reply, wanted, max_dimension=max_dimension)
                for reply in replies
            ]
        return results

    def count(self, collection_id: str) -> int:
        _check_collection_id(collection_id)
        request = record_service_pb2.CountRecordsRequest(collection_id=collection_id)
        with raising_store_errors():
            reply = self._records.CountRecords(request, **self._call)
        return int(reply.count)

    def peek(self, collection_id: str, limit: int = 10) -> GetResult:
        """The store's peek is ``get(limit=limit)`` with embeddings; paged GetRecords gives
        the same result without PeekRecords' single (possibly > 4 MiB) reply."""
        return self.get(collection_id, limit=limit, include=PEEK_INCLUDE)


def _check_collection_id(collection_id: str) -> None:
    """The server answers INVALID_ARGUMENT for a non-UUID id; the store, which has no such
    collection, raises InvalidCollectionException. Mirror the store."""
    try:
        uuid.UUID(collection_id)
    except (ValueError, TypeError, AttributeError):
        raise InvalidCollectionException(
            f"Collection {collection_id} does not exist.", field="collection_id"
        ) from None


def _warn_plaintext_token(target: str, metadata: Sequence[tuple[str, str]]) -> None:
    """Credentials over plaintext are readable on the network; fine on loopback only."""
    if not any(key in AUTH_METADATA_KEYS for key, _ in metadata):
        return
    host = target.rpartition(":")[0].strip("[]") or target
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        warnings.warn(
            f"Sending credentials to {target} without TLS: anyone on the network can read "
            "them. Enable TLS (HttpClient(ssl=True) / chroma_server_ssl_enabled).",
            stacklevel=3,
        )


def _wire_include(include: frozenset[str]) -> Include:
    """Drop "data": the client layer loads it from uris; the server never sees it."""
    return frozenset(name for name in include if name != "data")  # type: ignore[misc]


def _non_negative(value: int | None, name: str) -> int:
    """The wire's uint value for limit/offset; negative or non-int fails as in the store."""
    validate_limit_offset(value if name == "limit" else None, value if name == "offset" else None)
    return value or 0


def _set_filters(request: Any, where: Where | None, where_document: WhereDocument | None) -> None:
    """Validate filters with the store's rules and encode them onto ``request``."""
    if where:
        validate_where(where)
        request.where.CopyFrom(to_proto_where(dict(where)))
    if where_document:
        validate_where_document(where_document)
        request.where_document.CopyFrom(to_proto_where_document(dict(where_document)))
