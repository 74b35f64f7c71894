"""Rebuilding a grpc method handler around a new behaviour, whatever its kind.

The interceptors (auth, admission, observation, decoding) each wrap the handler grpc found. On
the asyncio server a behaviour may be a coroutine function, an async generator function, or
(for response streams) a coroutine that writes replies with ``context.write``; these helpers
give every interceptor one shape to wrap: :data:`UnaryCall` for a single reply and
:data:`StreamCall` for a stream of them.

A call that is over (its client cancelled, or its deadline passed) can no longer be written
to; grpc reports that as an error of its own, which these helpers turn into the cancellation
it is, so it is recorded as such and never logged as a server failure.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

import grpc

from chroma_grpc.server.errors import CALL_OVER_ERRORS

if TYPE_CHECKING:  # grpc's classes are generic only in the stubs
    Handler = grpc.RpcMethodHandler[Any, Any]
    Interceptor = grpc.aio.ServerInterceptor[Any, Any]
    GenericHandler = grpc.GenericRpcHandler[Any, Any]
else:
    Handler = grpc.RpcMethodHandler
    Interceptor = grpc.aio.ServerInterceptor
    GenericHandler = grpc.GenericRpcHandler
# What an interceptor calls for the next one's handler. grpc's stubs say it is never None, but
# it is None for a method no service has: interceptors here check.
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[Handler]]

# The server-side call of an RPC, request (or request iterator) and context in, reply out.
UnaryCall = Callable[[Any, Any], Awaitable[Any]]
StreamCall = Callable[[Any, Any], AsyncIterator[Any]]

HANDLER_FACTORIES: dict[tuple[bool, bool], Callable[..., Handler]] = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


def behaviour_of(handler: Handler) -> Callable[..., Any]:
    """The function grpc calls for this handler's RPCs."""
    found = handler.unary_unary or handler.unary_stream or handler.stream_unary
    found = found or handler.stream_stream
    if found is None:
        raise ValueError("method handler has no behaviour")
    return found


def is_async(behaviour: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(behaviour) or inspect.isasyncgenfunction(behaviour)


async def write_reply(context: Any, reply: Any) -> None:
    """Send one reply of a response stream; a call that is over ends as cancelled."""
    try:
        await context.write(reply)
    except CALL_OVER_ERRORS as error:
        raise asyncio.CancelledError("the call ended before this reply was sent") from error


def unary_call(handler: Handler) -> UnaryCall:
    """The handler's behaviour as an awaitable call (a unary-reply, async handler)."""
    behaviour = behaviour_of(handler)

    async def call(request: Any, context: Any) -> Any:
        return await behaviour(request, context)

    return call


def stream_call(handler: Handler) -> StreamCall:
    """The handler's behaviour as an async iterator of replies (a streaming-reply, async
    handler; a coroutine that writes with ``context.write`` yields nothing here)."""
    behaviour = behaviour_of(handler)

    async def call(request: Any, context: Any) -> AsyncIterator[Any]:
        try:
            if inspect.isasyncgenfunction(behaviour):
                async for reply in behaviour(request, context):
                    yield reply
            else:
                await behaviour(request, context)
        except CALL_OVER_ERRORS as error:  # it wrote with context.write after the end
            raise asyncio.CancelledError("the call ended before a reply was sent") from error

    return call


def rebuild(
    handler: Handler,
    *,
    unary: Callable[[UnaryCall], UnaryCall] | None = None,
    stream: Callable[[StreamCall], StreamCall] | None = None,
    request_deserializer: Any = ...,
) -> Handler:
    """A handler of ``handler``'s kind whose behaviour is ``unary(call)`` (single reply) or
    ``stream(call)`` (streamed replies), ``call`` being the original behaviour; None leaves
    it as it is. ``request_deserializer`` replaces the original one when given."""
    deserializer = handler.request_deserializer
    if request_deserializer is not ...:
        deserializer = request_deserializer
    factory = HANDLER_FACTORIES[(handler.request_streaming, handler.response_streaming)]
    behaviour: Callable[..., Any] = behaviour_of(handler)
    if handler.response_streaming and stream is not None:
        behaviour = _as_writer(stream(stream_call(handler)))
    elif not handler.response_streaming and unary is not None:
        behaviour = unary(unary_call(handler))
    return factory(
        behaviour,
        request_deserializer=deserializer,
        response_serializer=handler.response_serializer,
    )


def _as_writer(call: StreamCall) -> Callable[[Any, Any], Awaitable[None]]:
    """``call`` as a behaviour that writes its replies itself (see :func:`write_reply`)."""

    async def behaviour(request: Any, context: Any) -> None:
        async for reply in call(request, context):
            await write_reply(context, reply)

    return behaviour


async def next_handler(
    continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
) -> Handler | None:
    """The next handler in the chain; None for an unknown method (see :data:`Continuation`)."""
    return cast("Handler | None", await continuation(handler_call_details))


def unknown(handler: Handler | None) -> Handler:
    """``handler`` returned as is, None included, where grpc's stubs want a handler."""
    return cast("Handler", handler)
