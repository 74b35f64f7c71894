"""Which collection a request names: its CollectionRef (or scope fields), checked once here.

Until tenants and databases can be created, only Chroma's default tenant and database exist;
any other is NOT_FOUND with chromadb's "Could not connect to ..." message
(:func:`chroma_grpc.store.validation.validate_scope`).
"""

from __future__ import annotations

from chroma_grpc.server.errors import require_uuid
from chroma_grpc.store.api import StoreAPI
from chroma_grpc.store.errors import InvalidArgumentError
from chroma_grpc.store.validation import validate_scope
from chroma_grpc.v1 import types_pb2
from chroma_grpc.wire.collections import from_proto_scope


def check_scope(tenant: str, database: str) -> tuple[str, str]:
    """The scope a request names (empty strings: the defaults), if it exists."""
    return validate_scope(*from_proto_scope(tenant, database))


def lookup(ref: types_pb2.CollectionRef) -> tuple[str | None, str | None]:
    """``(name, collection_id)`` of a reference, at most one set, for the store's lookups."""
    check_scope(ref.tenant, ref.database)
    which = ref.WhichOneof("collection")
    return (ref.name if which == "name" else None), (ref.id if which == "id" else None)


def record_collection_id(
    store: StoreAPI, ref: types_pb2.CollectionRef, field: str = "collection"
) -> str:
    """The id of the collection a record RPC names: a UUID as given, or the id of the named
    collection (CollectionNotFoundError when there is none)."""
    name, collection_id = lookup(ref)
    if collection_id is not None:
        return require_uuid(collection_id, f"{field}.id")
    if name is not None:
        return store.get_collection(name=name).id
    raise InvalidArgumentError(
        f"{field}: required; name the collection by id or by name", field=field
    )
