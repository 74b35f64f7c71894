"""StoreAPI calls as request messages, for both remote proxies (sync and asyncio).

Each builder checks what a message cannot carry (the ``check_*_shape`` rules of
:mod:`chroma_grpc.store.validation`, in the store's order) and encodes the rest with
:mod:`chroma_grpc.wire`; the server's store judges everything else. ``StoreProxy`` and
``AsyncStoreProxy`` differ only in how they send these requests, so both behave as the store.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from chroma_grpc.store.errors import InvalidArgumentError
from chroma_grpc.store.types import (
    DEFAULT_DATABASE,
    DEFAULT_TENANT,
    INCLUDE_FIELDS,
    CollectionInfo,
    Metadata,
    RecordBatch,
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
    check_scope_name_shape,
    check_scope_shape,
    validate_limit_offset,
    validate_n_results,
)
from chroma_grpc.v1 import (
    collection_service_pb2,
    record_service_pb2,
    system_service_pb2,
    tenant_service_pb2,
    types_pb2,
)
from chroma_grpc.wire.collections import from_proto_collection, to_proto_ref, to_proto_scope
from chroma_grpc.wire.filters import to_proto_where, to_proto_where_document
from chroma_grpc.wire.metadata import to_proto_metadata
from chroma_grpc.wire.records import DEFAULT_CHUNK_BYTES, iter_batch_chunks, to_proto_include
from chroma_grpc.wire.vectors import to_proto_vectors

# Collections asked for per ListCollections page (the server's maximum).
LIST_PAGE_SIZE = 1000
# Leave headroom under the server's receive limit for the enclosing request's own fields.
_CHUNK_HEADROOM = 64 * 1024
# Under the server's per-stream limit: room for the first message's collection and request
# id, and each message's own tag, length and commit flag.
_STREAM_HEADROOM = 1024
_MESSAGE_OVERHEAD = 16

WriteRequest = TypeVar(
    "WriteRequest",
    record_service_pb2.AddRecordsRequest,
    record_service_pb2.UpsertRecordsRequest,
    record_service_pb2.UpdateRecordsRequest,
)
_T = TypeVar("_T")


def limits_of(info: system_service_pb2.GetServerInfoResponse) -> StoreLimits:
    return StoreLimits(
        max_batch_size=info.max_batch_size,
        max_dimension=info.max_dimension,
        max_n_results=info.max_n_results,
    )


# -- tenants and databases -----------------------------------------------------------------


def create_tenant(name: str) -> tenant_service_pb2.CreateTenantRequest:
    check_scope_name_shape(name, "tenant")
    return tenant_service_pb2.CreateTenantRequest(name=name)


def get_tenant(name: str) -> tenant_service_pb2.GetTenantRequest:
    check_scope_name_shape(name, "tenant")
    return tenant_service_pb2.GetTenantRequest(name=name)


def create_database(name: str, tenant: str) -> tenant_service_pb2.CreateDatabaseRequest:
    check_scope_name_shape(name, "database")
    check_scope_name_shape(tenant, "tenant")
    wire_tenant, _ = to_proto_scope(tenant, DEFAULT_DATABASE)
    return tenant_service_pb2.CreateDatabaseRequest(name=name, tenant=wire_tenant)


def get_database(name: str, tenant: str) -> tenant_service_pb2.GetDatabaseRequest:
    check_scope_name_shape(name, "database")
    check_scope_name_shape(tenant, "tenant")
    wire_tenant, _ = to_proto_scope(tenant, DEFAULT_DATABASE)
    return tenant_service_pb2.GetDatabaseRequest(name=name, tenant=wire_tenant)


# -- collections ---------------------------------------------------------------------------


def create_collection(
    name: str, metadata: Metadata | None, get_or_create: bool, tenant: str, database: str
) -> collection_service_pb2.CreateCollectionRequest:
    check_scope_shape(tenant, database)
    check_collection_name_shape(name)
    wire_tenant, wire_database = to_proto_scope(tenant, database)
    request = collection_service_pb2.CreateCollectionRequest(
        tenant=wire_tenant, database=wire_database, name=name, get_or_create=bool(get_or_create)
    )
    if metadata is not None:
        request.metadata.CopyFrom(to_proto_metadata(check_metadata_shape(metadata)))
    return request


def created(reply: collection_service_pb2.CreateCollectionResponse) -> tuple[CollectionInfo, bool]:
    return from_proto_collection(reply.collection), reply.created


def get_collection(
    name: str | None, collection_id: str | None, tenant: str, database: str
) -> tuple[collection_service_pb2.GetCollectionRequest, bool]:
    """The request, and whether the scope must be checked first (by CountCollections).

    By id the scope only has to exist, as in the store; sent with the id, it would also have to
    be the collection's own (the wire's rule for a spelled-out scope). Defaults always exist.
    """
    check_scope_shape(tenant, database)
    if (name is None) == (collection_id is None):
        raise InvalidArgumentError(NAME_OR_ID_MESSAGE)
    check_lookup_name_shape(name if name is not None else collection_id)
    check_scope = collection_id is not None and (tenant, database) != (
        DEFAULT_TENANT,
        DEFAULT_DATABASE,
    )
    ref = to_proto_ref(collection_id=collection_id, name=name, tenant=tenant, database=database)
    return collection_service_pb2.GetCollectionRequest(collection=ref), check_scope


def list_collections(
    limit: int | None, offset: int | None, tenant: str, database: str
) -> tuple[collection_service_pb2.ListCollectionsRequest, int | None]:
    """The first page's request (Chroma's offset is its skip) and how many collections are
    wanted in all (None: every one); :func:`next_list_page` sizes each page."""
    check_scope_shape(tenant, database)
    sql_limit, skip = validate_limit_offset(limit, offset)  # the limit is not sent
    wire_tenant, wire_database = to_proto_scope(tenant, database)
    request = collection_service_pb2.ListCollectionsRequest(
        tenant=wire_tenant, database=wire_database, skip=skip
    )
    return request, None if sql_limit < 0 else sql_limit


def next_list_page(
    request: collection_service_pb2.ListCollectionsRequest, wanted: int | None, found: int
) -> bool:
    """Size the next page of a listing that holds ``found`` collections; False when done."""
    if wanted is not None and found >= wanted:
        return False
    request.page_size = LIST_PAGE_SIZE if wanted is None else min(LIST_PAGE_SIZE, wanted - found)
    return True


def count_collections(tenant: str, database: str) -> collection_service_pb2.CountCollectionsRequest:
    check_scope_shape(tenant, database)
    wire_tenant, wire_database = to_proto_scope(tenant, database)
    return collection_service_pb2.CountCollectionsRequest(
        tenant=wire_tenant, database=wire_database
    )


def modify_collection(
    collection_id: str, name: str | None, metadata: Metadata | None
) -> collection_service_pb2.UpdateCollectionRequest:
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
    return request


def delete_collection(
    name: str, tenant: str, database: str
) -> collection_service_pb2.DeleteCollectionRequest:
    check_scope_shape(tenant, database)
    check_lookup_name_shape(name)
    ref = to_proto_ref(name=name, tenant=tenant, database=database)
    return collection_service_pb2.DeleteCollectionRequest(collection=ref)


# -- records -------------------------------------------------------------------------------


def chunk_bytes_for(info: system_service_pb2.GetServerInfoResponse) -> int:
    """Bytes per write chunk: about 2 MiB, less if the server accepts smaller messages or
    streams (GetServerInfo's limits)."""
    server_max = info.max_receive_message_bytes or DEFAULT_CHUNK_BYTES
    stream_max = stream_bytes_for(info) or DEFAULT_CHUNK_BYTES
    return max(1024, min(DEFAULT_CHUNK_BYTES, server_max // 2 - _CHUNK_HEADROOM, stream_max))


def stream_bytes_for(info: system_service_pb2.GetServerInfoResponse) -> int | None:
    """Bytes one write stream may carry (None: the server sets no limit)."""
    server_max = info.max_stream_bytes
    return max(1024, server_max - _STREAM_HEADROOM) if server_max else None


def write_streams(
    request_type: type[WriteRequest],
    collection_id: str,
    batch: RecordBatch,
    limits: StoreLimits,
    info: system_service_pb2.GetServerInfoResponse,
    on_sent: Callable[[int], None] | None = None,
) -> Iterator[Iterator[WriteRequest]]:
    """The messages of a write, as committed streams: one, unless the batch is larger than the
    server's per-stream limit (``max_stream_bytes``), when each stream is committed (and
    atomic) on its own, one after the other. The shape is checked here, before the first
    message (an error must surface in the caller, not in grpc's request-iterator thread);
    ``on_sent`` hears how many records grpc has taken after each chunk."""
    check_collection_id(collection_id)
    vectors = check_batch_shape(batch, limits)
    chunks = iter_batch_chunks(
        dataclasses.replace(batch, embeddings=vectors), chunk_bytes_for(info)
    )
    sent = 0

    def requests(stream: list[types_pb2.RecordBatch]) -> Iterator[WriteRequest]:
        nonlocal sent
        for index, (chunk, last) in enumerate(_with_last(stream)):
            request = request_type(batch=chunk, commit=last)
            if index == 0:  # the first message names the collection and the write
                request.collection.CopyFrom(to_proto_ref(collection_id=collection_id))
                request.request_id = str(uuid.uuid4())
            yield request
            sent += len(chunk.records)  # resumed: grpc has taken the chunk
            if on_sent is not None:
                on_sent(sent)

    return (requests(stream) for stream in _streams(chunks, stream_bytes_for(info)))


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


def delete(
    collection_id: str,
    ids: Sequence[str] | None,
    where: Where | None,
    where_document: WhereDocument | None,
) -> record_service_pb2.DeleteRecordsRequest:
    check_collection_id(collection_id)
    lookup = check_read_shape(
        include=frozenset(), ids=ids, where=where, where_document=where_document
    )
    request = record_service_pb2.DeleteRecordsRequest(
        collection=to_proto_ref(collection_id=collection_id), ids=lookup or []
    )
    _set_filters(request, where, where_document)
    return request


def get(
    collection_id: str,
    ids: Sequence[str] | None,
    where: Where | None,
    where_document: WhereDocument | None,
    limit: int | None,
    offset: int | None,
    include: ResultFields,
) -> tuple[record_service_pb2.GetRecordsRequest, ResultFields]:
    """The request and the fields its pages carry."""
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
    return request, sent_fields(include)


def query(
    collection_id: str,
    query_embeddings: Vectors | None,
    n_results: int,
    where: Where | None,
    where_document: WhereDocument | None,
    include: ResultFields,
    query_texts: Sequence[str] | None,
    limits: StoreLimits,
) -> tuple[record_service_pb2.QueryRecordsRequest, ResultFields]:
    """The request and the fields its replies carry."""
    check_collection_id(collection_id)
    vectors, texts = check_query_inputs_shape(query_embeddings, query_texts)
    n_results = validate_n_results(n_results, limits)  # the wire carries 0 < n < 2**32
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
    return request, sent_fields(include)


def count(collection_id: str) -> record_service_pb2.CountRecordsRequest:
    check_collection_id(collection_id)
    return record_service_pb2.CountRecordsRequest(
        collection=to_proto_ref(collection_id=collection_id)
    )


def sent_fields(include: ResultFields) -> ResultFields:
    """The fields a reply carries: "data" is the client API's (loaded from uris), not sent."""
    return frozenset(f for f in include if f in INCLUDE_FIELDS)


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


def _set_filters(request: Any, where: Where | None, where_document: WhereDocument | None) -> None:
    """Encode filters (their shape is checked) onto ``request``; empty means none."""
    if where:
        request.where.CopyFrom(to_proto_where(where))
    if where_document:
        request.where_document.CopyFrom(to_proto_where_document(where_document))
