"""The server's health (``grpc.health.v1``): SERVING for "" and each service once the store is
open; NOT_SERVING from the start of a shutdown, and as soon as the store reports its data
damaged (DATA_LOSS): the damaged folder answers every later write with DATA_LOSS until a
restart re-checks it, so load balancers and orchestrators should take it out and restart it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import grpc
from grpc_health.v1 import health_pb2
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]

from chroma_grpc.server.interceptors import RpcRecord

logger = logging.getLogger("chroma_grpc.server")


class ServerHealth:
    """The health servicer plus the server's rules for it; use on the event loop."""

    def __init__(self, services: Sequence[str]) -> None:
        self.servicer = health_aio.HealthServicer()
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
