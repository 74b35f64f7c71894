"""Plain ``def`` servicers in the "decode, one store call, encode" shape run unchanged on the
asyncio server: ServiceRegistry adapts what generated ``add_*Servicer_to_server`` functions (or
a generic handler) register, and the ThreadContext they get behaves as grpc's context does."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import grpc
import pytest

from chroma_grpc.server._adapter import REPLY_BATCH_BYTES, ServiceRegistry, ThreadContext
from chroma_grpc.server._execution import Scheduler
from chroma_grpc.server.app import _EventLoopThread
from chroma_grpc.server.errors import INTERNAL_MESSAGE, unary_errors
from chroma_grpc.store import Store
from chroma_grpc.store.errors import UniqueConstraintError

BIG_PAGE = REPLY_BATCH_BYTES * 2 // 5 + 1  # three of them overflow one batch


class SyncServicer:
    """Methods as a servicer written for grpc's synchronous server would have them."""

    def Echo(self, request: bytes, context: ThreadContext) -> bytes:  # noqa: N802
        metadata = dict(context.invocation_metadata())
        remaining = context.time_remaining()
        # the deadline the client set (10 s), give or take how grpc rounds it on the wire
        assert context.is_active() and remaining is not None and 0 < remaining <= 11
        return request + b"|" + str(metadata.get("x-tag", "")).encode()

    def Abort(self, request: bytes, context: ThreadContext) -> bytes:  # noqa: N802
        context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
        raise AssertionError("abort returned")

    @unary_errors
    def Exists(self, request: bytes, context: grpc.ServicerContext) -> bytes:  # noqa: N802
        raise UniqueConstraintError("Collection x already exists")

    @unary_errors
    def Boom(self, request: bytes, context: grpc.ServicerContext) -> bytes:  # noqa: N802
        raise RuntimeError("secret internals")

    def SetCode(self, request: bytes, context: ThreadContext) -> bytes:  # noqa: N802
        context.set_code(grpc.StatusCode.FAILED_PRECONDITION)
        context.set_details("not now")
        return b""

    def Pages(self, request: bytes, context: ThreadContext) -> Iterator[bytes]:  # noqa: N802
        for n in range(3):
            assert context.is_active()
            yield f"page {n}".encode()

    def PagesThenAbort(self, request: bytes, context: ThreadContext) -> Iterator[bytes]:  # noqa: N802
        yield b"page 0"
        yield b"page 1"
        context.abort(grpc.StatusCode.NOT_FOUND, "gone after two pages")

    def BigPages(self, request: bytes, context: ThreadContext) -> Iterator[bytes]:  # noqa: N802
        for n in range(5):  # more than one batch of replies (REPLY_BATCH_BYTES)
            yield bytes([n]) * BIG_PAGE


KINDS = {
    "Echo": grpc.unary_unary_rpc_method_handler,
    "Abort": grpc.unary_unary_rpc_method_handler,
    "Exists": grpc.unary_unary_rpc_method_handler,
    "Boom": grpc.unary_unary_rpc_method_handler,
    "SetCode": grpc.unary_unary_rpc_method_handler,
    "Pages": grpc.unary_stream_rpc_method_handler,
    "PagesThenAbort": grpc.unary_stream_rpc_method_handler,
    "BigPages": grpc.unary_stream_rpc_method_handler,
}


@pytest.fixture(scope="module")
def channel() -> Iterator[grpc.Channel]:
    servicer = SyncServicer()
    handlers = {name: kind(getattr(servicer, name)) for name, kind in KINDS.items()}
    runner = _EventLoopThread()
    scheduler = Scheduler(2)
    store = Store(None)

    async def start() -> tuple[grpc.aio.Server, int]:
        server = grpc.aio.server()
        registry = ServiceRegistry(server, scheduler, store)
        # What a generated add_*Servicer_to_server function does:
        registry.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("test.Sync", handlers),)
        )
        registry.add_registered_method_handlers("test.Sync", handlers)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        return server, port

    server, port = runner.submit(start()).result()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as opened:
        yield opened
    runner.submit(server.stop(None)).result()
    scheduler.shutdown()
    runner.close()
    store.close()


def failure(call: object) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        result = call()  # type: ignore[operator]
        if not isinstance(result, bytes):
            list(result)
    return caught.value


def test_context_reads_work_on_the_worker_thread(channel: grpc.Channel) -> None:
    echo = channel.unary_unary("/test.Sync/Echo")
    assert echo(b"hi", metadata=(("x-tag", "t1"),), timeout=10) == b"hi|t1"


def test_abort_from_the_worker_thread_ends_the_rpc(channel: grpc.Channel) -> None:
    error = failure(lambda: channel.unary_unary("/test.Sync/Abort")(b"", timeout=10))
    assert error.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
    assert error.details() == "no such thing"  # type: ignore[attr-defined]


def test_chroma_errors_keep_their_status_and_bugs_are_internal(channel: grpc.Channel) -> None:
    error = failure(lambda: channel.unary_unary("/test.Sync/Exists")(b"", timeout=10))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS  # type: ignore[attr-defined]
    error = failure(lambda: channel.unary_unary("/test.Sync/Boom")(b"", timeout=10))
    assert error.code() == grpc.StatusCode.INTERNAL  # type: ignore[attr-defined]
    assert error.details() == INTERNAL_MESSAGE  # type: ignore[attr-defined]


def test_codes_set_on_the_context_reach_the_client(channel: grpc.Channel) -> None:
    error = failure(lambda: channel.unary_unary("/test.Sync/SetCode")(b"", timeout=10))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION  # type: ignore[attr-defined]
    assert error.details() == "not now"  # type: ignore[attr-defined]


def test_generator_methods_stream_their_replies(channel: grpc.Channel) -> None:
    pages = list(channel.unary_stream("/test.Sync/Pages")(b"", timeout=10))
    assert pages == [b"page 0", b"page 1", b"page 2"]


def test_replies_before_an_abort_arrive_then_the_status(channel: grpc.Channel) -> None:
    """Replies are taken from a generator a batch at a time; an abort after some of them
    still sends them first, then the status."""
    received: list[bytes] = []
    with pytest.raises(grpc.RpcError) as caught:
        for page in channel.unary_stream("/test.Sync/PagesThenAbort")(b"", timeout=10):
            received.append(page)
    assert received == [b"page 0", b"page 1"]
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
    assert caught.value.details() == "gone after two pages"  # type: ignore[attr-defined]


def test_a_stream_larger_than_a_batch_arrives_whole_and_in_order(channel: grpc.Channel) -> None:
    pages = list(channel.unary_stream("/test.Sync/BigPages")(b"", timeout=10))
    assert pages == [bytes([n]) * BIG_PAGE for n in range(5)]


def test_a_plain_request_streaming_method_is_refused_at_registration() -> None:
    def reads_a_stream(requests: Iterator[bytes], context: object) -> bytes:
        return b""

    async def register() -> None:
        registry = ServiceRegistry(grpc.aio.server(), Scheduler(1), Store(None))
        handler = grpc.stream_unary_rpc_method_handler(reads_a_stream)
        with pytest.raises(TypeError, match="must be 'async def'"):
            registry.add_registered_method_handlers("test.Bad", {"Write": handler})

    asyncio.run(register())
