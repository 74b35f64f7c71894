"""``Store``: the in-process implementation of :class:`~chroma_grpc.store.api.StoreAPI`.

SQLite holds everything (see ``_sqlite``); a FAISS-backed :class:`VectorIndex` per collection
is loaded from it when the collection is first used and kept in step after each committed
write. Graph builds, compaction, calibration and saving run on the :class:`IndexMaintainer`'s
background thread (see ``_maintenance``): a query is answered at once, exactly for whatever the
graph does not cover yet. A persistent store saves graphs under ``<path>/indexes`` (see
``_index_files``) once a collection is quiet and at :meth:`Store.close`, and adopts a saved graph
on load only when it verifies and matches SQLite.

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

from chroma_grpc.store import _catalog, _reads
from chroma_grpc.store._catalog import CollectionRow
from chroma_grpc.store._embedding import embed_texts, with_embedded_documents
from chroma_grpc.store._index_files import IndexFiles
from chroma_grpc.store._maintenance import IndexMaintainer, IndexSlot
from chroma_grpc.store._query import empty_result, search
from chroma_grpc.store._sqlite import Database
from chroma_grpc.store._vector_index import EXACT_SEARCH_THRESHOLD, HnswParams, VectorIndex
from chroma_grpc.store._writes import IndexDelta, OpKind, WriteOp, append_and_apply
from chroma_grpc.store.errors import (
    CollectionNotFoundError,
    FailedPreconditionError,
    InvalidArgumentError,
    InvalidCollectionException,
    InvalidDimensionException,
    ResetNotAllowedError,
    UniqueConstraintError,
)
from chroma_grpc.store.filters import validate_where, validate_where_document
from chroma_grpc.store.types import (
    DEFAULT_GET_INCLUDE,
    DEFAULT_QUERY_INCLUDE,
    PEEK_INCLUDE,
    CollectionInfo,
    GetResult,
    Include,
    Metadata,
    QueryResult,
    RecordBatch,
    StoreLimits,
    TextEmbedder,
    Vectors,
    Where,
    WhereDocument,
)
from chroma_grpc.store.validation import (
    CHANGE_SPACE_MESSAGE,
    validate_batch,
    validate_collection_metadata,
    validate_collection_name,
    validate_embeddings,
    validate_include,
    validate_limit_offset,
    validate_lookup_ids,
    validate_metadata,
    validate_n_results,
)

RESET_MESSAGE = (
    "Resetting is not allowed by this configuration (to enable it, set `allow_reset` to `True` "
    "in your Settings() or include `ALLOW_RESET=TRUE` in your environment variables)"
)
DELETE_NO_CRITERIA_MESSAGE = """
    You must provide either ids, where, or where_document to delete. If you want to delete all data in a collection you can delete the collection itself using the delete_collection method. Or alternatively, you can get() all the relevant ids and then delete them.
"""  # noqa: E501

log = logging.getLogger(__name__)


class Store:
    """Collections of records in one SQLite file (``path``) or in memory (``path=None``).

    ``exact_search_threshold`` is how many live vectors a collection may hold before a graph is
    built for it in the background; tests lower it to exercise the graph on small data.
    ``embedder``, when given, embeds documents sent without vectors and query texts.
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
        self._embedder = embedder
        self._db = Database(path)
        self._limits = limits
        self._allow_reset = allow_reset
        self._exact_threshold = exact_search_threshold
        self._catalog_lock = threading.RLock()
        self._files: IndexFiles | None = None
        if self._db.directory is not None:
            self._files = IndexFiles(self._db.directory)
            with self._db.reading() as conn:
                self._files.remove_all_except(_catalog.all_ids(conn))
        self._maintainer = IndexMaintainer(self._db, self._files, exact_search_threshold)
        self._closed = False

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

    def wait_until_indexed(self, timeout: float | None = None) -> bool:
        """Block until no background index work is pending (graphs built, caught up and
        calibrated); False on timeout. Queries never need this: benchmarks and tests do."""
        return self._maintainer.wait_idle(timeout)

    def reset(self) -> None:
        self._check_open()
        if not self._allow_reset:
            raise ResetNotAllowedError(RESET_MESSAGE)
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
                f"Collection {collection_id} does not exist.", field="collection_id"
            )
        return row

    # -- collections ---------------------------------------------------------------------------
    def create_collection(
        self, name: str, metadata: Metadata | None = None, get_or_create: bool = False
    ) -> tuple[CollectionInfo, bool]:
        self._check_open()
        validate_collection_name(name)
        checked = None if metadata is None else validate_collection_metadata(metadata)
        with self._catalog_lock:
            with self._db.atomic() as conn:
                existing = _catalog.by_name(conn, name)
                if existing is None:
                    return _catalog.insert(conn, name, checked).info, True
                if not get_or_create:
                    raise UniqueConstraintError(f"Collection {name} already exists", field="name")
                if checked is None:
                    return existing.info, False
                updated = _catalog.update(conn, existing, None, checked)
            self._drop_index(existing.id, existing, checked)  # HNSW parameters may have changed
            return updated.info, False

    def get_collection(
        self, name: str | None = None, collection_id: str | None = None
    ) -> CollectionInfo:
        self._check_open()
        if (name is None) == (collection_id is None):
            raise InvalidArgumentError("Name or id must be specified, but not both")
        with self._db.reading() as conn:
            if name is not None:
                row = _catalog.by_name(conn, name)
            else:
                row = _catalog.by_id(conn, str(collection_id))
        if row is None:
            raise CollectionNotFoundError(f"Collection {name or collection_id} does not exist.")
        return row.info

    def list_collections(
        self, limit: int | None = None, offset: int | None = None
    ) -> list[CollectionInfo]:
        self._check_open()
        sql_limit, sql_offset = validate_limit_offset(limit, offset)
        with self._db.reading() as conn:
            return [r.info for r in _catalog.listing(conn, sql_limit, sql_offset)]

    def count_collections(self) -> int:
        self._check_open()
        with self._db.reading() as conn:
            return _catalog.count(conn)

    def modify_collection(
        self, collection_id: str, name: str | None = None, metadata: Metadata | None = None
    ) -> CollectionInfo:
        self._check_open()
        if name is not None:
            validate_collection_name(name)
        checked = None
        if metadata is not None:
            if "hnsw:space" in validate_metadata(metadata):
                raise InvalidArgumentError(CHANGE_SPACE_MESSAGE, field="metadata")
            checked = validate_collection_metadata(metadata)
        with self._catalog_lock:
            row = self._require(collection_id)
            with self._db.atomic() as conn:
                updated = _catalog.update(conn, row, name, checked)
            if checked is not None:
                self._drop_index(collection_id, row, checked)
            return updated.info

    def delete_collection(self, name: str) -> None:
        self._check_open()
        with self._catalog_lock:
            with self._db.reading() as conn:
                row = _catalog.by_name(conn, name)
            if row is None:
                raise CollectionNotFoundError(f"Collection {name} does not exist.", field="name")
            # Waits for one background step at most: a build in progress is abandoned.
            with self._slot(row.id).lock.write():
                with self._db.atomic() as conn:
                    _catalog.delete(conn, row)
                self._maintainer.forget(row.id)

    # -- writes --------------------------------------------------------------------------------
    def add(self, collection_id: str, batch: RecordBatch) -> None:
        self._write("add", collection_id, batch)

    def upsert(self, collection_id: str, batch: RecordBatch) -> None:
        self._write("upsert", collection_id, batch)

    def update(self, collection_id: str, batch: RecordBatch) -> None:
        self._write("update", collection_id, batch)

    def _write(self, kind: OpKind, collection_id: str, batch: RecordBatch) -> None:
        """Validate, then log + apply as one transaction, then update the index if loaded."""
        self._check_open()
        batch = with_embedded_documents(batch, self._embedder, is_update=kind == "update")
        vectors = validate_batch(
            batch, self._limits, require_embeddings=kind != "update", is_update=kind == "update"
        )
        op = WriteOp(
            kind, collection_id, batch.ids, vectors, batch.metadatas, batch.documents, batch.uris
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
        lookup = validate_lookup_ids(ids)
        self._validate_filters(where, where_document)
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
        return len(matched)

    # -- reads ---------------------------------------------------------------------------------
    @staticmethod
    def _validate_filters(where: Where | None, where_document: WhereDocument | None) -> None:
        if where:
            validate_where(where)
        if where_document:
            validate_where_document(where_document)

    def count(self, collection_id: str) -> int:
        row = self._require(collection_id)
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
        columns = validate_include(include, allow_distances=False)
        sql_limit, sql_offset = validate_limit_offset(limit, offset)
        lookup = validate_lookup_ids(ids)
        self._validate_filters(where, where_document)
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
        if (query_embeddings is None) == (query_texts is None):
            raise InvalidArgumentError(
                "query_embeddings: give exactly one of query_embeddings or query_texts",
                field="query_embeddings",
            )
        if query_texts is not None:
            query_embeddings = embed_texts(query_texts, self._embedder, field="query_texts")
        k = validate_n_results(n_results, self._limits)
        columns = validate_include(include, allow_distances=True)
        self._validate_filters(where, where_document)
        queries = validate_embeddings(query_embeddings, self._limits, field="query_embeddings")
        slot = self._slot(collection_id)
        while True:
            with slot.lock.read():
                row = self._require_locked(collection_id)
                if row.dimension is None:  # never had an embedding: any dimension, no results
                    return [empty_result(columns) for _ in range(len(queries))]
                if queries.shape[1] != row.dimension:
                    raise InvalidDimensionException(
                        f"Embedding dimension {queries.shape[1]} does not match collection "
                        f"dimensionality {row.dimension}",
                        field="query_embeddings",
                    )
                index = slot.index
                if index is not None:
                    return search(self._db, row, index, queries, k, where, where_document, columns)
            with slot.lock.write():  # first use since open: read the vectors in
                self._maintainer.load(slot, self._require_locked(collection_id))
