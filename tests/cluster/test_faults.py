"""Faults with streamed ingest running (docs/cluster.md, "Failure handling").

* one of three NATS servers killed (-9, the log's leader): no acknowledged record is lost and
  writes resume within 15 s;
* a worker killed: queries keep answering, correctly, from the other replica; restarted, it
  catches up and serves alone;
* a gateway killed: the client goes on through the other;
* every worker stopped and fresh ones started on empty disks: every acknowledged record is
  back, from checkpoints and the log's tail;
* a write retried with the same request id is applied once.

Every wait is bounded; the cluster is whole again after each test.
"""

from __future__ import annotations

import signal
import time

import grpc
import numpy as np
import pytest

from chroma_grpc.cluster.gateway import partition_of
from chroma_grpc.cluster.local import LocalCluster
from chroma_grpc.cluster.nats_io import DEFAULT_PARTITIONS, stream_name
from chroma_grpc.v1 import record_service_pb2 as rpb
from chroma_grpc.v1 import record_service_pb2_grpc, types_pb2
from chroma_grpc.wire.collections import to_proto_ref

from .support import (
    BATCH,
    Ingest,
    all_ids,
    client_of,
    durable_state,
    stream_leader,
    vectors,
    wait_until_replicated,
)

RESUME_WITHIN_S = 15.0
# A query whose first replica hangs: the hedge delay plus a normal query on a loaded machine.
HEDGED_QUERY_S = 1.5
# Probe vectors come from a seed no ingested batch uses (``Ingest`` seeds each batch with its
# first record's number), so a probe's nearest neighbour is itself alone.
PROBE_SEED = 10**9


def fresh_collection(cluster: LocalCluster, name: str):  # type: ignore[no-untyped-def]
    client = client_of(cluster.gateway_addresses)
    client.reset()
    return client, client.create_collection(name, metadata={"cluster:shards": 2})


def test_killing_a_nats_server_loses_no_acknowledged_write(cluster: LocalCluster) -> None:
    _, collection = fresh_collection(cluster, "nats-kill")
    leader = stream_leader(
        cluster.nats.urls, stream_name(partition_of(str(collection.id), DEFAULT_PARTITIONS))
    )
    victim = int(leader.removeprefix("n")) - 1
    ingest = Ingest(collection, "n").start()
    try:
        ingest.wait_for(200)
        killed_at = time.monotonic()
        cluster.nats.servers[victim].kill(signal.SIGKILL)
        ingest.wait_for(len(ingest.acked) + 200, timeout=60)
    finally:
        ingest.stop()
    # writes that began after the kill were acknowledged within the bound (or failed: none may)
    after = [seconds for began, seconds in ingest.latencies if began >= killed_at - 1]
    assert not ingest.errors, ingest.errors[:3]
    assert max(after) < RESUME_WITHIN_S, max(after)
    assert set(ingest.acked) <= all_ids(collection)
    assert collection.count() == len(ingest.acked)
    cluster.nats.restart(victim)


def test_killing_a_worker_keeps_queries_answering_from_the_other_replica(
    cluster: LocalCluster,
) -> None:
    _, collection = fresh_collection(cluster, "worker-kill")
    probes = vectors(PROBE_SEED, 20)  # not the vectors of any ingested batch: no ties
    collection.add(ids=[f"p{i}" for i in range(20)], embeddings=probes)
    ingest = Ingest(collection, "w").start()
    answered = 0
    try:
        ingest.wait_for(100)
        cluster.workers[0].kill(signal.SIGKILL)
        deadline = time.monotonic() + 8  # past the dead worker's membership TTL
        while time.monotonic() < deadline:
            i = answered % 20
            result = collection.query(query_embeddings=probes[i : i + 1], n_results=1)
            assert result["ids"] == [[f"p{i}"]]
            assert result["distances"][0][0] == pytest.approx(0.0, abs=1e-6)
            answered += 1
        # restarted on its own folder: it catches up with what was written meanwhile
        cluster.workers[0] = cluster.start_worker(cluster.worker_data(0))
        ingest.wait_for(len(ingest.acked) + 100)
    finally:
        ingest.stop()
    assert answered > 20 and not ingest.errors
    # the other worker goes away: the restarted one answers alone, with everything
    cluster.workers[1].kill(signal.SIGKILL)
    try:
        assert collection.count() == len(ingest.acked) + 20
        assert set(ingest.acked) <= all_ids(collection)
    finally:
        cluster.workers[1] = cluster.start_worker(cluster.worker_data(1))


def test_a_hung_worker_costs_a_hedge_not_a_timeout(cluster: LocalCluster) -> None:
    """SIGSTOP a worker: until its membership entry expires, reads sent to it are hedged to
    the other replica after --hedge-after (50 ms), so every query answers, correctly, fast."""
    _, collection = fresh_collection(cluster, "hung-worker")
    probes = vectors(PROBE_SEED, 20)
    collection.add(ids=[f"p{i}" for i in range(20)], embeddings=probes)
    assert collection.count() == 20  # both shards' replicas are ready
    hung = cluster.workers[0]
    hung.kill(signal.SIGSTOP)
    slowest = 0.0
    answered = 0
    try:
        stopped_at = time.monotonic()
        while time.monotonic() - stopped_at < 3.0:  # its entry (4 s TTL) still says ready
            i = answered % 20
            began = time.monotonic()
            result = collection.query(query_embeddings=probes[i : i + 1], n_results=1)
            slowest = max(slowest, time.monotonic() - began)
            assert result["ids"] == [[f"p{i}"]]
            answered += 1
    finally:
        hung.kill(signal.SIGCONT)
    assert answered >= 10 and slowest < HEDGED_QUERY_S, (answered, slowest)
    # resumed, it serves again (once both replicas of both shards are READY again: its entry
    # may have expired meanwhile on a loaded machine): the other worker stopped in turn,
    # queries still answer
    wait_until_replicated(cluster.nats.urls, str(collection.id), shards=2, replicas=2)
    other = cluster.workers[1]
    other.kill(signal.SIGSTOP)
    try:
        for i in range(20):
            assert collection.query(query_embeddings=probes[i : i + 1], n_results=1)["ids"] == [
                [f"p{i}"]
            ]
    finally:
        other.kill(signal.SIGCONT)


def test_killing_a_gateway_the_client_goes_on_through_the_other(cluster: LocalCluster) -> None:
    _, collection = fresh_collection(cluster, "gateway-kill")
    ingest = Ingest(collection, "g").start()
    try:
        ingest.wait_for(100)
        cluster.gateways[0].kill(signal.SIGKILL)
        ingest.wait_for(len(ingest.acked) + 200)
        assert collection.count() >= 300  # reads go on too
    finally:
        ingest.stop()
        cluster.gateways[0] = cluster.start_gateway()
    assert not ingest.errors, ingest.errors[:3]
    assert set(ingest.acked) <= all_ids(collection)


def test_fresh_workers_on_empty_disks_restore_every_acknowledged_record(
    cluster: LocalCluster,
) -> None:
    client = client_of(cluster.gateway_addresses)
    client.reset()
    collection = client.create_collection("restore")  # the gateways' --default-shards: 2
    ingest = Ingest(collection, "r").start()
    try:
        ingest.wait_for(400)
        # checkpoints (every 10 ops or 1 s) reach the Object Store and KV, and the log is
        # purged below them
        deadline = time.monotonic() + 30
        while True:
            state = durable_state(cluster.nats.urls, str(collection.id))
            purged = sum(state.log_messages.values()) < len(ingest.acked) // BATCH
            if purged and len(state.checkpoint_records) == 2:
                break
            assert time.monotonic() < deadline, f"no checkpoint and purge: {state}"
            time.sleep(0.5)
        assert any(name.endswith("/MANIFEST.json") for name in state.checkpoint_files), state
        # every worker lost while writes go on (they need only the log), then fresh workers
        for worker in cluster.workers:
            worker.kill(signal.SIGKILL)
        written = len(ingest.acked)
        ingest.wait_for(written + 100)
        fresh = [cluster.start_worker(cluster.directory / f"fresh{i}") for i in range(2)]
        cluster.workers[:] = fresh
        ingest.wait_for(len(ingest.acked) + 100)
    finally:
        ingest.stop()
    assert not ingest.errors, ingest.errors[:3]
    assert collection.count() == len(ingest.acked)
    assert all_ids(collection) == set(ingest.acked)
    restored = [w.log_path.read_text() for w in fresh]
    assert any("from checkpoint" in text for text in restored), "no replica was restored"


def test_a_retried_write_is_applied_once(cluster: LocalCluster) -> None:
    _, collection = fresh_collection(cluster, "retries")
    channel = grpc.insecure_channel(cluster.gateway_addresses[0])
    stub = record_service_pb2_grpc.RecordServiceStub(channel)

    def upsert(document: str, request_id: str) -> None:
        batch = types_pb2.RecordBatch(records=[types_pb2.Record(id="a", document=document)])
        batch.embeddings.dimension = 2
        batch.embeddings.packed_float32 = np.array([[1, 2]], "<f4").tobytes()
        stub.UpsertRecords(
            iter(
                [
                    rpb.UpsertRecordsRequest(
                        collection=to_proto_ref(collection_id=str(collection.id)),
                        request_id=request_id,
                        batch=batch,
                        commit=True,
                    )
                ]
            )
        )

    upsert("first", "request-1")
    upsert("second", "request-2")
    upsert("first", "request-1")  # a retry of the first write: stored once, not again
    assert collection.get(ids=["a"])["documents"] == ["second"]
    upsert("third", "request-3")
    assert collection.get(ids=["a"])["documents"] == ["third"]
    channel.close()
