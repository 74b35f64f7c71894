"""CollectionInfo <-> ``Collection``."""

from __future__ import annotations

from chroma_grpc.store.types import CollectionInfo
from chroma_grpc.v1 import types_pb2
from chroma_grpc.wire.metadata import from_proto_metadata, to_proto_metadata


def to_proto_collection(info: CollectionInfo) -> types_pb2.Collection:
    """A collection as sent; absent metadata/dimension stay absent."""
    message = types_pb2.Collection(
        id=info.id, name=info.name, tenant=info.tenant, database=info.database
    )
    if info.metadata is not None:
        message.metadata.CopyFrom(to_proto_metadata(info.metadata))
    if info.dimension is not None:
        message.dimension = info.dimension
    return message


def from_proto_collection(message: types_pb2.Collection) -> CollectionInfo:
    """The CollectionInfo the server described."""
    return CollectionInfo(
        id=message.id,
        name=message.name,
        metadata=(
            from_proto_metadata(message.metadata, field="collection.metadata")
            if message.HasField("metadata")
            else None
        ),
        dimension=message.dimension if message.HasField("dimension") else None,
        tenant=message.tenant,
        database=message.database,
    )
