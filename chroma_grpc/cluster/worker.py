"""A worker: hosts shard replicas, serves the shard service, checkpoints.

Which replicas a worker hosts follows from the catalog and the live workers alone: shard ``k``
goes to the top ``replicas`` workers by rendezvous hash (:mod:`.routing`). A worker opens the
replicas it should host (restoring the latest checkpoint when its folder has nothing newer),
announces each as ``catching_up`` and then ``ready`` in its membership entry, and drops one it
should no longer host only once the shard's new owners are ready (make before break). A
deleted collection's replicas are dropped at once.

Its shard service (``chroma_grpc.cluster.v1.ShardService``) answers gateways' reads after the
replica has applied the log as far as the read requires (:meth:`Replica.wait_through`).
Every ``checkpoint_ops`` applied ops or ``checkpoint_interval_s`` seconds (whichever comes
first) the first ready replica of each shard uploads a checkpoint (:mod:`.checkpoints`) and
purges the log below what every live replica of the shard still needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError

from chroma_grpc.cluster.catalog import Catalog, CollectionEntry
from chroma_grpc.cluster.checkpoints import BlobStore, Checkpoints, ObjectStoreBlobs, snapshot
from chroma_grpc.cluster.membership import (
    CATCHING_UP,
    READY,
    Membership,
    ReplicaState,
    WorkerDoc,
    member_key,
)
from chroma_grpc.cluster.nats_io import (
    CATALOG_BUCKET,
    CHECKPOINTS_BUCKET,
    DEFAULT_PARTITIONS,
    DEFAULT_REPLICAS,
    HEARTBEAT_S,
    MEMBERS_BUCKET,
    Topology,
    bucket_of,
    connect,
    ensure_resources,
    stop_task,
)
from chroma_grpc.cluster.replica import Replica
from chroma_grpc.cluster.routing import placement, rendezvous, shard_key
from chroma_grpc.cluster.simulated import ServiceTimes, SimulatedCore
from chroma_grpc.cluster.v1 import shard_service_pb2 as pb
from chroma_grpc.cluster.v1 import shard_service_pb2_grpc
from chroma_grpc.server.errors import abort_async, async_unary_errors
from chroma_grpc.wire.filters import from_proto_where, from_proto_where_document
from chroma_grpc.wire.records import (
    DEFAULT_PAGE_BYTES,
    from_proto_include,
    iter_get_pages,
    to_proto_query_response,
)
from chroma_grpc.wire.vectors import from_proto_vectors

log = logging.getLogger(__name__)
DEFAULT_REPLICATION = 2
DEFAULT_CHECKPOINT_OPS = 1000
DEFAULT_CHECKPOINT_INTERVAL_S = 60.0
JANITOR_EVERY_S = 10.0
# How long a stopping worker waits for NATS to take its leave and close the connection.
STOP_NATS_S = 3.0


class ReplicaMissing(Exception):
    """This worker does not host the shard (any more): the gateway asks another replica."""


class Worker:
    """One worker process's state (module docstring); everything runs on one event loop."""

    def __init__(
        self,
        nats_urls: Sequence[str],
        data_dir: str | Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        replication: int = DEFAULT_REPLICATION,
        partitions: int = DEFAULT_PARTITIONS,
        log_replicas: int = DEFAULT_REPLICAS,
        blobs: BlobStore | None = None,
        checkpoint_ops: int = DEFAULT_CHECKPOINT_OPS,
        checkpoint_interval_s: float = DEFAULT_CHECKPOINT_INTERVAL_S,
        threads: int = 8,
        service_times: ServiceTimes | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.id = _worker_id(self.data_dir)
        self._urls = list(nats_urls)
        self._host = host
        self._port = port
        self._replication = replication
        self._topology = Topology(partitions, log_replicas)
        self._blobs = blobs
        self._checkpoint_ops = checkpoint_ops
        self._checkpoint_interval_s = checkpoint_interval_s
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="chroma-grpc-replica")
        # Only the cost-model benchmark sets service times (cluster/simulated.py).
        self.core = (
            SimulatedCore(service_times) if service_times and service_times.simulated else None
        )
        self.replicas: dict[str, Replica] = {}
        self._opening: dict[str, asyncio.Task[None]] = {}
        # Replicas being opened, and the log position each has on disk (announced first).
        self._opening_at: dict[str, int] = {}
        self._last_checkpoint: dict[str, float] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        self._reconcile_wanted = asyncio.Event()
        self._announce_wanted = asyncio.Event()
        self.address = ""

    # -- life --------------------------------------------------------------------------------

    async def start(self) -> None:
        self._nc: NATS = await connect(self._urls, f"chroma-grpc-worker-{self.id}")
        self._js: JetStreamContext = self._nc.jetstream(timeout=5.0)
        await ensure_resources(self._js, self._topology)
        self._catalog = Catalog(self._js, await bucket_of(self._js, CATALOG_BUCKET, 1))
        await self._catalog.start()
        self._topology = await self._catalog.bootstrap(self._topology)
        self._members_kv = await bucket_of(self._js, MEMBERS_BUCKET, 1)
        self._membership = Membership(self._members_kv)
        await self._membership.start()
        blobs = self._blobs or ObjectStoreBlobs(self._js, self._topology.replicas)
        self.checkpoints = Checkpoints(
            blobs, await bucket_of(self._js, CHECKPOINTS_BUCKET, 1), self.id
        )
        self._server = grpc.aio.server(
            options=[
                ("grpc.max_send_message_length", -1),
                ("grpc.max_receive_message_length", -1),
            ]
        )
        shard_service_pb2_grpc.add_ShardServiceServicer_to_server(ShardServicer(self), self._server)
        port = self._server.add_insecure_port(f"{self._host}:{self._port}")
        await self._server.start()
        self.address = f"{self._host}:{port}"
        await self._announce()
        self._catalog.on_change(self._reconcile_wanted.set)
        self._membership.on_change(self._reconcile_wanted.set)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._heartbeat()),
            loop.create_task(self._reconciler()),
            loop.create_task(self._checkpointer()),
            loop.create_task(self._janitor()),
        ]
        self._reconcile_wanted.set()

    async def stop(self, *, leave: bool = True) -> None:
        """Close every replica (positions written), leave the membership, disconnect."""
        for task in [*self._tasks, *self._opening.values()]:
            task.cancel()
        for task in [*self._tasks, *self._opening.values()]:
            await stop_task(task)
        await self._server.stop(1.0)
        for replica in list(self.replicas.values()):
            await replica.close()
        self.replicas.clear()
        # NATS may be gone (a whole cluster stopping): leaving and disconnecting are bounded,
        # so a stopped worker always exits (its membership entry then expires on its own).
        if leave:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._members_kv.delete(member_key(self.id)), STOP_NATS_S)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._disconnect(), STOP_NATS_S)
        self._executor.shutdown(wait=True)

    async def _disconnect(self) -> None:
        await self._membership.stop()
        await self._catalog.stop()
        await self._nc.close()

    # -- membership --------------------------------------------------------------------------

    def announce_soon(self) -> None:
        self._announce_wanted.set()

    async def _announce(self) -> None:
        doc = WorkerDoc(
            id=self.id,
            address=self.address,
            replicas={
                **{key: ReplicaState(CATCHING_UP, at) for key, at in self._opening_at.items()},
                **{
                    key: ReplicaState(replica.state, replica.applied)
                    for key, replica in self.replicas.items()
                },
            },
        )
        await self._members_kv.put(member_key(self.id), doc.to_json())

    async def _heartbeat(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._announce_wanted.wait(), HEARTBEAT_S)
            self._announce_wanted.clear()
            try:
                await self._announce()
            except Exception as error:  # NATS unreachable for a moment: try again
                log.info("worker %s: heartbeat failed: %s", self.id, error)
                await asyncio.sleep(0.2)

    def _live(self) -> set[str]:
        return {*self._membership.workers, self.id}

    # -- placement ---------------------------------------------------------------------------

    async def _reconciler(self) -> None:
        while True:
            await self._reconcile_wanted.wait()
            self._reconcile_wanted.clear()
            try:
                await self._reconcile()
            except Exception:
                log.exception("worker %s: reconcile failed", self.id)
                await asyncio.sleep(0.5)
                self._reconcile_wanted.set()

    async def _reconcile(self) -> None:
        live = self._live()
        wanted: dict[str, tuple[CollectionEntry, int]] = {}
        for entry in self._catalog.collections():
            owners_of = placement(entry.id, entry.shards, live, self._replication)
            for shard, owners in enumerate(owners_of):
                key = shard_key(entry.id, shard)
                if self.id in owners:
                    wanted[key] = (entry, shard)
                elif key in self.replicas and not self._handed_over(key, owners):
                    wanted[key] = (entry, shard)  # make before break
        for key, (entry, shard) in wanted.items():
            replica = self.replicas.get(key)
            if replica is not None:
                if replica.entry.metadata != entry.metadata:
                    await replica.configure(entry)
            elif key not in self._opening:
                self._opening[key] = asyncio.get_running_loop().create_task(
                    self._open(key, entry, shard)
                )
        existing = {e.id for e in self._catalog.collections()}
        for key in [k for k in self.replicas if k not in wanted]:
            replica = self.replicas.pop(key)
            gone = replica.entry.id not in existing
            log.info("worker %s: dropping replica %s%s", self.id, key, " (deleted)" if gone else "")
            await replica.close(remove=True)
            self.announce_soon()

    def _handed_over(self, key: str, owners: list[str]) -> bool:
        ready = {w.id for w in self._membership.ready(key)}
        return all(owner in ready for owner in owners)

    async def _open(self, key: str, entry: CollectionEntry, shard: int) -> None:
        folder = self.data_dir / "replicas" / key
        replica = Replica(
            self._js, entry, shard, folder, self._executor, self.announce_soon, self.core
        )
        # Announced before the checkpoint record is read: a checkpoint taken after that read
        # sees this position, so the log it still needs is not purged (Worker.checkpoint).
        self._opening_at[key] = replica.position_on_disk()
        try:
            await self._announce()
            await replica.open(
                lambda path, position: self.checkpoints.restore(entry.id, shard, path, position)
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("worker %s: cannot open replica %s", self.id, key)
            await replica.close()
            self._opening.pop(key, None)
            self._opening_at.pop(key, None)
            await asyncio.sleep(1.0)
            self._reconcile_wanted.set()
            return
        self._opening.pop(key, None)
        self._opening_at.pop(key, None)
        if self._catalog.by_id(entry.id) is None:  # deleted while it opened
            await replica.close(remove=True)
            return
        self.replicas[key] = replica
        self._last_checkpoint[key] = time.monotonic()
        self.announce_soon()

    def replica(self, ref: pb.ShardRef) -> Replica:
        found = self.replicas.get(shard_key(ref.collection_id, ref.shard))
        if found is None:
            raise ReplicaMissing(f"worker {self.id} hosts no replica of {ref.collection_id}")
        return found

    # -- checkpoints -------------------------------------------------------------------------

    async def _checkpointer(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self._checkpoint_interval_s))
            for key, replica in list(self.replicas.items()):
                if replica.state != READY or replica.ops_since_checkpoint == 0:
                    continue
                due = replica.ops_since_checkpoint >= self._checkpoint_ops or (
                    time.monotonic() - self._last_checkpoint.get(key, 0.0)
                    >= self._checkpoint_interval_s
                )
                if not due or not self._checkpoints_here(key):
                    continue
                try:
                    await self.checkpoint(replica)
                except asyncio.CancelledError:
                    raise
                except Exception as error:  # the object store is down: the log keeps all
                    log.warning("worker %s: checkpoint of %s failed: %s", self.id, key, error)
                self._last_checkpoint[key] = time.monotonic()

    def _checkpoints_here(self, key: str) -> bool:
        """One replica per shard checkpoints: the first ready one by rendezvous rank."""
        ready = [w.id for w in self._membership.ready(key)] or [self.id]
        return rendezvous(key, ready)[0] == self.id

    async def checkpoint(self, replica: Replica) -> int | None:
        """Checkpoint ``replica`` now, record it, and purge the log below what every live
        replica of its shard still needs; the checkpoint's position (None if not newer)."""
        staged = replica.folder / "checkpoint"
        await replica.run_store(shutil.rmtree, staged, True)
        async with replica.apply_lock:
            seq = replica.applied
            files = await replica.run_store(snapshot, replica.folder / "store", staged)
            replica.ops_since_checkpoint = 0
        try:
            manifest = await self.checkpoints.take(
                replica.entry.id, replica.shard, seq, staged, files
            )
        finally:
            await replica.run_store(shutil.rmtree, staged, True)
        if manifest is None:
            return None
        key = shard_key(replica.entry.id, replica.shard)
        floor = min(seq, replica.applied, *await self._announced_positions(key))
        if floor > 0:
            await self._js.purge_stream(replica.stream, subject=replica.subject, seq=floor + 1)
        log.info("worker %s: checkpoint %s @%d; log purged below %d", self.id, key, seq, floor + 1)
        return seq

    async def _announced_positions(self, key: str) -> list[int]:
        """The positions every live replica of shard ``key`` announced, read from the
        bucket now (not from the watch), after the checkpoint was recorded."""
        positions = []
        for name in await self._members_kv.keys():
            try:
                entry = await self._members_kv.get(name)
            except KeyNotFoundError:
                continue
            if entry.value:
                replica = WorkerDoc.from_json(entry.value).replicas.get(key)
                if replica is not None:
                    positions.append(replica.applied)
        return positions

    async def _janitor(self) -> None:
        """Checkpoints of deleted collections go (done by one worker: the first by rank)."""
        while True:
            await asyncio.sleep(JANITOR_EVERY_S)
            if rendezvous("janitor", self._live())[0] != self.id:
                continue
            try:
                await self._catalog.barrier()
                existing = {entry.id for entry in self._catalog.collections()}
                for collection_id, shard in await self.checkpoints.recorded_shards():
                    if collection_id not in existing:
                        await self.checkpoints.forget(collection_id, shard)
            except Exception as error:
                log.info("worker %s: janitor: %s", self.id, error)


class ShardServicer(shard_service_pb2_grpc.ShardServiceServicer):
    """The shard service: a replica's store answers once it is as current as asked."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    async def _ready(self, ref: pb.ShardRef, context: Any, *, read: bool = True) -> Replica:
        try:
            replica = self._worker.replica(ref)
        except ReplicaMissing as error:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(error))
            raise AssertionError from None  # abort raises
        await replica.wait_through(ref.min_seq)
        if read and self._worker.core is not None:
            await self._worker.core.read()
        return replica

    @async_unary_errors
    async def ShardQuery(
        self, request: pb.ShardQueryRequest, context: Any
    ) -> pb.ShardQueryResponse:
        replica = await self._ready(request.shard, context)
        known = replica.known_through
        vectors = from_proto_vectors(request.query_embeddings, field="query_embeddings")
        results = await replica.run_store(
            replica.store.query,
            replica.local_id,
            vectors,
            n_results=request.n_results,
            where=_where(request),
            where_document=_where_document(request),
            include=from_proto_include(request.include),
        )
        return pb.ShardQueryResponse(
            results=[to_proto_query_response(i, result) for i, result in enumerate(results)],
            known_through=known,
        )

    async def ShardGet(
        self, request: pb.ShardGetRequest, context: Any
    ) -> AsyncIterator[pb.ShardGetResponse]:
        try:
            replica = await self._ready(request.shard, context)
            known = replica.known_through
            records = await replica.run_store(
                replica.store.get,
                replica.local_id,
                ids=list(request.ids) if request.by_ids else None,
                where=_where(request),
                where_document=_where_document(request),
                limit=request.limit or None,
                include=from_proto_include(request.include),
            )
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await abort_async(error, context)
        for page in iter_get_pages(records, page_size=0, max_bytes=DEFAULT_PAGE_BYTES):
            yield pb.ShardGetResponse(page=page, known_through=known)

    @async_unary_errors
    async def ShardCount(
        self, request: pb.ShardCountRequest, context: Any
    ) -> pb.ShardCountResponse:
        replica = await self._ready(request.shard, context)
        known = replica.known_through
        count = await replica.run_store(replica.store.count, replica.local_id)
        return pb.ShardCountResponse(count=count, known_through=known)

    @async_unary_errors
    async def ShardAwait(
        self, request: pb.ShardAwaitRequest, context: Any
    ) -> pb.ShardAwaitResponse:
        replica = await self._ready(request.shard, context, read=False)
        await replica.wait_applied(request.seq)
        deleted = replica.deleted_count(request.seq)
        if deleted is None:
            await context.abort(
                grpc.StatusCode.NOT_FOUND, "this replica did not apply that operation itself"
            )
        return pb.ShardAwaitResponse(deleted_count=deleted)


def _where(request: Any) -> dict[str, Any] | None:
    return from_proto_where(request.where) or None if request.HasField("where") else None


def _where_document(request: Any) -> dict[str, Any] | None:
    if not request.HasField("where_document"):
        return None
    return from_proto_where_document(request.where_document) or None


def _worker_id(data_dir: Path) -> str:
    """The worker's id, kept in its data folder: a restarted worker is the same member and
    finds its replicas where it left them."""
    path = data_dir / "worker.id"
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        worker_id = uuid.uuid4().hex[:12]
        path.write_text(worker_id + "\n", encoding="utf-8")
        return worker_id
