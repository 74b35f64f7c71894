"""Positions read fresh, shared by concurrent readers.

A strong read needs a value (a stream's last sequence) read from NATS *after* the read
arrived. :class:`FreshValue` gives each caller such a value while sending at most one request
at a time: a caller that arrives while a request is in flight waits for the next one, which
starts when the current one ends and serves everyone who arrived meanwhile. Under load this
turns one NATS round trip per read into one per round trip; alone, a read pays one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class FreshValue(Generic[T]):
    """``await get()``: a value fetched after the call began (module docstring). Event loop
    only."""

    def __init__(self, fetch: Callable[[], Awaitable[T]]) -> None:
        self._fetch = fetch
        self._running: asyncio.Future[T] | None = None
        self._queued: asyncio.Future[T] | None = None

    async def get(self) -> T:
        if self._running is None:
            self._running = self._start()
            return await asyncio.shield(self._running)
        if self._queued is None:
            self._queued = asyncio.get_running_loop().create_future()
        return await asyncio.shield(self._queued)

    def _start(self) -> asyncio.Future[T]:
        task = asyncio.ensure_future(self._fetch())
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Future[T]) -> None:
        self._running = None
        queued, self._queued = self._queued, None
        if queued is not None:
            self._running = following = self._start()
            following.add_done_callback(lambda done: _settle(queued, done))
        if not task.cancelled():
            task.exception()  # retrieved: an error reaches its awaiting callers only


def _settle(target: asyncio.Future[T], source: asyncio.Future[T]) -> None:
    if target.done():
        return
    if source.cancelled():
        target.cancel()
    elif source.exception() is not None:
        target.set_exception(source.exception())  # type: ignore[arg-type]
    else:
        target.set_result(source.result())
