"""CollectionInfo <-> ``Collection``, and the ``CollectionRef`` every collection RPC carries."""

from __future__ import annotations

from typing import cast

from chroma_grpc.store.types import DEFAULT_DATABASE, DEFAULT_TENANT, CollectionInfo, MetadataValue
from chroma_grpc.v1 import types_pb2
from chroma_grpc.wire.metadata import from_proto_metadata, to_proto_metadata


def to_proto_ref(
    *, collection_id: str | None = None, name: str | None = None
) -> types_pb2.CollectionRef:
    """A reference by id or by name (at most one given) in the default tenant and database,
    which the wire spells as empty strings."""
    if collection_id is not None:
        return types_pb2.CollectionRef(id=collection_id)
    if name is not None:
        return types_pb2.CollectionRef(name=name)
    return types_pb2.CollectionRef()


def from_proto_scope(tenant: str, database: str) -> tuple[str, str]:
    """The (tenant, database) a request names; empty strings mean Chroma's defaults."""
    return tenant or DEFAULT_TENANT, database or DEFAULT_DATABASE


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
            cast(dict[str, MetadataValue], from_proto_metadata(message.metadata, field="metadata"))
            if message.HasField("metadata")
            else None
        ),
        dimension=message.dimension if message.HasField("dimension") else None,
        tenant=message.tenant,
        database=message.database,
    )
