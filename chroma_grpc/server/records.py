"""RecordService: decode, call the store once, encode. Writes commit explicitly; reads page.

Write streams are ``async def``: they are read on the event loop and applied by
:mod:`chroma_grpc.server._write_streams` (bounded, idle-timed), following the commit protocol of
:mod:`chroma_grpc.wire.write_stream`: nothing is applied unless the last message says
``commit: true``. The other methods are plain ``def`` and run on worker threads. Get replies
are pages whose ``next_page_token`` resumes the read (:mod:`chroma_grpc.wire.paging`).
"""

from __future__ import annotations

import bisect
from collections.abc import AsyncIterable, Iterator
from typing import Any, Protocol, Union

import grpc

from chroma_grpc.server._addressing import record_collection_id
from chroma_grpc.server._execution import Scheduler
from chroma_grpc.server._write_streams import WriteStreams
from chroma_grpc.server.errors import (
    async_unary_errors,
    check_alive,
    field_paths,
    stream_errors,
    unary_errors,
)
from chroma_grpc.store.api import StoreAPI
from chroma_grpc.store.errors import InvalidArgumentError, ResourceExhaustedError
from chroma_grpc.store.types import (
    DEFAULT_GET_INCLUDE,
    DEFAULT_QUERY_INCLUDE,
    Records,
    ResultFields,
    Vectors,
    Where,
    WhereDocument,
)
from chroma_grpc.v1 import record_service_pb2 as pb
from chroma_grpc.v1 import record_service_pb2_grpc
from chroma_grpc.wire.filters import from_proto_where, from_proto_where_document
from chroma_grpc.wire.paging import decode_page_token, encode_page_token
from chroma_grpc.wire.records import (
    DEFAULT_PAGE_BYTES,
    from_proto_include,
    iter_get_pages,
    to_proto_peek,
    to_proto_query_response,
)
from chroma_grpc.wire.vectors import from_proto_vectors

DEFAULT_N_RESULTS = 10
DEFAULT_PEEK_LIMIT = 10
DEFAULT_MAX_SEND_BYTES = 64 * 1024 * 1024

READ_FIELDS = {"collection_id": "collection.id", "limit": "limit", "offset": "offset"}


class RecordServicer(record_service_pb2_grpc.RecordServiceServicer):
    """Records over the wire; replies are kept under ``max_send_message_bytes``.

    Get pages are sized to half the send limit (at most 2 MiB); a query reply or page that
    would still exceed it fails with RESOURCE_EXHAUSTED saying how to shrink it, instead of
    grpc's bare "message larger than max".
    """

    def __init__(
        self,
        store: StoreAPI,
        *,
        max_send_message_bytes: int = DEFAULT_MAX_SEND_BYTES,
        writes: WriteStreams | None = None,
    ) -> None:
        self._store = store
        self._writes = writes or WriteStreams(store, Scheduler(1))
        self._max_send = max_send_message_bytes
        self._page_bytes = max(1024, min(DEFAULT_PAGE_BYTES, max_send_message_bytes // 2))

    def _fits(self, message: _Sized, what: str, advice: str) -> None:
        size = message.ByteSize()
        if size > self._max_send:
            raise ResourceExhaustedError(
                f"{what} is {size:,} bytes, over the server's max send message size of "
                f"{self._max_send:,} bytes; {advice}, or start the server with a larger "
                "--max-send-message-bytes"
            )

    # -- writes ------------------------------------------------------------------------------

    @async_unary_errors
    async def AddRecords(
        self, request_iterator: AsyncIterable[pb.AddRecordsRequest], context: Any
    ) -> pb.AddRecordsResponse:
        count = await self._writes.apply("add", request_iterator, context)
        return pb.AddRecordsResponse(record_count=count)

    @async_unary_errors
    async def UpsertRecords(
        self, request_iterator: AsyncIterable[pb.UpsertRecordsRequest], context: Any
    ) -> pb.UpsertRecordsResponse:
        count = await self._writes.apply("upsert", request_iterator, context)
        return pb.UpsertRecordsResponse(record_count=count)

    @async_unary_errors
    async def UpdateRecords(
        self, request_iterator: AsyncIterable[pb.UpdateRecordsRequest], context: Any
    ) -> pb.UpdateRecordsResponse:
        count = await self._writes.apply("update", request_iterator, context)
        return pb.UpdateRecordsResponse(record_count=count)

    @unary_errors
    def DeleteRecords(
        self, request: pb.DeleteRecordsRequest, context: grpc.ServicerContext
    ) -> pb.DeleteRecordsResponse:
        collection_id = record_collection_id(self._store, request.collection)
        check_alive(context, "deleting")
        with field_paths(READ_FIELDS):
            deleted = self._store.delete(
                collection_id,
                ids=list(request.ids) or None,
                where=_where(request),
                where_document=_where_document(request),
            )
        return pb.DeleteRecordsResponse(deleted_count=deleted)

    # -- reads -------------------------------------------------------------------------------

    @stream_errors
    def GetRecords(
        self, request: pb.GetRecordsRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.GetRecordsResponse]:
        collection_id = record_collection_id(self._store, request.collection)
        if request.page_size < 0:
            raise InvalidArgumentError(
                f"page_size: {request.page_size} is negative; send 0 (the server picks) or more",
                field="page_size",
            )
        position = decode_page_token(request)
        check_alive(context, "reading")
        with field_paths(READ_FIELDS):
            if position is None:
                offset = request.offset or None
                delivered, result = 0, self._get(collection_id, request, offset, request.limit)
            else:
                delivered, result = self._resume(collection_id, request, position)
        pages = iter_get_pages(result, page_size=request.page_size, max_bytes=self._page_bytes)
        page: pb.GetRecordsResponse | None = next(pages)
        while page is not None:
            following = next(pages, None)  # one page ahead: the last page gets no token
            self._fits(
                page, "One record", "leave large fields (embeddings, documents) out of include"
            )
            delivered += len(page.records)
            if following is not None:
                page.next_page_token = encode_page_token(
                    request, n=delivered, last=page.records[-1].id
                )
            check_alive(context, "sending the next page")
            yield page
            page = following

    def _get(
        self, collection_id: str, request: pb.GetRecordsRequest, offset: int | None, limit: int
    ) -> Records:
        return self._store.get(
            collection_id,
            ids=list(request.ids) or None,
            where=_where(request),
            where_document=_where_document(request),
            limit=limit or None,
            offset=offset,
            include=_include(request, DEFAULT_GET_INCLUDE),
        )

    def _resume(
        self, collection_id: str, request: pb.GetRecordsRequest, position: dict[str, object]
    ) -> tuple[int, Records]:
        """The records after the last id a page returned, as the collection is now."""
        delivered, last = position.get("n"), position.get("last")
        if not isinstance(delivered, int) or not isinstance(last, str):
            raise InvalidArgumentError(
                "page_token: damaged; start the read again", field="page_token"
            )
        remaining = request.limit - delivered if request.limit else None
        if remaining is not None and remaining <= 0:
            return delivered, Records(ids=[])
        matching = self._store.get(
            collection_id,
            ids=list(request.ids) or None,
            where=_where(request),
            where_document=_where_document(request),
            include=frozenset(),
        ).ids
        start = bisect.bisect_right(matching, last)
        if start == len(matching):
            return delivered, Records(ids=[])
        return delivered, self._get(collection_id, request, start, remaining or 0)

    @stream_errors
    def QueryRecords(
        self, request: pb.QueryRecordsRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.QueryRecordsResponse]:
        collection_id = record_collection_id(self._store, request.collection)
        vectors: Vectors | None = None
        texts: list[str] | None = None
        which = request.WhichOneof("query")
        if which == "query_embeddings":
            vectors = from_proto_vectors(request.query_embeddings, field="query_embeddings")
        elif which == "query_texts":
            texts = list(request.query_texts.texts)
        check_alive(context, "querying")
        with field_paths(READ_FIELDS):
            results = self._store.query(
                collection_id,
                vectors,
                n_results=request.n_results if request.HasField("n_results") else DEFAULT_N_RESULTS,
                where=_where(request),
                where_document=_where_document(request),
                include=_include(request, DEFAULT_QUERY_INCLUDE),
                query_texts=texts,
            )
        for index, result in enumerate(results):
            reply = to_proto_query_response(index, result)
            self._fits(
                reply,
                f"The reply to query {index}",
                "ask for a smaller n_results or leave embeddings out of include",
            )
            check_alive(context, "sending the next query's results")
            yield reply

    @unary_errors
    def CountRecords(
        self, request: pb.CountRecordsRequest, context: grpc.ServicerContext
    ) -> pb.CountRecordsResponse:
        collection_id = record_collection_id(self._store, request.collection)
        return pb.CountRecordsResponse(count=self._store.count(collection_id))

    @unary_errors
    def PeekRecords(
        self, request: pb.PeekRecordsRequest, context: grpc.ServicerContext
    ) -> pb.PeekRecordsResponse:
        collection_id = record_collection_id(self._store, request.collection)
        limit = request.limit if request.HasField("limit") else DEFAULT_PEEK_LIMIT
        reply = to_proto_peek(self._store.peek(collection_id, limit=limit))
        self._fits(reply, "The peek reply", "peek fewer records (or use GetRecords, which pages)")
        return reply


class _Sized(Protocol):
    def ByteSize(self) -> int: ...  # noqa: N802  (protobuf's name)


_Filtered = Union[pb.GetRecordsRequest, pb.QueryRecordsRequest, pb.DeleteRecordsRequest]


def _where(request: _Filtered) -> Where | None:
    """The request's metadata filter; absent or empty means none."""
    if not request.HasField("where"):
        return None
    return from_proto_where(request.where) or None


def _where_document(request: _Filtered) -> WhereDocument | None:
    if not request.HasField("where_document"):
        return None
    return from_proto_where_document(request.where_document) or None


def _include(
    request: pb.GetRecordsRequest | pb.QueryRecordsRequest, default: ResultFields
) -> ResultFields:
    return from_proto_include(request.include) if request.HasField("include") else default
