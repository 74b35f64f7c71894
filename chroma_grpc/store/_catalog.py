"""The ``collections`` table: one row per collection, metadata as typed JSON.

JSON keeps Python's int / float / bool / str distinction on the way back (``1`` vs ``1.0`` vs
``true``), which is all collection metadata needs; it is never filtered on.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass
from typing import Any, cast

from chroma_grpc.store.errors import UniqueConstraintError
from chroma_grpc.store.types import (
    DEFAULT_DATABASE,
    DEFAULT_TENANT,
    CollectionInfo,
    DistanceSpace,
    MetadataValue,
)

_COLUMNS = "seq, id, name, metadata, dimension, space, tenant, database"


@dataclass(frozen=True)
class CollectionRow:
    """A collection plus what only the store needs: its row key and its fixed distance space."""

    seq: int
    info: CollectionInfo
    space: DistanceSpace

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def dimension(self) -> int | None:
        return self.info.dimension


def _row(values: tuple[Any, ...]) -> CollectionRow:
    seq, id_, name, metadata, dimension, space, tenant, database = values
    info = CollectionInfo(
        id=id_,
        name=name,
        metadata=None if metadata is None else json.loads(metadata),
        dimension=dimension,
        tenant=tenant,
        database=database,
    )
    return CollectionRow(seq=seq, info=info, space=cast(DistanceSpace, space))


def by_id(conn: sqlite3.Connection, collection_id: str) -> CollectionRow | None:
    found = conn.execute(f"SELECT {_COLUMNS} FROM collections WHERE id = ?", (collection_id,))
    values = found.fetchone()
    return None if values is None else _row(values)


def by_name(conn: sqlite3.Connection, name: str) -> CollectionRow | None:
    found = conn.execute(f"SELECT {_COLUMNS} FROM collections WHERE name = ?", (name,))
    values = found.fetchone()
    return None if values is None else _row(values)


def applied_seq(conn: sqlite3.Connection, collection_seq: int) -> int:
    """The sequence number of the last write applied to the collection (0 if none)."""
    found = conn.execute("SELECT applied_seq FROM collections WHERE seq = ?", (collection_seq,))
    return int(found.fetchone()[0])


def all_ids(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT id FROM collections ORDER BY seq")]


def listing(conn: sqlite3.Connection, limit: int, offset: int) -> list[CollectionRow]:
    """Creation order: stable across calls and restarts."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM collections ORDER BY seq LIMIT ? OFFSET ?", (limit, offset)
    )
    return [_row(v) for v in rows.fetchall()]


def count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM collections").fetchone()[0])


def _dump(metadata: dict[str, MetadataValue] | None) -> str | None:
    return None if metadata is None else json.dumps(metadata)


def insert(
    conn: sqlite3.Connection, name: str, metadata: dict[str, MetadataValue] | None
) -> CollectionRow:
    space = (metadata or {}).get("hnsw:space", "l2")
    conn.execute(
        "INSERT INTO collections (id, name, metadata, space, tenant, database) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (str(uuid.uuid4()), name, _dump(metadata), space, DEFAULT_TENANT, DEFAULT_DATABASE),
    )
    row = by_name(conn, name)
    assert row is not None
    return row


def update(
    conn: sqlite3.Connection,
    row: CollectionRow,
    name: str | None,
    metadata: dict[str, MetadataValue] | None,
) -> CollectionRow:
    """Rename and/or replace the metadata; an existing target name is UniqueConstraintError."""
    if name is not None and name != row.info.name:
        if by_name(conn, name) is not None:
            raise UniqueConstraintError(f"Collection {name} already exists", field="name")
        conn.execute("UPDATE collections SET name = ? WHERE seq = ?", (name, row.seq))
    if metadata is not None:
        conn.execute(
            "UPDATE collections SET metadata = ? WHERE seq = ?", (_dump(metadata), row.seq)
        )
    fresh = by_id(conn, row.id)
    assert fresh is not None
    return fresh


def delete(conn: sqlite3.Connection, row: CollectionRow) -> None:
    """Remove the collection and all its records in the caller's transaction."""
    conn.execute(
        "DELETE FROM record_metadata WHERE record_rowid IN "
        "(SELECT rowid FROM records WHERE collection_seq = ?)",
        (row.seq,),
    )
    conn.execute("DELETE FROM records WHERE collection_seq = ?", (row.seq,))
    conn.execute("DELETE FROM collections WHERE seq = ?", (row.seq,))
