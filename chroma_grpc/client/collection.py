"""``Collection``: a handle on one collection, with chromadb 0.4.24's methods and semantics.

Each method normalises and checks its arguments (:mod:`._arguments`), computes missing
embeddings client-side, calls the store (in-process or over gRPC, the same ``StoreAPI``) and
shapes the answer into chromadb's result dicts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from chroma_grpc.client import _arguments as v
from chroma_grpc.client._embedding import DEFAULT_EMBEDDING_FUNCTION, embed
from chroma_grpc.client._exceptions import raises_chromadb_exceptions
from chroma_grpc.client._results import get_result, query_result
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
from chroma_grpc.embeddings.base import validate_embedding_function
from chroma_grpc.errors import InvalidArgumentError
from chroma_grpc.store.api import StoreAPI
from chroma_grpc.store.filters import validate_where, validate_where_document
from chroma_grpc.store.types import CollectionInfo, Neighbours, RecordBatch, Records, Vectors
from chroma_grpc.store.validation import (
    CHANGE_SPACE_MESSAGE,
    length_mismatch,
    validate_limit_offset,
    validate_metadata,
    validate_n_results,
)

__all__ = ["Collection", "CollectionCommon"]

NO_DATA_LOADER = "You must set a data loader on the collection if loading from URIs."


class CollectionCommon:
    """What the sync and the async ``Collection`` share (chromadb's ``CollectionCommon``): the
    fields, and every step of a call but the store call itself, so both apply one semantics.
    """

    name: str
    id: UUID
    metadata: CollectionMetadata | None
    tenant: str
    database: str

    def __init__(
        self,
        store: Any,
        info: CollectionInfo,
        embedding_function: EmbeddingFunction | None = DEFAULT_EMBEDDING_FUNCTION,
        data_loader: DataLoader | None = None,
    ) -> None:
        if embedding_function is not None:
            validate_embedding_function(embedding_function)
        self._store = store
        self._collection_id = info.id
        self.name = info.name
        self.id = UUID(info.id)
        self.metadata = info.metadata
        self.tenant = info.tenant
        self.database = info.database
        self._embedding_function = embedding_function
        self._data_loader = data_loader

    def __repr__(self) -> str:
        return f"Collection(name={self.name})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CollectionCommon):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]  # mutable (modify), compared by value

    def _key(self) -> tuple[Any, ...]:
        return (self.name, self.id, self.metadata, self.tenant, self.database)

    # -- each call's steps before and after the store ----------------------------------------
    def _write_batch(
        self,
        ids: Any,
        embeddings: Any,
        metadatas: Any,
        documents: Any,
        images: Any,
        uris: Any,
        *,
        is_update: bool,
    ) -> RecordBatch:
        """add/upsert (``is_update`` False) and update: the checked batch, embedded."""
        valid = v.validate_embedding_set(
            ids,
            embeddings,
            metadatas,
            documents,
            images,
            uris,
            require_embeddings_or_data=not is_update,
        )
        return self._batch(valid, self._vectors(valid, not is_update))

    @staticmethod
    def _delete_arguments(ids: Any, where: Any, where_document: Any) -> dict[str, Any]:
        return {
            "ids": v.validate_lookup_ids(ids),
            "where": _filter(where, validate_where),
            "where_document": _filter(where_document, validate_where_document),
        }

    def _get_arguments(
        self, ids: Any, where: Any, limit: Any, offset: Any, where_document: Any, include: Any
    ) -> tuple[dict[str, Any], Include]:
        """The store's get arguments, and the include list the result is shaped by."""
        valid_where = _filter(where, validate_where)
        valid_where_document = _filter(where_document, validate_where_document)
        valid_ids = v.validate_lookup_ids(ids)
        valid_include = v.validate_include_list(include, allow_distances=False)
        if "data" in valid_include and self._data_loader is None:
            raise InvalidArgumentError(NO_DATA_LOADER)
        validate_limit_offset(limit, offset)
        arguments = {
            "ids": valid_ids,
            "where": valid_where,
            "where_document": valid_where_document,
            "limit": limit,
            "offset": offset,
            "include": v.result_fields(valid_include),
        }
        return arguments, valid_include

    def _get_result(self, result: Records, include: Include) -> GetResult:
        return get_result(result, include, self._data_loader)

    @staticmethod
    def _peek_result(result: Records) -> GetResult:
        return get_result(result, ["embeddings", "metadatas", "documents"], None)

    def _query_arguments(
        self,
        query_embeddings: Any,
        query_texts: Any,
        query_images: Any,
        query_uris: Any,
        n_results: Any,
        where: Any,
        where_document: Any,
        include: Any,
    ) -> tuple[dict[str, Any], Include]:
        """The store's query arguments (queries embedded here, or texts for a server that
        embeds them), and the include list the result is shaped by."""
        inputs = (query_embeddings, query_texts, query_images, query_uris)
        if sum(given is not None for given in inputs) != 1:
            raise InvalidArgumentError(
                "You must provide one of query_embeddings, query_texts, query_images, "
                "or query_uris."
            )
        valid_where = _filter(where, validate_where)
        valid_where_document = _filter(where_document, validate_where_document)
        embeddings = None if query_embeddings is None else v.validate_embeddings(query_embeddings)
        texts = v.maybe_cast_one_to_many(query_texts, str)
        images = None if query_images is None else v.cast_images(query_images)
        uris = v.maybe_cast_one_to_many(query_uris, str)
        valid_include = v.validate_include_list(include, allow_distances=True)
        n = validate_n_results(n_results)
        arguments: dict[str, Any] = {
            "n_results": int(n),
            "where": valid_where,
            "where_document": valid_where_document,
            "include": v.result_fields(valid_include),
        }
        if embeddings is None and texts is not None and self._server_embeds():
            return {**arguments, "query_embeddings": None, "query_texts": texts}, valid_include
        if embeddings is None:
            if texts is not None:
                embeddings = embed(self._embedding_function, texts)
            elif images is not None:
                embeddings = embed(self._embedding_function, images)
            else:
                embeddings = embed(self._embedding_function, self._load(uris))
        return {**arguments, "query_embeddings": embeddings}, valid_include

    def _query_result(self, results: Sequence[Neighbours], include: Include) -> QueryResult:
        return query_result(results, include, self._data_loader)

    @staticmethod
    def _check_modify(metadata: CollectionMetadata | None) -> None:
        if metadata is not None:
            validate_metadata(metadata)
            if "hnsw:space" in metadata:
                raise InvalidArgumentError(CHANGE_SPACE_MESSAGE, field="metadata")

    def _modified(self, info: CollectionInfo) -> None:
        self.name = info.name
        self.metadata = info.metadata

    # -- helpers -----------------------------------------------------------------------------
    def _vectors(self, valid: v.EmbeddingSet, required: bool) -> Vectors | None:
        """The batch's embeddings: given, else embedded from documents, images or uris."""
        embeddings = valid.embeddings
        if embeddings is None and valid.documents is not None and self._server_embeds():
            return None  # the server embeds the documents with its default model
        if embeddings is None:
            if valid.documents is not None:
                embeddings = embed(self._embedding_function, valid.documents)
            elif valid.images is not None:
                embeddings = embed(self._embedding_function, valid.images)
            elif required:
                embeddings = embed(self._embedding_function, self._load(valid.uris))
            else:
                return None
        if len(embeddings) != len(valid.ids):
            raise length_mismatch("embeddings", len(embeddings), len(valid.ids))
        return embeddings

    def _server_embeds(self) -> bool:
        """Without an embedding function, a server that embeds text gets the text as is."""
        return self._embedding_function is None and bool(self._store.embeds_texts)

    def _load(self, uris: list[str | None] | None) -> Any:
        if uris is None:
            raise InvalidArgumentError(
                "You must provide either embeddings, documents, images, or uris."
            )
        if self._data_loader is None:
            raise InvalidArgumentError(NO_DATA_LOADER)
        return self._data_loader(uris)

    @staticmethod
    def _batch(valid: v.EmbeddingSet, vectors: Vectors | None) -> RecordBatch:
        return RecordBatch(
            ids=valid.ids,
            embeddings=vectors,
            metadatas=valid.metadatas,
            documents=valid.documents,
            uris=valid.uris,
            # chromadb sets a given documents / uris column on every record, None included
            set_columns=frozenset(
                name
                for name, column in (("documents", valid.documents), ("uris", valid.uris))
                if column is not None
            ),
        )


@raises_chromadb_exceptions
class Collection(CollectionCommon):
    """A collection of records: ids with embeddings, metadata, documents and uris."""

    _store: StoreAPI

    def count(self) -> int:
        """The number of records in the collection."""
        return self._store.count(self._collection_id)

    def add(
        self,
        ids: OneOrMany[str],
        embeddings: OneOrManyEmbeddings | None = None,
        metadatas: OneOrManyMetadatas | None = None,
        documents: OneOrManyDocuments | None = None,
        images: OneOrMany[Any] | None = None,
        uris: OneOrManyURIs | None = None,
    ) -> None:
        """Add records; ids that already exist are skipped and left unchanged.

        Args:
            ids: the record ids (unique within the call).
            embeddings: one per id; computed from documents, images or uris when omitted.
            metadatas: one dict (or None) per id.
            documents: one str (or None) per id.
            images: one image per id (embedded with the embedding function, not stored).
            uris: one uri per id; with a data loader, embedded from the loaded data.

        Raises:
            ValueError: invalid arguments, or none of embeddings/documents/images/uris.
            DuplicateIDError: an id given twice.
            InvalidDimensionException: embeddings of the wrong dimension.
        """
        batch = self._write_batch(
            ids, embeddings, metadatas, documents, images, uris, is_update=False
        )
        self._store.add(self._collection_id, batch)

    def upsert(
        self,
        ids: OneOrMany[str],
        embeddings: OneOrManyEmbeddings | None = None,
        metadatas: OneOrManyMetadatas | None = None,
        documents: OneOrManyDocuments | None = None,
        images: OneOrMany[Any] | None = None,
        uris: OneOrManyURIs | None = None,
    ) -> None:
        """Add new records and update existing ones (metadata merged key by key; a None
        document or uri removes the stored one).

        Args and Raises: as :meth:`add`.
        """
        batch = self._write_batch(
            ids, embeddings, metadatas, documents, images, uris, is_update=False
        )
        self._store.upsert(self._collection_id, batch)

    def update(
        self,
        ids: OneOrMany[str],
        embeddings: OneOrManyEmbeddings | None = None,
        metadatas: OneOrManyMetadatas | None = None,
        documents: OneOrManyDocuments | None = None,
        images: OneOrMany[Any] | None = None,
        uris: OneOrManyURIs | None = None,
    ) -> None:
        """Update existing records; missing ids are skipped. Metadata is merged, the rest
        replaced (a None document or uri removes the stored one); documents given without
        embeddings are re-embedded.

        Raises:
            ValueError: invalid arguments.
            DuplicateIDError: an id given twice.
            InvalidDimensionException: embeddings of the wrong dimension.
        """
        batch = self._write_batch(
            ids, embeddings, metadatas, documents, images, uris, is_update=True
        )
        self._store.update(self._collection_id, batch)

    def delete(
        self,
        ids: OneOrMany[str] | None = None,
        where: Where | None = None,
        where_document: WhereDocument | None = None,
    ) -> None:
        """Delete the records matching all of ids, where and where_document.

        Raises:
            ValueError: no criterion at all, or an invalid filter.
        """
        self._store.delete(
            self._collection_id, **self._delete_arguments(ids, where, where_document)
        )

    def get(
        self,
        ids: OneOrMany[str] | None = None,
        where: Where | None = None,
        limit: int | None = None,
        offset: int | None = None,
        where_document: WhereDocument | None = None,
        include: Include = ["metadatas", "documents"],  # noqa: B006 - chromadb's signature
    ) -> GetResult:
        """Records matching all filters, in ascending id order.

        Args:
            ids: only these ids (missing ones are absent from the result).
            where: a metadata filter.
            limit: at most this many records (0 or None: no limit).
            offset: skip this many records first.
            where_document: a document filter.
            include: fields to return, of embeddings, documents, metadatas, uris, data.

        Raises:
            ValueError: an invalid filter, include or limit.
        """
        arguments, valid_include = self._get_arguments(
            ids, where, limit, offset, where_document, include
        )
        return self._get_result(self._store.get(self._collection_id, **arguments), valid_include)

    def peek(self, limit: int = 10) -> GetResult:
        """The first ``limit`` records (smallest ids), with their embeddings."""
        return self._peek_result(self._store.peek(self._collection_id, limit))

    def query(
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
        """The ``n_results`` nearest records to each query, nearest first.

        Args:
            query_embeddings: the query vectors; or exactly one of the three below.
            query_texts: texts, embedded with the collection's embedding function.
            query_images: images, embedded with the collection's embedding function.
            query_uris: uris, loaded with the data loader then embedded.
            n_results: results per query; clamped to the number of matching records.
            where: a metadata filter.
            where_document: a document filter.
            include: fields to return, of embeddings, documents, metadatas, distances,
                uris, data.

        Raises:
            ValueError: not exactly one query input, a non-int n_results, bad filters.
            TypeError: n_results <= 0.
            InvalidDimensionException: query vectors of the wrong dimension.
        """
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
        results = self._store.query(self._collection_id, **arguments)
        return self._query_result(results, valid_include)

    def modify(self, name: str | None = None, metadata: CollectionMetadata | None = None) -> None:
        """Rename the collection and/or replace its metadata entirely.

        Args:
            name: the new name (None: unchanged).
            metadata: the new metadata (None: unchanged); ``hnsw:space`` cannot change.

        Raises:
            ValueError: invalid name or metadata, or an attempt to change ``hnsw:space``.
            TypeError: a name that is not a str.
        """
        self._check_modify(metadata)
        self._modified(
            self._store.modify_collection(self._collection_id, name=name, metadata=metadata)
        )


def _filter(value: Any, validate: Callable[[Any], None]) -> Any:
    """A where / where_document filter checked by ``validate``; empty (``{}``, None) is none."""
    if not value:
        return None
    validate(value)
    return value
