"""CollectionInfo <-> ``Collection``, the ``CollectionRef`` every collection RPC carries, and
tenants / databases (the scope a collection lives in)."""

from __future__ import annotations

from typing import cast

from chroma_grpc.store.types import (
    DEFAULT_DATABASE,
    DEFAULT_TENANT,
    CollectionInfo,
    DatabaseInfo,
    MetadataValue,
    TenantInfo,
)
from chroma_grpc.v1 import tenant_service_pb2, types_pb2
from chroma_grpc.wire.metadata import from_proto_metadata, to_proto_metadata


def to_proto_ref(
    *,
    collection_id: str | None = None,
    name: str | None = None,
    tenant: str = DEFAULT_TENANT,
    database: str = DEFAULT_DATABASE,
) -> types_pb2.CollectionRef:
    """A reference by id (unique across the server: no scope) or by name in the database of a
    tenant; at most one given. The defaults travel as empty strings."""
    if collection_id is not None:
        return types_pb2.CollectionRef(id=collection_id)
    wire_tenant, wire_database = to_proto_scope(tenant, database)
    ref = types_pb2.CollectionRef(tenant=wire_tenant, database=wire_database)
    if name is not None:
        ref.name = name
    return ref


def to_proto_scope(tenant: str, database: str) -> tuple[str, str]:
    """The ``tenant`` / ``database`` fields of a request; Chroma's defaults are sent empty."""
    return (
        "" if tenant == DEFAULT_TENANT else tenant,
        "" if database == DEFAULT_DATABASE else database,
    )


def from_proto_scope(tenant: str, database: str) -> tuple[str, str]:
    """The (tenant, database) a request names; empty strings mean Chroma's defaults."""
    return tenant or DEFAULT_TENANT, database or DEFAULT_DATABASE


def to_proto_tenant(info: TenantInfo) -> tenant_service_pb2.Tenant:
    return tenant_service_pb2.Tenant(name=info.name)


def from_proto_tenant(message: tenant_service_pb2.Tenant) -> TenantInfo:
    return TenantInfo(name=message.name)


def to_proto_database(info: DatabaseInfo) -> tenant_service_pb2.Database:
    return tenant_service_pb2.Database(id=info.id, name=info.name, tenant=info.tenant)


def from_proto_database(message: tenant_service_pb2.Database) -> DatabaseInfo:
    return DatabaseInfo(id=message.id, name=message.name, tenant=message.tenant)


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
