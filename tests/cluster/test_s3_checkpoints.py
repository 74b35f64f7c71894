"""Checkpoints in S3 (``--checkpoints s3://BUCKET --s3-endpoint URL``), on moto_server.

One NATS server, one worker, one gateway: records written, checkpointed to the S3 bucket (the
files and the manifest are there), the worker replaced by a fresh one on an empty disk, and
every record back.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chroma_grpc.cluster.local import LocalCluster

from .support import all_ids, client_of, vectors


@pytest.fixture(scope="module")
def s3_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with LocalCluster(
        Path(tmp_path_factory.mktemp("s3")),
        nats_servers=1,
        workers=1,
        gateways=1,
        replication=1,
        partitions=1,
        s3=True,
        worker_args=["--checkpoint-every-ops", "5", "--checkpoint-interval", "1"],
        gateway_args=["--no-server-embedding"],
    ) as running:
        yield running


def s3_keys(cluster: LocalCluster) -> list[str]:
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=cluster.s3_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    found = s3.list_objects_v2(Bucket="chroma-checkpoints")
    return [item["Key"] for item in found.get("Contents", [])]


def manifests(keys: list[str], collection_id: str) -> set[str]:
    """The shards with a manifest (``[prefix/]<collection>/<shard>/<seq>/MANIFEST.json``)."""
    return {
        key.split("/")[-3]
        for key in keys
        if key.endswith("/MANIFEST.json") and key.split("/")[-4] == collection_id
    }


def test_checkpoints_go_to_s3_and_restore_a_fresh_worker(s3_cluster: LocalCluster) -> None:
    client = client_of(s3_cluster.gateway_addresses)
    collection = client.create_collection("in-s3", metadata={"cluster:shards": 2})
    for start in range(0, 300, 25):
        ids = [f"s{start + i}" for i in range(25)]
        collection.add(ids=ids, embeddings=vectors(start, 25), documents=ids)
    # both shards (cluster:shards 2 over the gateway's default of 1) reach S3
    deadline = time.monotonic() + 30
    while manifests(s3_keys(s3_cluster), str(collection.id)) != {"0", "1"}:
        assert time.monotonic() < deadline, (
            f"no checkpoint of each shard in S3: {s3_keys(s3_cluster)}"
        )
        time.sleep(0.5)
    keys = s3_keys(s3_cluster)
    assert any(k.endswith("records.sqlite3") for k in keys), keys
    s3_cluster.workers[0].kill(signal.SIGKILL)
    s3_cluster.workers[0] = s3_cluster.start_worker(s3_cluster.directory / "fresh")
    assert collection.count() == 300
    assert all_ids(collection) == {f"s{i}" for i in range(300)}
    assert collection.get(ids=["s7"])["documents"] == ["s7"]
    assert "from checkpoint" in s3_cluster.workers[0].log_path.read_text()
