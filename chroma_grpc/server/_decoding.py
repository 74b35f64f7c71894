"""Requests arrive as bytes and are decoded here, so every way a request can fail to become a
message has a status of its own instead of grpc's UNKNOWN / INTERNAL "Exception deserializing":

* larger than ``--max-receive-message-bytes``: RESOURCE_EXHAUSTED naming its size, the limit
  and the fix (grpc itself refuses only messages far over the limit; see
  :func:`transport_receive_limit`);
* not a valid encoding of the request type (truncated, garbage, wrong wire types, nested
  deeper than protobuf's limit): INVALID_ARGUMENT naming the type and the problem.

Large messages are decoded on a worker thread, so a 64 MiB chunk never pauses the event loop.
Request streams are decoded message by message as the servicer reads them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
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
from chroma_grpc.server.errors import abort_async
from chroma_grpc.store.errors import ChromaError, InvalidArgumentError, ResourceExhaustedError
from chroma_grpc.store.filters import MAX_FILTER_DEPTH

if TYPE_CHECKING:
    from chroma_grpc.server._handlers import Handler

# Messages above this are decoded on a worker thread (a few ms of parsing and up).
OFFLOAD_BYTES = 256 * 1024
# grpc refuses by itself only what exceeds the limit by this much (or twice the limit), so
# that the oversized requests clients actually send get our message and their real size.
TRANSPORT_MARGIN_BYTES = 64 * 1024 * 1024
_GRPC_MAX_LENGTH = 2**31 - 1
PROTOBUF_MAX_DEPTH = 100

Offload = Callable[[Callable[[], Any]], Awaitable[Any]]


def transport_receive_limit(max_receive_bytes: int) -> int:
    """The limit to give grpc itself: far enough above ours that a request which is too large
    is seen (and answered with its size) here, near enough to bound memory."""
    margin = max(max_receive_bytes, TRANSPORT_MARGIN_BYTES)
    return min(_GRPC_MAX_LENGTH, max_receive_bytes + margin)


class DecodingInterceptor(Interceptor):
    """Hands servicers decoded messages; refuses oversized and undecodable requests."""

    def __init__(self, max_receive_bytes: int, offload: Offload) -> None:
        self._limit = max_receive_bytes
        self._offload = offload

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler:
        handler = await next_handler(continuation, handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return unknown(handler)
        decoder = _Decoder(handler.request_deserializer, self._limit, self._offload)
        if handler.request_streaming:
            return rebuild(
                handler,
                unary=decoder.unary_with_request_stream,
                stream=decoder.stream_with_request_stream,
                request_deserializer=None,
            )
        return rebuild(
            handler,
            unary=decoder.unary_with_request,
            stream=decoder.stream_with_request,
            request_deserializer=None,
        )


class _Decoder:
    """Decodes one method's requests; the ``*_with_*`` methods wrap its behaviour."""

    def __init__(self, parse: Callable[[bytes], Any], limit: int, offload: Offload) -> None:
        self._parse = parse
        self._limit = limit
        self._offload = offload
        message_type = getattr(parse, "__self__", None)
        descriptor = getattr(message_type, "DESCRIPTOR", None)
        self._type_name = getattr(descriptor, "full_name", "the request message")

    async def decode(self, raw: bytes) -> Any:
        if len(raw) > self._limit:
            raise ResourceExhaustedError(
                f"The request message is {len(raw)} bytes, over this server's limit of "
                f"{self._limit} bytes (--max-receive-message-bytes; GetServerInfo advertises "
                "it as max_receive_message_bytes): send smaller messages (spread a write's "
                "records over more messages of its stream), or start the server with a larger "
                "--max-receive-message-bytes"
            )
        try:
            if len(raw) > OFFLOAD_BYTES:
                return await self._offload(lambda: self._parse(raw))
            return self._parse(raw)
        except Exception as error:  # DecodeError, and anything else a parser may raise
            raise InvalidArgumentError(self._undecodable(error)) from None

    def _undecodable(self, error: Exception) -> str:
        text = str(error)
        if "MaxDepth" in text or isinstance(error, RecursionError):
            why = (
                f"it nests messages deeper than protobuf's limit of {PROTOBUF_MAX_DEPTH} levels "
                f"(filters may nest at most {MAX_FILTER_DEPTH} levels of $and / $or)"
            )
        elif "corrupt" in text.lower() or "truncated" in text.lower():
            why = "its bytes are not a valid encoding of it (truncated, or another message)"
        else:
            why = text or type(error).__name__
        return f"The request could not be decoded as {self._type_name}: {why}"

    async def requests(self, raw_requests: AsyncIterator[bytes]) -> AsyncIterator[Any]:
        async for raw in raw_requests:
            yield await self.decode(raw)

    def unary_with_request(self, call: UnaryCall) -> UnaryCall:
        async def decoded(raw: bytes, context: Any) -> Any:
            try:
                request = await self.decode(raw)
            except ChromaError as error:
                await abort_async(error, context)
            return await call(request, context)

        return decoded

    def stream_with_request(self, call: StreamCall) -> StreamCall:
        async def decoded(raw: bytes, context: Any) -> AsyncIterator[Any]:
            try:
                request = await self.decode(raw)
            except ChromaError as error:
                await abort_async(error, context)
            async for reply in call(request, context):
                yield reply

        return decoded

    def unary_with_request_stream(self, call: UnaryCall) -> UnaryCall:
        async def decoded(raw_requests: AsyncIterator[bytes], context: Any) -> Any:
            try:
                return await call(self.requests(raw_requests), context)
            except ChromaError as error:  # from a servicer that lets our errors through
                await abort_async(error, context)

        return decoded

    def stream_with_request_stream(self, call: StreamCall) -> StreamCall:
        async def decoded(raw_requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[Any]:
            try:
                async for reply in call(self.requests(raw_requests), context):
                    yield reply
            except ChromaError as error:
                await abort_async(error, context)

        return decoded
