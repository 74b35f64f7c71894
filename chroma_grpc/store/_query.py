"""k-NN query plumbing between SQLite and a collection's :class:`VectorIndex`.

Filters are evaluated in SQL first; the index then only admits the matching rowids, so a
result never holds a non-matching record. Payload columns are fetched afterwards in one
statement for the union of hits. Callers hold the collection lock (shared for
:func:`search`, exclusive for :func:`prepare_index`); the database lock is taken here.
"""

from __future__ import annotations

import logging
from typing import TypeVar

import numpy as np

from chroma_grpc.store import _catalog, _reads
from chroma_grpc.store._catalog import CollectionRow
from chroma_grpc.store._index_files import GraphKey, IndexFiles
from chroma_grpc.store._sqlite import Database
from chroma_grpc.store._vector_index import HnswParams, VectorIndex
from chroma_grpc.store.types import QueryResult, Vectors, Where, WhereDocument

T = TypeVar("T")
log = logging.getLogger(__name__)


def prepare_index(
    db: Database,
    row: CollectionRow,
    index: VectorIndex | None,
    threshold: int,
    files: IndexFiles | None = None,
) -> tuple[VectorIndex, bool]:
    """Load the collection's vectors from SQLite if needed, then compact / (re)build HNSW.

    With ``files``, a first load adopts the saved graph when it matches SQLite exactly, which
    replaces a build of tens of seconds with a file read. Returns the index and whether a graph
    was built (worth saving). The database lock is held for the SQL only.
    """
    assert row.dimension is not None
    if index is None:
        params = HnswParams.from_metadata(row.info.metadata)
        index = VectorIndex(row.dimension, row.space, params, threshold)
        with db.reading() as conn:
            applied_seq = _catalog.applied_seq(conn, row.seq)
            rowids, vectors = _reads.all_vectors(conn, row.seq, row.dimension)
        saved = None
        if files is not None and len(rowids) > threshold:
            key = GraphKey(applied_seq, row.dimension, row.space, params)
            saved = files.load(row.id, key)
        if saved is not None and not index.restore(
            saved.graph, saved.position_rowids, rowids, vectors
        ):
            log.info("index file of %s does not match SQLite; rebuilding", row.id)
            saved = None
        if saved is None:
            index.apply(rowids[:0], rowids, vectors)
    built = index.maintain() if index.needs_maintenance() else False
    return index, built


def empty_result(columns: frozenset[str], dimension: int = 0) -> QueryResult:
    """What a query row returns when nothing can match: included fields are empty lists."""
    return QueryResult(
        ids=[],
        distances=np.zeros(0, np.float32) if "distances" in columns else None,
        embeddings=np.zeros((0, dimension), np.float32) if "embeddings" in columns else None,
        metadatas=[] if "metadatas" in columns else None,
        documents=[] if "documents" in columns else None,
        uris=[] if "uris" in columns else None,
    )


def search(
    db: Database,
    row: CollectionRow,
    index: VectorIndex,
    queries: Vectors,
    k: int,
    where: Where | None,
    where_document: WhereDocument | None,
    columns: frozenset[str],
) -> list[QueryResult]:
    """One :class:`QueryResult` per query row, nearest first, fields as ``columns`` asks.

    The database lock is held for the SQL steps only, never during the vector search.
    """
    allowed = None
    if where or where_document:
        with db.reading() as conn:
            matching = _reads.select(
                conn, row.seq, where=where or None, where_document=where_document or None
            ).rowids
        allowed = np.asarray(matching, dtype=np.int64)
    hits = index.search(queries, k, allowed)
    wanted = sorted({int(r) for rowids, _ in hits for r in rowids.tolist()})
    with db.reading() as conn:
        rows = _reads.select(conn, row.seq, rowids=wanted, columns=columns, dimension=row.dimension)
    position = {r: i for i, r in enumerate(rows.rowids)}
    results = []
    for rowids, distances in hits:
        at = [position[r] for r in rowids.tolist()]
        results.append(
            QueryResult(
                ids=[rows.ids[i] for i in at],
                distances=distances if "distances" in columns else None,
                embeddings=rows.embeddings[at] if rows.embeddings is not None else None,
                metadatas=_pick(rows.metadatas, at),
                documents=_pick(rows.documents, at),
                uris=_pick(rows.uris, at),
            )
        )
    return results


def _pick(column: list[T] | None, at: list[int]) -> list[T] | None:
    return None if column is None else [column[i] for i in at]
