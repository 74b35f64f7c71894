"""One behaviour suite, four transports: every test taking ``client`` runs embedded, over gRPC,
through the asyncio client and against a cluster.

"embedded" is an ``EphemeralClient`` (the in-process ``Store``); "grpc" is an ``HttpClient``
talking to a real server on loopback, serving an in-memory ``Store`` for the whole session;
"async" is an ``AsyncHttpClient`` on the same server, behind a sync face
(:mod:`.async_facade`) so each test runs unchanged; "cluster" is an ``HttpClient`` over both
gateways of a cluster on loopback (3 NATS JetStream servers, 2 workers, every collection in
2 shards of 2 replicas; docs/cluster.md), started once for the session. All allow reset, and
every test starts from an empty database.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import pytest

import chroma_grpc
from chroma_grpc import ClientAPI, Settings

from .async_facade import LoopThread, SyncFace
from .support import split_address

TRANSPORTS = ["embedded", "grpc", "async", "cluster"]


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
def cluster_gateways(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A cluster's gateways, "host:port,host:port" (every process ends with the session)."""
    from chroma_grpc.cluster.local import LocalCluster

    with LocalCluster(
        tmp_path_factory.mktemp("cluster"),
        default_shards=2,
        replication=2,
        allow_reset=True,
        gateway_args=["--no-server-embedding"],  # as the "grpc" transport's server
    ) as cluster:
        yield ",".join(cluster.gateway_addresses)


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
    elif transport == "cluster":
        client = chroma_grpc.HttpClient(host=request.getfixturevalue("cluster_gateways"))
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
