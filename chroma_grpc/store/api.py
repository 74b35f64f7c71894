"""The store's public surface as a Protocol: the one contract both transports implement.

:class:`chroma_grpc.store.Store` implements it in-process (embedded clients, and the server).
:class:`chroma_grpc.client.proxy.StoreProxy` implements it by calling a server. The Python
client API (``chroma_grpc.client``) is written against this Protocol only, so both transports
share one semantics: for any arguments, both return the same result or raise the same class of
:mod:`chroma_grpc.store.errors` with the same message (chromadb 0.4.24's), which
``tests/behaviour/test_store_congruence.py`` checks. The rules behind those errors are in
:mod:`chroma_grpc.store.validation`.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar
from typing import Protocol

from chroma_grpc.store.types import (
    DEFAULT_DATABASE,
    DEFAULT_GET_INCLUDE,
    DEFAULT_QUERY_INCLUDE,
    DEFAULT_TENANT,
    CollectionInfo,
    DatabaseInfo,
    Metadata,
    Neighbours,
    RecordBatch,
    Records,
    ResultFields,
    StoreLimits,
    TenantInfo,
    Vectors,
    Where,
    WhereDocument,
)

# The request id of the write being served, when its transport carries one (the first message
# of a write stream): a clustered store logs the write under it, so a retried write (same id)
# is applied once. Set by the server around the store call; empty when there is none.
WRITE_REQUEST_ID: ContextVar[str] = ContextVar("chroma_grpc_write_request_id", default="")


class StoreAPI(Protocol):
    @property
    def limits(self) -> StoreLimits:
        """Bounds every call must respect (batch size, dimension, n_results)."""
        ...

    @property
    def allow_reset(self) -> bool: ...

    @property
    def embeds_texts(self) -> bool:
        """Whether documents sent without vectors (add/upsert/update) and ``query_texts`` are
        embedded here. The server's store does (its default model); embedded clients' stores
        do not, since Chroma embeds on the client side."""
        ...

    def heartbeat(self) -> int:
        """Nanoseconds since the epoch."""
        ...

    def close(self) -> None:
        """Release files and connections; further calls are an error."""
        ...

    def reset(self) -> None:
        """Delete every collection, tenant and database but the default tenant and database.
        ResetNotAllowedError unless allow_reset."""
        ...

    # -- tenants and databases ---------------------------------------------------------------
    # A collection lives in a database of a tenant (its scope). Calls that name collections by
    # name (create, get, list, count, delete) take the scope, defaulting to Chroma's
    # default_tenant / default_database; a scope that does not exist is TenantNotFoundError /
    # DatabaseNotFoundError ("Could not connect to ..."). Collection ids are unique across the
    # store, so calls by id (get by id, modify, every record call) need no scope.
    def create_tenant(self, name: str) -> TenantInfo:
        """Names have 3 characters or more. Existing: UniqueConstraintError."""
        ...

    def get_tenant(self, name: str) -> TenantInfo:
        """Missing: TenantNotFoundError ("Tenant <name> not found")."""
        ...

    def create_database(self, name: str, tenant: str = DEFAULT_TENANT) -> DatabaseInfo:
        """In an existing tenant; names have 3 characters or more. Existing:
        UniqueConstraintError."""
        ...

    def get_database(self, name: str, tenant: str = DEFAULT_TENANT) -> DatabaseInfo:
        """Missing: TenantNotFoundError or DatabaseNotFoundError."""
        ...

    # -- collections -------------------------------------------------------------------------
    def create_collection(
        self,
        name: str,
        metadata: Metadata | None = None,
        get_or_create: bool = False,
        tenant: str = DEFAULT_TENANT,
        database: str = DEFAULT_DATABASE,
    ) -> tuple[CollectionInfo, bool]:
        """Returns (collection, created). Existing name in the database: UniqueConstraintError,
        or with get_or_create the existing one, its metadata replaced when ``metadata`` is not
        None."""
        ...

    def get_collection(
        self,
        name: str | None = None,
        collection_id: str | None = None,
        tenant: str = DEFAULT_TENANT,
        database: str = DEFAULT_DATABASE,
    ) -> CollectionInfo:
        """Exactly one of name (looked up in the database) / collection_id (anywhere).
        Missing: CollectionNotFoundError."""
        ...

    def list_collections(
        self,
        limit: int | None = None,
        offset: int | None = None,
        tenant: str = DEFAULT_TENANT,
        database: str = DEFAULT_DATABASE,
    ) -> list[CollectionInfo]:
        """The database's collections, oldest first, sliced by limit / offset."""
        ...

    def count_collections(
        self, tenant: str = DEFAULT_TENANT, database: str = DEFAULT_DATABASE
    ) -> int: ...

    def modify_collection(
        self, collection_id: str, name: str | None = None, metadata: Metadata | None = None
    ) -> CollectionInfo:
        """Rename and/or replace metadata entirely; ``hnsw:space`` may not change."""
        ...

    def delete_collection(
        self, name: str, tenant: str = DEFAULT_TENANT, database: str = DEFAULT_DATABASE
    ) -> None: ...

    # -- records -----------------------------------------------------------------------------
    def add(self, collection_id: str, batch: RecordBatch) -> None:
        """Atomic. Existing ids are skipped (record unchanged). Embeddings required."""
        ...

    def upsert(self, collection_id: str, batch: RecordBatch) -> None:
        """Atomic. New ids added, existing ones updated (metadata merged key by key)."""
        ...

    def update(self, collection_id: str, batch: RecordBatch) -> None:
        """Atomic. Missing ids skipped; given columns replace (metadata merges)."""
        ...

    def delete(
        self,
        collection_id: str,
        ids: Sequence[str] | None = None,
        where: Where | None = None,
        where_document: WhereDocument | None = None,
    ) -> int:
        """Delete records matching all criteria; returns how many. No criteria: error."""
        ...

    def get(
        self,
        collection_id: str,
        ids: Sequence[str] | None = None,
        where: Where | None = None,
        where_document: WhereDocument | None = None,
        limit: int | None = None,
        offset: int | None = None,
        include: ResultFields = DEFAULT_GET_INCLUDE,
    ) -> Records:
        """Ascending id order; limit None or 0 means no limit."""
        ...

    def query(
        self,
        collection_id: str,
        query_embeddings: Vectors | None,
        n_results: int = 10,
        where: Where | None = None,
        where_document: WhereDocument | None = None,
        include: ResultFields = DEFAULT_QUERY_INCLUDE,
        query_texts: Sequence[str] | None = None,
    ) -> list[Neighbours]:
        """One result per query row, nearest first; n_results clamped to the matches.

        Exactly one of ``query_embeddings`` / ``query_texts`` (the latter needs embeds_texts)."""
        ...

    def count(self, collection_id: str) -> int: ...

    def peek(self, collection_id: str, limit: int = 10) -> Records: ...
