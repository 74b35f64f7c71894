"""A cluster for the fault tests: 3 NATS servers, 2 workers, 2 gateways, quick checkpoints.

Module-scoped: the fault tests run in order on one cluster and leave it whole (every killed
process is started again), so each starts from three NATS servers, two workers and two
gateways. Every process ends with the module, whatever happens.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chroma_grpc.cluster.local import LocalCluster

pytest.importorskip("nats", reason="the cluster extra is not installed")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with LocalCluster(
        Path(tmp_path_factory.mktemp("faults")),
        default_shards=2,
        replication=2,
        allow_reset=True,
        worker_args=["--checkpoint-every-ops", "10", "--checkpoint-interval", "1"],
        gateway_args=["--no-server-embedding"],
    ) as running:
        yield running
