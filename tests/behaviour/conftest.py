"""One behaviour suite, three transports: every test taking ``client`` runs embedded, over gRPC
and through the asyncio client.

"embedded" is an ``EphemeralClient`` (the in-process ``Store``); "grpc" is an ``HttpClient``
talking to a real server on loopback, serving an in-memory ``Store`` for the whole session;
"async" is an ``AsyncHttpClient`` on the same server, behind a sync face
(:mod:`.async_facade`) so each test runs unchanged. All allow reset, and every test starts from
an empty database.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import pytest

import chroma_grpc
from chroma_grpc import ClientAPI, Settings

from .async_facade import LoopThread, SyncFace
from .support import split_address

TRANSPORTS = ["embedded", "grpc", "async"]


@pytest.fixture(autouse=True)
def _fresh_system_cache() -> Iterator[None]:
    """Every test gets its own shared-system cache (tests may build clients with new settings)."""
    ClientAPI.clear_system_cache()
    yield
    ClientAPI.clear_system_cache()


@pytest.fixture(scope="session")
def server_address() -> Iterator[str]:
    """A chroma-grpc server on loopback over an in-memory store that allows reset."""
    from tests.helpers.servers import serve_in_memory

    with serve_in_memory() as address:
        yield address


@pytest.fixture(scope="session")
def event_loop_thread() -> Iterator[LoopThread]:
    """The event loop the async clients live on (grpc.aio channels belong to one loop)."""
    runner = LoopThread()
    yield runner
    runner.close()


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client(transport: str, request: pytest.FixtureRequest) -> Iterator[ClientAPI]:
    """A client on an empty database, embedded or remote."""
    if transport == "embedded":
        client = chroma_grpc.EphemeralClient(Settings(allow_reset=True))
    elif transport == "grpc":
        host, port = split_address(request.getfixturevalue("server_address"))
        client = chroma_grpc.HttpClient(host=host, port=port)
    else:
        host, port = split_address(request.getfixturevalue("server_address"))
        runner: LoopThread = request.getfixturevalue("event_loop_thread")
        async_client = runner.run(chroma_grpc.AsyncHttpClient(host=host, port=port))
        client = cast(ClientAPI, SyncFace(async_client, runner))
    client.reset()
    yield client
    client.reset()
    if transport == "async":
        runner.run(async_client.close())
