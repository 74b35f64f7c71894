"""CollectionService: thin translation between messages and the store's collection calls."""

from __future__ import annotations

import grpc

from chroma_grpc.server.errors import unary_errors
from chroma_grpc.store.api import StoreAPI
from chroma_grpc.v1 import collection_service_pb2 as pb
from chroma_grpc.v1 import collection_service_pb2_grpc
from chroma_grpc.wire.collections import to_proto_collection
from chroma_grpc.wire.metadata import from_proto_metadata


class CollectionServicer(collection_service_pb2_grpc.CollectionServiceServicer):
    def __init__(self, store: StoreAPI) -> None:
        self._store = store

    @unary_errors
    def CreateCollection(
        self, request: pb.CreateCollectionRequest, context: grpc.ServicerContext
    ) -> pb.CreateCollectionResponse:
        metadata = (
            from_proto_metadata(request.metadata, field="metadata")
            if request.HasField("metadata")
            else None
        )
        info, created = self._store.create_collection(
            request.name, metadata, get_or_create=request.get_or_create
        )
        return pb.CreateCollectionResponse(collection=to_proto_collection(info), created=created)

    @unary_errors
    def GetCollection(
        self, request: pb.GetCollectionRequest, context: grpc.ServicerContext
    ) -> pb.GetCollectionResponse:
        # The store rejects neither/both; a non-UUID id is simply not found, as in-process.
        info = self._store.get_collection(
            name=request.name or None, collection_id=request.id or None
        )
        return pb.GetCollectionResponse(collection=to_proto_collection(info))

    @unary_errors
    def ListCollections(
        self, request: pb.ListCollectionsRequest, context: grpc.ServicerContext
    ) -> pb.ListCollectionsResponse:
        limit = request.limit if request.HasField("limit") else None
        infos = self._store.list_collections(limit=limit, offset=request.offset or None)
        return pb.ListCollectionsResponse(collections=[to_proto_collection(i) for i in infos])

    @unary_errors
    def CountCollections(
        self, request: pb.CountCollectionsRequest, context: grpc.ServicerContext
    ) -> pb.CountCollectionsResponse:
        return pb.CountCollectionsResponse(count=self._store.count_collections())

    @unary_errors
    def UpdateCollection(
        self, request: pb.UpdateCollectionRequest, context: grpc.ServicerContext
    ) -> pb.UpdateCollectionResponse:
        metadata = (
            from_proto_metadata(request.new_metadata, field="new_metadata")
            if request.HasField("new_metadata")
            else None
        )
        info = self._store.modify_collection(
            request.id,
            name=request.new_name if request.HasField("new_name") else None,
            metadata=metadata,
        )
        return pb.UpdateCollectionResponse(collection=to_proto_collection(info))

    @unary_errors
    def DeleteCollection(
        self, request: pb.DeleteCollectionRequest, context: grpc.ServicerContext
    ) -> pb.DeleteCollectionResponse:
        self._store.delete_collection(request.name)
        return pb.DeleteCollectionResponse()
