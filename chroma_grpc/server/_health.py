"""The server's health (``grpc.health.v1``): SERVING for "" and each service once the store is
open; NOT_SERVING from the start of a shutdown, and as soon as the store reports its data
damaged (DATA_LOSS): the damaged folder answers every later write with DATA_LOSS until a
restart re-checks it, so load balancers and orchestrators should take it out and restart it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import grpc
from grpc_health.v1 import health_pb2
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]

from chroma_grpc.server.interceptors import RpcRecord

logger = logging.getLogger("chroma_grpc.server")


class _HealthServicer(health_aio.HealthServicer):  # type: ignore[misc]
    """grpc's asyncio health servicer, plus ``List`` (newer than it)."""

    def __init__(self) -> None:
        super().__init__()
        self.statuses: dict[str, int] = {}

    async def set(self, service: str, status: int) -> None:
        await super().set(service, status)
        self.statuses[service] = status

    async def enter_graceful_shutdown(self) -> None:
        await super().enter_graceful_shutdown()
        self.statuses = dict.fromkeys(self.statuses, health_pb2.HealthCheckResponse.NOT_SERVING)

    async def List(  # noqa: N802 - the RPC's name
        self, request: health_pb2.HealthListRequest, context: Any
    ) -> health_pb2.HealthListResponse:
        return health_pb2.HealthListResponse(
            statuses={
                name: health_pb2.HealthCheckResponse(status=status)
                for name, status in self.statuses.items()
            }
        )


class ServerHealth:
    """The health servicer plus the server's rules for it; use on the event loop."""

    def __init__(self, services: Sequence[str]) -> None:
        self.servicer = _HealthServicer()
        self._services = ("", *services)
        self._tasks: set[asyncio.Task[None]] = set()
        self.damaged = False

    async def serving(self) -> None:
        for name in self._services:
            await self.servicer.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def shutting_down(self) -> None:
        await self.servicer.enter_graceful_shutdown()

    def observe(self, record: RpcRecord) -> None:
        """An RPC sink: the first DATA_LOSS answer turns every service NOT_SERVING."""
        if record.code != grpc.StatusCode.DATA_LOSS or self.damaged:
            return
        self.damaged = True
        logger.error(
            "The data folder is damaged (%s answered DATA_LOSS): health is NOT_SERVING from "
            "now on. Restore the folder from a backup and restart (docs/operations.md, "
            "'The data folder')",
            record.method,
        )
        task = asyncio.get_running_loop().create_task(self._not_serving())
        self._tasks.add(task)  # keep a reference until it is done
        task.add_done_callback(self._tasks.discard)

    async def _not_serving(self) -> None:
        for name in self._services:
            await self.servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
