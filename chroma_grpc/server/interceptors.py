"""Server interceptors: one observation per RPC (logs, metrics), the concurrency cap, token auth.

They wrap the method handler grpc found rather than the servicers, so every service (ours,
health, reflection) is covered the same way. In order, outermost first:

1. :class:`ObservingInterceptor` reports every RPC with the status its client saw, refused
   ones included (the cap, auth, undecodable or oversized requests, cancels, deadlines);
2. :class:`AdmissionInterceptor` refuses RPCs beyond ``--max-concurrent-rpcs`` with
   RESOURCE_EXHAUSTED (health is exempt: probes must answer a busy server);
3. :class:`AuthInterceptor` requires exactly one credential carrying the token. Health is
   exempt (load balancers and Kubernetes probes send none), and so is reflection unless
   ``--reflection-requires-auth``: the schema is public, it is in ``protos/``.

The decoding of requests (:mod:`chroma_grpc.server._decoding`) comes last, so the observer
counts the bytes that arrived, and a request is not decoded before it is authenticated.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
import warnings
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc

from chroma_grpc.server._handlers import (
    Continuation,
    Interceptor,
    StreamCall,
    UnaryCall,
    next_handler,
    rebuild,
    unknown,
)
from chroma_grpc.server.errors import STATUS_OBSERVER, Status, chroma_status, send_status
from chroma_grpc.store.errors import AuthorizationError, ResourceExhaustedError

if TYPE_CHECKING:
    from chroma_grpc.server._handlers import Handler

logger = logging.getLogger("chroma_grpc.server")
rpc_logger = logging.getLogger("chroma_grpc.rpc")

HEALTH_PREFIX = "/grpc.health.v1.Health/"
REFLECTION_PREFIXES: tuple[str, ...] = (
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)
AUTH_EXEMPT_PREFIXES: tuple[str, ...] = (HEALTH_PREFIX, *REFLECTION_PREFIXES)
CREDENTIAL_KEYS = ("authorization", "x-chroma-token")
MISSING_TOKEN_MESSAGE = (
    "Missing credentials: this server requires a token. Send gRPC metadata "
    "'authorization: Bearer <token>' or 'x-chroma-token: <token>' (Python: "
    "HttpClient(headers={'Authorization': 'Bearer <token>'}) or Settings("
    "chroma_client_auth_provider='chromadb.auth.token.TokenAuthClientProvider', "
    "chroma_client_auth_credentials='<token>'))"
)
WRONG_TOKEN_MESSAGE = (
    "Invalid credentials: the token in 'authorization' / 'x-chroma-token' metadata does not "
    "match the server's token"
)
SEVERAL_CREDENTIALS_MESSAGE = (
    "Several credentials: this call carries {count} 'authorization' / 'x-chroma-token' "
    "entries; send exactly one (e.g. 'authorization: Bearer <token>') and no other"
)
BUSY_MESSAGE = (
    "The server is already running {limit} RPCs, its --max-concurrent-rpcs cap "
    "(GetServerInfo advertises it as max_concurrent_rpcs): retry after a short backoff, or "
    "start the server with a higher --max-concurrent-rpcs"
)
_ERROR_CODES = frozenset(
    {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS}
)


# -- auth --------------------------------------------------------------------------------------


def checked_token(token: str) -> str:
    """The server token to use for ``token`` as configured.

    Surrounding whitespace (a newline from ``$(cat token-file)`` or a secret file) is
    stripped with a warning, since no client could send it. ValueError for a token that is
    empty (an unset variable expanded) or has characters gRPC metadata cannot carry.
    """
    stripped = token.strip()
    if not stripped:
        raise ValueError(
            "the auth token is empty (an unset variable expanded?): give a non-empty token, "
            "or leave --auth-token and CHROMA_GRPC_AUTH_TOKEN unset to serve without auth"
        )
    unsendable = sorted({c for c in stripped if not " " <= c <= "~"})
    if unsendable:
        raise ValueError(
            "the auth token has characters gRPC metadata cannot carry "
            f"({', '.join(repr(c) for c in unsendable)}): use printable ASCII only"
        )
    if stripped != token:
        warnings.warn(
            "the auth token had leading or trailing whitespace (a newline from a file?); "
            "it was removed: clients send the token without it",
            UserWarning,
            stacklevel=2,
        )
    return stripped


class AuthInterceptor(Interceptor):
    """Refuse calls without exactly one credential carrying the token: UNAUTHENTICATED (+
    ErrorInfo) naming what is wrong.

    The comparison is constant-time (``hmac.compare_digest``); the token is never logged and
    never echoed in an error message.
    """

    def __init__(self, token: str, exempt_prefixes: Sequence[str] = AUTH_EXEMPT_PREFIXES):
        if not token or token != token.strip():
            raise ValueError("auth token must be non-empty, without surrounding whitespace")
        self._token = token.encode("utf-8")
        self._exempt = tuple(exempt_prefixes)

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler:
        handler = await next_handler(continuation, handler_call_details)
        if handler_call_details.method.startswith(self._exempt):
            return unknown(handler)
        problem = self._problem(handler_call_details.invocation_metadata or ())
        if problem is None:
            return unknown(handler)
        return refusing(handler, chroma_status(AuthorizationError(problem)))

    def _problem(self, metadata: Sequence[Any]) -> str | None:
        """None when the call carries exactly one credential and it is the token."""
        entries = [(key, value) for key, value in metadata if key in CREDENTIAL_KEYS]
        if len(entries) > 1:
            return SEVERAL_CREDENTIALS_MESSAGE.format(count=len(entries))
        presented = _token_of(*entries[0]) if entries else None
        if presented is None:
            return MISSING_TOKEN_MESSAGE
        matched = hmac.compare_digest(presented.encode("utf-8"), self._token)
        return None if matched else WRONG_TOKEN_MESSAGE


def _token_of(key: str, value: object) -> str | None:
    """The token in ``authorization: Bearer X`` (scheme in any case) or ``x-chroma-token: X``;
    None for another authorization scheme (e.g. Basic)."""
    if not isinstance(value, str) or not value.strip():
        return None
    if key == "x-chroma-token":
        return value.strip()
    scheme, _, credential = value.strip().partition(" ")
    return credential.strip() or None if scheme.lower() == "bearer" else None


def refusing(handler: Handler | None, status: Status) -> Handler:
    """A handler of ``handler``'s kind that ends with ``status`` without running it."""

    async def refuse(request: Any, context: Any) -> Any:
        await send_status(context, status)

    async def refuse_stream(request: Any, context: Any) -> AsyncIterator[Any]:
        await send_status(context, status)
        yield  # pragma: no cover - an async generator that never yields

    if handler is None:  # unknown method: do not reveal that before authentication
        return grpc.unary_unary_rpc_method_handler(refuse)
    return rebuild(handler, unary=lambda call: refuse, stream=lambda call: refuse_stream)


# -- the concurrency cap -----------------------------------------------------------------------


class AdmissionInterceptor(Interceptor):
    """At most ``limit`` RPCs in progress; more are refused at once with RESOURCE_EXHAUSTED.

    An idle stream counts for as long as it is open. Health checks are never refused.
    """

    def __init__(self, limit: int, exempt_prefixes: Sequence[str] = (HEALTH_PREFIX,)) -> None:
        self._limit = limit
        self._exempt = tuple(exempt_prefixes)
        self.running = 0

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler:
        handler = await next_handler(continuation, handler_call_details)
        if handler is None or handler_call_details.method.startswith(self._exempt):
            return unknown(handler)
        return rebuild(handler, unary=self._counted_unary, stream=self._counted_stream)

    async def _enter(self, context: Any) -> None:
        """Count the RPC in, or refuse it (AbortError) when the cap is reached."""
        if self.running < self._limit:
            self.running += 1
            return
        logger.warning("Refused an RPC: %d already running (--max-concurrent-rpcs)", self._limit)
        busy = ResourceExhaustedError(BUSY_MESSAGE.format(limit=self._limit))
        await send_status(context, chroma_status(busy))

    def _counted_unary(self, call: UnaryCall) -> UnaryCall:
        async def counted(request: Any, context: Any) -> Any:
            await self._enter(context)
            try:
                return await call(request, context)
            finally:
                self.running -= 1

        return counted

    def _counted_stream(self, call: StreamCall) -> StreamCall:
        async def counted(request: Any, context: Any) -> AsyncIterator[Any]:
            await self._enter(context)
            try:
                async for reply in call(request, context):
                    yield reply
            finally:
                self.running -= 1

        return counted


# -- observation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RpcRecord:
    """One finished RPC, as logs and metrics see it (never payloads or metadata)."""

    method: str  # "/package.Service/Method"
    code: grpc.StatusCode
    seconds: float
    request_bytes: int

    @property
    def service(self) -> str:
        return self.method.lstrip("/").partition("/")[0]

    @property
    def method_name(self) -> str:
        return self.method.rpartition("/")[2]


RpcSink = Callable[[RpcRecord], None]


def log_rpc(record: RpcRecord) -> None:
    """One log line per RPC; the JSON formatter turns ``fields`` into keys."""
    fields = {
        "method": record.method,
        "code": record.code.name,
        "duration_ms": round(record.seconds * 1000, 3),
        "request_bytes": record.request_bytes,
    }
    level = logging.ERROR if record.code in _ERROR_CODES else logging.INFO
    text = " ".join(f"{key}={value}" for key, value in fields.items())
    rpc_logger.log(level, "rpc %s", text, extra={"fields": fields})


class ObservingInterceptor(Interceptor):
    """Time each RPC, count its request bytes (as they arrived, before decoding) and find the
    status its client saw, then tell ``sinks``.

    An RPC whose handler never ran (its request message never arrived: over grpc's own size
    limit, or cancelled or timed out during the upload) is reported CANCELLED with 0 bytes.
    """

    def __init__(self, sinks: Sequence[RpcSink]) -> None:
        self._sinks = tuple(sinks)

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler:
        method = handler_call_details.method
        observation = _Observation(method, self._emit)
        task = asyncio.current_task()
        if task is not None:  # the RPC's task: its end is the end of the RPC
            task.add_done_callback(lambda _: observation.never_started())
        handler = await next_handler(continuation, handler_call_details)
        if handler is None:
            missing = Status(grpc.StatusCode.UNIMPLEMENTED, f"Method not found: {method}")
            handler = refusing(None, missing)
        return rebuild(handler, unary=observation.unary, stream=observation.stream)

    def _emit(self, record: RpcRecord) -> None:
        for sink in self._sinks:
            try:
                sink(record)
            except Exception:  # a broken sink must never fail the RPC
                logger.exception("RPC observer failed")


class _Observation:
    """One RPC being watched: reports exactly once."""

    def __init__(self, method: str, emit: RpcSink) -> None:
        self._method = method
        self._emit = emit
        self._start = time.perf_counter()
        self._bytes = 0
        self._reported = False

    def _report(self, code: grpc.StatusCode) -> None:
        if not self._reported:
            self._reported = True
            elapsed = time.perf_counter() - self._start
            self._emit(RpcRecord(self._method, code, elapsed, self._bytes))

    def never_started(self) -> None:
        self._report(grpc.StatusCode.CANCELLED)

    def _counted(self, request: Any) -> Any:
        """``request`` as it goes on to the handler, its bytes (or a stream's) counted."""
        if hasattr(request, "__aiter__"):
            return self._count_stream(request)
        self._bytes = _size(request)
        return request

    async def _count_stream(self, requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for raw in requests:
            self._bytes += _size(raw)
            yield raw

    def unary(self, call: UnaryCall) -> UnaryCall:
        async def observed(request: Any, context: Any) -> Any:
            request = self._counted(request)
            STATUS_OBSERVER.set(self._report)  # in this RPC's task (a context of its own)
            try:
                reply = await call(request, context)
            except BaseException as error:
                self._report(_final_code(error, context))
                raise
            self._report(_code_set(context) or grpc.StatusCode.OK)
            return reply

        return observed

    def stream(self, call: StreamCall) -> StreamCall:
        async def observed(request: Any, context: Any) -> AsyncIterator[Any]:
            request = self._counted(request)
            STATUS_OBSERVER.set(self._report)
            try:
                async for reply in call(request, context):
                    yield reply
            except BaseException as error:
                self._report(_final_code(error, context))
                raise
            self._report(_code_set(context) or grpc.StatusCode.OK)

        return observed


def _size(message: Any) -> int:
    if isinstance(message, (bytes, bytearray)):
        return len(message)
    return int(message.ByteSize()) if hasattr(message, "ByteSize") else 0


def _code_set(context: Any) -> grpc.StatusCode | None:
    code = context.code()
    return code if isinstance(code, grpc.StatusCode) else None


def _final_code(error: BaseException, context: Any) -> grpc.StatusCode:
    """The status the client saw when the handler ended with ``error``."""
    if isinstance(error, (asyncio.CancelledError, GeneratorExit)):  # cancelled, or deadline
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            return grpc.StatusCode.DEADLINE_EXCEEDED
        return grpc.StatusCode.CANCELLED
    if isinstance(error, grpc.aio.AbortError):
        return _code_set(context) or grpc.StatusCode.UNKNOWN
    if isinstance(error, NotImplementedError):  # a generated servicer's unimplemented method
        return grpc.StatusCode.UNIMPLEMENTED
    logger.error("Unexpected error while serving an RPC", exc_info=error)
    return grpc.StatusCode.UNKNOWN  # what grpc answers for an exception it did not expect
