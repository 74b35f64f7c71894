"""The exceptions chroma-grpc raises, importable under chromadb 0.4.24's names.

Every class the store raises is re-exported from :mod:`chroma_grpc.store.errors` (both
transports raise exactly these). chromadb names the store never raises are defined here as
subclasses of :class:`ChromaError` so that ``except chromadb.errors.X`` code keeps working::

    ChromaError
    ├── (store classes: InvalidArgumentError, InvalidDimensionException, DuplicateIDError,
    │    CollectionNotFoundError = NotFoundError, InvalidCollectionException,
    │    UniqueConstraintError, AuthorizationError, WriteNotCommittedError,
    │    ServerUnavailableError, ...; docs/errors.md lists them all)
    ├── IDAlreadyExistsError                       ALREADY_EXISTS
    ├── InvalidUUIDError                           INVALID_ARGUMENT
    └── InvalidHTTPVersion                         INVALID_ARGUMENT
"""

from __future__ import annotations

from chroma_grpc.store.errors import (
    ERRORS_BY_REASON,
    AuthorizationError,
    BatchSizeExceededError,
    ChromaError,
    CollectionNotFoundError,
    DatabaseNotFoundError,
    DataLossError,
    DeadlineExceededError,
    DuplicateIDError,
    ErrorCode,
    FailedPreconditionError,
    FolderInUseError,
    InternalError,
    InvalidArgumentError,
    InvalidArgumentTypeError,
    InvalidCollectionException,
    InvalidDimensionException,
    ResetNotAllowedError,
    ResourceExhaustedError,
    ServerUnavailableError,
    TenantNotFoundError,
    UniqueConstraintError,
    WriteNotCommittedError,
)

__all__ = [
    "AuthorizationError",
    "BatchSizeExceededError",
    "ChromaError",
    "CollectionNotFoundError",
    "DataLossError",
    "DatabaseNotFoundError",
    "DeadlineExceededError",
    "DuplicateIDError",
    "ERRORS_BY_REASON",
    "ErrorCode",
    "FailedPreconditionError",
    "FolderInUseError",
    "IDAlreadyExistsError",
    "InternalError",
    "InvalidArgumentError",
    "InvalidArgumentTypeError",
    "InvalidCollectionException",
    "InvalidDimensionException",
    "InvalidHTTPVersion",
    "InvalidUUIDError",
    "NotFoundError",
    "ResetNotAllowedError",
    "ResourceExhaustedError",
    "ServerUnavailableError",
    "TenantNotFoundError",
    "UniqueConstraintError",
    "WriteNotCommittedError",
]

# chromadb 0.5+/1.x raise ``NotFoundError`` where 0.4.24 raised ``ValueError`` for a missing
# collection; our ``CollectionNotFoundError`` is both, so either ``except`` clause catches it.
NotFoundError = CollectionNotFoundError


class IDAlreadyExistsError(ChromaError):
    """chromadb's 409 error; kept for ``except`` clauses (0.4.24's ``add`` skips existing ids)."""

    code = ErrorCode.ALREADY_EXISTS
    reason = "ID_ALREADY_EXISTS"


class InvalidUUIDError(ChromaError):
    """A collection id that is not a UUID."""

    code = ErrorCode.INVALID_ARGUMENT
    reason = "INVALID_UUID"


class InvalidHTTPVersion(ChromaError):
    """Kept for chromadb compatibility; the gRPC transport never raises it."""

    code = ErrorCode.INVALID_ARGUMENT
    reason = "INVALID_HTTP_VERSION"
