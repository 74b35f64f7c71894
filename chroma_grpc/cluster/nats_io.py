"""NATS JetStream for the cluster: connections, the streams and buckets, their names.

Everything durable about a cluster is here and nowhere else:

* the log: ``partitions`` streams ``CHROMA_WAL_<p>`` (subjects ``chroma.wal.<p>.<collection>.
  <shard>``), file storage, replicated ``replicas`` times (3: a majority survives one lost
  server). A collection's shards are subjects of one partition stream, so the number of Raft
  groups stays bounded however many collections there are (docs/cluster.md);
* KV ``chroma_catalog``: tenants, databases, collections (:mod:`.catalog`);
* KV ``chroma_members``: live workers and the replicas each serves, with a TTL: a worker that
  stops heartbeating is gone when its entry expires (:mod:`.membership`);
* KV ``chroma_checkpoints``: the latest checkpoint of each shard (:mod:`.checkpoints`);
* Object Store ``chroma_checkpoint_files``: checkpoint files, unless they go to S3.

Nothing is created twice: the first process to start creates what is missing, the others find
it (creation is idempotent on the server for equal configurations).
"""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError
from nats.js.kv import KeyValue

T = TypeVar("T")
STREAM_PREFIX = "CHROMA_WAL_"
SUBJECT_PREFIX = "chroma.wal"
CATALOG_BUCKET = "chroma_catalog"
MEMBERS_BUCKET = "chroma_members"
CHECKPOINTS_BUCKET = "chroma_checkpoints"
OBJECTS_BUCKET = "chroma_checkpoint_files"
DEFAULT_PARTITIONS = 4
DEFAULT_REPLICAS = 3
# A write retried within this window with the same request id is stored once (Nats-Msg-Id).
DUPLICATE_WINDOW_S = 300.0
# Heartbeats every HEARTBEAT_S; an entry not renewed for MEMBER_TTL_S expires, and watchers
# see it deleted (a subject delete marker kept for MARKER_TTL_S).
HEARTBEAT_S = 1.0
MEMBER_TTL_S = 4.0
MARKER_TTL_S = 60.0
# How long a starting process waits for JetStream to answer (its servers electing leaders).
START_TIMEOUT_S = 60.0
# How long a running process keeps asking while a stream's servers elect a leader (measured:
# about 6 s after its leader is killed), before the call fails as UNAVAILABLE.
ELECTION_WAIT_S = 30.0


def stream_name(partition: int) -> str:
    return f"{STREAM_PREFIX}{partition}"


def shard_subject(partition: int, collection_id: str, shard: int) -> str:
    return f"{SUBJECT_PREFIX}.{partition}.{collection_id}.{shard}"


def collection_subjects(partition: int, collection_id: str) -> str:
    return f"{SUBJECT_PREFIX}.{partition}.{collection_id}.>"


def key_token(text: str) -> str:
    """Any string as one KV key token ([-_A-Za-z0-9], never empty)."""
    raw = base64.urlsafe_b64encode(text.encode("utf-8", "surrogatepass")).decode("ascii")
    return "n" + raw.rstrip("=")


def token_text(token: str) -> str:
    raw = token[1:]
    return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class Topology:
    """What every process must agree on, fixed when the cluster is first started."""

    partitions: int
    replicas: int


async def through_elections(call: Callable[[], Awaitable[T]], wait_s: float = ELECTION_WAIT_S) -> T:
    """``call()``, asked again with backoff while JetStream answers what a leader election
    looks like (a timeout, no responders, "unavailable"), for up to ``wait_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    delay = 0.05
    while True:
        try:
            return await call()
        except (
            asyncio.TimeoutError,
            nats.errors.NoRespondersError,
            nats.js.errors.ServiceUnavailableError,
        ):
            if loop.time() + delay > deadline:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)


async def stop_task(task: asyncio.Task[Any], every_s: float = 0.5) -> None:
    """Cancel ``task`` and wait until it has ended. nats-py turns a cancellation that lands
    inside some of its calls into an error (a timeout, TooManyStalledMsgsError), which a retry
    loop then survives: the cancellation is repeated until one takes."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=every_s)
    if not task.cancelled():
        task.exception()  # retrieved: an error of a stopped task is not "never retrieved"


async def connect(urls: Sequence[str], name: str) -> NATS:
    """A connection that reconnects for ever (to any of ``urls``) when a server goes away."""
    return await nats.connect(
        servers=list(urls),
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.25,
        connect_timeout=5,
        allow_reconnect=True,
        ping_interval=5,
        max_outstanding_pings=3,
    )


async def ensure_resources(js: JetStreamContext, topology: Topology) -> None:
    """Create the log streams and buckets that do not exist yet; while JetStream is still
    starting (no meta leader yet), keep trying for up to ``START_TIMEOUT_S``. A refusal
    (a resource that exists with another configuration) is final: it is raised at once."""
    deadline = asyncio.get_running_loop().time() + START_TIMEOUT_S
    while True:
        try:
            await _ensure_resources(js, topology)
            return
        except nats.js.errors.BadRequestError:
            raise
        except (nats.errors.Error, asyncio.TimeoutError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)


async def _ensure_resources(js: JetStreamContext, topology: Topology) -> None:
    for partition in range(topology.partitions):
        name = stream_name(partition)
        try:
            await js.stream_info(name)
        except NotFoundError:
            await js.add_stream(
                api.StreamConfig(
                    name=name,
                    subjects=[f"{SUBJECT_PREFIX}.{partition}.>"],
                    storage=api.StorageType.FILE,
                    num_replicas=topology.replicas,
                    retention=api.RetentionPolicy.LIMITS,
                    duplicate_window=DUPLICATE_WINDOW_S,
                    allow_direct=False,
                    max_msgs=-1,
                    max_bytes=-1,
                    max_age=0,
                )
            )
    for bucket, ttl, marker in (
        (CATALOG_BUCKET, None, None),
        (MEMBERS_BUCKET, MEMBER_TTL_S, MARKER_TTL_S),
        (CHECKPOINTS_BUCKET, None, None),
    ):
        await bucket_of(js, bucket, topology.replicas, ttl=ttl, marker_ttl=marker)


async def bucket_of(
    js: JetStreamContext,
    bucket: str,
    replicas: int,
    *,
    ttl: float | None = None,
    marker_ttl: float | None = None,
) -> KeyValue:
    """The bucket, created if missing. Reads go to the stream leader (no direct gets), so a
    read sees every update acknowledged before it."""
    try:
        return await js.key_value(bucket)
    except (NotFoundError, nats.js.errors.BucketNotFoundError):
        config = api.KeyValueConfig(
            bucket=bucket,
            history=1,
            replicas=replicas,
            storage=api.StorageType.FILE,
            ttl=ttl,
            limit_marker_ttl=marker_ttl,
            direct=False,
        )
        try:
            return await js.create_key_value(config)
        except nats.js.errors.BadRequestError:
            return await js.key_value(bucket)  # created meanwhile by another process


class LoopThread:
    """An asyncio event loop in a daemon thread: synchronous code (StoreAPI methods run on
    the server's worker threads) submits coroutines to it and waits."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return self.submit(coroutine).result(timeout)

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self.loop.close()
