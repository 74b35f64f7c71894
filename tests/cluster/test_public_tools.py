"""A gateway serves exactly the public API: the README's grpcurl walk-through and the Node
example, run unchanged against one gateway of a 2-worker, 2-shard, 2-replica cluster, answer
what they answer against a single server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chroma_grpc.cluster.local import LocalCluster
from tests.ops.test_grpcurl import walk_through_readme
from tests.ops.test_node_example import by_event, node, run_example

__all__ = ["node"]  # the fixture, used by name


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """As the walk-through's single server runs: server-side embedding on, reset allowed."""
    with LocalCluster(
        Path(tmp_path_factory.mktemp("public")),
        default_shards=2,
        replication=2,
        allow_reset=True,
    ) as running:
        yield running


def gateway(cluster: LocalCluster) -> tuple[str, int]:
    host, _, port = cluster.gateway_addresses[0].rpartition(":")
    return host, int(port)


def test_the_readme_grpcurl_walkthrough_against_a_gateway(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    walk_through_readme(*gateway(cluster), tmp_path)


def test_the_node_example_against_a_gateway(node: str, cluster: LocalCluster) -> None:
    lines = run_example(node, cluster.gateway_addresses[0], "from-node-cluster")
    assert [line["event"] for line in lines] == [
        "server",
        "collection",
        "added",
        "count",
        "query",
        "query",
    ]
    assert by_event(lines, "count") == [{"event": "count", "count": 3}]
    first, second = by_event(lines, "query")
    assert first["ids"] == ["n2", "n3"] and second["ids"] == ["n3", "n2"]
    assert first["documents"] == ["the dog ran", "a bird sang"]
