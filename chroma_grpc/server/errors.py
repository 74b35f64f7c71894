"""Turn exceptions raised while serving an RPC into statuses, in one place.

A :class:`ChromaError` becomes its own status with ErrorInfo details (see
:mod:`chroma_grpc.wire.errors`); anything else is a bug, so it is logged with its traceback and
the client gets INTERNAL with a generic message (no internals leak over the wire). Servicer
methods opt in with ``@unary_errors`` or, for response streams, ``@stream_errors`` (which wraps
the iterator, not just the call that creates it).
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import NoReturn, TypeVar

import grpc

from chroma_grpc.store.errors import ChromaError, InvalidArgumentError
from chroma_grpc.wire.errors import to_status

logger = logging.getLogger("chroma_grpc.server")
INTERNAL_MESSAGE = "Internal server error; see the server log"

S = TypeVar("S")
Req = TypeVar("Req")
Resp = TypeVar("Resp")


class RpcEnded(Exception):
    """The client's deadline passed or it went away: stop now, there is no one to answer."""


def check_alive(context: grpc.ServicerContext, before: str) -> None:
    """Raise :class:`RpcEnded` if the call is over, so the servicer skips ``before``.

    Servicers call this between pages, queries and chunks and before each store call; a
    store call already running is not interrupted (SQLite writes are atomic, FAISS is not
    cancellable), so a deadline can be overrun by at most one such call.
    """
    if not _ended(context):
        return
    raise RpcEnded(before)


def wait_until_ended(context: grpc.ServicerContext, before: str, seconds: float) -> None:
    """Raise :class:`RpcEnded` if the call turns out to be over within ``seconds``.

    grpcio's sync server ends a request stream the same way whether the client half-closed it
    or cancelled it (or its deadline passed), and ``is_active()`` can lag the cancel by a few
    milliseconds. An error path that wants the real cause (to answer, log and count the status
    the client saw) waits this briefly for it.
    """
    end = time.monotonic() + seconds
    while True:
        check_alive(context, before)
        if time.monotonic() >= end:
            return
        time.sleep(0.005)


def _ended(context: grpc.ServicerContext) -> bool:
    remaining = context.time_remaining()
    return not context.is_active() or (remaining is not None and remaining <= 0)


def abort(error: Exception, context: grpc.ServicerContext) -> NoReturn:
    """Abort the RPC with the status that matches ``error``."""
    if isinstance(error, ChromaError):
        context.abort_with_status(to_status(error))
    if isinstance(error, RpcEnded) or (isinstance(error, grpc.RpcError) and _ended(context)):
        # grpc has already answered the client; this status only reaches logs and metrics.
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            stage = str(error) if isinstance(error, RpcEnded) else "the request stream ended"
            context.abort(
                grpc.StatusCode.DEADLINE_EXCEEDED, f"Deadline exceeded; stopped before {stage}"
            )
        context.abort(grpc.StatusCode.CANCELLED, "Cancelled by the client")
    logger.error("Unexpected error while serving an RPC", exc_info=error)
    context.abort(grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE)


def unary_errors(
    method: Callable[[S, Req, grpc.ServicerContext], Resp],
) -> Callable[[S, Req, grpc.ServicerContext], Resp]:
    """Map exceptions of a unary-response servicer method to statuses."""

    @functools.wraps(method)
    def wrapper(self: S, request: Req, context: grpc.ServicerContext) -> Resp:
        try:
            return method(self, request, context)
        except Exception as error:
            abort(error, context)

    return wrapper


def stream_errors(
    method: Callable[[S, Req, grpc.ServicerContext], Iterator[Resp]],
) -> Callable[[S, Req, grpc.ServicerContext], Iterator[Resp]]:
    """Map exceptions of a response-streaming servicer method to statuses."""

    @functools.wraps(method)
    def wrapper(self: S, request: Req, context: grpc.ServicerContext) -> Iterator[Resp]:
        try:
            yield from method(self, request, context)
        except Exception as error:
            abort(error, context)

    return wrapper


@contextmanager
def field_paths(paths: Mapping[str, str]) -> Iterator[None]:
    """Name the field of a store error by its path in this RPC's request.

    The store names its own arguments ("embeddings"); a gRPC caller needs the request field
    ("batch.embeddings"), which goes into ErrorInfo metadata and the BadRequest violation.
    The message stays the store's, so both transports keep one text.
    """
    try:
        yield
    except ChromaError as error:
        if error.field is not None and error.field in paths:
            error.field = paths[error.field]
        raise


def require_uuid(value: str, field: str = "collection.id") -> str:
    """``value`` unchanged if it parses as a UUID; INVALID_ARGUMENT naming ``field`` otherwise."""
    try:
        uuid.UUID(value)
    except ValueError:
        raise InvalidArgumentError(
            f"{field}: {value!r} is not a valid UUID; pass the id of an existing collection",
            field=field,
        ) from None
    return value
