"""The errors every layer raises, named as chromadb names them.

The store raises these; the embedded client lets them through unchanged, the server turns each
into a gRPC status (``code``) with a ``google.rpc.ErrorInfo`` whose reason is the class's
``reason``, and the remote client raises the same class again from that reason. Several classes
also inherit ``ValueError`` or ``TypeError`` because that is what chromadb 0.4.24 raises there.

    ChromaError
    ├── InvalidArgumentError (ValueError)          INVALID_ARGUMENT
    │   └── BatchSizeExceededError                  INVALID_ARGUMENT (message says the limit)
    ├── InvalidArgumentTypeError (TypeError)       INVALID_ARGUMENT
    ├── InvalidDimensionException                  INVALID_ARGUMENT
    ├── DuplicateIDError                           INVALID_ARGUMENT
    ├── CollectionNotFoundError (ValueError)       NOT_FOUND  (lookup by name)
    ├── InvalidCollectionException                 NOT_FOUND  (a handle whose collection is gone)
    ├── TenantNotFoundError (ValueError)           NOT_FOUND
    ├── DatabaseNotFoundError (ValueError)         NOT_FOUND
    ├── UniqueConstraintError                      ALREADY_EXISTS
    ├── ResetNotAllowedError (ValueError)          FAILED_PRECONDITION
    ├── FailedPreconditionError (ValueError)       FAILED_PRECONDITION
    │   └── FolderInUseError                        FAILED_PRECONDITION (another process has it)
    ├── ResourceExhaustedError (ValueError)        RESOURCE_EXHAUSTED
    ├── WriteNotCommittedError                     ABORTED    (a write stream without commit)
    ├── AuthorizationError                         UNAUTHENTICATED
    ├── DataLossError                              DATA_LOSS  (a damaged or missing database)
    ├── InternalError                              INTERNAL
    ├── ServerUnavailableError (ConnectionError, ValueError)  UNAVAILABLE   (client side only)
    └── DeadlineExceededError (TimeoutError)       DEADLINE_EXCEEDED          (client side only)

docs/errors.md lists every reason with its code and class; the ``ErrorReason`` enum in
``protos/chroma_grpc/v1/errors.proto`` lists the reasons the server sends, and a test keeps the
two in step with ``ERROR_CLASSES``.
"""

from __future__ import annotations

import enum
from typing import ClassVar


class ErrorCode(enum.Enum):
    """Transport-neutral status codes; their names match ``grpc.StatusCode`` members."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    ABORTED = "ABORTED"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    DATA_LOSS = "DATA_LOSS"
    INTERNAL = "INTERNAL"
    UNAVAILABLE = "UNAVAILABLE"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"


class ChromaError(Exception):
    """Base of every error chroma-grpc raises on purpose.

    ``field`` names the request field at fault when there is one (it becomes a
    ``google.rpc.BadRequest`` field violation on the wire).
    """

    code: ClassVar[ErrorCode] = ErrorCode.INTERNAL
    reason: ClassVar[str] = "INTERNAL"

    def __init__(self, message: str = "", *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    @classmethod
    def name(cls) -> str:
        """chromadb's ``ChromaError.name()``."""
        return cls.__name__


class InvalidArgumentError(ChromaError, ValueError):
    code = ErrorCode.INVALID_ARGUMENT
    reason = "INVALID_ARGUMENT"


class BatchSizeExceededError(InvalidArgumentError):
    reason = "BATCH_SIZE_EXCEEDED"


class InvalidArgumentTypeError(ChromaError, TypeError):
    code = ErrorCode.INVALID_ARGUMENT
    reason = "INVALID_ARGUMENT_TYPE"


class InvalidDimensionException(ChromaError):
    code = ErrorCode.INVALID_ARGUMENT
    reason = "INVALID_DIMENSION"


class DuplicateIDError(ChromaError):
    code = ErrorCode.INVALID_ARGUMENT
    reason = "DUPLICATE_ID"


class CollectionNotFoundError(ChromaError, ValueError):
    code = ErrorCode.NOT_FOUND
    reason = "COLLECTION_NOT_FOUND"


class InvalidCollectionException(ChromaError):
    code = ErrorCode.NOT_FOUND
    reason = "INVALID_COLLECTION"


class UniqueConstraintError(ChromaError):
    code = ErrorCode.ALREADY_EXISTS
    reason = "UNIQUE_CONSTRAINT"


class ResetNotAllowedError(ChromaError, ValueError):
    code = ErrorCode.FAILED_PRECONDITION
    reason = "RESET_NOT_ALLOWED"


class FailedPreconditionError(ChromaError, ValueError):
    code = ErrorCode.FAILED_PRECONDITION
    reason = "FAILED_PRECONDITION"


class FolderInUseError(FailedPreconditionError):
    """A persistent store's data folder is already open in another process (or in this one):
    one folder has one owner. The message names the folder and the holder."""

    reason = "FOLDER_IN_USE"


class ResourceExhaustedError(ChromaError, ValueError):
    code = ErrorCode.RESOURCE_EXHAUSTED
    reason = "RESOURCE_EXHAUSTED"


class TenantNotFoundError(ChromaError, ValueError):
    """chromadb's "Could not connect to tenant ..." (a ValueError there too)."""

    code = ErrorCode.NOT_FOUND
    reason = "TENANT_NOT_FOUND"


class DatabaseNotFoundError(ChromaError, ValueError):
    """chromadb's "Could not connect to database ... for tenant ..."."""

    code = ErrorCode.NOT_FOUND
    reason = "DATABASE_NOT_FOUND"


class WriteNotCommittedError(ChromaError):
    """A write stream ended without its commit message: nothing was written."""

    code = ErrorCode.ABORTED
    reason = "WRITE_NOT_COMMITTED"


class AuthorizationError(ChromaError):
    code = ErrorCode.UNAUTHENTICATED
    reason = "UNAUTHENTICATED"


class DataLossError(ChromaError):
    """The data folder is damaged (a corrupt or missing database): nothing is served from it
    until an operator restores it; the message names the file and the damage."""

    code = ErrorCode.DATA_LOSS
    reason = "DATA_LOSS"


class InternalError(ChromaError):
    code = ErrorCode.INTERNAL
    reason = "INTERNAL"


class ServerUnavailableError(ChromaError, ConnectionError, ValueError):
    """The server cannot be reached (UNAVAILABLE); a ValueError as in chromadb's HttpClient.
    Raised by the client side only: the status comes from gRPC itself."""

    code = ErrorCode.UNAVAILABLE
    reason = "UNAVAILABLE"


class DeadlineExceededError(ChromaError, TimeoutError):
    """The call's deadline passed before the server answered (client side only)."""

    code = ErrorCode.DEADLINE_EXCEEDED
    reason = "DEADLINE_EXCEEDED"


ERROR_CLASSES: tuple[type[ChromaError], ...] = (
    InvalidArgumentError,
    BatchSizeExceededError,
    InvalidArgumentTypeError,
    InvalidDimensionException,
    DuplicateIDError,
    CollectionNotFoundError,
    InvalidCollectionException,
    UniqueConstraintError,
    ResetNotAllowedError,
    FailedPreconditionError,
    FolderInUseError,
    ResourceExhaustedError,
    AuthorizationError,
    DataLossError,
    InternalError,
    TenantNotFoundError,
    DatabaseNotFoundError,
    WriteNotCommittedError,
    ServerUnavailableError,
    DeadlineExceededError,
)
# Raised only by the client side, from a status without our ErrorInfo; the server never sends
# these reasons.
CLIENT_SIDE_ERRORS: tuple[type[ChromaError], ...] = (ServerUnavailableError, DeadlineExceededError)
ERRORS_BY_REASON: dict[str, type[ChromaError]] = {cls.reason: cls for cls in ERROR_CLASSES}
