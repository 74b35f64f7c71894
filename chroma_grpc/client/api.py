"""``ClientAPI``: chromadb 0.4.24's client object, over any ``StoreAPI``.

The factories in :mod:`chroma_grpc.client.factories` build one with an in-process ``Store``
(embedded) or a ``StoreProxy`` (remote); everything here is the same for both.
"""

from __future__ import annotations

from typing import Union
from uuid import UUID

from chroma_grpc._version import CHROMA_API_VERSION
from chroma_grpc.client import _systems
from chroma_grpc.client._arguments import validate_collection_metadata_argument
from chroma_grpc.client._embedding import DEFAULT_EMBEDDING_FUNCTION
from chroma_grpc.client._exceptions import raises_chromadb_exceptions
from chroma_grpc.client.collection import Collection
from chroma_grpc.client.types import CollectionMetadata, DataLoader, EmbeddingFunction
from chroma_grpc.config import Settings
from chroma_grpc.embeddings.base import validate_embedding_function
from chroma_grpc.errors import DatabaseNotFoundError, InvalidArgumentError, TenantNotFoundError
from chroma_grpc.store.api import StoreAPI
from chroma_grpc.store.types import DEFAULT_DATABASE, DEFAULT_TENANT
from chroma_grpc.store.validation import (
    NAME_OR_ID_MESSAGE,
    check_scope_shape,
    scope_database_error,
    scope_tenant_error,
)

__all__ = ["ClientAPI"]


@raises_chromadb_exceptions
class ClientAPI:
    """A client: collection management plus system calls, chromadb's ``ClientAPI``.

    It works in one database of one tenant at a time (``tenant`` / ``database``, switched with
    :meth:`set_tenant` / :meth:`set_database`): collections are created, listed, counted,
    fetched and deleted there.

    Raises:
        ValueError: the tenant or database does not exist ("Could not connect to ...").
    """

    def __init__(
        self,
        store: StoreAPI,
        settings: Settings,
        tenant: str = DEFAULT_TENANT,
        database: str = DEFAULT_DATABASE,
    ) -> None:
        _check_scope_exists(store, tenant, database)
        self._store = store
        self._settings = settings
        self.tenant = tenant
        self.database = database

    # -- system ------------------------------------------------------------------------------
    def heartbeat(self) -> int:
        """The server's current time in nanoseconds since the epoch (a liveness check)."""
        return self._store.heartbeat()

    def get_version(self) -> str:
        """The chromadb version whose API this client speaks."""
        return CHROMA_API_VERSION

    def get_settings(self) -> Settings:
        """The settings this client was created with."""
        return self._settings

    @property
    def max_batch_size(self) -> int:
        """The most records one add/update/upsert may carry."""
        return self._store.limits.max_batch_size

    def reset(self) -> bool:
        """Delete every collection and record. Returns True.

        Raises:
            ValueError: ``allow_reset`` is not enabled (Settings or ``ALLOW_RESET=TRUE``).
        """
        self._store.reset()
        return True

    @staticmethod
    def clear_system_cache() -> None:
        """Close and forget the process's shared embedded stores (for tests)."""
        _systems.clear_system_cache()

    def set_tenant(self, tenant: str, database: str = DEFAULT_DATABASE) -> None:
        """Work in ``database`` of ``tenant`` from now on (``AdminClient`` creates them).

        Raises:
            ValueError: the tenant or database does not exist.
        """
        _check_scope_exists(self._store, tenant, database)
        self.tenant = tenant
        self.database = database

    def set_database(self, database: str) -> None:
        """Work in another database of the current tenant from now on.

        Raises:
            ValueError: the database does not exist.
        """
        _check_scope_exists(self._store, self.tenant, database)
        self.database = database

    # -- collections -------------------------------------------------------------------------
    def list_collections(
        self, limit: int | None = None, offset: int | None = None
    ) -> list[Collection]:
        """The database's collections (each with the default embedding function), oldest
        first, sliced by limit/offset."""
        infos = self._store.list_collections(
            limit=limit, offset=offset, tenant=self.tenant, database=self.database
        )
        return [Collection(self._store, info) for info in infos]

    def count_collections(self) -> int:
        """The number of collections in the database."""
        return self._store.count_collections(tenant=self.tenant, database=self.database)

    def create_collection(
        self,
        name: str,
        metadata: CollectionMetadata | None = None,
        embedding_function: EmbeddingFunction | None = DEFAULT_EMBEDDING_FUNCTION,
        data_loader: DataLoader | None = None,
        get_or_create: bool = False,
    ) -> Collection:
        """Create a collection.

        Args:
            name: 3-63 characters of ``[a-zA-Z0-9._-]``, alphanumeric at both ends.
            metadata: optional collection metadata (``hnsw:space`` picks the distance).
            embedding_function: embeds documents and query texts; None to embed nothing.
            data_loader: loads the data behind uris.
            get_or_create: return the existing collection instead of failing.

        Raises:
            UniqueConstraintError: the name exists and get_or_create is False.
            ValueError: an invalid name, metadata or embedding function.
        """
        check_create_arguments(metadata, embedding_function)
        info, _ = self._store.create_collection(
            name,
            metadata,
            get_or_create=get_or_create,
            tenant=self.tenant,
            database=self.database,
        )
        return Collection(self._store, info, embedding_function, data_loader)

    def get_collection(
        self,
        name: str | None = None,
        id: Union[UUID, str] | None = None,
        embedding_function: EmbeddingFunction | None = DEFAULT_EMBEDDING_FUNCTION,
        data_loader: DataLoader | None = None,
    ) -> Collection:
        """Get a collection by name (in the database) or by id (exactly one of them).

        Raises:
            ValueError: the collection does not exist, or not exactly one of name/id.
        """
        collection_id = check_get_arguments(name, id, embedding_function)
        info = self._store.get_collection(
            name=name, collection_id=collection_id, tenant=self.tenant, database=self.database
        )
        return Collection(self._store, info, embedding_function, data_loader)

    def get_or_create_collection(
        self,
        name: str,
        metadata: CollectionMetadata | None = None,
        embedding_function: EmbeddingFunction | None = DEFAULT_EMBEDDING_FUNCTION,
        data_loader: DataLoader | None = None,
    ) -> Collection:
        """Get the named collection, creating it if needed; a non-None ``metadata`` replaces
        the stored one.

        Raises:
            ValueError: an invalid name, metadata or embedding function.
        """
        return self.create_collection(
            name, metadata, embedding_function, data_loader, get_or_create=True
        )

    def delete_collection(self, name: str) -> None:
        """Delete a collection of the database and its records.

        Raises:
            ValueError: the collection does not exist.
        """
        self._store.delete_collection(name, tenant=self.tenant, database=self.database)


def check_create_arguments(
    metadata: CollectionMetadata | None, embedding_function: EmbeddingFunction | None
) -> None:
    """What chromadb's client checks before it asks for a collection to be created."""
    validate_collection_metadata_argument(metadata)
    if embedding_function is not None:
        validate_embedding_function(embedding_function)


def check_get_arguments(
    name: str | None, id: Union[UUID, str] | None, embedding_function: EmbeddingFunction | None
) -> str | None:
    """What chromadb's client checks before it looks a collection up; returns the id as str."""
    if (name is None) == (id is None):
        raise InvalidArgumentError(NAME_OR_ID_MESSAGE)
    if embedding_function is not None:
        validate_embedding_function(embedding_function)
    return None if id is None else str(id)


def _check_scope_exists(store: StoreAPI, tenant: str, database: str) -> None:
    """chromadb's check when a client is made or switched: the tenant, then the database."""
    check_scope_shape(tenant, database)
    try:
        store.get_tenant(tenant)
    except TenantNotFoundError:
        raise scope_tenant_error(tenant) from None
    try:
        store.get_database(database, tenant=tenant)
    except DatabaseNotFoundError:
        raise scope_database_error(database, tenant) from None
