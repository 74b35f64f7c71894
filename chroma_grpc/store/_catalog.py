"""The catalog: tenants, their databases, and the ``collections`` table inside them.

A collection lives in one database of one tenant (chromadb 0.4.15+); its name is unique within
that database only, its id across the store. Collection metadata is stored as typed JSON, which
keeps Python's int / float / bool / str distinction on the way back (``1`` vs ``1.0`` vs
``true``); it is never filtered on. Every function here runs inside the caller's transaction or
read and assumes arguments already checked (:mod:`chroma_grpc.store.validation`).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass
from typing import Any, cast

from chroma_grpc.store.errors import (
    DatabaseNotFoundError,
    TenantNotFoundError,
    UniqueConstraintError,
)
from chroma_grpc.store.types import (
    CollectionInfo,
    DatabaseInfo,
    DistanceSpace,
    MetadataValue,
    TenantInfo,
)
from chroma_grpc.store.validation import (
    database_exists_message,
    database_not_found_message,
    scope_database_error,
    scope_tenant_error,
    tenant_exists_message,
    tenant_not_found_message,
    unique_collection_error,
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


def by_name(
    conn: sqlite3.Connection, tenant: str, database: str, name: str
) -> CollectionRow | None:
    found = conn.execute(
        f"SELECT {_COLUMNS} FROM collections WHERE tenant = ? AND database = ? AND name = ?",
        (tenant, database, name),
    )
    values = found.fetchone()
    return None if values is None else _row(values)


def applied_seq(conn: sqlite3.Connection, collection_seq: int) -> int:
    """The sequence number of the last write applied to the collection (0 if none)."""
    found = conn.execute("SELECT applied_seq FROM collections WHERE seq = ?", (collection_seq,))
    return int(found.fetchone()[0])


def all_ids(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT id FROM collections ORDER BY seq")]


def listing(
    conn: sqlite3.Connection, tenant: str, database: str, limit: int, offset: int
) -> list[CollectionRow]:
    """The database's collections in creation order: stable across calls and restarts."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM collections WHERE tenant = ? AND database = ? "
        "ORDER BY seq LIMIT ? OFFSET ?",
        (tenant, database, limit, offset),
    )
    return [_row(v) for v in rows.fetchall()]


def count(conn: sqlite3.Connection, tenant: str, database: str) -> int:
    found = conn.execute(
        "SELECT COUNT(*) FROM collections WHERE tenant = ? AND database = ?", (tenant, database)
    )
    return int(found.fetchone()[0])


def _dump(metadata: dict[str, MetadataValue] | None) -> str | None:
    return None if metadata is None else json.dumps(metadata)


def insert(
    conn: sqlite3.Connection,
    tenant: str,
    database: str,
    name: str,
    metadata: dict[str, MetadataValue] | None,
) -> CollectionRow:
    """A new collection in an existing database (the caller checked the name is free)."""
    space = (metadata or {}).get("hnsw:space", "l2")
    conn.execute(
        "INSERT INTO collections (id, name, metadata, space, tenant, database) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (str(uuid.uuid4()), name, _dump(metadata), space, tenant, database),
    )
    row = by_name(conn, tenant, database, name)
    assert row is not None
    return row


def update(
    conn: sqlite3.Connection,
    row: CollectionRow,
    name: str | None,
    metadata: dict[str, MetadataValue] | None,
) -> CollectionRow:
    """Rename and/or replace the metadata; a name taken in the collection's database is
    UniqueConstraintError."""
    if name is not None and name != row.info.name:
        if by_name(conn, row.info.tenant, row.info.database, name) is not None:
            raise unique_collection_error(name)
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


# -- tenants and databases ---------------------------------------------------------------------


def find_tenant(conn: sqlite3.Connection, name: str) -> TenantInfo | None:
    found = conn.execute("SELECT name FROM tenants WHERE name = ?", (name,)).fetchone()
    return None if found is None else TenantInfo(name=found[0])


def find_database(conn: sqlite3.Connection, tenant: str, name: str) -> DatabaseInfo | None:
    found = conn.execute(
        "SELECT id, name, tenant FROM databases WHERE tenant = ? AND name = ?", (tenant, name)
    ).fetchone()
    return None if found is None else DatabaseInfo(id=found[0], name=found[1], tenant=found[2])


def get_tenant(conn: sqlite3.Connection, name: str) -> TenantInfo:
    """The tenant, or TenantNotFoundError with chromadb's "Tenant <name> not found"."""
    found = find_tenant(conn, name)
    if found is None:
        raise TenantNotFoundError(tenant_not_found_message(name), field="name")
    return found


def get_database(conn: sqlite3.Connection, tenant_name: str, name: str) -> DatabaseInfo:
    """The database, or TenantNotFoundError / DatabaseNotFoundError (chromadb's texts)."""
    get_tenant(conn, tenant_name)  # a missing tenant is the first fault
    found = find_database(conn, tenant_name, name)
    if found is None:
        raise DatabaseNotFoundError(database_not_found_message(name, tenant_name), field="name")
    return found


def require_scope(conn: sqlite3.Connection, tenant_name: str, database_name: str) -> None:
    """The scope of a collection call exists, else chromadb's "Could not connect to ..."."""
    if find_tenant(conn, tenant_name) is None:
        raise scope_tenant_error(tenant_name)
    if find_database(conn, tenant_name, database_name) is None:
        raise scope_database_error(database_name, tenant_name)


def insert_tenant(conn: sqlite3.Connection, name: str) -> TenantInfo:
    if find_tenant(conn, name) is not None:
        raise UniqueConstraintError(tenant_exists_message(name), field="name")
    conn.execute("INSERT INTO tenants (name) VALUES (?)", (name,))
    return TenantInfo(name=name)


def insert_database(conn: sqlite3.Connection, tenant_name: str, name: str) -> DatabaseInfo:
    """A new database of an existing tenant (TenantNotFoundError otherwise)."""
    get_tenant(conn, tenant_name)
    if find_database(conn, tenant_name, name) is not None:
        raise UniqueConstraintError(database_exists_message(name, tenant_name), field="name")
    info = DatabaseInfo(id=str(uuid.uuid4()), name=name, tenant=tenant_name)
    conn.execute(
        "INSERT INTO databases (id, name, tenant) VALUES (?, ?, ?)", (info.id, name, tenant_name)
    )
    return info
