"""Helpers of the cluster tests: streamed ingest, and asking NATS who leads what."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

import chroma_grpc
from chroma_grpc.client.collection import Collection

DIMENSION = 8
BATCH = 25


def vectors(start: int, count: int) -> np.ndarray:
    """Deterministic vectors: record n's is a function of n alone."""
    rng = np.random.default_rng(start)
    return rng.random((count, DIMENSION), dtype=np.float32)


@dataclass
class Ingest:
    """Adds batches of new records in a thread until stopped; remembers what was acked."""

    collection: Collection
    prefix: str
    acked: list[str] = field(default_factory=list)
    errors: list[tuple[float, BaseException]] = field(default_factory=list)
    latencies: list[tuple[float, float]] = field(default_factory=list)  # (start, seconds)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Ingest:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            ids = [f"{self.prefix}{n + i}" for i in range(BATCH)]
            began = time.monotonic()
            try:
                self.collection.add(
                    ids=ids, embeddings=vectors(n, BATCH), metadatas=[{"n": n}] * BATCH
                )
            except Exception as error:  # recorded; the test decides what is allowed
                self.errors.append((time.monotonic(), error))
                time.sleep(0.1)
            else:
                self.acked.extend(ids)
                self.latencies.append((began, time.monotonic() - began))
            n += BATCH

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(120)

    def wait_for(self, count: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acked) < count:
            assert time.monotonic() < deadline, f"ingest stalled at {len(self.acked)} records"
            time.sleep(0.05)


def all_ids(collection: Collection) -> set[str]:
    return set(collection.get(include=[])["ids"])


def client_of(gateways: Sequence[str]) -> chroma_grpc.ClientAPI:
    return chroma_grpc.HttpClient(host=",".join(gateways))


def stream_leader(urls: Sequence[str], stream: str) -> str:
    """The name of the NATS server leading ``stream`` (n1, n2, ...)."""

    async def ask() -> str:
        from chroma_grpc.cluster.nats_io import connect

        nc = await connect(urls, "chroma-grpc-test")
        try:
            info = await nc.jetstream().stream_info(stream)
            assert info.cluster is not None and info.cluster.leader
            return str(info.cluster.leader)
        finally:
            await nc.close()

    return asyncio.run(ask())


@dataclass(frozen=True)
class DurableState:
    """What NATS holds of one collection: its log messages per shard subject, the names of
    its checkpoint files in the Object Store, and its checkpoint records in KV."""

    log_messages: dict[str, int]
    checkpoint_files: list[str]
    checkpoint_records: list[str]


def durable_state(urls: Sequence[str], collection_id: str) -> DurableState:
    async def ask() -> DurableState:
        from nats.js.errors import NoKeysError, NotFoundError

        from chroma_grpc.cluster.gateway import partition_of
        from chroma_grpc.cluster.nats_io import (
            CHECKPOINTS_BUCKET,
            DEFAULT_PARTITIONS,
            OBJECTS_BUCKET,
            collection_subjects,
            connect,
            stream_name,
        )

        nc = await connect(urls, "chroma-grpc-test")
        try:
            js = nc.jetstream()
            partition = partition_of(collection_id, DEFAULT_PARTITIONS)
            info = await js.stream_info(
                stream_name(partition),
                subjects_filter=collection_subjects(partition, collection_id),
            )
            try:  # created by the first checkpoint
                objects = await (await js.object_store(OBJECTS_BUCKET)).list(ignore_deletes=True)
            except NotFoundError:
                objects = []
            try:
                keys = await (await js.key_value(CHECKPOINTS_BUCKET)).keys()
            except NoKeysError:
                keys = []
            return DurableState(
                log_messages=dict(info.state.subjects or {}),
                checkpoint_files=[o.name for o in objects if o.name.startswith(collection_id)],
                checkpoint_records=[k for k in keys if k.startswith(collection_id)],
            )
        finally:
            await nc.close()

    return asyncio.run(ask())


def ready_replicas(urls: Sequence[str], collection_id: str, shards: int) -> list[int]:
    """How many live workers announce a READY replica of each of the collection's shards."""

    async def ask() -> list[int]:
        from nats.js.errors import NoKeysError

        from chroma_grpc.cluster.membership import READY, WorkerDoc
        from chroma_grpc.cluster.nats_io import MEMBERS_BUCKET, connect
        from chroma_grpc.cluster.routing import shard_key

        nc = await connect(urls, "chroma-grpc-test")
        try:
            members = await nc.jetstream().key_value(MEMBERS_BUCKET)
            try:
                keys = await members.keys()
            except NoKeysError:
                keys = []
            docs = []
            for key in keys:
                entry = await members.get(key)
                if entry.value:
                    docs.append(WorkerDoc.from_json(entry.value))
            return [
                sum(
                    1
                    for doc in docs
                    if (replica := doc.replicas.get(shard_key(collection_id, shard))) is not None
                    and replica.state == READY
                )
                for shard in range(shards)
            ]
        finally:
            await nc.close()

    return asyncio.run(ask())


def wait_until_replicated(
    urls: Sequence[str], collection_id: str, shards: int, replicas: int, timeout: float = 60.0
) -> None:
    """Block until every shard has ``replicas`` READY replicas (bounded by ``timeout``)."""
    deadline = time.monotonic() + timeout
    while (counts := ready_replicas(urls, collection_id, shards)) != [replicas] * shards:
        assert time.monotonic() < deadline, f"READY replicas per shard: {counts}"
        time.sleep(0.2)
