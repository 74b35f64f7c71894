"""RecordService: merge write streams into one atomic store call; page and stream reads."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

import grpc

from chroma_grpc.server.errors import check_alive, require_uuid, stream_errors, unary_errors
from chroma_grpc.store.api import StoreAPI
from chroma_grpc.store.errors import InvalidArgumentError, ResourceExhaustedError
from chroma_grpc.store.types import (
    DEFAULT_GET_INCLUDE,
    DEFAULT_QUERY_INCLUDE,
    Include,
    RecordBatch,
    Where,
    WhereDocument,
)
from chroma_grpc.v1 import record_service_pb2 as pb
from chroma_grpc.v1 import record_service_pb2_grpc, types_pb2
from chroma_grpc.wire.filters import from_proto_where, from_proto_where_document
from chroma_grpc.wire.records import (
    DEFAULT_PAGE_BYTES,
    from_proto_include,
    iter_get_pages,
    merge_batch_chunks,
    to_proto_peek,
    to_proto_query_response,
)
from chroma_grpc.wire.vectors import from_proto_vectors

DEFAULT_N_RESULTS = 10
DEFAULT_PEEK_LIMIT = 10
DEFAULT_MAX_SEND_BYTES = 64 * 1024 * 1024


class _WriteRequest(Protocol):
    """What AddRecordsRequest, UpsertRecordsRequest and UpdateRecordsRequest share."""

    @property
    def collection_id(self) -> str: ...

    @property
    def batch(self) -> types_pb2.RecordBatch: ...


class RecordServicer(record_service_pb2_grpc.RecordServiceServicer):
    """Records over the wire; replies are kept under ``max_send_message_bytes``.

    Get pages are sized to half the send limit (at most 2 MiB); a query reply or page that
    would still exceed it fails with RESOURCE_EXHAUSTED saying how to shrink it, instead of
    grpc's bare "message larger than max".
    """

    def __init__(
        self, store: StoreAPI, *, max_send_message_bytes: int = DEFAULT_MAX_SEND_BYTES
    ) -> None:
        self._store = store
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

    def _merge(
        self,
        requests: Iterable[_WriteRequest],
        context: grpc.ServicerContext,
        *,
        allow_none_values: bool,
    ) -> tuple[str, RecordBatch]:
        """The stream's collection id and all its chunks as one batch, before any write."""
        collection_id = ""

        def chunks() -> Iterator[types_pb2.RecordBatch]:
            nonlocal collection_id
            for request in requests:
                check_alive(context, "merging the next chunk")
                if not collection_id:
                    if not request.collection_id:
                        raise InvalidArgumentError(
                            "collection_id: required in the first message of the stream",
                            field="collection_id",
                        )
                    collection_id = require_uuid(request.collection_id)
                elif request.collection_id not in ("", collection_id):
                    raise InvalidArgumentError(
                        f"collection_id: changed mid-stream from {collection_id} to "
                        f"{request.collection_id}; send one collection per stream",
                        field="collection_id",
                    )
                yield request.batch

        limits = self._store.limits
        batch = merge_batch_chunks(
            chunks(),
            max_dimension=limits.max_dimension,
            max_batch_size=limits.max_batch_size,
            allow_none_values=allow_none_values,
        )
        if not collection_id:
            raise InvalidArgumentError(
                "collection_id: required; the stream was empty", field="collection_id"
            )
        if not batch.ids:
            raise InvalidArgumentError(
                "Expected IDs to be a non-empty list, got []", field="batch.records"
            )
        check_alive(context, "writing")
        return collection_id, batch

    @unary_errors
    def AddRecords(
        self, request_iterator: Iterator[pb.AddRecordsRequest], context: grpc.ServicerContext
    ) -> pb.AddRecordsResponse:
        collection_id, batch = self._merge(request_iterator, context, allow_none_values=False)
        self._store.add(collection_id, batch)
        return pb.AddRecordsResponse(record_count=len(batch))

    @unary_errors
    def UpsertRecords(
        self, request_iterator: Iterator[pb.UpsertRecordsRequest], context: grpc.ServicerContext
    ) -> pb.UpsertRecordsResponse:
        collection_id, batch = self._merge(request_iterator, context, allow_none_values=False)
        self._store.upsert(collection_id, batch)
        return pb.UpsertRecordsResponse(record_count=len(batch))

    @unary_errors
    def UpdateRecords(
        self, request_iterator: Iterator[pb.UpdateRecordsRequest], context: grpc.ServicerContext
    ) -> pb.UpdateRecordsResponse:
        collection_id, batch = self._merge(request_iterator, context, allow_none_values=True)
        self._store.update(collection_id, batch)
        return pb.UpdateRecordsResponse(record_count=len(batch))

    @unary_errors
    def DeleteRecords(
        self, request: pb.DeleteRecordsRequest, context: grpc.ServicerContext
    ) -> pb.DeleteRecordsResponse:
        check_alive(context, "deleting")
        deleted = self._store.delete(
            require_uuid(request.collection_id),
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
        check_alive(context, "reading")
        result = self._store.get(
            require_uuid(request.collection_id),
            ids=list(request.ids) or None,
            where=_where(request),
            where_document=_where_document(request),
            limit=request.limit or None,
            offset=request.offset or None,
            include=_include(request, DEFAULT_GET_INCLUDE),
        )
        for page in iter_get_pages(result, page_size=request.page_size, max_bytes=self._page_bytes):
            self._fits(
                page, "One record", "leave large fields (embeddings, documents) out of include"
            )
            check_alive(context, "sending the next page")
            yield page

    @stream_errors
    def QueryRecords(
        self, request: pb.QueryRecordsRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.QueryRecordsResponse]:
        collection_id = require_uuid(request.collection_id)
        has_vectors = request.HasField("query_embeddings")
        if request.query_texts and has_vectors:
            raise InvalidArgumentError(
                "query_texts: set either query_embeddings or query_texts, not both",
                field="query_texts",
            )
        if not has_vectors and not request.query_texts:
            raise InvalidArgumentError(
                "query_embeddings: required; send one or more query vectors (or query_texts "
                "when the server embeds text)",
                field="query_embeddings",
            )
        vectors = None
        if has_vectors:
            vectors = from_proto_vectors(
                request.query_embeddings,
                field="query_embeddings",
                max_dimension=self._store.limits.max_dimension,
            )
        check_alive(context, "querying")
        results = self._store.query(
            collection_id,
            vectors,
            n_results=request.n_results or DEFAULT_N_RESULTS,
            where=_where(request),
            where_document=_where_document(request),
            include=_include(request, DEFAULT_QUERY_INCLUDE),
            query_texts=list(request.query_texts) if request.query_texts else None,
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
        return pb.CountRecordsResponse(count=self._store.count(require_uuid(request.collection_id)))

    @unary_errors
    def PeekRecords(
        self, request: pb.PeekRecordsRequest, context: grpc.ServicerContext
    ) -> pb.PeekRecordsResponse:
        result = self._store.peek(
            require_uuid(request.collection_id), limit=request.limit or DEFAULT_PEEK_LIMIT
        )
        reply = to_proto_peek(result)
        self._fits(reply, "The peek reply", "peek fewer records (or use GetRecords, which pages)")
        return reply


class _Sized(Protocol):
    def ByteSize(self) -> int: ...  # noqa: N802  (protobuf's name)


class _Filtered(Protocol):
    def HasField(self, field_name: str) -> bool: ...  # noqa: N802  (protobuf's name)

    @property
    def where(self) -> types_pb2.Where: ...

    @property
    def where_document(self) -> types_pb2.WhereDocument: ...


def _where(request: _Filtered) -> Where | None:
    """The request's metadata filter; absent or empty means none."""
    if not request.HasField("where"):
        return None
    return from_proto_where(request.where) or None


def _where_document(request: _Filtered) -> WhereDocument | None:
    if not request.HasField("where_document"):
        return None
    return from_proto_where_document(request.where_document) or None


def _include(request: pb.GetRecordsRequest | pb.QueryRecordsRequest, default: Include) -> Include:
    return from_proto_include(request.include) if request.HasField("include") else default
