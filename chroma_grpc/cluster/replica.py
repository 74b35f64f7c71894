"""One replica of one shard on a worker: the single-node ``Store``, fed by the shard's log.

The replica's folder holds ``store/`` (a Store's data folder with one collection, the shard's
records) and ``position`` (the last log sequence applied). Ops are applied in log order with
the store's own methods, and the position is recorded durably after each one, before the
next is applied. A replica that crashes between an op's commit and its position replays that
one op: applying an op twice in a row changes nothing (an add skips the ids it added, an
upsert or update sets the same values, a delete finds nothing left). Replaying *more* than
the last op would not be safe: an update that skipped a missing id would, replayed after a
later add of that id, change it (``tests/cluster/test_replay.py`` found that case).

Reads wait for :meth:`Replica.wait_through`: every op of the shard stored at or before the
sequence the gateway saw when the read arrived has been applied. The replica asks the log's
leader for the first op of its shard after what it applied; none at or before the sequence
means it is current. Ops come from an ephemeral pull consumer that is recreated from the
applied position whenever it fails (a NATS server went away).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import Any, TypeVar

from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError

from chroma_grpc.cluster import ops
from chroma_grpc.cluster.catalog import CollectionEntry
from chroma_grpc.cluster.membership import CATCHING_UP, READY
from chroma_grpc.cluster.nats_io import shard_subject, stop_task, stream_name
from chroma_grpc.cluster.simulated import SimulatedCore
from chroma_grpc.store import Store
from chroma_grpc.store.errors import ChromaError, ErrorCode, ServerUnavailableError
from chroma_grpc.store.types import MetadataValue

log = logging.getLogger(__name__)
T = TypeVar("T")
LOCAL_NAME = "shard"
FETCH_BATCH = 64
FETCH_TIMEOUT_S = 1.0
APPLY_WAIT_S = 30.0
DELETE_RESULTS_KEPT = 10_000


def _encoded(seq: int) -> bytes:
    """A position as 21 bytes: rewritten in place, one sector, by a single write."""
    return f"{seq:020d}\n".encode("ascii")


def write_position(folder: Path, seq: int) -> None:
    """Set the position of a folder's store (after a restore): atomically and durably."""
    temporary = folder / "position.tmp"
    with open(temporary, "wb") as handle:
        handle.write(_encoded(seq))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, folder / "position")
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def read_position(folder: Path) -> int:
    try:
        return int((folder / "position").read_bytes().strip() or b"0")
    except FileNotFoundError:
        return 0


class PositionFile:
    """The applied position, rewritten in place and synced after every op."""

    def __init__(self, folder: Path, seq: int) -> None:
        if not (folder / "position").exists():
            write_position(folder, seq)
        self._fd = os.open(folder / "position", os.O_RDWR)

    def record(self, seq: int) -> None:
        os.pwrite(self._fd, _encoded(seq), 0)
        os.fdatasync(self._fd)

    def close(self) -> None:
        os.close(self._fd)


def apply_op(store: Store, collection_id: str, op: ops.Operation) -> int | None:
    """Apply one log op with the store's own method; a delete's count (None for writes)."""
    if isinstance(op, ops.WriteRecords):
        getattr(store, op.kind)(collection_id, op.batch)
        return None
    return store.delete(collection_id, ids=op.ids, where=op.where, where_document=op.where_document)


def store_metadata(entry: CollectionEntry) -> dict[str, MetadataValue]:
    """The metadata a replica's local collection carries: the collection's, with its space."""
    return {**(entry.metadata or {}), "hnsw:space": entry.space}


class Replica:
    """One shard replica (module docstring). Its coroutines run on the worker's loop; store
    calls run on ``executor``."""

    def __init__(
        self,
        js: JetStreamContext,
        entry: CollectionEntry,
        shard: int,
        folder: Path,
        executor: Executor,
        announce: Callable[[], None],
        core: SimulatedCore | None = None,
    ) -> None:
        self.entry = entry
        self.shard = shard
        self.folder = folder
        self.subject = shard_subject(entry.partition, entry.id, shard)
        self.stream = stream_name(entry.partition)
        self.state = CATCHING_UP
        self.applied = 0
        self._js = js
        self._executor = executor
        self._announce = announce
        self._core = core
        self._store: Store | None = None
        self._local_id = ""
        self._known_through = 0
        self._progress = asyncio.Condition()
        self._sync_lock = asyncio.Lock()
        self.apply_lock = asyncio.Lock()  # held while an op applies; checkpoints take it
        self._deleted: OrderedDict[int, int] = OrderedDict()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._position: PositionFile | None = None
        self.ops_since_checkpoint = 0

    @property
    def store(self) -> Store:
        assert self._store is not None
        return self._store

    @property
    def known_through(self) -> int:
        """Every op of this shard stored at or before this position is applied."""
        return self._known_through

    @property
    def local_id(self) -> str:
        return self._local_id

    async def run_store(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A store call on the executor."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: call(*args, **kwargs))

    # -- life --------------------------------------------------------------------------------

    def position_on_disk(self) -> int:
        """The log position of what is in the folder (0: nothing yet)."""
        return read_position(self.folder) if (self.folder / "store").exists() else 0

    async def open(self, restore: Callable[[Path, int], Awaitable[int | None]]) -> None:
        """Open the local store. ``restore(folder, position)`` replaces a missing store, or
        one older than the shard's latest checkpoint (the log below a checkpoint may be
        purged), with that checkpoint and returns its position; None when it did nothing."""
        store_dir = self.folder / "store"
        position = read_position(self.folder) if store_dir.exists() else 0
        restored = await restore(self.folder, position if store_dir.exists() else -1)
        if restored is not None:
            position = restored
        self.folder.mkdir(parents=True, exist_ok=True)
        self._store = await self.run_store(Store, store_dir)
        listing = await self.run_store(self.store.list_collections)
        if listing:
            self._local_id = listing[0].id
            await self.configure(self.entry)
        else:
            info, _ = await self.run_store(
                self.store.create_collection, LOCAL_NAME, store_metadata(self.entry)
            )
            self._local_id = info.id
        self.applied = self._known_through = position
        self._position = await self.run_store(PositionFile, self.folder, position)
        self._task = asyncio.get_running_loop().create_task(self._follow())

    async def configure(self, entry: CollectionEntry) -> None:
        """Bring the local collection's metadata (its HNSW parameters) in step."""
        self.entry = entry
        wanted = {k: v for k, v in store_metadata(entry).items() if k != "hnsw:space"}
        info = await self.run_store(self.store.get_collection, collection_id=self._local_id)
        current = {k: v for k, v in (info.metadata or {}).items() if k != "hnsw:space"}
        if wanted != current:
            await self.run_store(self.store.modify_collection, self._local_id, metadata=wanted)

    async def close(self, *, remove: bool = False) -> None:
        self._closing = True
        if self._task is not None:
            await stop_task(self._task)
        if self._store is not None:
            async with self.apply_lock:
                if self._position is not None:
                    self._position.close()
                await self.run_store(self._store.close)
        if remove:
            await self.run_store(shutil.rmtree, self.folder, True)

    # -- applying the log -------------------------------------------------------------------

    async def _follow(self) -> None:
        """Consume the shard's log from the applied position for ever; become READY once
        caught up with the log as it was when following began."""
        ready_task = asyncio.get_running_loop().create_task(self._become_ready())
        try:
            while not self._closing:
                try:
                    await self._consume()
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    log.info("replica %s: log consumer failed (%s); again", self.subject, error)
                    await asyncio.sleep(0.5)
        finally:
            ready_task.cancel()

    async def _consume(self) -> None:
        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=self.applied + 1,
            ack_policy=api.AckPolicy.NONE,
            inactive_threshold=30.0,
            mem_storage=True,
            num_replicas=1,
        )
        subscription = await self._js.pull_subscribe(
            self.subject, stream=self.stream, config=config
        )
        idle_since = time.monotonic()
        try:
            while not self._closing:
                try:
                    messages = await subscription.fetch(FETCH_BATCH, timeout=FETCH_TIMEOUT_S)
                except asyncio.TimeoutError:  # nats-py raises its own and asyncio's
                    if time.monotonic() - idle_since > 5.0:
                        await subscription.consumer_info()  # raises if the consumer is gone
                        idle_since = time.monotonic()
                    continue
                idle_since = time.monotonic()
                for message in messages:
                    seq = message.metadata.sequence.stream
                    if seq <= self.applied:
                        continue
                    await self._apply(seq, message.data)
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    async def _apply(self, seq: int, data: bytes) -> None:
        op = ops.decode(data)
        async with self.apply_lock:
            if self._core is not None:
                await self._core.apply(ops.record_count(op))
            deleted = await self.run_store(self._apply_and_record, seq, op)
            if deleted is not None:
                self._deleted[seq] = deleted
                while len(self._deleted) > DELETE_RESULTS_KEPT:
                    self._deleted.popitem(last=False)
            self.applied = seq
            self.ops_since_checkpoint += 1
        async with self._progress:
            self._known_through = max(self._known_through, seq)
            self._progress.notify_all()

    def _apply_and_record(self, seq: int, op: ops.Operation) -> int | None:
        """Apply the op, then record its position (on a worker thread)."""
        deleted: int | None
        try:
            deleted = apply_op(self.store, self._local_id, op)
        except ChromaError as error:
            if error.code is not ErrorCode.INVALID_ARGUMENT:
                raise  # a full disk, a damaged file...: not the op's fault; try it again
            # The op itself is refused: every replica refuses it the same way, so all skip
            # it and stay alike.
            log.warning("replica %s: op %d not applied: %s", self.subject, seq, error)
            deleted = 0 if isinstance(op, ops.DeleteRecords) else None
        assert self._position is not None
        self._position.record(seq)
        return deleted

    async def _become_ready(self) -> None:
        while True:
            try:
                info = await self._js.stream_info(self.stream)
                await self.wait_through(int(info.state.last_seq))
                break
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.info("replica %s: not caught up yet (%s)", self.subject, error)
                await asyncio.sleep(0.5)
        self.state = READY
        self._announce()

    # -- reads -------------------------------------------------------------------------------

    async def wait_through(self, position: int) -> None:
        """Return once every op of this shard stored at or before ``position`` is applied."""
        if position <= self._known_through:
            return
        async with self._sync_lock:
            while position > self._known_through:
                following = await self._next_stored(self.applied + 1)
                if following is None or following > position:
                    async with self._progress:
                        self._known_through = max(self._known_through, position)
                    return
                await self.wait_applied(following)

    async def _next_stored(self, start: int) -> int | None:
        """The sequence of this shard's first op stored at or after ``start`` (asked of the
        stream's leader), or None."""
        try:
            message = await self._js.get_msg(
                self.stream, seq=start, subject=self.subject, next=True
            )
        except NotFoundError:
            return None
        except Exception as error:
            raise ServerUnavailableError(f"The shard's log did not answer: {error}") from error
        return int(message.seq) if message.seq else None

    async def wait_applied(self, seq: int) -> None:
        async with self._progress:
            try:
                await asyncio.wait_for(
                    self._progress.wait_for(lambda: self.applied >= seq), APPLY_WAIT_S
                )
            except asyncio.TimeoutError:
                raise ServerUnavailableError(
                    f"Replica {self.subject} did not apply log position {seq} within "
                    f"{APPLY_WAIT_S:g} s"
                ) from None

    def deleted_count(self, seq: int) -> int | None:
        return self._deleted.get(seq)
