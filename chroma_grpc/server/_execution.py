"""Where store calls run: a bounded thread pool, entered through queues on the event loop.

The event loop never runs a store call: it would stop every other RPC for its duration. Store
calls run on a bounded pool of threads instead, and a call is handed a thread only when it
will not wait for a lock there. It waits for its turn on the loop, in an :class:`_Gate` of the
collection it touches, which costs no thread:

* a collection's gate mirrors the store's per-collection readers-writer lock: writes to it
  (and collection updates and deletes) one at a time, queries together but at most
  ``per_collection`` of them, so one busy collection never holds every thread;
* the writers' gate lets a few calls that write SQLite in at once (half the threads): SQLite
  has one writer, so a queue of writes to many collections waits here, not in threads;
* the world gate: Reset excludes every other store call.

Gates are taken in that order (world, collection, writers) and released only when the thread
is done, even if the RPC is cancelled meanwhile, so a thread never blocks on a lock that
another call of this server holds. Calls with no locks and no I/O of their own (heartbeat,
version, limits) run on a small pool of their own, so they answer even while every store
thread is busy. Everything here runs on the event loop's thread: no locks are needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
LIGHT_WORKERS = 2


@dataclass(frozen=True)
class Access:
    """What a call needs before it may have a thread.

    ``collection``: the collection it locks (an id), or None; ``exclusive``: it writes that
    collection (else it only searches it); ``writes``: it writes SQLite; ``everything``: it
    must run alone (Reset); ``light``: it takes no lock and does no I/O.
    """

    collection: str | None = None
    exclusive: bool = False
    writes: bool = False
    everything: bool = False
    light: bool = False


UNGATED = Access()
LIGHT = Access(light=True)


class _Gate:
    """A first-come first-served readers-writer queue on the event loop, with a cap on shared
    holders. ``release`` is synchronous, so a thread's completion callback can call it."""

    def __init__(self, max_shared: int) -> None:
        self._max_shared = max_shared
        self._shared = 0
        self._exclusive = False
        self._waiting: deque[tuple[bool, asyncio.Future[None]]] = deque()

    @property
    def idle(self) -> bool:
        return not (self._shared or self._exclusive or self._waiting)

    def _grantable(self, exclusive: bool) -> bool:
        if self._exclusive:
            return False
        return self._shared == 0 if exclusive else self._shared < self._max_shared

    def _grant(self, exclusive: bool) -> None:
        if exclusive:
            self._exclusive = True
        else:
            self._shared += 1

    async def acquire(self, exclusive: bool) -> None:
        if not self._waiting and self._grantable(exclusive):
            self._grant(exclusive)
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (exclusive, turn)
        self._waiting.append(entry)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # granted as the cancel arrived
                self.release(exclusive)
            else:
                if entry in self._waiting:  # _wake may have dropped it already
                    self._waiting.remove(entry)
                self._wake()  # those queued behind it may go now
            raise

    def release(self, exclusive: bool) -> None:
        if exclusive:
            self._exclusive = False
        else:
            self._shared -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiting:
            exclusive, turn = self._waiting[0]
            if turn.done():  # its waiter was cancelled
                self._waiting.popleft()
                continue
            if not self._grantable(exclusive):
                return
            self._waiting.popleft()
            self._grant(exclusive)
            turn.set_result(None)


class Scheduler:
    """Runs blocking calls for the event loop; see the module docstring.

    ``workers`` threads run store calls; at most ``writers`` of them write at once (default:
    half, at least 1: a write may spend long embedding documents before SQLite's one writer
    lock, and the other half stays free for reads) and at most ``per_collection`` search one
    collection at once (default: half, at least 1). Create it anywhere; use :meth:`run` on the
    event loop.
    """

    def __init__(
        self, workers: int, *, writers: int | None = None, per_collection: int | None = None
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.workers = workers
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="chroma-grpc-store")
        self._light = ThreadPoolExecutor(LIGHT_WORKERS, thread_name_prefix="chroma-grpc-light")
        self._per_collection = per_collection or max(1, workers // 2)
        self._world = _Gate(max_shared=1 << 62)
        self._writers = _Gate(max_shared=writers or max(1, workers // 2))
        self._collections: dict[str, _Gate] = {}

    async def run(self, access: Access, call: Callable[..., T], *args: object) -> T:
        """``call(*args)`` on a thread once ``access`` allows it; its result or exception.

        The thread's end reaches the loop as one callback that releases the gates and hands
        over the outcome (``asyncio.wrap_future`` plus a release callback would wake the loop
        twice per call). Cancelled before its thread starts, the call never runs."""
        pool = self._light if access.light else self._pool
        release = await self._admit(access)
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[T] = loop.create_future()
        try:
            context = contextvars.copy_context()
            future: Future[T] = pool.submit(context.run, functools.partial(call, *args))
        except BaseException:
            release()
            raise

        def settle(done: Future[T]) -> None:  # on the loop
            release()
            if outcome.cancelled():
                return
            if done.cancelled():
                outcome.cancel()
            elif (error := done.exception()) is not None:
                outcome.set_exception(error)
            else:
                outcome.set_result(done.result())

        future.add_done_callback(lambda done: _call_soon(loop, settle, done))
        outcome.add_done_callback(lambda _: future.cancel() if outcome.cancelled() else None)
        return await outcome

    async def _admit(self, access: Access) -> Callable[[], None]:
        """Take the gates ``access`` needs, in order; a function releasing them all."""
        if access.light or access == UNGATED:
            return _nothing
        taken: list[tuple[_Gate, bool]] = []
        try:
            await self._world.acquire(access.everything)
            taken.append((self._world, access.everything))
            if access.collection is not None and not access.everything:
                gate = self._collections.get(access.collection)
                if gate is None:
                    gate = self._collections[access.collection] = _Gate(self._per_collection)
                await gate.acquire(access.exclusive)
                taken.append((gate, access.exclusive))
            if access.writes:
                await self._writers.acquire(False)
                taken.append((self._writers, False))
        except BaseException:
            self._release(access, taken)
            raise
        return functools.partial(self._release, access, taken)

    def _release(self, access: Access, taken: list[tuple[_Gate, bool]]) -> None:
        for gate, exclusive in reversed(taken):
            gate.release(exclusive)
        if access.collection is not None:  # forget idle gates: ids are unbounded
            left = self._collections.get(access.collection)
            if left is not None and left.idle:
                del self._collections[access.collection]

    def shutdown(self) -> None:
        """Stop the pools once the calls they run have finished."""
        self._pool.shutdown(wait=True)
        self._light.shutdown(wait=True)


def _nothing() -> None:
    """Releases nothing: for calls that took no gate."""


def _call_soon(
    loop: asyncio.AbstractEventLoop, callback: Callable[[Future[T]], None], done: Future[T]
) -> None:
    """Run ``callback(done)`` on ``loop`` from a pool thread (not at all once the loop is
    closed)."""
    with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits on its gates
        loop.call_soon_threadsafe(callback, done)
