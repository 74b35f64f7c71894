"""Which collection a request names: its CollectionRef (or scope fields), resolved once here.

A scope is a tenant and a database; empty fields mean Chroma's defaults. The store checks that
a scope exists (TENANT_NOT_FOUND / DATABASE_NOT_FOUND, chromadb's "Could not connect to ...").
A reference by name is looked up in its scope. A reference by id needs no scope, since ids are
unique across the server (as in chromadb); when it names one anyway, the collection must live
there, so a caller can never reach another database's collection by spelling its own scope.
"""

from __future__ import annotations

from chroma_grpc.server.errors import require_uuid
from chroma_grpc.store.api import StoreAPI
from chroma_grpc.store.errors import (
    ChromaError,
    CollectionNotFoundError,
    InvalidArgumentError,
    InvalidCollectionException,
)
from chroma_grpc.store.types import CollectionInfo
from chroma_grpc.store.validation import NAME_OR_ID_MESSAGE
from chroma_grpc.v1 import types_pb2
from chroma_grpc.wire.collections import from_proto_scope


def check_scope(tenant: str, database: str) -> tuple[str, str]:
    """The (tenant, database) a request names, empty strings read as the defaults."""
    return from_proto_scope(tenant, database)


def find_collection(store: StoreAPI, ref: types_pb2.CollectionRef) -> CollectionInfo:
    """The collection a Get / Update / Delete collection RPC names.

    Neither id nor name: chromadb's "Name or id must be specified, but not both". Missing (or
    not in the scope the reference spells out): COLLECTION_NOT_FOUND.
    """
    tenant, database = check_scope(ref.tenant, ref.database)
    which = ref.WhichOneof("collection")
    if which == "name":
        return store.get_collection(name=ref.name, tenant=tenant, database=database)
    if which == "id":
        info = store.get_collection(collection_id=ref.id, tenant=tenant, database=database)
        _check_lives_in(info, ref, CollectionNotFoundError)
        return info
    raise InvalidArgumentError(NAME_OR_ID_MESSAGE, field="collection")


def collection_id_of(store: StoreAPI, ref: types_pb2.CollectionRef) -> str:
    """The id of the collection an UpdateCollection names, looked up only when it must be (by
    name, or by id in a spelled-out scope); an unknown id is left for the store to judge."""
    if ref.WhichOneof("collection") == "id" and not (ref.tenant or ref.database):
        return ref.id
    return find_collection(store, ref).id


def record_collection_id(
    store: StoreAPI, ref: types_pb2.CollectionRef, field: str = "collection"
) -> str:
    """The id of the collection a record RPC names: a UUID as given (checked against a
    spelled-out scope), or the id of the collection of that name in the scope."""
    which = ref.WhichOneof("collection")
    if which == "id":
        collection_id = require_uuid(ref.id, f"{field}.id")
        if ref.tenant or ref.database:
            tenant, database = check_scope(ref.tenant, ref.database)
            try:
                info = store.get_collection(
                    collection_id=collection_id, tenant=tenant, database=database
                )
            except CollectionNotFoundError as missing:
                raise InvalidCollectionException(missing.message, field=f"{field}.id") from None
            _check_lives_in(info, ref, InvalidCollectionException)
        return collection_id
    if which == "name":
        tenant, database = check_scope(ref.tenant, ref.database)
        return store.get_collection(name=ref.name, tenant=tenant, database=database).id
    raise InvalidArgumentError(
        f"{field}: required; name the collection by id or by name", field=field
    )


def _check_lives_in(
    info: CollectionInfo, ref: types_pb2.CollectionRef, error: type[ChromaError]
) -> None:
    """``error`` unless the collection lives in the scope ``ref`` spells out (if it does)."""
    if not (ref.tenant or ref.database):
        return
    tenant, database = check_scope(ref.tenant, ref.database)
    if (info.tenant, info.database) != (tenant, database):
        raise error(
            f"Collection {info.id} does not exist in database {database} of tenant {tenant}.",
            field="collection.id",
        )
