"""A worker that stands in for a machine of its own: the cost-model benchmark's one knob.

On a 2-core machine every worker, gateway and NATS server shares the same cores, so adding
workers cannot show the speed-up separate machines give. The scale-out design's answer is a
*cost-model run*: each worker takes a fixed service time per shard read and per applied
record on one simulated core of its own (an ``asyncio.Lock`` held across a sleep, so the
time passes without using the real cores). Throughput measured against shards and replicas
then shows whether routing, the log, fan-out and merge scale, with the real search replaced
by a cost that does not compete for the cores (``python -m benchmarks.cluster_scaling``,
docs/cluster.md "Scaling").

Zero service times (the default, and the only setting outside benchmarks) cost nothing: no
lock is taken and nothing sleeps.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceTimes:
    """Seconds a simulated worker core spends on each shard read, and on each record applied."""

    read_s: float = 0.0
    record_s: float = 0.0

    def __post_init__(self) -> None:
        if self.read_s < 0 or self.record_s < 0:
            raise ValueError("service times cannot be negative")

    @property
    def simulated(self) -> bool:
        return self.read_s > 0 or self.record_s > 0


class SimulatedCore:
    """One worker's simulated core: work on it runs one piece at a time, for its service time."""

    def __init__(self, times: ServiceTimes) -> None:
        self.times = times
        self._core = asyncio.Lock()

    async def read(self) -> None:
        """A shard read's service time (query, get, count)."""
        await self._occupy(self.times.read_s)

    async def apply(self, records: int) -> None:
        """An applied log op's service time: ``record_s`` per record it carries."""
        await self._occupy(self.times.record_s * records)

    async def _occupy(self, seconds: float) -> None:
        if seconds <= 0:
            return
        async with self._core:
            await asyncio.sleep(seconds)
