"""Write streams (AddRecords / UpsertRecords / UpdateRecords) read on the event loop.

An open stream costs no thread: its messages are read on the loop (large ones decoded on a
worker thread), and a thread is taken only for the one store call that applies a committed
stream (:mod:`chroma_grpc.wire.write_stream` has the commit protocol). What a stream may hold
is bounded, and every refusal writes nothing:

* the first message names the collection, which is checked at once: NOT_FOUND before anything
  else is read;
* a stream that sends nothing for ``idle_timeout_s`` (``--stream-idle-timeout``) is ended,
  ABORTED (``WRITE_NOT_COMMITTED``) saying so;
* one stream holds at most ``max_stream_bytes`` (``--max-stream-bytes``), and all streams
  together at most ``max_total_stream_bytes`` (``--max-total-stream-bytes``):
  RESOURCE_EXHAUSTED naming the limit and the way round it.

A cancelled or timed-out client cannot commit: grpc ends the request stream early and cancels
the handler, which then stops at its next ``await``; nothing is applied either way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

from chroma_grpc.server._addressing import record_collection_id
from chroma_grpc.server._decoding import OFFLOAD_BYTES
from chroma_grpc.server._execution import UNGATED, Access, Scheduler
from chroma_grpc.server.errors import RpcEnded, field_paths
from chroma_grpc.store.api import WRITE_REQUEST_ID, StoreAPI
from chroma_grpc.store.errors import (
    CollectionNotFoundError,
    InvalidCollectionException,
    ResourceExhaustedError,
    WriteNotCommittedError,
)
from chroma_grpc.store.validation import collection_not_found_message
from chroma_grpc.v1 import types_pb2
from chroma_grpc.wire.write_stream import CommittedWrite, WriteRequest, WriteStreamReader

MiB = 1024 * 1024
DEFAULT_MAX_STREAM_BYTES = 256 * MiB
DEFAULT_MAX_TOTAL_STREAM_BYTES = 1024 * MiB
DEFAULT_STREAM_IDLE_TIMEOUT_S = 60.0
WriteKind = Literal["add", "upsert", "update"]

# The store names its arguments; these are the same fields' paths in the requests.
WRITE_FIELDS = {
    "collection_id": "collection.id",
    "ids": "batch.records.id",
    "embeddings": "batch.embeddings",
    "metadatas": "batch.records.metadata",
    "documents": "batch.records.document",
    "uris": "batch.records.uri",
}


@dataclass(frozen=True)
class StreamLimits:
    """Bounds of write streams (module docstring); GetServerInfo advertises the byte limits."""

    max_stream_bytes: int = DEFAULT_MAX_STREAM_BYTES
    max_total_stream_bytes: int = DEFAULT_MAX_TOTAL_STREAM_BYTES
    idle_timeout_s: float = DEFAULT_STREAM_IDLE_TIMEOUT_S

    def __post_init__(self) -> None:
        if min(self.max_stream_bytes, self.max_total_stream_bytes) <= 0:
            raise ValueError("stream byte limits must be positive")
        if self.max_stream_bytes > self.max_total_stream_bytes:
            raise ValueError(
                f"--max-stream-bytes ({self.max_stream_bytes}) is larger than "
                f"--max-total-stream-bytes ({self.max_total_stream_bytes}): one stream could "
                "never be held whole"
            )
        if self.idle_timeout_s <= 0:
            raise ValueError("--stream-idle-timeout must be positive")


class _Budget:
    """Bytes held by all write streams at once, not yet applied or dropped. Used on the event
    loop only, so it needs no lock."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def take(self, size: int) -> None:
        if self.held + size > self.limit:
            raise ResourceExhaustedError(
                f"Nothing was written: the server already holds {self.held:,} bytes of write "
                f"streams not yet committed, and this message ({size:,} bytes) would take them "
                f"over its limit of {self.limit:,} bytes (--max-total-stream-bytes). Retry "
                "shortly, send smaller writes, or start the server with a larger "
                "--max-total-stream-bytes",
                field="batch",
            )
        self.held += size


class WriteStreams:
    """Reads and applies the write streams of one server (module docstring)."""

    def __init__(
        self, store: StoreAPI, scheduler: Scheduler, limits: StreamLimits | None = None
    ) -> None:
        self._store = store
        self._scheduler = scheduler
        self.limits = limits or StreamLimits()
        self._budget = _Budget(self.limits.max_total_stream_bytes)

    async def apply(
        self, kind: WriteKind, requests: AsyncIterable[WriteRequest], context: Any
    ) -> int:
        """Read the stream; apply it with one store call if it commits. Its record count."""
        held = 0
        try:
            reader = WriteStreamReader(max_batch_size=self._store.limits.max_batch_size)
            collection_id: str | None = None
            async for request in self._messages(requests):
                if collection_id is None and request.HasField("collection"):
                    collection_id = await self._scheduler.run(
                        UNGATED, self._existing, request.collection
                    )
                size = request.ByteSize()
                self._check_stream_size(held + size)
                self._budget.take(size)
                held += size
                if size > OFFLOAD_BYTES:
                    await self._scheduler.run(UNGATED, reader.feed, request)
                else:
                    reader.feed(request)
            if not reader.committed:
                await asyncio.sleep(0)  # a cancel that ended the stream is delivered here
                _check_deadline(context.time_remaining(), "writing")
            write = reader.finish()
            assert collection_id is not None  # finish() refuses a stream without one
            deadline = _deadline(context.time_remaining())
            turn = Access(collection=collection_id, exclusive=True, writes=True)
            await self._scheduler.run(turn, self._write, kind, collection_id, write, deadline)
            return len(write.batch)
        finally:
            self._budget.held -= held

    async def _messages(self, requests: AsyncIterable[WriteRequest]) -> AsyncIterator[WriteRequest]:
        """The stream's messages; WriteNotCommittedError when one is awaited too long."""
        iterator = requests.__aiter__()
        timeout = self.limits.idle_timeout_s
        while True:
            try:
                request = await asyncio.wait_for(iterator.__anext__(), timeout)
            except StopAsyncIteration:
                return
            except asyncio.TimeoutError:
                raise WriteNotCommittedError(
                    f"Nothing was written: the stream sent no message for {timeout:g} s, the "
                    "server's --stream-idle-timeout. Send a write's messages without long "
                    'pauses, with "commit": true on the last one',
                    field="commit",
                ) from None
            yield request

    def _check_stream_size(self, size: int) -> None:
        limit = self.limits.max_stream_bytes
        if size > limit:
            raise ResourceExhaustedError(
                f"Nothing was written: this write stream has sent {size:,} bytes, over the "
                f"server's limit of {limit:,} bytes per stream (--max-stream-bytes; "
                "GetServerInfo advertises it as max_stream_bytes). Send the records as several "
                "writes of at most that size (the Python client does so by itself), or start "
                "the server with a larger --max-stream-bytes",
                field="batch",
            )

    def _existing(self, ref: types_pb2.CollectionRef) -> str:
        """The id of the collection the stream names, if it exists (else what the store's
        write would raise: NOT_FOUND), checked before the rest of the stream is read."""
        collection_id = record_collection_id(self._store, ref)
        try:
            self._store.get_collection(collection_id=collection_id)
        except CollectionNotFoundError:
            raise InvalidCollectionException(
                collection_not_found_message(collection_id), field="collection.id"
            ) from None
        return collection_id

    def _write(
        self, kind: WriteKind, collection_id: str, write: CommittedWrite, deadline: float | None
    ) -> None:
        """The one store call (on a worker thread), unless the deadline has passed meanwhile."""
        _check_deadline(None if deadline is None else deadline - time.monotonic(), "writing")
        request_id = WRITE_REQUEST_ID.set(write.request_id)
        try:
            with field_paths(WRITE_FIELDS):
                getattr(self._store, kind)(collection_id, write.batch)
        finally:
            WRITE_REQUEST_ID.reset(request_id)


def _deadline(remaining: float | None) -> float | None:
    return None if remaining is None else time.monotonic() + remaining


def _check_deadline(remaining: float | None, before: str) -> None:
    if remaining is not None and remaining <= 0:
        raise RpcEnded(before)
