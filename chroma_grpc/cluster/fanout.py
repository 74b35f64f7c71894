"""Calls to shard replicas: pick a ready one, hedge to another, fail over on errors.

For each shard the gateway asks the replica with the fewest calls in flight; if it has not
answered after ``hedge_after_s``, the next ready replica is asked too and the first answer
wins (a slow or hung worker costs one hedge delay, not a timeout). A replica that fails
(its worker died: UNAVAILABLE; or it no longer hosts the shard) is replaced at once by the
next. With no ready replica, the call waits for membership to change, up to ``ready_wait_s``,
then answers UNAVAILABLE. Errors the store itself raised (bad input the gateway let through)
are re-raised as they are: another replica would say the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import grpc

from chroma_grpc.cluster.membership import Membership, WorkerDoc
from chroma_grpc.cluster.v1 import shard_service_pb2_grpc
from chroma_grpc.store.errors import ServerUnavailableError
from chroma_grpc.wire.errors import from_rpc_error

log = logging.getLogger(__name__)
if TYPE_CHECKING:
    from chroma_grpc.cluster.v1.shard_service_pb2_grpc import ShardServiceAsyncStub as Stub

T = TypeVar("T")
# Worth asking another replica: the worker is gone or going, or no longer hosts the shard.
RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
    }
)
CHANNEL_OPTIONS = (
    ("grpc.max_send_message_length", -1),
    ("grpc.max_receive_message_length", -1),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    # A dead worker's address must fail fast, not back off for seconds between attempts.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1_000),
)


class ReplicaCaller:
    """Hedged calls to the ready replicas of a shard (module docstring). Event loop only."""

    def __init__(
        self,
        membership: Membership,
        *,
        hedge_after_s: float = 0.05,
        ready_wait_s: float = 15.0,
        call_timeout_s: float = 120.0,
    ) -> None:
        self._membership = membership
        self._hedge_after_s = hedge_after_s
        self._ready_wait_s = ready_wait_s
        self.call_timeout_s = call_timeout_s
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._in_flight: dict[str, int] = {}

    def stub(self, address: str) -> Stub:
        channel = self._channels.get(address)
        if channel is None:
            channel = grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
            self._channels[address] = channel
        return shard_service_pb2_grpc.ShardServiceStub(channel)

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close(None)
        self._channels.clear()

    async def call(self, key: str, invoke: Callable[[Stub], Awaitable[T]]) -> T:
        """``invoke`` on a ready replica of shard ``key`` (hedged, failing over)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._ready_wait_s
        failed: set[str] = set()
        last_error: BaseException | None = None
        while True:
            candidates = [w for w in self._membership.ready(key) if w.id not in failed]
            if candidates:
                candidates.sort(key=lambda w: self._in_flight.get(w.address, 0))
                try:
                    return await self._race(key, candidates, invoke, failed)
                except _AllFailed as error:
                    last_error = error.last
            remaining = deadline - loop.time()
            if remaining <= 0:
                detail = f" (last error: {last_error})" if last_error is not None else ""
                raise ServerUnavailableError(
                    f"No ready replica of shard {key} answered within {self._ready_wait_s:g} s"
                    f"{detail}; the cluster's workers may be starting or down. Retry shortly"
                )
            if not candidates:
                failed.clear()  # the ones that failed may be back; membership decides
            await self._membership.changed(min(0.25, remaining))

    async def _race(
        self,
        key: str,
        candidates: list[WorkerDoc],
        invoke: Callable[[Stub], Awaitable[T]],
        failed: set[str],
    ) -> T:
        """First answer among the candidates, started one by one (hedged). A replica that
        becomes ready while the others are slow is asked too: the only ready replica when the
        call began may be the one that hangs."""
        pending: dict[asyncio.Task[T], WorkerDoc] = {}
        queue = list(candidates)
        asked: set[str] = set()
        last: BaseException | None = None

        def start() -> None:
            worker = queue.pop(0)
            asked.add(worker.id)
            self._in_flight[worker.address] = self._in_flight.get(worker.address, 0) + 1
            task = asyncio.ensure_future(self._one(worker, invoke))
            pending[task] = worker

        start()
        try:
            while pending:
                done, _ = await asyncio.wait(
                    pending, timeout=self._hedge_after_s, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:  # the hedge: the ones asked have been slow
                    if not queue:
                        queue.extend(
                            w
                            for w in self._membership.ready(key)
                            if w.id not in asked and w.id not in failed
                        )
                    if queue:
                        start()
                    continue
                for task in done:
                    worker = pending.pop(task)
                    error = task.exception()
                    if error is None:
                        return task.result()
                    if not _retryable(error):
                        raise error
                    log.debug("replica on %s failed: %s", worker.address, error)
                    failed.add(worker.id)
                    last = error
                if not pending and queue:
                    start()
            raise _AllFailed(last)
        finally:
            for task in pending:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

    async def _one(self, worker: WorkerDoc, invoke: Callable[[Stub], Awaitable[T]]) -> T:
        try:
            return await invoke(self.stub(worker.address))
        finally:
            self._in_flight[worker.address] -= 1


class _AllFailed(Exception):
    def __init__(self, last: BaseException | None) -> None:
        super().__init__(str(last))
        self.last = last


def _retryable(error: BaseException) -> bool:
    if isinstance(error, grpc.aio.AioRpcError):
        if error.code() in RETRYABLE:
            return True
        raise from_rpc_error(error) from None
    return isinstance(error, (ConnectionError, asyncio.TimeoutError))
