"""A sync face on the asyncio client, so the behaviour suite runs against it unchanged.

Each coroutine method of the ``AsyncClientAPI`` / ``AsyncCollection`` behind the face runs to
completion on one event loop in a background thread (where the client and its grpc.aio channel
were made); results that are async objects come back behind a face of their own. Exceptions
pass through unchanged, so the suite checks the async client's classes and messages.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from chroma_grpc.client.async_api import AsyncClientAPI, AsyncCollection

T = TypeVar("T")


class LoopThread:
    """An event loop running in a daemon thread; :meth:`run` waits for a coroutine on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class SyncFace:
    """``target``'s attributes, its coroutine methods run to completion on ``runner``."""

    def __init__(self, target: Any, runner: LoopThread) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_runner", runner)

    @property  # type: ignore[misc]  # isinstance(face, AsyncCollection) holds
    def __class__(self) -> type:
        return type(self._target)

    def __getattr__(self, name: str) -> Any:
        if name == "max_batch_size":  # a property in 0.4.24, a coroutine in the async client
            return self._runner.run(self._target.get_max_batch_size())
        value = getattr(self._target, name)
        if not inspect.iscoroutinefunction(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            return face(self._runner.run(value(*args, **kwargs)), self._runner)

        return call

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._target, name, value)

    def __eq__(self, other: object) -> bool:
        return bool(self._target == (other._target if isinstance(other, SyncFace) else other))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._target)


def face(value: Any, runner: LoopThread) -> Any:
    """``value`` with every async client object in it behind a sync face."""
    if isinstance(value, (AsyncClientAPI, AsyncCollection)):
        return SyncFace(value, runner)
    if isinstance(value, list):
        return [face(item, runner) for item in value]
    return value
