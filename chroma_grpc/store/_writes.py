"""The single write path: every mutation is a :class:`WriteOp`, appended then applied.

``Store`` validates a request, turns it into a ``WriteOp`` and calls :func:`append_and_apply`
inside one SQLite transaction: the op gets a sequence number in ``write_log``, its effect is
applied to the tables, and the collection's ``applied_seq`` moves to it, all or nothing. Apply
is deterministic given the stored state, so a log-driven deployment can replay the same ops
(see the scale-out design, "append op -> apply"). The returned :class:`IndexDelta` tells the
in-memory vector index what changed once the transaction has committed.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from chroma_grpc.store._sqlite import integer_list, text_list
from chroma_grpc.store.filters import value_kind
from chroma_grpc.store.types import MetadataValue, Vectors
from chroma_grpc.store.validation import dimension_mismatch

OpKind = Literal["add", "upsert", "update", "delete"]
RowIds = npt.NDArray[np.int64]
_EMPTY_IDS: RowIds = np.zeros(0, dtype=np.int64)
LOG_RETENTION = 10_000


@dataclass(frozen=True)
class WriteOp:
    """One validated mutation of one collection. ``delete`` carries resolved ids only."""

    kind: OpKind
    collection_id: str
    ids: list[str]
    embeddings: Vectors | None = None
    metadatas: Sequence[Mapping[str, MetadataValue | None] | None] | None = None
    documents: Sequence[str | None] | None = None
    uris: Sequence[str | None] | None = None
    # "documents" / "uris": set on every record; a None entry removes the stored value.
    set_columns: frozenset[str] = frozenset()


@dataclass
class IndexDelta:
    """Vector changes of one applied op: tombstone ``removed``, then insert ``added``."""

    removed: RowIds = field(default_factory=lambda: _EMPTY_IDS)
    added: RowIds = field(default_factory=lambda: _EMPTY_IDS)
    vectors: Vectors | None = None


def rowids_for(conn: sqlite3.Connection, collection_seq: int, ids: Sequence[str]) -> dict[str, int]:
    """Map the given ids that exist in the collection to their rowids (exactly, NULs too)."""
    subquery, param = text_list(ids)
    rows = conn.execute(
        f"SELECT id, rowid FROM records WHERE collection_seq = ? AND id IN ({subquery})",
        (collection_seq, param),
    )
    return dict(rows.fetchall())


def append_and_apply(conn: sqlite3.Connection, op: WriteOp) -> IndexDelta:
    """Log ``op`` and apply it; the caller holds the transaction (see ``Database.atomic``)."""
    row = conn.execute(
        "SELECT seq, dimension FROM collections WHERE id = ?", (op.collection_id,)
    ).fetchone()
    collection_seq, dimension = row
    if op.embeddings is not None:
        dim = int(op.embeddings.shape[1])
        if dimension is not None and dim != dimension:
            raise dimension_mismatch(dim, dimension, field="embeddings")
        if dimension is None:  # the first embedding fixes it for good, as in Chroma
            conn.execute(
                "UPDATE collections SET dimension = ? WHERE seq = ?", (dim, collection_seq)
            )
    cursor = conn.execute(
        "INSERT INTO write_log (collection_id, kind, n_records, created_ns) VALUES (?, ?, ?, ?)",
        (op.collection_id, op.kind, len(op.ids), time.time_ns()),
    )
    seq = int(cursor.lastrowid or 0)
    existing = rowids_for(conn, collection_seq, op.ids)
    positions = np.arange(len(op.ids))
    is_existing = np.fromiter((i in existing for i in op.ids), dtype=bool, count=len(op.ids))
    delta = IndexDelta()
    if op.kind == "delete":
        delta = _delete(conn, np.fromiter(existing.values(), dtype=np.int64, count=len(existing)))
    else:
        new_pos = positions[~is_existing] if op.kind in ("add", "upsert") else positions[:0]
        old_pos = positions[is_existing] if op.kind in ("update", "upsert") else positions[:0]
        added = _insert(conn, collection_seq, op, new_pos)
        updated = _update(conn, op, old_pos, existing)
        delta = _merge_deltas(added, updated, op.embeddings, new_pos, old_pos)
    conn.execute("UPDATE collections SET applied_seq = ? WHERE seq = ?", (seq, collection_seq))
    # The ops are applied in the same transaction, so old log rows only serve replication
    # catch-up; keep a bounded tail instead of growing forever.
    conn.execute("DELETE FROM write_log WHERE seq <= ?", (seq - LOG_RETENTION,))
    return delta


def _metadata_rows(
    rowid: int, metadata: Mapping[str, MetadataValue | None]
) -> list[tuple[int, str, str, MetadataValue]]:
    rows: list[tuple[int, str, str, MetadataValue]] = []
    for key, value in metadata.items():
        kind = value_kind(value)
        if value is not None and kind is not None:
            rows.append((rowid, key, kind, int(value) if kind == "b" else value))
    return rows


def _blobs(vectors: Vectors, positions: npt.NDArray[np.intp]) -> list[bytes]:
    """Little-endian float32 bytes per record, sliced from one buffer."""
    chunk = vectors[positions].astype("<f4", copy=False)
    size = chunk.shape[1] * 4
    buffer = chunk.tobytes()
    return [buffer[i * size : (i + 1) * size] for i in range(chunk.shape[0])]


def _insert(
    conn: sqlite3.Connection, collection_seq: int, op: WriteOp, pos: npt.NDArray[np.intp]
) -> RowIds:
    """Insert new records (all columns); returns their rowids in ``pos`` order."""
    if len(pos) == 0:
        return _EMPTY_IDS
    ids = [op.ids[i] for i in pos]
    blobs: list[bytes | None] = (
        list(_blobs(op.embeddings, pos)) if op.embeddings is not None else [None] * len(pos)
    )
    docs = [op.documents[i] for i in pos] if op.documents is not None else [None] * len(pos)
    uris = [op.uris[i] for i in pos] if op.uris is not None else [None] * len(pos)
    conn.executemany(
        "INSERT INTO records (collection_seq, id, document, uri, embedding) VALUES (?, ?, ?, ?, ?)",
        zip([collection_seq] * len(pos), ids, docs, uris, blobs, strict=True),
    )
    rowid_of = rowids_for(conn, collection_seq, ids)
    rowids = np.fromiter((rowid_of[i] for i in ids), dtype=np.int64, count=len(ids))
    if op.metadatas is not None:
        rows = []
        for rowid, i in zip(rowids.tolist(), pos.tolist(), strict=True):
            md = op.metadatas[i]
            if md:
                rows.extend(_metadata_rows(rowid, md))
        conn.executemany(
            "INSERT INTO record_metadata (record_rowid, key, vtype, value) VALUES (?, ?, ?, ?)",
            rows,
        )
    return rowids


def _update(
    conn: sqlite3.Connection, op: WriteOp, pos: npt.NDArray[np.intp], existing: dict[str, int]
) -> RowIds:
    """Update existing records: given columns replace, metadata merges key by key. A None entry
    leaves the stored value, except in a column of ``set_columns``, where it removes it (as
    chromadb's ``documents=[None]`` does)."""
    if len(pos) == 0:
        return _EMPTY_IDS
    rowids = np.fromiter((existing[op.ids[i]] for i in pos), dtype=np.int64, count=len(pos))
    pairs = list(zip(rowids.tolist(), pos.tolist(), strict=True))
    for column, values in (("document", op.documents), ("uri", op.uris)):
        if values is not None:
            clears = f"{column}s" in op.set_columns
            conn.executemany(
                f"UPDATE records SET {column} = ? WHERE rowid = ?",
                [(values[i], r) for r, i in pairs if clears or values[i] is not None],
            )
    if op.embeddings is not None:
        conn.executemany(
            "UPDATE records SET embedding = ? WHERE rowid = ?",
            zip(_blobs(op.embeddings, pos), rowids.tolist(), strict=True),
        )
    if op.metadatas is not None:
        upserts: list[tuple[int, str, str, MetadataValue]] = []
        removals: list[tuple[int, str]] = []
        for rowid, i in pairs:
            md = op.metadatas[i]
            if md:
                upserts.extend(_metadata_rows(rowid, md))
                removals.extend((rowid, k) for k, v in md.items() if v is None)
        conn.executemany("DELETE FROM record_metadata WHERE record_rowid = ? AND key = ?", removals)
        conn.executemany(
            "INSERT OR REPLACE INTO record_metadata (record_rowid, key, vtype, value) "
            "VALUES (?, ?, ?, ?)",
            upserts,
        )
    return rowids


def _delete(conn: sqlite3.Connection, rowids: RowIds) -> IndexDelta:
    subquery, param = integer_list(rowids.tolist())
    conn.execute(f"DELETE FROM record_metadata WHERE record_rowid IN ({subquery})", (param,))
    conn.execute(f"DELETE FROM records WHERE rowid IN ({subquery})", (param,))
    return IndexDelta(removed=rowids)


def _merge_deltas(
    added: RowIds,
    updated: RowIds,
    embeddings: Vectors | None,
    new_pos: npt.NDArray[np.intp],
    old_pos: npt.NDArray[np.intp],
) -> IndexDelta:
    if embeddings is None:
        return IndexDelta()
    if len(updated) == 0:
        return IndexDelta(added=added, vectors=embeddings[new_pos])
    order = np.concatenate([new_pos, old_pos])
    return IndexDelta(
        removed=updated,
        added=np.concatenate([added, updated]),
        vectors=embeddings[order],
    )
