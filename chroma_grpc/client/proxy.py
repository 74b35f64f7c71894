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

import dataclasses
import ipaddress
import threading
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import grpc

from chroma_grpc.client._progress import WriteProgress
from chroma_grpc.client._transport import AUTH_METADATA_KEYS, call_metadata, channel_credentials
from chroma_grpc.store.errors import InvalidArgumentError
from chroma_grpc.store.types import (
    DEFAULT_GET_INCLUDE,
    DEFAULT_QUERY_INCLUDE,
    INCLUDE_FIELDS,
    PEEK_INCLUDE,
    CollectionInfo,
    Metadata,
    Neighbours,
    RecordBatch,
    Records,
    ResultFields,
    StoreLimits,
    Vectors,
    Where,
    WhereDocument,
)
from chroma_grpc.store.validation import (
    NAME_OR_ID_MESSAGE,
    check_batch_shape,
    check_collection_id,
    check_collection_name_shape,
    check_lookup_name_shape,
    check_metadata_shape,
    check_query_inputs_shape,
    check_read_shape,
    validate_limit_offset,
    validate_n_results,
)
from chroma_grpc.v1 import (
    collection_service_pb2,
    collection_service_pb2_grpc,
    record_service_pb2,
    record_service_pb2_grpc,
    system_service_pb2,
    system_service_pb2_grpc,
    types_pb2,
)
from chroma_grpc.wire.collections import from_proto_collection, to_proto_ref
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
# Leave headroom under the server's receive limit for the enclosing request's own fields.
_CHUNK_HEADROOM = 64 * 1024
# Under the server's per-stream limit: room for the first message's collection and request
# id, and each message's own tag, length and commit flag.
_STREAM_HEADROOM = 1024
_MESSAGE_OVERHEAD = 16
# Collections asked for per ListCollections page (the server's maximum).
_LIST_PAGE_SIZE = 1000
# A read whose stream breaks (UNAVAILABLE) is resumed from its last page this many times.
_READ_RESUMPTIONS = 3

_WriteRequest = TypeVar(
    "_WriteRequest",
    record_service_pb2.AddRecordsRequest,
    record_service_pb2.UpsertRecordsRequest,
    record_service_pb2.UpdateRecordsRequest,
)


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
        self._system = system_service_pb2_grpc.SystemServiceStub(self._channel)
        self._collections = collection_service_pb2_grpc.CollectionServiceStub(self._channel)
        self._records = record_service_pb2_grpc.RecordServiceStub(self._channel)
        self._timeout = timeout
        self._metadata = tuple(metadata)
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
        """Bytes per write chunk: about 2 MiB, less if the server accepts smaller messages or
        streams."""
        server_max = self.server_info.max_receive_message_bytes or DEFAULT_CHUNK_BYTES
        stream_max = self.stream_bytes or DEFAULT_CHUNK_BYTES
        return max(1024, min(DEFAULT_CHUNK_BYTES, server_max // 2 - _CHUNK_HEADROOM, stream_max))

    @property
    def stream_bytes(self) -> int | None:
        """Bytes one write stream may carry (None: the server sets no limit)."""
        server_max = self.server_info.max_stream_bytes
        return max(1024, server_max - _STREAM_HEADROOM) if server_max else None

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

    # -- collections -------------------------------------------------------------------------

    def create_collection(
        self, name: str, metadata: Metadata | None = None, get_or_create: bool = False
    ) -> tuple[CollectionInfo, bool]:
        check_collection_name_shape(name)
        request = collection_service_pb2.CreateCollectionRequest(
            name=name, get_or_create=bool(get_or_create)
        )
        if metadata is not None:
            request.metadata.CopyFrom(to_proto_metadata(check_metadata_shape(metadata)))
        reply = self._unary(self._collections.CreateCollection, request)
        return from_proto_collection(reply.collection), reply.created

    def get_collection(
        self, name: str | None = None, collection_id: str | None = None
    ) -> CollectionInfo:
        if name is not None and collection_id is not None:
            raise InvalidArgumentError(NAME_OR_ID_MESSAGE)
        check_lookup_name_shape(name if name is not None else collection_id)
        request = collection_service_pb2.GetCollectionRequest(
            collection=to_proto_ref(collection_id=collection_id, name=name)
        )
        return from_proto_collection(
            self._unary(self._collections.GetCollection, request).collection
        )

    def list_collections(
        self, limit: int | None = None, offset: int | None = None
    ) -> list[CollectionInfo]:
        """Chroma's limit/offset over AIP-158 pages: ``offset`` is the first page's skip, and
        pages are fetched until ``limit`` collections (or all of them) are in."""
        sql_limit, skip = validate_limit_offset(limit, offset)  # the limit is not sent
        wanted = None if sql_limit < 0 else sql_limit
        found: list[CollectionInfo] = []
        request = collection_service_pb2.ListCollectionsRequest(skip=skip)
        while wanted is None or len(found) < wanted:
            request.page_size = (
                _LIST_PAGE_SIZE if wanted is None else min(_LIST_PAGE_SIZE, wanted - len(found))
            )
            reply = self._unary(self._collections.ListCollections, request)
            found.extend(from_proto_collection(c) for c in reply.collections)
            if not reply.next_page_token:
                break
            request.page_token = reply.next_page_token
        return found if wanted is None else found[:wanted]

    def count_collections(self) -> int:
        request = collection_service_pb2.CountCollectionsRequest()
        return int(self._unary(self._collections.CountCollections, request).count)

    def modify_collection(
        self, collection_id: str, name: str | None = None, metadata: Metadata | None = None
    ) -> CollectionInfo:
        check_collection_id(collection_id)
        if name is not None:
            check_collection_name_shape(name)
        request = collection_service_pb2.UpdateCollectionRequest(
            collection=to_proto_ref(collection_id=collection_id)
        )
        if metadata is not None:
            request.new_metadata.CopyFrom(to_proto_metadata(check_metadata_shape(metadata)))
        if name is not None:
            request.new_name = name
        reply = self._unary(self._collections.UpdateCollection, request)
        return from_proto_collection(reply.collection)

    def delete_collection(self, name: str) -> None:
        check_lookup_name_shape(name)
        request = collection_service_pb2.DeleteCollectionRequest(collection=to_proto_ref(name=name))
        self._unary(self._collections.DeleteCollection, request)

    # -- writes ------------------------------------------------------------------------------

    def _write(
        self,
        rpc: grpc.StreamUnaryMultiCallable[_WriteRequest, Any],
        request_type: type[_WriteRequest],
        collection_id: str,
        batch: RecordBatch,
    ) -> None:
        """Check the shape here (an error must surface in the caller's thread, not in grpc's
        request-iterator thread), then stream the chunks; the last one commits. A batch over
        the server's per-stream limit goes as several streams, one after the other."""
        check_collection_id(collection_id)
        vectors = check_batch_shape(batch, self.limits)
        batch = dataclasses.replace(batch, embeddings=vectors)
        chunks = iter_batch_chunks(batch, self.chunk_bytes)
        progress = None
        if self._progress:
            verb = request_type.__name__.removesuffix("RecordsRequest").lower()
            progress = WriteProgress(verb, len(batch.ids))
        sent = 0

        def requests(stream: list[types_pb2.RecordBatch]) -> Iterator[_WriteRequest]:
            nonlocal sent
            for index, (chunk, last) in enumerate(_with_last(stream)):
                request = request_type(batch=chunk, commit=last)
                if index == 0:  # the first message names the collection and the write
                    request.collection.CopyFrom(to_proto_ref(collection_id=collection_id))
                    request.request_id = str(uuid.uuid4())
                yield request
                sent += len(chunk.records)  # resumed: grpc has taken the chunk
                if progress is not None:
                    progress.sent(sent)

        try:
            for stream in _streams(chunks, self.stream_bytes):
                with raising_store_errors():
                    rpc(requests(stream), timeout=self._timeout, metadata=self._metadata)
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
        check_collection_id(collection_id)
        lookup = check_read_shape(
            include=frozenset(), ids=ids, where=where, where_document=where_document
        )
        request = record_service_pb2.DeleteRecordsRequest(
            collection=to_proto_ref(collection_id=collection_id), ids=lookup or []
        )
        _set_filters(request, where, where_document)
        reply = self._unary(self._records.DeleteRecords, request)
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
        include: ResultFields = DEFAULT_GET_INCLUDE,
    ) -> Records:
        check_collection_id(collection_id)
        lookup = check_read_shape(
            include=include,
            ids=ids,
            where=where,
            where_document=where_document,
            limit=limit,
            offset=offset,
        )
        request = record_service_pb2.GetRecordsRequest(
            collection=to_proto_ref(collection_id=collection_id),
            ids=lookup or [],
            limit=limit or 0,
            offset=offset or 0,
            include=to_proto_include(include),
        )
        _set_filters(request, where, where_document)
        with raising_store_errors():
            return merge_get_pages(self._get_pages(request), _sent_fields(include))

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
                broken = (
                    isinstance(error, grpc.Call) and error.code() == grpc.StatusCode.UNAVAILABLE
                )
                if not (broken and token and resumptions < _READ_RESUMPTIONS):
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
        check_collection_id(collection_id)
        vectors, texts = check_query_inputs_shape(query_embeddings, query_texts)
        n_results = validate_n_results(n_results, self.limits)  # the wire carries 0 < n < 2**32
        check_read_shape(include=include, where=where, where_document=where_document)
        request = record_service_pb2.QueryRecordsRequest(
            collection=to_proto_ref(collection_id=collection_id),
            n_results=n_results,
            include=to_proto_include(include),
        )
        if texts is not None:
            request.query_texts.texts.extend(texts)
        else:
            assert vectors is not None  # exactly one of the two
            request.query_embeddings.CopyFrom(to_proto_vectors(vectors))
        _set_filters(request, where, where_document)
        wanted = _sent_fields(include)
        with raising_store_errors():
            replies = self._records.QueryRecords(
                request, timeout=self._timeout, metadata=self._metadata
            )
            return [from_proto_query_response(reply, wanted) for reply in replies]

    def count(self, collection_id: str) -> int:
        check_collection_id(collection_id)
        request = record_service_pb2.CountRecordsRequest(
            collection=to_proto_ref(collection_id=collection_id)
        )
        return int(self._unary(self._records.CountRecords, request).count)

    def peek(self, collection_id: str, limit: int = 10) -> Records:
        """The store's peek is ``get(limit=limit)`` with embeddings; paged GetRecords gives
        the same result without PeekRecords' single (possibly > 4 MiB) reply."""
        return self.get(collection_id, limit=limit, include=PEEK_INCLUDE)


_Reply = TypeVar("_Reply")
_T = TypeVar("_T")


def _with_last(items: Iterable[_T]) -> Iterator[tuple[_T, bool]]:
    """Each item with whether it is the last one."""
    iterator = iter(items)
    try:
        current = next(iterator)
    except StopIteration:
        return
    for following in iterator:
        yield current, False
        current = following
    yield current, True


def _streams(
    chunks: Iterable[types_pb2.RecordBatch], max_bytes: int | None
) -> Iterator[list[types_pb2.RecordBatch]]:
    """Consecutive chunks grouped into write streams of at most ``max_bytes`` each (at least
    one chunk per stream; None: all in one)."""
    stream: list[types_pb2.RecordBatch] = []
    size = 0
    for chunk in chunks:
        chunk_size = chunk.ByteSize() + _MESSAGE_OVERHEAD
        if stream and max_bytes is not None and size + chunk_size > max_bytes:
            yield stream
            stream, size = [], 0
        stream.append(chunk)
        size += chunk_size
    if stream:
        yield stream


def _sent_fields(include: ResultFields) -> ResultFields:
    """The fields a reply carries: "data" is the client API's (loaded from uris), not sent."""
    return frozenset(f for f in include if f in INCLUDE_FIELDS)


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


def _set_filters(request: Any, where: Where | None, where_document: WhereDocument | None) -> None:
    """Encode filters (their shape is checked) onto ``request``; empty means none."""
    if where:
        request.where.CopyFrom(to_proto_where(where))
    if where_document:
        request.where_document.CopyFrom(to_proto_where_document(where_document))
