"""ChromaError <-> gRPC status, so both transports raise the same exception class.

The server sends the class's ``reason`` in a ``google.rpc.ErrorInfo`` (plus a
``BadRequest.FieldViolation`` when the error names a field) inside the ``grpc-status-details-bin``
trailer; the client looks the reason up in ``ERRORS_BY_REASON`` and raises that class again with
the original message.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Union

import grpc
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from chroma_grpc.store.errors import (
    CLIENT_SIDE_ERRORS,
    ERROR_CLASSES,
    ERRORS_BY_REASON,
    ChromaError,
    DeadlineExceededError,
    ErrorCode,
    InternalError,
    ResourceExhaustedError,
    ServerUnavailableError,
)
from chroma_grpc.store.validation import SERVER_UNREACHABLE_MESSAGE

__all__ = [
    "DOMAIN",
    "DeadlineExceededError",
    "ServerUnavailableError",
    "error_info",
    "from_rpc_error",
    "grpc_code",
    "raising_store_errors",
    "to_status",
]

# ErrorInfo.domain of every error chroma-grpc sends (protos/chroma_grpc/v1/errors.proto).
DOMAIN = "chroma-grpc"


# First class per code: what a status without our ErrorInfo (e.g. from grpc core) becomes.
_CLASS_BY_CODE: dict[str, type[ChromaError]] = {}
for _cls in ERROR_CLASSES:
    if _cls not in CLIENT_SIDE_ERRORS:
        _CLASS_BY_CODE.setdefault(_cls.code.value, _cls)


def grpc_code(code: ErrorCode) -> grpc.StatusCode:
    """The ``grpc.StatusCode`` member of the same name."""
    return grpc.StatusCode[code.value]


def to_status(error: ChromaError) -> grpc.Status:
    """The rich status for ``error``, ready for ``context.abort_with_status``."""
    metadata = {"exception": type(error).__name__}
    if error.field:
        metadata["field"] = error.field
    info = error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN, metadata=metadata)
    details = status_pb2.Status(
        code=getattr(code_pb2, error.code.value),
        message=error.message or str(error),
    )
    details.details.add().Pack(info)
    if error.field:
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=error.field, description=error.message or str(error)
                )
            ]
        )
        details.details.add().Pack(bad_request)
    status: grpc.Status = rpc_status.to_status(details)
    return status


# What a failed call is, from grpcio (grpc.Call) or grpc.aio (AioRpcError): both answer
# code(), details() and trailing_metadata() at once.
FailedCall = Union[grpc.Call, grpc.aio.AioRpcError]


def error_info(call: FailedCall) -> error_details_pb2.ErrorInfo | None:
    """The ErrorInfo packed in a failed call's trailers, or None when there is none."""
    try:
        status = rpc_status.from_call(call)  # type: ignore[arg-type]  # duck-typed: aio too
    except ValueError:  # trailer inconsistent with the call's code/message
        return None
    if status is None:
        return None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            if info.domain == DOMAIN:
                return info
    return None


def from_rpc_error(error: grpc.RpcError) -> Exception:
    """The exception the in-process store would have raised for this failed call (of grpcio
    or of grpc.aio)."""
    if not isinstance(error, (grpc.Call, grpc.aio.AioRpcError)):
        return InternalError(str(error))
    code = error.code()
    message = error.details() or ""
    info = error_info(error)
    cls = _class_for_reason(info.reason) if info is not None else None
    if info is not None and cls is not None:
        return cls(message, field=info.metadata.get("field") or None)
    if code == grpc.StatusCode.UNAVAILABLE:
        return ServerUnavailableError(f"{SERVER_UNREACHABLE_MESSAGE} ({message})")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return DeadlineExceededError(f"Deadline exceeded: {message}")
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return ResourceExhaustedError(f"RESOURCE_EXHAUSTED: {message}{_advice(message)}")
    fallback = _CLASS_BY_CODE.get(code.name, InternalError) if code is not None else InternalError
    return fallback(f"{code.name if code is not None else 'UNKNOWN'}: {message}")


def _advice(message: str) -> str:
    """How to get under a limit grpc itself enforced (its messages name the limit only)."""
    lowered = message.lower()
    if "larger than max" in lowered and "client:" in lowered:
        return (
            "; a reply exceeded this channel's receive limit: give the channel a larger "
            "grpc.max_receive_message_length (or -1), or ask for fewer results; the channels "
            "StoreProxy and HttpClient create accept any reply the server may send"
        )
    if "larger than max" in lowered:
        return (
            "; a request exceeded the server's --max-receive-message-bytes (GetServerInfo "
            "advertises it): send smaller messages (StoreProxy and HttpClient size theirs from "
            "it), or start the server with a larger --max-receive-message-bytes"
        )
    if "concurrent rpc limit" in lowered:
        return (
            "; the server is already running its --max-concurrent-rpcs RPCs (GetServerInfo "
            "advertises the cap): retry after a short backoff"
        )
    return ""


def _class_for_reason(reason: str) -> type[ChromaError] | None:
    """The store's class for ``reason``, else any other ChromaError subclass defined with it
    (e.g. chromadb-named extras in :mod:`chroma_grpc.errors`)."""
    if reason in ERRORS_BY_REASON:
        return ERRORS_BY_REASON[reason]
    pending = list(ChromaError.__subclasses__())
    while pending:
        cls = pending.pop()
        if cls.reason == reason:
            return cls
        pending.extend(cls.__subclasses__())
    return None


@contextmanager
def raising_store_errors() -> Iterator[None]:
    """Re-raise any ``grpc.RpcError`` in the block as the matching store exception."""
    try:
        yield
    except grpc.RpcError as error:
        raise from_rpc_error(error) from None
