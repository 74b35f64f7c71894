"""Turn exceptions raised while serving an RPC into statuses, in one place.

A :class:`ChromaError` becomes its own status with ErrorInfo details (see
:mod:`chroma_grpc.wire.errors`); anything else is a bug, so it is logged with its traceback and
the client gets INTERNAL with a generic message (no internals leak over the wire). Servicer
methods opt in with ``@unary_errors`` or, for response streams, ``@stream_errors`` (which wraps
the iterator, not just the call that creates it); ``async def`` methods (the write streams) with
``@async_unary_errors``. :func:`status_for` decides the status for all of them.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import grpc

from chroma_grpc.store.errors import ChromaError, InvalidArgumentError
from chroma_grpc.wire.errors import to_status

logger = logging.getLogger("chroma_grpc.server")
INTERNAL_MESSAGE = "Internal server error; see the server log"

# What grpc raises when asked to send on a call that is already over (cancelled, or past its
# deadline): not a failure of the server, the end of the call.
try:
    from grpc._cython.cygrpc import ExecuteBatchError  # type: ignore[import-not-found]

    CALL_OVER_ERRORS: tuple[type[Exception], ...] = (ExecuteBatchError,)
except ImportError:  # pragma: no cover - grpc moved it; such ends are then logged as failures
    CALL_OVER_ERRORS = ()

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


def _ended(context: grpc.ServicerContext) -> bool:
    remaining = context.time_remaining()
    return not context.is_active() or (remaining is not None and remaining <= 0)


@dataclass(frozen=True)
class Status(grpc.Status):
    """A final status: code, message and trailing metadata (ErrorInfo details ride there)."""

    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, str | bytes], ...] = ()


class Aborted(Exception):  # noqa: N818 - it is what happened, not an error of ours
    """A servicer running on a worker thread aborted its RPC: the status to answer with.

    Raised by the thread's stand-in context (``abort``, ``abort_with_status``); the event loop
    sends the status.
    """

    def __init__(self, status: Status) -> None:
        super().__init__(status.details)
        self.status = status


def _over(context: Any) -> bool:
    remaining = context.time_remaining()
    return remaining is not None and remaining <= 0


def chroma_status(error: ChromaError) -> Status:
    """The error's own status, with its ErrorInfo (and BadRequest) details."""
    status = to_status(error)
    return Status(status.code, status.details, tuple(status.trailing_metadata or ()))


def status_for(error: Exception, *, ended: bool, deadline_passed: bool) -> Status:
    """The status that answers ``error``; ``ended``: the call is already over (cancelled, or
    its deadline passed), so the status only reaches logs and metrics."""
    if isinstance(error, ChromaError):
        return chroma_status(error)
    if isinstance(error, RpcEnded) or (isinstance(error, grpc.RpcError) and ended):
        if deadline_passed:
            stage = str(error) if isinstance(error, RpcEnded) else "the request stream ended"
            return Status(
                grpc.StatusCode.DEADLINE_EXCEEDED, f"Deadline exceeded; stopped before {stage}"
            )
        return Status(grpc.StatusCode.CANCELLED, "Cancelled by the client")
    logger.error("Unexpected error while serving an RPC", exc_info=error)
    return Status(grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE)


def abort(error: Exception, context: grpc.ServicerContext) -> NoReturn:
    """Abort the RPC with the status that matches ``error``."""
    remaining = context.time_remaining()
    deadline_passed = remaining is not None and remaining <= 0
    context.abort_with_status(
        status_for(error, ended=_ended(context), deadline_passed=deadline_passed)
    )
    raise AssertionError("abort_with_status returned")  # pragma: no cover - it raises


async def abort_async(error: Exception, context: Any) -> NoReturn:
    """:func:`abort` for a ``grpc.aio.ServicerContext``."""
    remaining = context.time_remaining()
    deadline_passed = remaining is not None and remaining <= 0
    if isinstance(error, RpcEnded) or deadline_passed:
        raise asyncio.CancelledError(str(error))  # grpc has answered; nothing to send
    await send_status(context, status_for(error, ended=False, deadline_passed=False))


# Set by the observing interceptor for each RPC: told a status before it is sent, so the log
# and the metrics have it by the time the client does.
STATUS_OBSERVER: contextvars.ContextVar[Callable[[grpc.StatusCode], None] | None] = (
    contextvars.ContextVar("chroma_grpc_status_observer", default=None)
)


async def send_status(context: Any, status: Status) -> NoReturn:
    """End the RPC with ``status`` (grpc's AbortError, which handlers let through).

    A call that has already ended (the client cancelled, or its deadline passed, just now)
    cannot be answered; that ends the handler as a cancel does, so logs and metrics record
    CANCELLED / DEADLINE_EXCEEDED: what the client saw.
    """
    observe = STATUS_OBSERVER.get()
    if observe is not None and not _over(context):
        observe(status.code)
    try:
        await context.abort(status.code, status.details, status.trailing_metadata)
    except CALL_OVER_ERRORS as error:  # grpc could not send it: the call is over
        raise asyncio.CancelledError(f"the call ended before {status.code.name}") from error
    raise AssertionError("abort returned")  # pragma: no cover - it raises


def async_unary_errors(
    method: Callable[[S, Req, Any], Awaitable[Resp]],
) -> Callable[[S, Req, Any], Awaitable[Resp]]:
    """Map exceptions of an ``async def`` unary-response servicer method to statuses."""

    @functools.wraps(method)
    async def wrapper(self: S, request: Req, context: Any) -> Resp:
        try:
            return await method(self, request, context)
        except Exception as error:
            if isinstance(error, grpc.aio.AbortError):
                raise
            await abort_async(error, context)

    return wrapper


def unary_errors(
    method: Callable[[S, Req, grpc.ServicerContext], Resp],
) -> Callable[[S, Req, grpc.ServicerContext], Resp]:
    """Map exceptions of a unary-response servicer method to statuses."""

    @functools.wraps(method)
    def wrapper(self: S, request: Req, context: grpc.ServicerContext) -> Resp:
        try:
            return method(self, request, context)
        except Aborted:
            raise
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
        except Aborted:
            raise
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
