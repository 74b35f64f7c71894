"""Servicer error handling: ChromaErrors keep their status; anything else is a bare INTERNAL."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest

from chroma_grpc.server.errors import INTERNAL_MESSAGE, stream_errors, unary_errors
from chroma_grpc.store.errors import UniqueConstraintError


class Failing:
    @unary_errors
    def Boom(self, request: bytes, context: grpc.ServicerContext) -> bytes:  # noqa: N802
        raise RuntimeError("secret internals")

    @unary_errors
    def Exists(self, request: bytes, context: grpc.ServicerContext) -> bytes:  # noqa: N802
        raise UniqueConstraintError("Collection x already exists")

    @stream_errors
    def Stream(self, request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:  # noqa: N802
        yield b"first"
        raise KeyError("late failure")


@pytest.fixture(scope="module")
def channel() -> Iterator[grpc.Channel]:
    failing = Failing()
    handler = grpc.method_handlers_generic_handler(
        "test.Failing",
        {
            "Boom": grpc.unary_unary_rpc_method_handler(failing.Boom),
            "Exists": grpc.unary_unary_rpc_method_handler(failing.Exists),
            "Stream": grpc.unary_stream_rpc_method_handler(failing.Stream),
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(2))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel
    server.stop(None)


def test_unexpected_exceptions_are_internal_without_details(
    channel: grpc.Channel, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(grpc.RpcError) as info:
        channel.unary_unary("/test.Failing/Boom")(b"")
    assert info.value.code() == grpc.StatusCode.INTERNAL  # type: ignore[attr-defined]
    assert info.value.details() == INTERNAL_MESSAGE  # type: ignore[attr-defined]
    assert "secret internals" in caplog.text


def test_chroma_errors_keep_their_code(channel: grpc.Channel) -> None:
    with pytest.raises(grpc.RpcError) as info:
        channel.unary_unary("/test.Failing/Exists")(b"")
    assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS  # type: ignore[attr-defined]


def test_streams_map_errors_raised_mid_stream(channel: grpc.Channel) -> None:
    replies = channel.unary_stream("/test.Failing/Stream")(b"")
    assert next(replies) == b"first"
    with pytest.raises(grpc.RpcError) as info:
        next(replies)
    assert info.value.code() == grpc.StatusCode.INTERNAL  # type: ignore[attr-defined]
