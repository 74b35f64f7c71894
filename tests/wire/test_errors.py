"""Every ChromaError class survives the trip through a real gRPC status and back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from chroma_grpc.store.errors import ERROR_CLASSES, ChromaError, InvalidArgumentError
from chroma_grpc.wire.errors import (
    DOMAIN,
    DeadlineExceededError,
    ServerUnavailableError,
    from_rpc_error,
    grpc_code,
    raising_store_errors,
    to_status,
)

METHOD = "/test.Errors/Raise"


@pytest.fixture(scope="module")
def failing_channel() -> Iterator[tuple[grpc.Channel, list[ChromaError]]]:
    """A real server whose one method aborts with ``to_status`` of the queued error."""
    queued: list[ChromaError] = []

    def handler(request: bytes, context: grpc.ServicerContext) -> bytes:
        context.abort_with_status(to_status(queued.pop()))

    def sleep(request: bytes, context: grpc.ServicerContext) -> bytes:
        time.sleep(1)
        return b""

    generic = grpc.method_handlers_generic_handler(
        "test.Errors",
        {
            "Raise": grpc.unary_unary_rpc_method_handler(handler),
            "Sleep": grpc.unary_unary_rpc_method_handler(sleep),
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(2))
    server.add_generic_rpc_handlers((generic,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield channel, queued
    channel.close()
    server.stop(None)


@pytest.mark.parametrize("cls", ERROR_CLASSES)
def test_each_error_class_comes_back_as_itself(
    failing_channel: tuple[grpc.Channel, list[ChromaError]], cls: type[ChromaError]
) -> None:
    channel, queued = failing_channel
    queued.append(cls(f"boom from {cls.__name__}", field="batch.records[3].id"))
    call = channel.unary_unary(METHOD)
    with pytest.raises(grpc.RpcError) as info:
        call(b"")
    error = info.value
    assert error.code() == grpc_code(cls.code)  # type: ignore[attr-defined]
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    details = {d.type_url.rsplit(".", 1)[-1]: d for d in status.details}
    error_info = error_details_pb2.ErrorInfo()
    details["ErrorInfo"].Unpack(error_info)
    assert (error_info.reason, error_info.domain) == (cls.reason, DOMAIN)
    assert error_info.metadata["exception"] == cls.__name__
    assert error_info.metadata["field"] == "batch.records[3].id"
    bad_request = error_details_pb2.BadRequest()
    details["BadRequest"].Unpack(bad_request)
    assert bad_request.field_violations[0].field == "batch.records[3].id"

    again = from_rpc_error(error)
    assert type(again) is cls
    assert str(again) == f"boom from {cls.__name__}"
    assert again.field == "batch.records[3].id"  # type: ignore[attr-defined]


def test_without_a_field_there_is_no_bad_request(
    failing_channel: tuple[grpc.Channel, list[ChromaError]],
) -> None:
    channel, queued = failing_channel
    queued.append(InvalidArgumentError("no field"))
    with pytest.raises(InvalidArgumentError, match="no field"), raising_store_errors():
        channel.unary_unary(METHOD)(b"")
    assert to_status(InvalidArgumentError("x")).trailing_metadata  # details still sent


def test_unreachable_server_is_a_connection_error_and_a_value_error() -> None:
    channel = grpc.insecure_channel("127.0.0.1:1")
    expected = "Could not connect to a Chroma server"
    with pytest.raises(ServerUnavailableError, match=expected), raising_store_errors():
        channel.unary_unary(METHOD)(b"", timeout=5)
    assert issubclass(ServerUnavailableError, ConnectionError)
    assert issubclass(ServerUnavailableError, ValueError)
    channel.close()


def test_deadline_exceeded_is_a_timeout_error(
    failing_channel: tuple[grpc.Channel, list[ChromaError]],
) -> None:
    channel, _ = failing_channel
    with pytest.raises(DeadlineExceededError), raising_store_errors():
        channel.unary_unary("/test.Errors/Sleep")(b"", timeout=0.05)
    assert issubclass(DeadlineExceededError, TimeoutError)
