"""Server interceptors: token auth, and one observation per finished RPC for logs and metrics.

Both wrap the method handler grpc found rather than the servicers, so every service (ours,
reflection) is covered the same way. Only ``grpc.health.v1.Health`` is exempt from auth:
load balancers and Kubernetes probes cannot send a token. Reflection is *not* exempt, so
grpcurl needs ``-H 'authorization: Bearer TOKEN'`` to list or describe a protected server.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc

from chroma_grpc.store.errors import AuthorizationError
from chroma_grpc.wire.errors import to_status

logger = logging.getLogger("chroma_grpc.server")
rpc_logger = logging.getLogger("chroma_grpc.rpc")

AUTH_EXEMPT_PREFIXES: tuple[str, ...] = ("/grpc.health.v1.Health/",)
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
_ERROR_CODES = frozenset(
    {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS}
)

if TYPE_CHECKING:  # grpc's classes are generic only in the stubs
    Handler = grpc.RpcMethodHandler[Any, Any]
    _Interceptor = grpc.ServerInterceptor[Any, Any]
else:
    Handler = grpc.RpcMethodHandler
    _Interceptor = grpc.ServerInterceptor
Continuation = Callable[[grpc.HandlerCallDetails], "Handler | None"]


# -- auth --------------------------------------------------------------------------------------


class AuthInterceptor(_Interceptor):
    """Reject calls without the server's token with UNAUTHENTICATED (+ ErrorInfo).

    The comparison is constant-time (``hmac.compare_digest``); the token is never logged and
    never echoed in an error message.
    """

    def __init__(self, token: str, exempt_prefixes: Sequence[str] = AUTH_EXEMPT_PREFIXES):
        if not token:
            raise ValueError("auth token must be a non-empty string")
        self._token = token.encode("utf-8")
        self._exempt = tuple(exempt_prefixes)

    def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        if handler_call_details.method.startswith(self._exempt):
            return continuation(handler_call_details)
        problem = self._problem(handler_call_details.invocation_metadata or ())
        if problem is None:
            return continuation(handler_call_details)
        return _rejecting(continuation(handler_call_details), problem)

    def _problem(self, metadata: Sequence[Any]) -> str | None:
        """None when some presented token matches; else the message to fail with."""
        presented = _presented_tokens(metadata)
        if not presented:
            return MISSING_TOKEN_MESSAGE
        # Check every candidate, so the time taken does not depend on which one matched.
        matched = False
        for candidate in presented:
            matched |= hmac.compare_digest(candidate.encode("utf-8"), self._token)
        return None if matched else WRONG_TOKEN_MESSAGE


def _presented_tokens(metadata: Sequence[Any]) -> list[str]:
    """Tokens from ``authorization: Bearer X`` and ``x-chroma-token: X`` entries."""
    tokens = []
    for key, value in metadata:
        if not isinstance(value, str):
            continue
        if key == "authorization":
            scheme, _, credential = value.strip().partition(" ")
            if scheme.lower() == "bearer" and credential.strip():
                tokens.append(credential.strip())
        elif key == "x-chroma-token" and value.strip():
            tokens.append(value.strip())
    return tokens


def _rejecting(handler: Handler | None, message: str) -> Handler:
    """A handler of ``handler``'s kind that fails with UNAUTHENTICATED without running it."""
    status = to_status(AuthorizationError(message))

    def reject(request: Any, context: grpc.ServicerContext) -> Any:
        context.abort_with_status(status)

    if handler is None:  # unknown method: do not reveal that before authentication
        return grpc.unary_unary_rpc_method_handler(reject)
    factory = _HANDLER_FACTORIES[(handler.request_streaming, handler.response_streaming)]
    return factory(
        reject,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


_HANDLER_FACTORIES: dict[tuple[bool, bool], Callable[..., Handler]] = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


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


class ObservingInterceptor(_Interceptor):
    """Time each RPC, count its request bytes and read its final code, then tell ``sinks``.

    Request streams are counted as they are consumed (no buffering); sizes are the serialized
    sizes of the messages (``ByteSize()``).
    """

    def __init__(self, sinks: Sequence[RpcSink]) -> None:
        self._sinks = tuple(sinks)

    def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = continuation(handler_call_details)
        if handler is None or not self._sinks:
            return handler
        return _observed(handler, handler_call_details.method, self._emit)

    def _emit(self, record: RpcRecord) -> None:
        for sink in self._sinks:
            try:
                sink(record)
            except Exception:  # a broken sink must never fail the RPC
                logger.exception("RPC observer failed")


class _CountingIterator:
    """Pass a request stream through, summing serialized message sizes."""

    def __init__(self, requests: Iterator[Any]) -> None:
        self._requests = requests
        self.bytes = 0

    def __iter__(self) -> _CountingIterator:
        return self

    def __next__(self) -> Any:
        message = next(self._requests)
        self.bytes += _size(message)
        return message


def _size(message: Any) -> int:
    if hasattr(message, "ByteSize"):
        return int(message.ByteSize())
    return len(message) if isinstance(message, (bytes, bytearray)) else 0


def _final_code(context: grpc.ServicerContext, completed: bool) -> grpc.StatusCode:
    code = context.code()  # type: ignore[attr-defined]  # set by abort / set_code
    if isinstance(code, grpc.StatusCode):
        return code
    if completed:
        return grpc.StatusCode.OK
    if not context.is_active():
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            return grpc.StatusCode.DEADLINE_EXCEEDED
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN


def _observed(handler: Handler, method: str, emit: RpcSink) -> Handler:
    """``handler`` with its behaviour wrapped to report an :class:`RpcRecord` when done."""
    inner: Callable[[Any, grpc.ServicerContext], Any] | None
    if handler.request_streaming:
        inner = handler.stream_unary or handler.stream_stream
    else:
        inner = handler.unary_unary or handler.unary_stream
    if inner is None:
        raise ValueError(f"method handler for {method} has no behaviour")
    behaviour_of_handler = inner

    def prepare(request: Any) -> tuple[Any, Callable[[], int]]:
        if handler.request_streaming:
            counted = _CountingIterator(request)
            return counted, lambda: counted.bytes
        size = _size(request)
        return request, lambda: size

    def report(start: float, request_bytes: Callable[[], int], code: grpc.StatusCode) -> None:
        emit(RpcRecord(method, code, time.perf_counter() - start, request_bytes()))

    def unary_response(request: Any, context: grpc.ServicerContext) -> Any:
        start = time.perf_counter()
        request, request_bytes = prepare(request)
        try:
            response = behaviour_of_handler(request, context)
        except BaseException:
            report(start, request_bytes, _final_code(context, completed=False))
            raise
        report(start, request_bytes, _final_code(context, completed=True))
        return response

    def stream_response(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        start = time.perf_counter()
        request, request_bytes = prepare(request)
        completed = False
        try:
            yield from behaviour_of_handler(request, context)
            completed = True
        finally:
            report(start, request_bytes, _final_code(context, completed))

    behaviour = stream_response if handler.response_streaming else unary_response
    factory = _HANDLER_FACTORIES[(handler.request_streaming, handler.response_streaming)]
    return factory(
        behaviour,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
