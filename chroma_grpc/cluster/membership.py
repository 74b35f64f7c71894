"""Live workers and the replicas each serves, in the TTL bucket ``chroma_members``.

Each worker puts ``worker.<id>`` (its shard-service address and, per replica it hosts, its
state and applied log position) every second and whenever a replica changes state. The
bucket's entries expire after a few seconds without renewal, and the server then leaves a
delete marker that every watcher sees: JetStream's TTL is the failure detector, nothing here
times anything out. Gateways route reads to replicas marked ``ready``; workers compute
placement (:func:`~chroma_grpc.cluster.routing.placement`) over the live set.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from nats.js.kv import KeyValue

log = logging.getLogger(__name__)
READY = "ready"
CATCHING_UP = "catching_up"


@dataclass(frozen=True)
class ReplicaState:
    state: str
    applied: int


@dataclass(frozen=True)
class WorkerDoc:
    """What one worker announces."""

    id: str
    address: str
    replicas: dict[str, ReplicaState] = field(default_factory=dict)

    def to_json(self) -> bytes:
        body = {
            "id": self.id,
            "address": self.address,
            "replicas": {k: [v.state, v.applied] for k, v in self.replicas.items()},
        }
        return json.dumps(body, separators=(",", ":")).encode("utf-8")

    @staticmethod
    def from_json(data: bytes) -> WorkerDoc:
        body = json.loads(data)
        replicas = {k: ReplicaState(v[0], int(v[1])) for k, v in body["replicas"].items()}
        return WorkerDoc(id=body["id"], address=body["address"], replicas=replicas)


def member_key(worker_id: str) -> str:
    return f"worker.{worker_id}"


class Membership:
    """The live workers, cached from a watch of the members bucket (on one event loop)."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv
        self.workers: dict[str, WorkerDoc] = {}
        self._task: asyncio.Task[None] | None = None
        self._listeners: list[Callable[[], None]] = []
        self._changed = asyncio.Event()

    async def start(self) -> None:
        watcher = await self._kv.watchall()
        self._task = asyncio.get_running_loop().create_task(self._follow(watcher))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    async def _follow(self, watcher: KeyValue.KeyWatcher) -> None:
        async for entry in watcher:
            if entry is None:
                continue
            worker_id = entry.key.removeprefix("worker.")
            if entry.operation is not None or not entry.value:
                self.workers.pop(worker_id, None)
            else:
                try:
                    self.workers[worker_id] = WorkerDoc.from_json(entry.value)
                except (ValueError, KeyError, TypeError):
                    log.warning("members: cannot read %s", entry.key)
                    continue
            self._changed.set()
            self._changed = asyncio.Event()
            for listener in self._listeners:
                listener()

    async def changed(self, timeout: float) -> None:
        """Wait (at most ``timeout`` s) for the next change."""
        event = self._changed
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    def ready(self, key: str) -> list[WorkerDoc]:
        """Workers whose replica of shard ``key`` is ready, in a stable order."""
        return sorted(
            (w for w in self.workers.values() if _state(w, key) == READY), key=lambda w: w.id
        )

    def applied_positions(self, key: str) -> list[int]:
        """The applied log positions of every live replica of shard ``key``."""
        return [w.replicas[key].applied for w in self.workers.values() if key in w.replicas]


def _state(worker: WorkerDoc, key: str) -> str | None:
    replica = worker.replicas.get(key)
    return None if replica is None else replica.state
