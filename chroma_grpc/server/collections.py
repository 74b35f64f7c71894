"""CollectionService: decode, call the store once, encode. ListCollections pages per AIP-158."""

from __future__ import annotations

from typing import cast

import grpc

from chroma_grpc.server._addressing import check_scope, collection_id_of, find_collection
from chroma_grpc.server.errors import field_paths, unary_errors
from chroma_grpc.store.api import StoreAPI
from chroma_grpc.store.errors import InvalidArgumentError
from chroma_grpc.store.types import CollectionInfo, Metadata
from chroma_grpc.v1 import collection_service_pb2 as pb
from chroma_grpc.v1 import collection_service_pb2_grpc, types_pb2
from chroma_grpc.wire.collections import to_proto_collection
from chroma_grpc.wire.metadata import from_proto_metadata
from chroma_grpc.wire.paging import decode_page_token, encode_page_token

DEFAULT_LIST_PAGE_SIZE = 100
MAX_LIST_PAGE_SIZE = 1000
UPDATE_FIELDS = {"collection_id": "collection.id", "name": "new_name", "metadata": "new_metadata"}
LIST_FIELDS = {"offset": "skip"}


class CollectionServicer(collection_service_pb2_grpc.CollectionServiceServicer):
    def __init__(self, store: StoreAPI) -> None:
        self._store = store

    @unary_errors
    def CreateCollection(
        self, request: pb.CreateCollectionRequest, context: grpc.ServicerContext
    ) -> pb.CreateCollectionResponse:
        tenant, database = check_scope(request.tenant, request.database)
        metadata = _metadata(request.metadata) if request.HasField("metadata") else None
        info, created = self._store.create_collection(
            request.name,
            metadata,
            get_or_create=request.get_or_create,
            tenant=tenant,
            database=database,
        )
        return pb.CreateCollectionResponse(collection=to_proto_collection(info), created=created)

    @unary_errors
    def GetCollection(
        self, request: pb.GetCollectionRequest, context: grpc.ServicerContext
    ) -> pb.GetCollectionResponse:
        # Neither name nor id: "Name or id must be specified"; a non-UUID id is simply not
        # found, as in-process.
        info = find_collection(self._store, request.collection)
        return pb.GetCollectionResponse(collection=to_proto_collection(info))

    @unary_errors
    def ListCollections(
        self, request: pb.ListCollectionsRequest, context: grpc.ServicerContext
    ) -> pb.ListCollectionsResponse:
        tenant, database = check_scope(request.tenant, request.database)
        if request.page_size < 0:
            raise InvalidArgumentError(
                f"page_size: {request.page_size} is negative; send 0 (the server picks) or more",
                field="page_size",
            )
        size = min(request.page_size or DEFAULT_LIST_PAGE_SIZE, MAX_LIST_PAGE_SIZE)
        position = decode_page_token(request)
        with field_paths(LIST_FIELDS):
            offset = (
                request.skip
                if position is None
                else self._resume_offset(position, tenant, database)
            )
            found = self._store.list_collections(
                limit=size + 1, offset=offset, tenant=tenant, database=database
            )
        page = found[:size]
        reply = pb.ListCollectionsResponse(collections=[to_proto_collection(c) for c in page])
        if len(found) > size:
            reply.next_page_token = encode_page_token(
                request, offset=offset + len(page), last=page[-1].id
            )
        return reply

    def _resume_offset(self, position: dict[str, object], tenant: str, database: str) -> int:
        """Where the next page starts: after the last collection the previous page returned,
        even if collections before it were deleted meanwhile (the listing is in creation
        order, so new ones only ever come later)."""
        offset, last = position.get("offset"), position.get("last")
        if not isinstance(offset, int) or offset < 1 or not isinstance(last, str):
            raise InvalidArgumentError(
                "page_token: damaged; list from the start", field="page_token"
            )
        probe = self._store.list_collections(
            limit=1, offset=offset - 1, tenant=tenant, database=database
        )
        if probe and probe[0].id == last:
            return offset
        listing: list[CollectionInfo] = self._store.list_collections(
            tenant=tenant, database=database
        )
        ids = [c.id for c in listing]
        return ids.index(last) + 1 if last in ids else min(offset, len(ids))

    @unary_errors
    def CountCollections(
        self, request: pb.CountCollectionsRequest, context: grpc.ServicerContext
    ) -> pb.CountCollectionsResponse:
        tenant, database = check_scope(request.tenant, request.database)
        count = self._store.count_collections(tenant=tenant, database=database)
        return pb.CountCollectionsResponse(count=count)

    @unary_errors
    def UpdateCollection(
        self, request: pb.UpdateCollectionRequest, context: grpc.ServicerContext
    ) -> pb.UpdateCollectionResponse:
        collection_id = collection_id_of(self._store, request.collection)
        metadata = _metadata(request.new_metadata) if request.HasField("new_metadata") else None
        with field_paths(UPDATE_FIELDS):
            info = self._store.modify_collection(
                collection_id,
                name=request.new_name if request.HasField("new_name") else None,
                metadata=metadata,
            )
        return pb.UpdateCollectionResponse(collection=to_proto_collection(info))

    @unary_errors
    def DeleteCollection(
        self, request: pb.DeleteCollectionRequest, context: grpc.ServicerContext
    ) -> pb.DeleteCollectionResponse:
        # The store deletes by name (Chroma's API): a reference by id is looked up first.
        info = find_collection(self._store, request.collection)
        self._store.delete_collection(info.name, tenant=info.tenant, database=info.database)
        return pb.DeleteCollectionResponse()


def _metadata(message: types_pb2.Metadata) -> Metadata:
    """Collection metadata as sent; a null_value arrives as None, which the store refuses
    here with Chroma's message, so the type can say what the store accepts."""
    return cast(Metadata, from_proto_metadata(message, field="metadata"))
