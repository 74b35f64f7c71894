"""k-NN query plumbing between SQLite and a collection's :class:`VectorIndex`.

Filters are evaluated in SQL first; the index then only admits the matching rowids, so a
result never holds a non-matching record. Payload columns are fetched afterwards in one
statement for the union of hits. Callers hold the collection's shared lock; the database lock
is taken here, for the SQL steps only.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

from chroma_grpc.store import _reads
from chroma_grpc.store._catalog import CollectionRow
from chroma_grpc.store._sqlite import Database
from chroma_grpc.store._vector_index import VectorIndex
from chroma_grpc.store.types import QueryResult, Vectors, Where, WhereDocument

T = TypeVar("T")


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
