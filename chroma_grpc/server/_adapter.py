"""Servicers in the "decode, one store call, encode" shape, served by the asyncio server.

Servicer methods written as plain ``def`` (unary, or response-streaming generators) stay that
simple. :class:`ServiceRegistry` is what the generated ``add_*Servicer_to_server`` functions
register with: it turns each such method into an ``async def`` handler that waits for its turn
on the event loop (:class:`~chroma_grpc.server._execution.Scheduler`, by the method's
:func:`access`), then runs the method on a worker thread with a :class:`ThreadContext`
standing in for the servicer context. A streaming method's replies are taken on a thread a
batch at a time (up to ``REPLY_BATCH_BYTES``; one hop for a single query) and written from
the loop, so a slow reader holds no thread. ``async def`` methods (the write streams) are
registered as they are.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

import grpc

from chroma_grpc.server._addressing import record_collection_id
from chroma_grpc.server._execution import LIGHT, UNGATED, Access, Scheduler
from chroma_grpc.server._handlers import HANDLER_FACTORIES, GenericHandler, behaviour_of, is_async
from chroma_grpc.server.errors import Aborted, Status, send_status
from chroma_grpc.store.api import StoreAPI
from chroma_grpc.store.errors import ChromaError
from chroma_grpc.v1 import types_pb2

if TYPE_CHECKING:
    from chroma_grpc.server._handlers import Handler

# How each method waits for its turn (see _execution). Methods not named here (collection
# creation, and RPCs added later) are treated as writes of SQLite: safe for any method.
LIGHT_METHODS = frozenset({"Heartbeat", "GetVersion", "GetServerInfo"})
# Reads of SQLite alone: they take no store lock, so they never wait for one.
READ_METHODS = frozenset(
    {"GetCollection", "ListCollections", "CountCollections", "GetRecords", "CountRecords",
     "PeekRecords", "GetTenant", "GetDatabase"}
)  # fmt: skip
# Searches share their collection with other searches, not with its writes.
SEARCH_METHODS = frozenset({"QueryRecords"})
# Writes of one collection: one at a time per collection.
COLLECTION_WRITE_METHODS = frozenset(
    {"UpdateCollection", "DeleteCollection", "DeleteRecords", "AddRecords", "UpsertRecords",
     "UpdateRecords"}
)  # fmt: skip
# Alone: no other store call runs meanwhile.
EXCLUSIVE_METHODS = frozenset({"Reset"})

_END = object()
# A streaming method's replies are taken from it on a worker thread a batch at a time: until
# the stream ends or the batch holds this many bytes. A single query's reply (or a batch of
# small ones) thus costs one thread hop, not one per reply plus one to find the end; a slow
# reader still holds no thread, only the batch waiting to be written.
REPLY_BATCH_BYTES = 256 * 1024


class ThreadContext:
    """The ``grpc.ServicerContext`` a plain servicer method gets on its worker thread.

    What it reads was taken from the RPC's context on the event loop (metadata, peer,
    deadline); ``is_active`` follows the RPC's end; ``abort`` raises :class:`Aborted` for the
    loop to send; codes, details and trailing metadata set here are applied when it returns.
    """

    def __init__(self, context: Any) -> None:
        self._metadata = tuple(context.invocation_metadata() or ())
        self._peer = context.peer()
        remaining = context.time_remaining()
        self._deadline = None if remaining is None else time.monotonic() + remaining
        self._ended = threading.Event()
        context.add_done_callback(lambda _: self._ended.set())
        self._code: grpc.StatusCode | None = None
        self._details: str | None = None
        self._trailing: tuple[tuple[str, str | bytes], ...] = ()

    def invocation_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        return self._metadata

    def peer(self) -> str:
        return str(self._peer)

    def time_remaining(self) -> float | None:
        return None if self._deadline is None else max(0.0, self._deadline - time.monotonic())

    def is_active(self) -> bool:
        return not self._ended.is_set()

    def abort(self, code: grpc.StatusCode, details: str) -> NoReturn:
        raise Aborted(Status(code, details, self._trailing))

    def abort_with_status(self, status: grpc.Status) -> NoReturn:
        trailing = tuple(getattr(status, "trailing_metadata", None) or ())
        raise Aborted(Status(status.code, status.details, trailing))

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode | None:
        return self._code

    def set_details(self, details: str) -> None:
        self._details = details

    def details(self) -> str | None:
        return self._details

    def set_trailing_metadata(self, trailing_metadata: Sequence[tuple[str, Any]]) -> None:
        self._trailing = tuple(trailing_metadata)

    def apply_to(self, context: Any) -> None:
        """What the method set, onto the RPC's context (on the loop, after it returned)."""
        if self._trailing:
            context.set_trailing_metadata(self._trailing)
        if self._code is not None:
            context.set_code(self._code)
        if self._details is not None:
            context.set_details(self._details)


class ServiceRegistry:
    """Registers servicers on the asyncio server; plain methods are adapted (module docstring).

    Use it where a ``grpc.Server`` is expected: ``add_XServicer_to_server(servicer, registry)``.
    """

    def __init__(self, server: grpc.aio.Server, scheduler: Scheduler, store: StoreAPI) -> None:
        self._server = server
        self._scheduler = scheduler
        self._store = store

    def add_generic_rpc_handlers(self, generic_rpc_handlers: Sequence[Any]) -> None:
        self._server.add_generic_rpc_handlers(
            tuple(_AdaptedGenericHandler(handler, self.adapt) for handler in generic_rpc_handlers)
        )

    def add_registered_method_handlers(
        self, service_name: str, method_handlers: Mapping[str, Handler]
    ) -> None:
        adapted = {name: self.adapt(name, handler) for name, handler in method_handlers.items()}
        self._server.add_registered_method_handlers(service_name, adapted)  # type: ignore[attr-defined]

    def adapt(self, method: str, handler: Handler) -> Handler:
        """``handler`` for the asyncio server: as it is if async, else run on the scheduler."""
        behaviour = behaviour_of(handler)
        if is_async(behaviour):
            return handler
        if handler.request_streaming:
            raise TypeError(
                f"{method}: a request-streaming servicer method must be 'async def' (it reads "
                "its stream on the event loop; see chroma_grpc.server.records)"
            )
        runner = self._streaming if handler.response_streaming else self._unary
        factory = HANDLER_FACTORIES[(False, handler.response_streaming)]
        return factory(
            runner(method, behaviour),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _unary(self, method: str, behaviour: Callable[..., Any]) -> Callable[..., Any]:
        async def run(request: Any, context: Any) -> Any:
            thread_context = ThreadContext(context)
            turn = await self.access(method, request)
            try:
                reply = await self._scheduler.run(turn, behaviour, request, thread_context)
            except Aborted as aborted:
                await send_status(context, aborted.status)
            thread_context.apply_to(context)
            return reply

        return run

    def _streaming(self, method: str, behaviour: Callable[..., Any]) -> Callable[..., Any]:
        async def run(request: Any, context: Any) -> AsyncIterator[Any]:
            thread_context = ThreadContext(context)
            turn = await self.access(method, request)
            replies = _ReplyBatches(lambda: iter(behaviour(request, thread_context)))
            try:
                while True:
                    batch = await self._scheduler.run(turn, replies.next_batch)
                    for reply in batch.replies:
                        yield reply
                    if batch.error is not None:
                        raise batch.error
                    if batch.last:
                        break
            except Aborted as aborted:
                await send_status(context, aborted.status)
            thread_context.apply_to(context)

        return run

    async def access(self, method: str, request: Any) -> Access:
        """What ``method`` needs before it may have a thread, for this ``request``."""
        if method in LIGHT_METHODS:
            return LIGHT
        if method in READ_METHODS:
            return UNGATED
        if method in EXCLUSIVE_METHODS:
            return Access(everything=True, writes=True)
        collection = await self._collection_of(request)
        if method in SEARCH_METHODS:
            return Access(collection=collection)
        return Access(collection=collection, exclusive=True, writes=True)

    async def _collection_of(self, request: Any) -> str | None:
        """The id of the collection the request's ``collection`` names, if it names one that
        exists (the method itself reports any problem with it)."""
        ref = getattr(request, "collection", None)
        if not isinstance(ref, types_pb2.CollectionRef):
            return None
        which = ref.WhichOneof("collection")
        if which == "id":
            return ref.id
        if which != "name":
            return None
        try:
            return await self._scheduler.run(UNGATED, record_collection_id, self._store, ref)
        except ChromaError:
            return None


@dataclass
class _Batch:
    """Replies taken in one hop; ``last`` once the stream has ended, ``error`` if it raised
    after them (sent once they are)."""

    replies: list[Any]
    last: bool
    error: Exception | None = None


class _ReplyBatches:
    """A streaming servicer method's replies, taken a batch at a time (on worker threads, one
    hop after another: never two at once)."""

    def __init__(self, start: Callable[[], Iterator[Any]]) -> None:
        self._start = start
        self._replies: Iterator[Any] | None = None

    def next_batch(self) -> _Batch:
        replies: list[Any] = []
        size = 0
        try:
            if self._replies is None:
                self._replies = self._start()
            reply: Any
            while (reply := next(self._replies, _END)) is not _END:
                replies.append(reply)
                size += _reply_bytes(reply)
                if size >= REPLY_BATCH_BYTES:
                    return _Batch(replies, last=False)
        except Exception as error:  # Aborted, or a bug: after the replies that preceded it
            if not replies:
                raise
            return _Batch(replies, last=True, error=error)
        return _Batch(replies, last=True)


def _reply_bytes(reply: Any) -> int:
    """A reply's encoded size: a message's, raw bytes' length; anything else fills a batch."""
    if isinstance(reply, (bytes, bytearray, memoryview)):
        return len(reply)
    byte_size = getattr(reply, "ByteSize", None)
    return int(byte_size()) if byte_size is not None else REPLY_BATCH_BYTES


class _AdaptedGenericHandler(GenericHandler):
    """A generic handler whose method handlers are adapted as :class:`ServiceRegistry` does."""

    def __init__(self, inner: GenericHandler, adapt: Callable[[str, Handler], Handler]) -> None:
        self._inner = inner
        self._adapt = adapt
        self._adapted: dict[str, Handler] = {}

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Handler | None:
        method = handler_call_details.method
        if method not in self._adapted:
            found = self._inner.service(handler_call_details)
            if found is None:
                return None
            self._adapted[method] = self._adapt(method.rpartition("/")[2], found)
        return self._adapted[method]
