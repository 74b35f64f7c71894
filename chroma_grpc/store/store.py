"""``Store``: the in-process implementation of :class:`~chroma_grpc.store.api.StoreAPI`.

SQLite holds everything (see ``_sqlite``); a FAISS-backed :class:`VectorIndex` per collection
is loaded from it when the collection is first used and kept in step after each committed
write. Graph builds, compaction, calibration and saving run on the :class:`IndexMaintainer`'s
background thread (see ``_maintenance``): a query is answered at once, exactly for whatever the
graph does not cover yet. A persistent store saves graphs under ``<path>/indexes`` (see
``_index_files``) once a collection is quiet and at :meth:`Store.close`, and adopts a saved graph
on load only when it verifies and matches SQLite.

Opening a persistent store takes the data folder for this process alone and refuses a damaged
or missing database (see ``_data_folder`` and ``_sqlite``); saved index files the database does
not explain are set aside, never deleted. Every failure leaves as a ``ChromaError``: the class
is wrapped by :func:`~chroma_grpc.store._failures.translating_failures` (a full disk is
ResourceExhaustedError, a damaged file DataLossError, any other surprise InternalError).

Strings are stored and matched exactly, U+0000 included, in ids, documents, uris, metadata keys
and values and every filter operand; nothing is truncated at a NUL character.

Locking, outermost first (always in this order, so there is no cycle):

* ``_catalog_lock`` serialises collection create / modify / delete / reset;
* a per-collection :class:`RWLock` (in its ``IndexSlot``): writes exclusive, searches shared;
  background work takes it only for short steps, never for a whole build or save;
* ``Database.lock`` around each SQLite transaction or read sequence.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from chroma_grpc.store import _catalog, _reads
from chroma_grpc.store._catalog import CollectionRow
from chroma_grpc.store._data_folder import DataFolder
from chroma_grpc.store._embedding import embed_texts
from chroma_grpc.store._failures import FailureContext, translating_failures
from chroma_grpc.store._index_files import IndexFiles
from chroma_grpc.store._maintenance import IndexMaintainer, IndexSlot
from chroma_grpc.store._query import empty_result, search
from chroma_grpc.store._sqlite import DB_FILENAME, Database
from chroma_grpc.store._vector_index import EXACT_SEARCH_THRESHOLD, HnswParams, VectorIndex
from chroma_grpc.store._writes import IndexDelta, OpKind, WriteOp, append_and_apply
from chroma_grpc.store.errors import (
    CollectionNotFoundError,
    FailedPreconditionError,
    InvalidArgumentError,
    InvalidCollectionException,
    ResetNotAllowedError,
)
from chroma_grpc.store.types import (
    DEFAULT_DATABASE,
    DEFAULT_GET_INCLUDE,
    DEFAULT_QUERY_INCLUDE,
    DEFAULT_TENANT,
    PEEK_INCLUDE,
    CollectionInfo,
    DatabaseInfo,
    GetResult,
    Include,
    Metadata,
    QueryResult,
    RecordBatch,
    StoreLimits,
    TenantInfo,
    TextEmbedder,
    Vectors,
    Where,
    WhereDocument,
)
from chroma_grpc.store.validation import (
    CHANGE_SPACE_MESSAGE,
    DELETE_NO_CRITERIA_MESSAGE,
    NAME_OR_ID_MESSAGE,
    RESET_NOT_ALLOWED_MESSAGE,
    check_collection_id,
    check_collection_metadata_values,
    check_collection_name_shape,
    check_embeddings_values,
    check_lookup_name_shape,
    check_metadata_shape,
    check_query_inputs_shape,
    check_query_texts_values,
    check_read_shape,
    check_read_values,
    check_scope_name_shape,
    check_scope_shape,
    collection_not_found_message,
    dimension_mismatch,
    documents_to_embed,
    unique_collection_error,
    validate_batch,
    validate_collection_name,
    validate_database_name,
    validate_limit_offset,
    validate_n_results,
    validate_tenant_name,
)

log = logging.getLogger(__name__)


@translating_failures
class Store:
    """Collections of records in one SQLite file (``path``) or in memory (``path=None``).

    ``exact_search_threshold`` is how many live vectors a collection may hold before a graph is
    built for it in the background; tests lower it to exercise the graph on small data.
    ``embedder``, when given, embeds documents sent without vectors and query texts.

    Opening ``path`` raises FolderInUseError if another store (in any process) has it open,
    and DataLossError if its database is damaged, or missing beside saved index files.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        limits: StoreLimits = StoreLimits(),  # noqa: B008 - frozen dataclass, safe default
        allow_reset: bool = False,
        exact_search_threshold: int = EXACT_SEARCH_THRESHOLD,
        embedder: TextEmbedder | None = None,
    ) -> None:
        self._failures = FailureContext(
            "the in-memory database" if path is None else str(Path(path) / DB_FILENAME)
        )
        self._embedder = embedder
        self._folder = None if path is None else DataFolder(path)
        try:
            self._db = Database(path)
        except BaseException:
            if self._folder is not None:
                self._folder.release()
            raise
        self._limits = limits
        self._allow_reset = allow_reset
        self._exact_threshold = exact_search_threshold
        self._catalog_lock = threading.RLock()
        self._files: IndexFiles | None = None
        self._closed = False
        if self._db.directory is not None:
            try:
                self._files = IndexFiles(self._db.directory)
                with self._db.reading() as conn:
                    self._files.set_aside_unknown(_catalog.all_ids(conn))
            except BaseException:
                self._db.close()
                if self._folder is not None:
                    self._folder.release()
                raise
        self._maintainer = IndexMaintainer(self._db, self._files, exact_search_threshold)

    @property
    def limits(self) -> StoreLimits:
        return self._limits

    @property
    def allow_reset(self) -> bool:
        return self._allow_reset

    @property
    def embeds_texts(self) -> bool:
        return self._embedder is not None

    def heartbeat(self) -> int:
        self._check_open()
        return time.time_ns()

    def close(self) -> None:
        """Stop background index work, save changed graphs, close the database."""
        with self._catalog_lock:
            if not self._closed:
                self._maintainer.close()
                self._closed = True
                self._db.close()
                if self._folder is not None:
                    self._folder.release()

    def wait_until_indexed(self, timeout: float | None = None) -> bool:
        """Block until no background index work is pending (graphs built, caught up and
        calibrated); False on timeout. Queries never need this: benchmarks and tests do."""
        return self._maintainer.wait_idle(timeout)

    def reset(self) -> None:
        self._check_open()
        if not self._allow_reset:
            raise ResetNotAllowedError(RESET_NOT_ALLOWED_MESSAGE)
        with self._catalog_lock, ExitStack() as stack:
            with self._db.reading() as conn:
                ids = _catalog.all_ids(conn)
            for cid in ids:  # each waits for one background step at most, never a build
                stack.enter_context(self._maintainer.slot(cid).lock.write())
            self._db.wipe()
            self._maintainer.forget_all(ids)
            if self._files is not None:
                self._files.remove_all_except(())

    # -- helpers -------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise FailedPreconditionError("The store is closed")

    def _slot(self, collection_id: str) -> IndexSlot:
        """The collection's slot (an unknown id gets one, which ``_require_locked`` drops)."""
        return self._maintainer.slot(collection_id)

    def _require_locked(self, collection_id: str) -> CollectionRow:
        """``_require`` under the slot's lock; an unknown or deleted collection loses its slot,
        so bad ids leave nothing behind."""
        try:
            return self._require(collection_id)
        except InvalidCollectionException:
            self._maintainer.discard(collection_id)
            raise

    def _index_of(self, collection_id: str) -> VectorIndex | None:
        """The collection's in-memory index, if loaded (diagnostics and tests)."""
        slot = self._maintainer.find(collection_id)
        return None if slot is None else slot.index

    def _drop_index(self, collection_id: str, row: CollectionRow, metadata: Metadata) -> None:
        """Forget the in-memory index if the new metadata changes its HNSW parameters; it is
        reloaded (and rebuilt) on next use. Call outside any transaction."""
        if HnswParams.from_metadata(row.info.metadata) == HnswParams.from_metadata(metadata):
            return
        slot = self._slot(collection_id)
        with slot.lock.write():
            slot.index = None

    def _require(self, collection_id: str) -> CollectionRow:
        """The collection a record call names, or InvalidCollectionException (Chroma's text)."""
        self._check_open()
        with self._db.reading() as conn:
            row = _catalog.by_id(conn, collection_id)
        if row is None:
            raise InvalidCollectionException(
                collection_not_found_message(collection_id), field="collection_id"
            )
        return row

    # -- tenants and databases -----------------------------------------------------------------
    def create_tenant(self, name: str) -> TenantInfo:
        self._check_open()
        validate_tenant_name(name)
        with self._catalog_lock, self._db.atomic() as conn:
            return _catalog.insert_tenant(conn, name)

    def get_tenant(self, name: str) -> TenantInfo:
        self._check_open()
        check_scope_name_shape(name, "tenant")
        with self._db.reading() as conn:
            return _catalog.get_tenant(conn, name)

    def create_database(self, name: str, tenant: str = DEFAULT_TENANT) -> DatabaseInfo:
        self._check_open()
        validate_database_name(name)
        check_scope_name_shape(tenant, "tenant")
        with self._catalog_lock, self._db.atomic() as conn:
            return _catalog.insert_database(conn, tenant, name)

    def get_database(self, name: str, tenant: str = DEFAULT_TENANT) -> DatabaseInfo:
        self._check_open()
        check_scope_name_shape(name, "database")
        check_scope_name_shape(tenant, "tenant")
        with self._db.reading() as conn:
            return _catalog.get_database(conn, tenant, name)

    # -- collections ---------------------------------------------------------------------------
    def create_collection(
        self,
        name: str,
        metadata: Metadata | None = None,
        get_or_create: bool = False,
        tenant: str = DEFAULT_TENANT,
        database: str = DEFAULT_DATABASE,
    ) -> tuple[CollectionInfo, bool]:
        self._check_open()
        check_scope_shape(tenant, database)
        check_collection_name_shape(name)
        checked = None if metadata is None else dict(check_metadata_shape(metadata))
        validate_collection_name(name)
        if checked is not None:
            check_collection_metadata_values(checked)
        with self._catalog_lock:
            with self._db.atomic() as conn:
                _catalog.require_scope(conn, tenant, database)
                existing = _catalog.by_name(conn, tenant, database, name)
                if existing is None:
                    return _catalog.insert(conn, tenant, database, name, checked).info, True
                if not get_or_create:
                    raise unique_collection_error(name)
                if checked is None:
                    return existing.info, False
                if checked.get("hnsw:space", existing.space) != existing.space:
                    raise InvalidArgumentError(CHANGE_SPACE_MESSAGE, field="metadata")
                updated = _catalog.update(conn, existing, None, checked)
            self._drop_index(existing.id, existing, checked)  # HNSW parameters may have changed
            return updated.info, False

    def get_collection(
        self,
        name: str | None = None,
        collection_id: str | None = None,
        tenant: str = DEFAULT_TENANT,
        database: str = DEFAULT_DATABASE,
    ) -> CollectionInfo:
        """By name within the database; by id wherever it lives (ids are unique store-wide,
        as in chromadb, whose lookup by id ignores the scope)."""
        self._check_open()
        check_scope_shape(tenant, database)
        if (name is None) == (collection_id is None):
            raise InvalidArgumentError(NAME_OR_ID_MESSAGE)
        check_lookup_name_shape(name if name is not None else collection_id)
        with self._db.reading() as conn:
            _catalog.require_scope(conn, tenant, database)
            if name is not None:
                row = _catalog.by_name(conn, tenant, database, name)
            else:
                row = _catalog.by_id(conn, str(collection_id))
        if row is None:
            wanted = name if name is not None else collection_id
            raise CollectionNotFoundError(collection_not_found_message(wanted))
        return row.info

    def list_collections(
        self,
        limit: int | None = None,
        offset: int | None = None,
        tenant: str = DEFAULT_TENANT,
        database: str = DEFAULT_DATABASE,
    ) -> list[CollectionInfo]:
        self._check_open()
        check_scope_shape(tenant, database)
        sql_limit, sql_offset = validate_limit_offset(limit, offset)
        with self._db.reading() as conn:
            _catalog.require_scope(conn, tenant, database)
            rows = _catalog.listing(conn, tenant, database, sql_limit, sql_offset)
        return [r.info for r in rows]

    def count_collections(
        self, tenant: str = DEFAULT_TENANT, database: str = DEFAULT_DATABASE
    ) -> int:
        self._check_open()
        check_scope_shape(tenant, database)
        with self._db.reading() as conn:
            _catalog.require_scope(conn, tenant, database)
            return _catalog.count(conn, tenant, database)

    def modify_collection(
        self, collection_id: str, name: str | None = None, metadata: Metadata | None = None
    ) -> CollectionInfo:
        self._check_open()
        check_collection_id(collection_id)
        if name is not None:
            check_collection_name_shape(name)
        checked = None if metadata is None else dict(check_metadata_shape(metadata))
        if name is not None:
            validate_collection_name(name)
        if checked is not None:
            check_collection_metadata_values(checked)
            if "hnsw:space" in checked:
                raise InvalidArgumentError(CHANGE_SPACE_MESSAGE, field="metadata")
        with self._catalog_lock:
            row = self._require(collection_id)
            with self._db.atomic() as conn:
                updated = _catalog.update(conn, row, name, checked)
            if checked is not None:
                self._drop_index(collection_id, row, checked)
            return updated.info

    def delete_collection(
        self, name: str, tenant: str = DEFAULT_TENANT, database: str = DEFAULT_DATABASE
    ) -> None:
        self._check_open()
        check_scope_shape(tenant, database)
        check_lookup_name_shape(name)
        with self._catalog_lock:
            with self._db.reading() as conn:
                _catalog.require_scope(conn, tenant, database)
                row = _catalog.by_name(conn, tenant, database, name)
            if row is None:
                raise CollectionNotFoundError(collection_not_found_message(name), field="name")
            # Waits for one background step at most: a build in progress is abandoned.
            with self._slot(row.id).lock.write():
                with self._db.atomic() as conn:
                    _catalog.delete(conn, row)
                self._maintainer.forget(row.id)
        self._db.reclaim()

    # -- writes --------------------------------------------------------------------------------
    def add(self, collection_id: str, batch: RecordBatch) -> None:
        self._write("add", collection_id, batch)

    def upsert(self, collection_id: str, batch: RecordBatch) -> None:
        self._write("upsert", collection_id, batch)

    def update(self, collection_id: str, batch: RecordBatch) -> None:
        self._write("update", collection_id, batch)

    def _write(self, kind: OpKind, collection_id: str, batch: RecordBatch) -> None:
        """Validate, then embed (documents sent without vectors, when this store embeds), then
        log + apply as one transaction, then update the index if loaded."""
        self._check_open()
        check_collection_id(collection_id)
        is_update = kind == "update"
        vectors = validate_batch(batch, self._limits, is_update=is_update)
        texts = documents_to_embed(batch, can_embed=self.embeds_texts, is_update=is_update)
        if texts is not None:
            vectors = embed_texts(texts, self._embedder, field="documents")
            check_embeddings_values(vectors, self._limits, field="documents")
        op = WriteOp(
            kind,
            collection_id,
            batch.ids,
            vectors,
            batch.metadatas,
            batch.documents,
            batch.uris,
            frozenset(batch.set_columns) & {"documents", "uris"},
        )
        self._commit(op)

    def _commit(self, op: WriteOp) -> None:
        self._check_open()
        slot = self._slot(op.collection_id)
        with slot.lock.write():
            self._require_locked(op.collection_id)
            with self._db.atomic() as conn:
                delta = append_and_apply(conn, op)
            self._apply_delta(slot, op.collection_id, delta)

    def _apply_delta(self, slot: IndexSlot, collection_id: str, delta: IndexDelta) -> None:
        """Bring the index in step with a committed write (the caller holds the slot's
        exclusive lock); an index not loaded yet is loaded, so it stays current from now on."""
        index = slot.index
        if index is None:
            self._maintainer.load(slot, self._require(collection_id))
            return
        try:
            index.apply(delta.removed, delta.added, delta.vectors)
        except Exception:
            # The write is durable; a confused index is dropped and reloaded from SQLite.
            slot.index = None
            raise
        self._maintainer.notify(collection_id)

    def delete(
        self,
        collection_id: str,
        ids: Sequence[str] | None = None,
        where: Where | None = None,
        where_document: WhereDocument | None = None,
    ) -> int:
        self._check_open()
        check_collection_id(collection_id)
        lookup = check_read_shape(
            include=frozenset(), ids=ids, where=where, where_document=where_document
        )
        check_read_values(
            include=frozenset(), allow_distances=False, where=where, where_document=where_document
        )
        if lookup is None and not where and not where_document:
            raise InvalidArgumentError(DELETE_NO_CRITERIA_MESSAGE)
        slot = self._slot(collection_id)
        with slot.lock.write():
            row = self._require_locked(collection_id)
            with self._db.atomic() as conn:
                matched = _reads.select(
                    conn, row.seq, ids=lookup, where=where, where_document=where_document
                ).ids
                if not matched:
                    return 0
                delta = append_and_apply(conn, WriteOp("delete", collection_id, matched))
            self._apply_delta(slot, collection_id, delta)
        self._db.reclaim()
        return len(matched)

    # -- reads ---------------------------------------------------------------------------------
    def count(self, collection_id: str) -> int:
        self._check_open()
        row = self._require(check_collection_id(collection_id))
        with self._db.reading() as conn:
            found = conn.execute(
                "SELECT COUNT(*) FROM records WHERE collection_seq = ?", (row.seq,)
            ).fetchone()
        return int(found[0])

    def count_records_total(self) -> int:
        """Records across all collections: one indexed COUNT, cheap enough per metrics scrape."""
        self._check_open()
        with self._db.reading() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM records").fetchone()[0])

    def get(
        self,
        collection_id: str,
        ids: Sequence[str] | None = None,
        where: Where | None = None,
        where_document: WhereDocument | None = None,
        limit: int | None = None,
        offset: int | None = None,
        include: Include = DEFAULT_GET_INCLUDE,
    ) -> GetResult:
        self._check_open()
        check_collection_id(collection_id)
        lookup = check_read_shape(
            include=include,
            ids=ids,
            where=where,
            where_document=where_document,
            limit=limit,
            offset=offset,
        )
        columns, sql_limit, sql_offset = check_read_values(
            include=include,
            allow_distances=False,
            where=where,
            where_document=where_document,
            limit=limit,
            offset=offset,
        )
        row = self._require(collection_id)
        with self._db.reading() as conn:
            rows = _reads.select(
                conn,
                row.seq,
                ids=lookup,
                where=where or None,
                where_document=where_document or None,
                limit=sql_limit,
                offset=sql_offset,
                columns=columns,
                dimension=row.dimension,
            )
        return GetResult(
            ids=rows.ids,
            embeddings=rows.embeddings,
            metadatas=rows.metadatas,
            documents=rows.documents,
            uris=rows.uris,
        )

    def peek(self, collection_id: str, limit: int = 10) -> GetResult:
        return self.get(collection_id, limit=limit, include=PEEK_INCLUDE)

    def query(
        self,
        collection_id: str,
        query_embeddings: Vectors | None,
        n_results: int = 10,
        where: Where | None = None,
        where_document: WhereDocument | None = None,
        include: Include = DEFAULT_QUERY_INCLUDE,
        query_texts: Sequence[str] | None = None,
    ) -> list[QueryResult]:
        self._check_open()
        check_collection_id(collection_id)
        queries, texts = check_query_inputs_shape(query_embeddings, query_texts)
        k = validate_n_results(n_results, self._limits)
        check_read_shape(include=include, where=where, where_document=where_document)
        columns, _, _ = check_read_values(
            include=include, allow_distances=True, where=where, where_document=where_document
        )
        if texts is not None:
            check_query_texts_values(texts)
            queries = embed_texts(texts, self._embedder, field="query_texts")
        assert queries is not None  # exactly one of the two inputs
        check_embeddings_values(queries, self._limits, field="query_embeddings")
        slot = self._slot(collection_id)
        while True:
            with slot.lock.read():
                row = self._require_locked(collection_id)
                if row.dimension is None:  # never had an embedding: any dimension, no results
                    return [empty_result(columns) for _ in range(len(queries))]
                if queries.shape[1] != row.dimension:
                    raise dimension_mismatch(
                        queries.shape[1], row.dimension, field="query_embeddings"
                    )
                index = slot.index
                if index is not None:
                    return search(self._db, row, index, queries, k, where, where_document, columns)
            with slot.lock.write():  # first use since open: read the vectors in
                self._maintainer.load(slot, self._require_locked(collection_id))
