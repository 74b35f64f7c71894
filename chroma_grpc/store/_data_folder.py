"""A persistent store's data folder: one owner process, and no silent fresh start over old data.

Layout: ``chroma.sqlite3`` (+ ``-wal``/``-shm``, SQLite's), ``indexes/`` (saved HNSW graphs,
a cache of the database; ``indexes/orphaned/`` holds files the database did not explain, set
aside instead of deleted) and ``chroma_grpc.lock``.

**One owner.** Two processes on one folder would each keep their own vector indexes and answer
wrongly, so the second opener fails at once. The lock is ``flock(LOCK_EX | LOCK_NB)`` on
``chroma_grpc.lock``: the kernel releases it when the holder closes it or dies in any way (kill -9
included), so a crashed owner never blocks a restart and there is no stale lock to clean up.
The holder writes its pid into the file only so the second opener's message can name it; the
lock itself is the kernel's. The file is never deleted (unlinking a lock file races with a
process about to lock it). ``flock`` locks belong to an open file description, so a second
store on the same folder fails in the same process too (the Python client shares one store per
folder instead). Network filesystems may not honour ``flock``: keep data folders on local disks.

**No silent fresh start.** SQLite treats a missing or zero-length file as a new, empty
database. When the folder still holds what only an existing database explains (saved index
files, a write-ahead log), that is damage: opening refuses with DataLossError instead of
starting empty and discarding the rest.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
from pathlib import Path

from chroma_grpc.store._index_files import DIRECTORY as INDEX_DIRECTORY
from chroma_grpc.store._sqlite import DB_FILENAME
from chroma_grpc.store.errors import DataLossError, FolderInUseError

LOCK_FILENAME = "chroma_grpc.lock"


class DataFolder:
    """An opened data folder: created if needed, locked for this process, checked for damage.

    Raises FolderInUseError (another owner) or DataLossError (a missing or empty database
    beside data it should describe). :meth:`release` (or the process ending) unlocks it.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.directory = Path(path)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = _lock(self.directory)
        try:
            check_database_present(self.directory)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Unlock (idempotent). The pid stays in the file; only the kernel lock counts."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the only descriptor releases the flock


def _lock(directory: Path) -> int:
    """The descriptor holding the exclusive lock on ``directory``'s lock file."""
    fd = os.open(directory / LOCK_FILENAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _describe_holder(fd)
        os.close(fd)
        raise FolderInUseError(
            f"The data folder {directory} is in use by {holder}. One folder is opened by one "
            "process at a time (a chroma-grpc server or a PersistentClient): stop that "
            "process, connect to its server with HttpClient instead, or use another folder"
        ) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _describe_holder(fd: int) -> str:
    """``process 1234 (its command line)``, as far as the lock file and /proc tell."""
    try:
        pid = int(os.pread(fd, 32, 0).decode(errors="replace").strip())
    except (OSError, ValueError):
        return "another process (it has not written its pid yet)"
    if pid == os.getpid():
        return f"this process (pid {pid}), which already has a store open on it"
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        command = raw.replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        command = ""
    return f"process {pid}" + (f" ({command[:200]})" if command else "")


def check_database_present(directory: Path) -> None:
    """DataLossError if the database is missing or empty while the folder holds data."""
    database = directory / DB_FILENAME
    size = database.stat().st_size if database.exists() else None
    if size:
        return
    evidence = []
    indexes = directory / INDEX_DIRECTORY
    if indexes.is_dir():
        saved = [p for p in indexes.rglob("*") if p.is_file() and not p.name.startswith(".tmp-")]
        if saved:
            evidence.append(f"{len(saved)} saved index file(s) under {indexes}")
    for suffix in ("-wal", "-journal"):
        side = directory / (DB_FILENAME + suffix)
        if side.exists() and side.stat().st_size > 0:
            evidence.append(f"{side.name} ({side.stat().st_size} bytes)")
    if evidence:
        state = "missing" if size is None else "empty (0 bytes)"
        raise DataLossError(
            f"The database {database} is {state}, but the folder holds data only it explains: "
            f"{', '.join(evidence)}. This is damage, not a fresh start: restore {DB_FILENAME} "
            "from a backup. To start an empty database here on purpose, first move the "
            "folder's contents elsewhere"
        )


def copy_data_folder(folder: Path, into: Path, database_name: str = DB_FILENAME) -> list[str]:
    """A consistent copy of a data folder, even one in use: SQLite's online backup of the
    database (its committed transactions, write-ahead log included) as ``database_name``, and
    the saved index files, which a store checks against the database before using them (files
    still being written, ``*.tmp``, are left out). Returns the copied names, relative to
    ``into``."""
    into.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(f"{(folder / DB_FILENAME).as_uri()}?mode=ro", uri=True)
    target = sqlite3.connect(into / database_name)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    copied = [database_name]
    indexes = folder / INDEX_DIRECTORY
    if indexes.is_dir():
        (into / INDEX_DIRECTORY).mkdir(exist_ok=True)
        for path in sorted(indexes.iterdir()):
            if path.is_file() and not path.name.endswith(".tmp"):
                name = f"{INDEX_DIRECTORY}/{path.name}"
                shutil.copyfile(path, into / name)
                copied.append(name)
    return copied
