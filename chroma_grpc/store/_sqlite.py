"""The SQLite file: connection settings, numbered schema migrations, and transactions.

SQLite is the source of truth; FAISS indexes are rebuilt from it. One connection is shared by
every thread and guarded by a re-entrant lock: statements are short, and one writer at a time is
what SQLite allows anyway. ``atomic()`` is the only way to write, so every mutation is exactly
one transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``, ``SAVEPOINT`` when nested), and WAL with
``synchronous=FULL`` makes a committed transaction durable before the call returns.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DB_FILENAME = "chroma.sqlite3"

# Append-only: a released migration is never edited; add a new numbered one instead.
MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE collections (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL UNIQUE,
            metadata TEXT,
            dimension INTEGER,
            space TEXT NOT NULL DEFAULT 'l2',
            tenant TEXT NOT NULL,
            database TEXT NOT NULL,
            applied_seq INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE records (
            rowid INTEGER PRIMARY KEY,
            collection_seq INTEGER NOT NULL REFERENCES collections(seq) ON DELETE CASCADE,
            id TEXT NOT NULL,
            document TEXT,
            uri TEXT,
            embedding BLOB,
            UNIQUE (collection_seq, id)
        );
        CREATE TABLE record_metadata (
            record_rowid INTEGER NOT NULL REFERENCES records(rowid) ON DELETE CASCADE,
            key TEXT NOT NULL,
            vtype TEXT NOT NULL,
            value,
            PRIMARY KEY (record_rowid, key)
        ) WITHOUT ROWID;
        CREATE INDEX record_metadata_by_value ON record_metadata (key, vtype, value);
        CREATE TABLE write_log (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            collection_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            n_records INTEGER NOT NULL,
            created_ns INTEGER NOT NULL
        );
        """,
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]


class Database:
    """A locked SQLite connection: ``path`` None means in memory."""

    def __init__(self, directory: str | os.PathLike[str] | None) -> None:
        self.directory = None if directory is None else Path(directory)
        if self.directory is None:
            target = ":memory:"
        else:
            self.directory.mkdir(parents=True, exist_ok=True)
            target = str(self.directory / DB_FILENAME)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves (sqlite3's implicit
        # transactions would otherwise start and end them behind our back).
        self.conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
        self.lock = threading.RLock()
        self._depth = 0
        self.conn.execute("PRAGMA foreign_keys = ON")
        if self.directory is not None:
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = FULL")
        self._migrate()

    def _migrate(self) -> None:
        """Apply every migration newer than the recorded version, each in its own transaction."""
        with self.atomic():
            self.conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version "
                "(version INTEGER PRIMARY KEY, applied_ns INTEGER NOT NULL)"
            )
            row = self.conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        current = row[0] or 0
        if current > SCHEMA_VERSION:
            raise RuntimeError(
                f"{DB_FILENAME} has schema version {current}, newer than this code's "
                f"{SCHEMA_VERSION}"
            )
        for version, script in MIGRATIONS:
            if version <= current:
                continue
            with self.atomic():
                for statement in script.split(";"):
                    if statement.strip():
                        self.conn.execute(statement)
                self.conn.execute(
                    "INSERT INTO schema_version (version, applied_ns) VALUES (?, ?)",
                    (version, time.time_ns()),
                )

    @contextmanager
    def atomic(self) -> Iterator[sqlite3.Connection]:
        """One transaction (a savepoint when nested); rolled back on any exception."""
        with self.lock:
            depth = self._depth
            name = f"sp{depth}"
            self.conn.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT {name}")
            self._depth += 1
            try:
                yield self.conn
            except BaseException:
                if depth == 0:
                    self.conn.execute("ROLLBACK")
                else:
                    self.conn.execute(f"ROLLBACK TO {name}")
                    self.conn.execute(f"RELEASE {name}")
                raise
            else:
                try:
                    self.conn.execute("COMMIT" if depth == 0 else f"RELEASE {name}")
                except BaseException:
                    if self.conn.in_transaction and depth == 0:
                        self.conn.execute("ROLLBACK")
                    raise
            finally:
                self._depth -= 1

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The connection for a consistent sequence of reads (holds the lock, no write)."""
        with self.lock:
            yield self.conn

    def wipe(self) -> None:
        """Delete every row of user data and shrink the file, so nothing remains on disk."""
        with self.atomic() as conn:
            for table in ("record_metadata", "records", "collections", "write_log"):
                conn.execute(f"DELETE FROM {table}")
        with self.lock:
            self.conn.execute("VACUUM")
            if self.directory is not None:
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self.lock:
            self.conn.close()
