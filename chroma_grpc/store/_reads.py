"""Reading records back: filtered selection in id order, and typed rows for results.

Ids sort byte-wise because SQLite's BINARY collation compares UTF-8 with memcmp. Metadata keys
starting with ``chroma:`` are hidden, and a metadata left empty is returned as None (Chroma's
behaviour). Embeddings come back from packed little-endian float32 BLOBs in one
``np.frombuffer``, without per-value Python work.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from chroma_grpc.store._sqlite import check_parameter_count, integer_list, text_list
from chroma_grpc.store.filters import compile_where, compile_where_document
from chroma_grpc.store.types import MetadataValue, Vectors, Where, WhereDocument

HIDDEN_PREFIX = "chroma:"


@dataclass
class Rows:
    """Columns of selected records, aligned with ``ids``; a column not asked for is None."""

    ids: list[str]
    rowids: list[int]
    documents: list[str | None] | None = None
    uris: list[str | None] | None = None
    embeddings: Vectors | None = None
    metadatas: list[dict[str, MetadataValue] | None] | None = None


def _decode(vtype: str, value: Any) -> MetadataValue:
    if vtype == "b":
        return bool(value)
    if vtype == "i":
        return int(value)
    if vtype == "f":
        return float(value)
    return str(value)


def select(
    conn: sqlite3.Connection,
    collection_seq: int,
    *,
    ids: Sequence[str] | None = None,
    rowids: Sequence[int] | None = None,
    where: Where | None = None,
    where_document: WhereDocument | None = None,
    limit: int = -1,
    offset: int = 0,
    columns: frozenset[str] = frozenset(),
    dimension: int | None = None,
) -> Rows:
    """Records matching every given criterion, ascending by id, then limit/offset.

    ``columns`` names what to load besides ids: documents, uris, embeddings, metadatas.
    """
    # Unary + keeps SQLite from choosing the collection index over direct rowid lookups.
    clauses = ["+r.collection_seq = ?" if rowids is not None else "r.collection_seq = ?"]
    params: list[Any] = [collection_seq]
    if ids is not None:
        subquery, param = text_list(ids)
        clauses.append(f"r.id IN ({subquery})")
        params.append(param)
    if rowids is not None:
        subquery, param = integer_list(rowids)
        clauses.append(f"r.rowid IN ({subquery})")
        params.append(param)
    for compiled in (
        compile_where(where) if where else None,
        compile_where_document(where_document) if where_document else None,
    ):
        if compiled is not None:
            clauses.append(compiled[0])
            params.extend(compiled[1])
    selected = ["r.rowid", "r.id"]
    wanted = [c for c in ("documents", "uris", "embeddings") if c in columns]
    selected += [
        {"documents": "r.document", "uris": "r.uri", "embeddings": "r.embedding"}[c] for c in wanted
    ]
    # Fetching by rowid needs no order (the caller maps rows back itself); leaving ORDER BY
    # out lets SQLite look rows up by rowid instead of walking the collection's id index.
    order = "" if rowids is not None else "ORDER BY r.id "
    sql = (
        f"SELECT {', '.join(selected)} FROM records r WHERE {' AND '.join(clauses)} "
        f"{order}LIMIT ? OFFSET ?"
    )
    check_parameter_count(conn, len(params) + 2)
    fetched = conn.execute(sql, [*params, limit, offset]).fetchall()
    out = Rows(ids=[r[1] for r in fetched], rowids=[r[0] for r in fetched])
    for n, column in enumerate(wanted, start=2):
        values = [r[n] for r in fetched]
        if column == "embeddings":
            out.embeddings = decode_vectors(values, dimension or 0)
        else:
            setattr(out, column, values)
    if "metadatas" in columns:
        out.metadatas = metadata_for(conn, out.rowids)
    return out


def decode_vectors(blobs: list[bytes], dimension: int) -> Vectors:
    """Stack packed ``<f4`` BLOBs into shape ``(len(blobs), dimension)`` float32."""
    if not blobs:
        return np.zeros((0, dimension), dtype=np.float32)
    flat = np.frombuffer(b"".join(blobs), dtype="<f4")
    return flat.reshape(len(blobs), -1).astype(np.float32, copy=False)


def metadata_for(
    conn: sqlite3.Connection, rowids: list[int]
) -> list[dict[str, MetadataValue] | None]:
    """Visible metadata per rowid, in ``rowids`` order."""
    by_rowid: dict[int, dict[str, MetadataValue]] = {}
    subquery, param = integer_list(rowids)
    rows = conn.execute(
        "SELECT record_rowid, key, vtype, value FROM record_metadata "
        f"WHERE record_rowid IN ({subquery})",
        (param,),
    )
    for rowid, key, vtype, value in rows:
        if not key.startswith(HIDDEN_PREFIX):
            by_rowid.setdefault(rowid, {})[key] = _decode(vtype, value)
    return [by_rowid.get(r) or None for r in rowids]


def all_vectors(
    conn: sqlite3.Connection, collection_seq: int, dimension: int
) -> tuple[np.ndarray[Any, np.dtype[np.int64]], Vectors]:
    """Every stored embedding of a collection with its rowid, to rebuild the vector index."""
    rows = conn.execute(
        "SELECT rowid, embedding FROM records WHERE collection_seq = ? AND embedding IS NOT NULL "
        "ORDER BY rowid",
        (collection_seq,),
    ).fetchall()
    rowids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    return rowids, decode_vectors([r[1] for r in rows], dimension)


def vectors_page(
    conn: sqlite3.Connection, collection_seq: int, dimension: int, after_rowid: int, limit: int
) -> tuple[np.ndarray[Any, np.dtype[np.int64]], Vectors]:
    """Up to ``limit`` stored embeddings with rowid above ``after_rowid``, in rowid order: the
    vector index loads a collection page by page, so the database lock is never held long.

    The unary ``+`` keeps SQLite on a rowid range scan: through the collection's id index it
    would sort the whole collection again for every page."""
    rows = conn.execute(
        "SELECT rowid, embedding FROM records WHERE +collection_seq = ? AND rowid > ? "
        "AND embedding IS NOT NULL ORDER BY rowid LIMIT ?",
        (collection_seq, after_rowid, limit),
    ).fetchall()
    rowids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    return rowids, decode_vectors([r[1] for r in rows], dimension)


def count_records(conn: sqlite3.Connection, collection_seq: int) -> int:
    """How many records the collection holds (from its index alone: no row is read)."""
    found = conn.execute(
        "SELECT COUNT(*) FROM records WHERE collection_seq = ?", (collection_seq,)
    ).fetchone()
    return int(found[0])
