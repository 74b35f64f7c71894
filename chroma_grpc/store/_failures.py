"""What callers see when something below the store fails: always one of our errors, decided here.

``Store`` is decorated with :func:`translating_failures`, so every public method (and opening)
lets a :class:`ChromaError` through unchanged and turns anything else into one, with a message
that names the operation and, for the database, the file:

* a full disk (``SQLITE_FULL``, ``ENOSPC``, ``EDQUOT``) -> ResourceExhaustedError saying so;
  the transaction was rolled back, so nothing of the call was written and earlier data stays;
* a damaged database (``SQLITE_CORRUPT``, ``SQLITE_NOTADB``) -> DataLossError; from then on
  the store refuses writes (they could spread the damage) until it is reopened, which checks
  the file and refuses to start if it is still damaged;
* a read-only file -> FailedPreconditionError; a value too large for SQLite, an integer
  outside 64 bits or a string that is not valid Unicode -> InvalidArgumentError;
* anything else is a bug: logged with its traceback, raised as InternalError naming the
  operation.

The embedded clients raise these unchanged, and the server maps them to gRPC codes
(RESOURCE_EXHAUSTED, DATA_LOSS, ...), so both transports tell the same story.
"""

from __future__ import annotations

import errno
import functools
import inspect
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from chroma_grpc.store.errors import (
    ChromaError,
    DataLossError,
    FailedPreconditionError,
    InternalError,
    InvalidArgumentError,
    ResourceExhaustedError,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

# Primary SQLite result codes (https://sqlite.org/rescode.html).
_SQLITE_READONLY = 8
_SQLITE_IOERR = 10
_SQLITE_CORRUPT = 11
_SQLITE_FULL = 13
_SQLITE_TOOBIG = 18
_SQLITE_NOTADB = 26
# Python < 3.11 has no ``sqlite_errorcode``: recognise SQLite's fixed messages instead.
_CODE_BY_MESSAGE = {
    "attempt to write a readonly database": _SQLITE_READONLY,
    "disk I/O error": _SQLITE_IOERR,
    "database disk image is malformed": _SQLITE_CORRUPT,
    "database or disk is full": _SQLITE_FULL,
    "string or blob too big": _SQLITE_TOOBIG,
    "file is not a database": _SQLITE_NOTADB,
}
WRITE_OPERATIONS = frozenset(
    {
        "add",
        "upsert",
        "update",
        "delete",
        "create_collection",
        "modify_collection",
        "delete_collection",
        "reset",
    }
)


def damaged_message(file: str, detail: str) -> str:
    return (
        f"The database {file} is damaged ({detail}). chroma-grpc will not use it: stop every "
        "process using its folder, then restore the folder from a backup (`sqlite3 "
        f"{file} .recover` salvages what is still readable); the files under indexes/ are only "
        "a cache of the database and cannot replace it"
    )


def disk_full_message(file: str, operation: str) -> str:
    return (
        f"The disk is full: {operation} could not write to {file}. Nothing of this call was "
        "written and data written before is intact; free disk space on that filesystem, then "
        "retry (deleting records needs free space too: SQLite logs a change before applying it)"
    )


@dataclass
class FailureContext:
    """What the translation needs to know about one store: its file and whether it is damaged."""

    file: str
    damage: DataLossError | None = None

    def check_writable(self, operation: str) -> None:
        if self.damage is not None and operation in WRITE_OPERATIONS:
            raise DataLossError(f"{operation} refused: {self.damage.message}")

    def translate(self, error: Exception, operation: str) -> ChromaError:
        """The ChromaError to raise for ``error``, which happened during ``operation``."""
        translated = _translate(error, operation, self.file)
        if isinstance(translated, DataLossError):
            self.damage = translated
        return translated


def _sqlite_code(error: sqlite3.Error) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF  # the primary code of an extended one
    return _CODE_BY_MESSAGE.get(str(error))


def _translate(error: Exception, operation: str, file: str) -> ChromaError:
    if isinstance(error, sqlite3.Error):
        code = _sqlite_code(error)
        if code == _SQLITE_FULL:
            return ResourceExhaustedError(disk_full_message(file, operation))
        if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
            return DataLossError(damaged_message(file, f"{error}, found by {operation}"))
        if code == _SQLITE_READONLY:
            return FailedPreconditionError(
                f"{operation} cannot write to {file}: {error}. Check that the file and its "
                "folder are writable by this process and the disk is not mounted read-only"
            )
        if code == _SQLITE_IOERR:
            return InternalError(
                f"I/O error on {file} during {operation}: {error}. The disk or filesystem "
                "reported a failure (see the kernel log); nothing of this call was written"
            )
        if code == _SQLITE_TOOBIG:
            return InvalidArgumentError(
                f"{operation}: a value is too large to store ({error}); SQLite keeps at most "
                "1,000,000,000 bytes per document, metadata value or embedding"
            )
    elif isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return ResourceExhaustedError(disk_full_message(file, operation))
    elif isinstance(error, OverflowError):
        return InvalidArgumentError(
            f"{operation}: a number does not fit in a 64-bit integer, the largest SQLite "
            f"stores ({error})"
        )
    elif isinstance(error, UnicodeEncodeError):
        return InvalidArgumentError(
            f"{operation}: ids, documents, uris, metadata and filter strings must be valid "
            f"Unicode text; lone surrogates cannot be stored ({error})"
        )
    log.error("Unexpected error during %s on %s", operation, file, exc_info=error)
    return InternalError(
        f"Internal error during {operation}: {type(error).__name__}: {error}. This is a bug; "
        "the server log (or the traceback's cause) has the details"
    )


def translating_failures(cls: type[T]) -> type[T]:
    """Wrap ``__init__`` (as "open") and every public method of ``cls`` with the translation.

    The instance keeps its :class:`FailureContext` in ``_failures`` (set first in
    ``__init__``); public methods calling each other translate once, in the innermost call.
    """
    for name, member in list(vars(cls).items()):
        if inspect.isfunction(member) and (name == "__init__" or not name.startswith("_")):
            setattr(cls, name, _translated("open" if name == "__init__" else name, member))
    return cls


def _translated(operation: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        context: FailureContext | None = self.__dict__.get("_failures")
        if context is not None:
            context.check_writable(operation)
        try:
            return method(self, *args, **kwargs)
        except ChromaError:
            raise
        except Exception as error:
            context = self.__dict__.get("_failures") or FailureContext("the database")
            raise context.translate(error, operation) from error

    return wrapper
