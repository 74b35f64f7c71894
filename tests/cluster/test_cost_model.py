"""The cost-model run's parts (docs/cluster.md, "Scaling"): a worker's simulated core, the
flags that set it, and the ideal rates the benchmark compares its measurements with."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from benchmarks.cluster_scaling import QUICK, ideal_rates
from chroma_grpc.cluster import ops
from chroma_grpc.cluster.simulated import ServiceTimes, SimulatedCore
from chroma_grpc.server.__main__ import main
from chroma_grpc.store.types import RecordBatch


def test_a_simulated_core_runs_one_piece_of_work_at_a_time() -> None:
    core = SimulatedCore(ServiceTimes(read_s=0.05, record_s=0.01))

    async def run() -> tuple[float, float]:
        began = time.perf_counter()
        await asyncio.gather(core.read(), core.read(), core.read())
        reads = time.perf_counter() - began
        began = time.perf_counter()
        await asyncio.gather(core.apply(5), core.read())
        return reads, time.perf_counter() - began

    reads, mixed = asyncio.run(run())
    assert reads >= 3 * 0.05  # serial: three reads cannot overlap on one core
    assert mixed >= 5 * 0.01 + 0.05  # an apply and a read share the core too


def test_zero_service_times_take_no_time_and_no_lock() -> None:
    times = ServiceTimes()
    assert not times.simulated
    core = SimulatedCore(times)

    async def run() -> bool:
        await core.read()
        await core.apply(1_000_000)
        return core._core.locked()

    assert asyncio.run(run()) is False
    with pytest.raises(ValueError, match="negative"):
        ServiceTimes(read_s=-0.001)


def test_worker_flags_refuse_negative_service_times(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("nats", reason="the cluster extra is not installed")
    with pytest.raises(SystemExit):
        main(["worker", "--nats", "nats://127.0.0.1:1", "--data", "x", "--simulated-read-ms", "-1"])
    assert "expected milliseconds (0 or more), got -1" in capsys.readouterr().err


def test_log_ops_count_their_records() -> None:
    batch = RecordBatch(ids=["a", "b", "c"], embeddings=np.zeros((3, 2), np.float32))
    assert ops.record_count(ops.WriteRecords("add", batch)) == 3
    assert ops.record_count(ops.DeleteRecords(["a", "b"], None, None)) == 2
    assert ops.record_count(ops.DeleteRecords(None, {"k": 1}, None)) == 1


def test_ideal_rates_follow_the_placement() -> None:
    read_s, record_s = QUICK.read_ms / 1e3, QUICK.record_ms / 1e3
    # 4 shards on 4 workers, one each: every worker applies a quarter; a query takes one read
    # of each worker's core.
    ingest, qps = ideal_rates([{0}, {1}, {2}, {3}], 4, QUICK)
    assert ingest == pytest.approx(4 / record_s) and qps == pytest.approx(1 / read_s)
    # Two of them on one worker: it applies half the records and reads twice per query.
    ingest, qps = ideal_rates([{0, 1}, {2}, {3}, set()], 4, QUICK)
    assert ingest == pytest.approx(2 / record_s) and qps == pytest.approx(1 / (2 * read_s))
    # 1 shard on 4 replicas: 4 cores to read it, every one applies all of it.
    ingest, qps = ideal_rates([{0}, {0}, {0}, {0}], 1, QUICK)
    assert ingest == pytest.approx(1 / record_s) and qps == pytest.approx(4 / read_s)
    # 2 shards x 2 replicas on 3 workers (one hosts both): routing can use all 3 cores.
    ingest, qps = ideal_rates([{0, 1}, {0}, {1}, set()], 2, QUICK)
    assert ingest == pytest.approx(1 / record_s) and qps == pytest.approx(3 / (2 * read_s))
