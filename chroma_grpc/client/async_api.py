"""``AsyncHttpClient``: the client API with ``async def`` methods, over grpc.aio.

chromadb 0.5 and later name and shape it so (``client = await chromadb.AsyncHttpClient(...)``,
an ``AsyncClientAPI`` whose collections are ``AsyncCollection``s); here it speaks chromadb
0.4.24's semantics, exactly as ``HttpClient`` does: the arguments are checked by the same code
(``CollectionCommon``, ``check_*_arguments``), the requests built by the same builders, the
errors raised as the same (chromadb's exact) classes. One client, and its one channel, may be
shared by any number of coroutines. Embedding functions run in the calling coroutine, as in
chromadb's async client; pass embeddings (or let a server that embeds texts do it) to keep the
event loop free.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Union
from uuid import UUID

from chroma_grpc._version import CHROMA_API_VERSION
from chroma_grpc.client._embedding import DEFAULT_EMBEDDING_FUNCTION
from chroma_grpc.client._exceptions import raises_chromadb_exceptions
from chroma_grpc.client._gateways import host_list
from chroma_grpc.client.api import check_create_arguments, check_get_arguments
from chroma_grpc.client.collection import CollectionCommon
from chroma_grpc.client.factories import (
    LEGACY_CONFIG_ERROR,
    REMOTE_API_IMPL,
    remote_settings,
    server_target,
)
from chroma_grpc.client.types import (
    CollectionMetadata,
    DataLoader,
    EmbeddingFunction,
    GetResult,
    Include,
    OneOrMany,
    OneOrManyDocuments,
    OneOrManyEmbeddings,
    OneOrManyMetadatas,
    OneOrManyURIs,
    QueryResult,
    Where,
    WhereDocument,
)
from chroma_grpc.config import Settings
from chroma_grpc.errors import AuthorizationError, DatabaseNotFoundError, TenantNotFoundError
from chroma_grpc.store.types import DEFAULT_DATABASE, DEFAULT_TENANT
from chroma_grpc.store.validation import (
    SERVER_UNREACHABLE_MESSAGE,
    check_scope_shape,
    scope_database_error,
    scope_tenant_error,
)

if TYPE_CHECKING:
    from chroma_grpc.client.async_proxy import AsyncStoreProxy

__all__ = ["AsyncClientAPI", "AsyncCollection", "AsyncHttpClient"]


@raises_chromadb_exceptions
class AsyncCollection(CollectionCommon):
    """A collection whose methods are coroutines; otherwise :class:`Collection` exactly."""

    _store: AsyncStoreProxy

    async def count(self) -> int:
        """The number of records in the collection."""
        return await self._store.count(self._collection_id)

    async def add(
        self,
        ids: OneOrMany[str],
        embeddings: OneOrManyEmbeddings | None = None,
        metadatas: OneOrManyMetadatas | None = None,
        documents: OneOrManyDocuments | None = None,
        images: OneOrMany[Any] | None = None,
        uris: OneOrManyURIs | None = None,
    ) -> None:
        """Add records; ids that already exist are skipped (see ``Collection.add``)."""
        batch = self._write_batch(
            ids, embeddings, metadatas, documents, images, uris, is_update=False
        )
        await self._store.add(self._collection_id, batch)

    async def upsert(
        self,
        ids: OneOrMany[str],
        embeddings: OneOrManyEmbeddings | None = None,
        metadatas: OneOrManyMetadatas | None = None,
        documents: OneOrManyDocuments | None = None,
        images: OneOrMany[Any] | None = None,
        uris: OneOrManyURIs | None = None,
    ) -> None:
        """Add new records, update existing ones (see ``Collection.upsert``)."""
        batch = self._write_batch(
            ids, embeddings, metadatas, documents, images, uris, is_update=False
        )
        await self._store.upsert(self._collection_id, batch)

    async def update(
        self,
        ids: OneOrMany[str],
        embeddings: OneOrManyEmbeddings | None = None,
        metadatas: OneOrManyMetadatas | None = None,
        documents: OneOrManyDocuments | None = None,
        images: OneOrMany[Any] | None = None,
        uris: OneOrManyURIs | None = None,
    ) -> None:
        """Update existing records (see ``Collection.update``)."""
        batch = self._write_batch(
            ids, embeddings, metadatas, documents, images, uris, is_update=True
        )
        await self._store.update(self._collection_id, batch)

    async def delete(
        self,
        ids: OneOrMany[str] | None = None,
        where: Where | None = None,
        where_document: WhereDocument | None = None,
    ) -> None:
        """Delete the records matching all of ids, where and where_document."""
        arguments = self._delete_arguments(ids, where, where_document)
        await self._store.delete(self._collection_id, **arguments)

    async def get(
        self,
        ids: OneOrMany[str] | None = None,
        where: Where | None = None,
        limit: int | None = None,
        offset: int | None = None,
        where_document: WhereDocument | None = None,
        include: Include = ["metadatas", "documents"],  # noqa: B006 - chromadb's signature
    ) -> GetResult:
        """Records matching all filters, in ascending id order (see ``Collection.get``)."""
        arguments, valid_include = self._get_arguments(
            ids, where, limit, offset, where_document, include
        )
        result = await self._store.get(self._collection_id, **arguments)
        return self._get_result(result, valid_include)

    async def peek(self, limit: int = 10) -> GetResult:
        """The first ``limit`` records (smallest ids), with their embeddings."""
        return self._peek_result(await self._store.peek(self._collection_id, limit))

    async def query(
        self,
        query_embeddings: OneOrManyEmbeddings | None = None,
        query_texts: OneOrManyDocuments | None = None,
        query_images: OneOrMany[Any] | None = None,
        query_uris: OneOrManyURIs | None = None,
        n_results: int = 10,
        where: Where | None = None,
        where_document: WhereDocument | None = None,
        include: Include = ["metadatas", "documents", "distances"],  # noqa: B006
    ) -> QueryResult:
        """The ``n_results`` nearest records to each query (see ``Collection.query``)."""
        arguments, valid_include = self._query_arguments(
            query_embeddings,
            query_texts,
            query_images,
            query_uris,
            n_results,
            where,
            where_document,
            include,
        )
        results = await self._store.query(self._collection_id, **arguments)
        return self._query_result(results, valid_include)

    async def modify(
        self, name: str | None = None, metadata: CollectionMetadata | None = None
    ) -> None:
        """Rename the collection and/or replace its metadata (see ``Collection.modify``)."""
        self._check_modify(metadata)
        info = await self._store.modify_collection(
            self._collection_id, name=name, metadata=metadata
        )
        self._modified(info)


@raises_chromadb_exceptions
class AsyncClientAPI:
    """A client whose methods are coroutines; otherwise ``ClientAPI`` exactly. Made by
    :func:`AsyncHttpClient`."""

    def __init__(
        self, store: AsyncStoreProxy, settings: Settings, tenant: str, database: str
    ) -> None:
        """Use :func:`AsyncHttpClient`: the scope is checked there, which needs awaiting."""
        self._store = store
        self._settings = settings
        self.tenant = tenant
        self.database = database

    # -- system ------------------------------------------------------------------------------
    async def heartbeat(self) -> int:
        """The server's current time in nanoseconds since the epoch (a liveness check)."""
        return await self._store.heartbeat()

    async def get_version(self) -> str:
        """The chromadb version whose API this client speaks."""
        return CHROMA_API_VERSION

    def get_settings(self) -> Settings:
        """The settings this client was created with."""
        return self._settings

    async def get_max_batch_size(self) -> int:
        """The most records one add/update/upsert may carry (chromadb 0.5's async name)."""
        return self._store.limits.max_batch_size

    async def reset(self) -> bool:
        """Delete every collection, tenant and database but the defaults. Returns True."""
        await self._store.reset()
        return True

    async def close(self) -> None:
        """Close the channel (not in chromadb's API: its HTTP client has no connection)."""
        await self._store.close()

    async def set_tenant(self, tenant: str, database: str = DEFAULT_DATABASE) -> None:
        """Work in ``database`` of ``tenant`` from now on."""
        await _check_scope_exists(self._store, tenant, database)
        self.tenant, self.database = tenant, database

    async def set_database(self, database: str) -> None:
        """Work in another database of the current tenant from now on."""
        await _check_scope_exists(self._store, self.tenant, database)
        self.database = database

    # -- collections -------------------------------------------------------------------------
    async def list_collections(
        self, limit: int | None = None, offset: int | None = None
    ) -> list[AsyncCollection]:
        """The database's collections, oldest first, sliced by limit/offset."""
        infos = await self._store.list_collections(
            limit=limit, offset=offset, tenant=self.tenant, database=self.database
        )
        return [AsyncCollection(self._store, info) for info in infos]

    async def count_collections(self) -> int:
        """The number of collections in the database."""
        return await self._store.count_collections(tenant=self.tenant, database=self.database)

    async def create_collection(
        self,
        name: str,
        metadata: CollectionMetadata | None = None,
        embedding_function: EmbeddingFunction | None = DEFAULT_EMBEDDING_FUNCTION,
        data_loader: DataLoader | None = None,
        get_or_create: bool = False,
    ) -> AsyncCollection:
        """Create a collection (see ``ClientAPI.create_collection``)."""
        check_create_arguments(metadata, embedding_function)
        info, _ = await self._store.create_collection(
            name,
            metadata,
            get_or_create=get_or_create,
            tenant=self.tenant,
            database=self.database,
        )
        return AsyncCollection(self._store, info, embedding_function, data_loader)

    async def get_collection(
        self,
        name: str | None = None,
        id: Union[UUID, str] | None = None,
        embedding_function: EmbeddingFunction | None = DEFAULT_EMBEDDING_FUNCTION,
        data_loader: DataLoader | None = None,
    ) -> AsyncCollection:
        """Get a collection by name (in the database) or by id."""
        collection_id = check_get_arguments(name, id, embedding_function)
        info = await self._store.get_collection(
            name=name, collection_id=collection_id, tenant=self.tenant, database=self.database
        )
        return AsyncCollection(self._store, info, embedding_function, data_loader)

    async def get_or_create_collection(
        self,
        name: str,
        metadata: CollectionMetadata | None = None,
        embedding_function: EmbeddingFunction | None = DEFAULT_EMBEDDING_FUNCTION,
        data_loader: DataLoader | None = None,
    ) -> AsyncCollection:
        """Get the named collection, creating it if needed."""
        return await self.create_collection(
            name, metadata, embedding_function, data_loader, get_or_create=True
        )

    async def delete_collection(self, name: str) -> None:
        """Delete a collection of the database and its records."""
        await self._store.delete_collection(name, tenant=self.tenant, database=self.database)


async def _check_scope_exists(store: AsyncStoreProxy, tenant: str, database: str) -> None:
    """chromadb's check when a client is made or switched: the tenant, then the database."""
    check_scope_shape(tenant, database)
    try:
        await store.get_tenant(tenant)
    except TenantNotFoundError:
        raise scope_tenant_error(tenant) from None
    try:
        await store.get_database(database, tenant=tenant)
    except DatabaseNotFoundError:
        raise scope_database_error(database, tenant) from None


@raises_chromadb_exceptions
class _Factory:
    """Holds :func:`AsyncHttpClient`'s body, so its errors become chromadb's classes too."""

    @staticmethod
    async def connect(settings: Settings, tenant: str, database: str) -> AsyncClientAPI:
        from chroma_grpc.client.async_proxy import AsyncStoreProxy  # grpc only when remote

        if settings.chroma_db_impl is not None:
            raise ValueError(LEGACY_CONFIG_ERROR)
        target, options = server_target(settings)
        store = AsyncStoreProxy(target, options=options, settings=settings)
        try:
            try:
                await store.heartbeat()
                await store.connect()
            except AuthorizationError:
                raise
            except Exception as error:
                raise ValueError(SERVER_UNREACHABLE_MESSAGE) from error
            await _check_scope_exists(store, tenant, database)
        except BaseException:
            await store.close()
            raise
        return AsyncClientAPI(store, settings, tenant, database)


async def AsyncHttpClient(
    host: str | Sequence[str] = "localhost",
    port: int = 8000,
    ssl: bool = False,
    headers: dict[str, str] | None = None,
    settings: Settings | None = None,
    tenant: str = DEFAULT_TENANT,
    database: str = DEFAULT_DATABASE,
) -> AsyncClientAPI:
    """An asyncio client of a chroma-grpc server: ``client = await AsyncHttpClient(...)``.

    Arguments as for ``HttpClient`` (chroma-grpc serves on 50051 by default; 8000 is chromadb's).
    Create it in the event loop that will use it: its grpc.aio channel belongs to that loop.

    Raises:
        ValueError: conflicting host/port in settings, no server answering, or no such tenant
            or database.
    """
    settings = remote_settings(host_list(host), port, ssl, headers, settings, REMOTE_API_IMPL)
    return await _Factory.connect(settings, tenant, database)
