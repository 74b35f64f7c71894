"""The SQLite file: connection settings, numbered schema migrations, and transactions.

SQLite is the source of truth; FAISS indexes are rebuilt from it. One writer connection is
shared by every thread and guarded by a re-entrant lock: one writer at a time is what SQLite
allows anyway. ``atomic()`` is the only way to write, so every mutation is exactly one
transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``, ``SAVEPOINT`` when nested), and WAL with
``synchronous=FULL`` makes a committed transaction durable before the call returns.

Reads of a file never wait for a write: ``reading()`` hands each thread a read-only connection
of its own (pooled) holding one WAL snapshot for the block, so a large write on one collection
(seconds for 100k records) never delays reads of another. A thread inside ``atomic()`` reads
through the writer connection, seeing its own uncommitted changes. An in-memory database has one
connection only (another one would be another database), so there reads wait for writes.

Opening a file checks it first (``PRAGMA quick_check``: every page's structure, about 0.2 s
per 100k records of dimension 384 when cached, the time to read the file otherwise) and
refuses a damaged one with :class:`DataLossError` naming the file and the damage, instead of
serving wrong answers.

Space is given back: the file uses ``auto_vacuum = INCREMENTAL`` (schema migration 2 converts
older files once), and :meth:`Database.reclaim` returns free pages to the filesystem in short
steps after large deletes; the WAL is truncated back to ``WAL_SIZE_LIMIT`` after checkpoints.

Lists of values (ids, rowids, ``$in`` operands) reach SQL as one JSON parameter read by
``json_each``, which is much faster than thousands of ``?`` and has no variable-count limit.
``json_each`` ends a string at U+0000, so :func:`text_list` encodes NUL characters away and
decodes them in SQL: every string matches exactly, NUL included.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from chroma_grpc.store._failures import damaged_message
from chroma_grpc.store.errors import DataLossError, FailedPreconditionError, InvalidArgumentError
from chroma_grpc.store.types import DEFAULT_DATABASE, DEFAULT_TENANT

log = logging.getLogger(__name__)

DB_FILENAME = "chroma.sqlite3"


@dataclass(frozen=True)
class Migration:
    """One schema step. ``in_transaction=False`` is for statements SQLite refuses inside a
    transaction (``VACUUM``); such a step must be safe to run again, because a crash before its
    version is recorded repeats it."""

    version: int
    script: str
    in_transaction: bool = True
    # Rebuilding a table that others reference (SQLite cannot drop a constraint in place) needs
    # foreign keys off, or dropping the old table would cascade to its rows' dependants.
    foreign_keys_off: bool = False


# Append-only: a released migration is never edited; add a new numbered one instead.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
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
    # Deleted records' pages become reusable but the file never shrank; incremental
    # auto-vacuum lets ``Database.reclaim`` give them back. Changing it needs one VACUUM.
    Migration(2, "PRAGMA auto_vacuum = INCREMENTAL; VACUUM", in_transaction=False),
    # Tenants and databases (chromadb 0.4.15+): collections live in a database of a tenant, and
    # a name is unique within its database only. Collections already stored stay in the default
    # tenant and database; their ``seq`` (the records' key) and the AUTOINCREMENT high-water mark
    # are kept, so no seq is ever reused.
    Migration(
        3,
        """
        CREATE TABLE tenants (
            name TEXT PRIMARY KEY
        );
        CREATE TABLE databases (
            id TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            tenant TEXT NOT NULL REFERENCES tenants(name),
            PRIMARY KEY (tenant, name)
        );
        INSERT INTO tenants (name) VALUES ('default_tenant');
        INSERT INTO databases (id, name, tenant)
            VALUES ('00000000-0000-0000-0000-000000000000', 'default_database', 'default_tenant');
        CREATE TABLE collections_v3 (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            metadata TEXT,
            dimension INTEGER,
            space TEXT NOT NULL DEFAULT 'l2',
            tenant TEXT NOT NULL,
            database TEXT NOT NULL,
            applied_seq INTEGER NOT NULL DEFAULT 0,
            UNIQUE (tenant, database, name),
            FOREIGN KEY (tenant, database) REFERENCES databases(tenant, name)
        );
        INSERT INTO collections_v3
            (seq, id, name, metadata, dimension, space, tenant, database, applied_seq)
            SELECT seq, id, name, metadata, dimension, space,
                'default_tenant', 'default_database', applied_seq
            FROM collections;
        DELETE FROM sqlite_sequence WHERE name = 'collections_v3';
        INSERT INTO sqlite_sequence (name, seq)
            SELECT 'collections_v3', seq FROM sqlite_sequence WHERE name = 'collections';
        DROP TABLE collections;
        ALTER TABLE collections_v3 RENAME TO collections;
        CREATE INDEX collections_by_scope ON collections (tenant, database, seq)
        """,
        foreign_keys_off=True,
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1].version
# After a checkpoint the WAL is cut back to this size, instead of staying as large as the
# largest transaction ever written.
WAL_SIZE_LIMIT = 32 * 1024 * 1024
# Reclaim once a quarter of the file (and at least RECLAIM_MIN_PAGES) is free, in steps of
# RECLAIM_STEP_PAGES (~30 ms each) with the lock released in between.
RECLAIM_MIN_PAGES = 64
RECLAIM_STEP_PAGES = 2048
# quick_check reports at most this many problems; the message quotes the first few.
CHECK_MAX_ERRORS = 10
# Reader connections map the file instead of copying each page through read() into a 2 MB
# page cache of their own: the OS page cache is shared by every reader, and a lookup touches
# memory, not a system call. Measured at 100k records: fetching 1,000 records by rowid (a
# batch query's payload) 28 -> 10 ms; sequential scans gain nothing. SQLite caps the size at
# its compile-time limit (2 GiB by default); the rest of a larger file is read as before.
READER_MMAP_BYTES = 1 << 40


def text_list(values: Iterable[str]) -> tuple[str, str]:
    """``(subquery, parameter)``: ``SELECT`` yielding exactly ``values``, NUL characters included.

    Strings without U+0000 (nearly always) go through ``json_each`` as they are. Otherwise each
    string is escaped so it holds no NUL (U+0001 becomes U+0001 ``a``, U+0000 becomes U+0001
    ``b``) and ``replace`` (which, unlike ``json_each``, keeps NULs) undoes it in SQL.
    """
    values = list(values)
    payload = json.dumps(values, ensure_ascii=False)
    if "\\u0000" not in payload:
        return "SELECT value FROM json_each(?)", payload
    escaped = [v.replace("\x01", "\x01a").replace("\x00", "\x01b") for v in values]
    return (
        "SELECT replace(replace(value, char(1, 98), char(0)), char(1, 97), char(1)) "
        "FROM json_each(?)",
        json.dumps(escaped, ensure_ascii=False),
    )


def integer_list(values: Iterable[int]) -> tuple[str, str]:
    """``(subquery, parameter)``: ``SELECT`` yielding the integers ``values``."""
    return "SELECT value FROM json_each(?)", json.dumps(list(values))


def check_parameter_count(conn: sqlite3.Connection, count: int) -> None:
    """InvalidArgumentError if a statement would bind more values than SQLite accepts.

    Only filters with very many distinct conditions get there (32,766 by default; lists of
    values inside ``$in`` / ``$nin`` count as one), so the advice is about those.
    """
    getlimit = getattr(conn, "getlimit", None)  # Python 3.11+
    which = getattr(sqlite3, "SQLITE_LIMIT_VARIABLE_NUMBER", None)
    limit = int(getlimit(which)) if getlimit is not None else 32766
    if count > limit:
        raise InvalidArgumentError(
            f"where: this filter needs {count} values bound to SQL, more than SQLite's limit of "
            f"{limit}; compare a key with many values through one $in / $nin list instead of "
            "one condition per value",
            field="where",
        )


class Database:
    """A locked SQLite connection: ``path`` None means in memory.

    Raises DataLossError when the file is damaged (the connection is closed again).
    """

    def __init__(self, directory: str | os.PathLike[str] | None) -> None:
        self.directory = None if directory is None else Path(directory)
        if self.directory is None:
            target = ":memory:"
        else:
            self.directory.mkdir(parents=True, exist_ok=True)
            target = str(self.directory / DB_FILENAME)
        self.file = target
        # isolation_level=None: we issue BEGIN/COMMIT ourselves (sqlite3's implicit
        # transactions would otherwise start and end them behind our back).
        self.conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
        self.lock = threading.RLock()
        self._depth = 0
        self._writer_thread: int | None = None  # the thread inside atomic(), if any
        # Read-only connections of a file (None in memory), lent to one thread at a time.
        self._idle_readers: list[sqlite3.Connection] | None = None if self.directory is None else []
        self._readers_lock = threading.Lock()
        self._closed = False
        self._reading = threading.local()  # the connection this thread is reading through
        try:
            self.conn.execute("PRAGMA foreign_keys = ON")
            if self.directory is not None:
                self.conn.execute("PRAGMA journal_mode = WAL")
                self.conn.execute("PRAGMA synchronous = FULL")
                self.conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
                self._check()
            self._migrate()
        except BaseException:
            self.conn.close()
            raise

    def _check(self) -> None:
        """DataLossError naming the file and the damage if SQLite finds its pages inconsistent.

        ``quick_check`` reads every page and checks its structure (it skips only the
        index-vs-table cross check of ``integrity_check``, which costs three times as much).
        Damage it cannot see: garbage that lands inside a value, since SQLite keeps no
        checksums of content.
        """
        try:
            problems = [r[0] for r in self.conn.execute(f"PRAGMA quick_check({CHECK_MAX_ERRORS})")]
        except sqlite3.DatabaseError as error:  # too damaged to even walk
            problems = [str(error)]
        if problems != ["ok"]:
            raise DataLossError(damaged_message(self.file, "; ".join(problems)))

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
            raise FailedPreconditionError(
                f"{self.file} has schema version {current}, newer than this code's "
                f"{SCHEMA_VERSION}: it was written by a newer chroma-grpc; upgrade to open it"
            )
        pending = [m for m in MIGRATIONS if m.version > current]
        for migration in pending:
            if current:
                log.info("%s: migrating to schema version %d", self.file, migration.version)
            statements = [s for s in migration.script.split(";") if s.strip()]
            if not migration.in_transaction:
                with self.lock:
                    for statement in statements:
                        self.conn.execute(statement)
                    self._checkpoint()
            if migration.foreign_keys_off:
                self.conn.execute("PRAGMA foreign_keys = OFF")  # a no-op inside a transaction
            try:
                with self.atomic():
                    if migration.in_transaction:
                        for statement in statements:
                            self.conn.execute(statement)
                    if migration.foreign_keys_off:
                        self._check_foreign_keys(migration.version)
                    self.conn.execute(
                        "INSERT INTO schema_version (version, applied_ns) VALUES (?, ?)",
                        (migration.version, time.time_ns()),
                    )
            finally:
                if migration.foreign_keys_off:
                    self.conn.execute("PRAGMA foreign_keys = ON")
        if pending and current:  # tables rebuilt by a migration leave free pages: give them back
            with self.lock:
                self.conn.executescript("PRAGMA incremental_vacuum;")
                self._checkpoint()

    def _check_foreign_keys(self, version: int) -> None:
        """DataLossError (the migration rolls back) if a rebuilt table left a dangling reference."""
        dangling = self.conn.execute("PRAGMA foreign_key_check").fetchall()
        if dangling:
            raise DataLossError(
                damaged_message(
                    self.file,
                    f"migrating to schema version {version} would leave {len(dangling)} rows "
                    f"referring to missing rows (first: {dangling[0]})",
                )
            )

    @contextmanager
    def atomic(self) -> Iterator[sqlite3.Connection]:
        """One transaction (a savepoint when nested); rolled back on any exception."""
        with self.lock:
            depth = self._depth
            name = f"sp{depth}"
            self.conn.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT {name}")
            self._depth += 1
            self._writer_thread = threading.get_ident()
            try:
                yield self.conn
            except BaseException:
                # SQLite may already have rolled back by itself (e.g. on SQLITE_FULL): never let
                # a failing ROLLBACK hide the error that caused it.
                with suppress(sqlite3.Error):
                    if depth == 0:
                        if self.conn.in_transaction:
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
                        with suppress(sqlite3.Error):
                            self.conn.execute("ROLLBACK")
                    raise
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._writer_thread = None

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """A connection for a consistent sequence of reads: one snapshot, never a write.

        A file's readers do not wait for writers (see the module docstring); nested blocks on
        one thread share their connection and snapshot.
        """
        if self._idle_readers is None or self._writer_thread == threading.get_ident():
            with self.lock:
                yield self.conn
            return
        nested: sqlite3.Connection | None = getattr(self._reading, "conn", None)
        if nested is not None:
            yield nested
            return
        conn = self._lend_reader()
        self._reading.conn = conn
        try:
            conn.execute("BEGIN")  # deferred: the snapshot starts with the first read
            try:
                yield conn
            finally:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")  # nothing to keep: it only read
        finally:
            self._reading.conn = None
            self._return_reader(conn)

    @contextmanager
    def writer(self) -> Iterator[sqlite3.Connection]:
        """The writer connection, locked, outside any transaction: for settings of the
        connection that writes (``PRAGMA max_page_count``), never for reads or writes."""
        with self.lock:
            yield self.conn

    def _lend_reader(self) -> sqlite3.Connection:
        with self._readers_lock:
            assert self._idle_readers is not None
            if self._closed:
                raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
            if self._idle_readers:
                return self._idle_readers.pop()
        conn = sqlite3.connect(self.file, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA query_only = ON")
        conn.execute(f"PRAGMA mmap_size = {READER_MMAP_BYTES}")
        return conn

    def _return_reader(self, conn: sqlite3.Connection) -> None:
        """Back to the pool; closed instead once the database is (never under a reader)."""
        with self._readers_lock:
            if not self._closed and self._idle_readers is not None:
                self._idle_readers.append(conn)
                return
        conn.close()

    def wipe(self) -> None:
        """Delete every row of user data and shrink the file, so nothing remains on disk."""
        with self.atomic() as conn:
            for table in ("record_metadata", "records", "collections", "write_log"):
                conn.execute(f"DELETE FROM {table}")
            # Tenants and databases go too, but for the defaults (which always exist).
            conn.execute(
                "DELETE FROM databases WHERE NOT (tenant = ? AND name = ?)",
                (DEFAULT_TENANT, DEFAULT_DATABASE),
            )
            conn.execute("DELETE FROM tenants WHERE name != ?", (DEFAULT_TENANT,))
        with self.lock:
            self.conn.execute("VACUUM")
            self._checkpoint()

    def reclaim(self) -> None:
        """Give free pages back to the filesystem once a quarter of the file is free.

        Called after deletes. Each step moves at most ``RECLAIM_STEP_PAGES`` pages and commits
        (tens of milliseconds), and the lock is released between steps so other calls go on.
        Housekeeping only: a failure (say, a full disk) is logged, never raised, because the
        delete that called it has committed.
        """
        try:
            with self.lock:
                free, total = self._page_counts()
            if free < RECLAIM_MIN_PAGES or free * 4 < total:
                return
            while free:
                with self.lock:
                    # executescript steps the pragma to the end; execute() would free one page.
                    self.conn.executescript(f"PRAGMA incremental_vacuum({RECLAIM_STEP_PAGES});")
                    new_free, _ = self._page_counts()
                if new_free >= free:  # nothing moved (e.g. auto_vacuum is off): stop
                    break
                free = new_free
            with self.lock:
                self._checkpoint()
        except sqlite3.Error as error:
            log.warning(
                "%s: could not give free space back to the filesystem: %s", self.file, error
            )

    def _page_counts(self) -> tuple[int, int]:
        free = self.conn.execute("PRAGMA freelist_count").fetchone()[0]
        total = self.conn.execute("PRAGMA page_count").fetchone()[0]
        return int(free), int(total)

    def _checkpoint(self) -> None:
        """Copy the WAL into the file and truncate it, so the file sizes show freed space."""
        if self.directory is not None:
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def close(self) -> None:
        """Close the connections; one lent to a reader closes when the reader is done."""
        with self.lock:
            with self._readers_lock:
                self._closed = True
                idle = self._idle_readers or []
                if self._idle_readers is not None:
                    self._idle_readers = []
            for reader in idle:
                reader.close()
            self.conn.close()
