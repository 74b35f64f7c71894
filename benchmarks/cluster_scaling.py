"""``python -m benchmarks.cluster_scaling`` (run by ``make bench``): how shards (S) and replicas
(R) scale a cluster's throughput, shown on one 2-core machine, where real parallel speed-up
cannot be (the scale-out design's "cost-model run"). The results replace the section of
docs/cluster.md between its ``cluster-scaling`` markers.

Two parts, both reported:

1. **Injected service times.** Every worker gets one simulated core of its own
   (``--simulated-read-ms`` / ``--simulated-record-ms``, :mod:`chroma_grpc.cluster.simulated`):
   a shard read holds it for a fixed time, an applied record for another, sleeping rather than
   computing, so the 4 workers behave like 4 machines while the real cores carry only the
   gateway, the log and the real (small) store work. Query throughput against R, and the
   rate at which ingested data becomes searchable against S, then show whether routing, the
   log, fan-out and merge scale, and how rendezvous placement spreads one collection's shards.
2. **A capacity model from real costs.** The real single-shard costs are measured here (CPU
   per query of one shard of N/S vectors, CPU per applied record including its share of the
   index build, the gateway's CPU per query, the log servers' CPU per record) and fed into a
   bottleneck model of S x R workers on machines of ``--cores`` cores each.

    python -m benchmarks.cluster_scaling           # the full run (about 3 minutes)
    python -m benchmarks.cluster_scaling --quick   # smaller and shorter (a smoke run)
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import chroma_grpc
from benchmarks.cluster import DIMENSION, DOC, cpu_seconds, data, write_into
from chroma_grpc.cluster.local import LocalCluster
from chroma_grpc.store import Store
from chroma_grpc.store.types import RecordBatch

START_MARKER = "<!-- cluster-scaling:start (written by python -m benchmarks.cluster_scaling) -->"
END_MARKER = "<!-- cluster-scaling:end -->"
WORKERS = 4
BATCH = 500
# Hedging is for tail latency: in a run that saturates the workers on purpose every queued
# read would be hedged. Capacity is measured with it out of the way.
HEDGE_AFTER_S = 5.0


@dataclass(frozen=True)
class Settings:
    read_ms: float  # a shard read on a simulated core
    record_ms: float  # an applied record on a simulated core
    records: int  # ingested per collection in the injected run
    clients: int  # concurrent query threads
    seconds: float  # per QPS measurement
    model_size: int  # N of the capacity model's real costs


FULL = Settings(
    read_ms=100.0, record_ms=1.0, records=4_000, clients=16, seconds=8.0, model_size=60_000
)
QUICK = Settings(
    read_ms=40.0, record_ms=1.0, records=1_000, clients=8, seconds=2.0, model_size=8_000
)


# -- part 1: injected service times -----------------------------------------------------------


def hosted(cluster: LocalCluster, collection_id: str) -> list[set[int]]:
    """The shards of the collection each worker hosts a replica of (from their folders)."""
    placement = []
    for index in range(len(cluster.workers)):
        folder = cluster.worker_data(index) / "replicas"
        names = [p.name for p in folder.iterdir()] if folder.exists() else []
        prefix = f"{collection_id}."
        placement.append({int(n[len(prefix) :]) for n in names if n.startswith(prefix)})
    return placement


def ideal_rates(placement: list[set[int]], shards: int, settings: Settings) -> tuple[float, float]:
    """What simulated cores allow for this placement, everything else free: (searchable
    ingest rec/s, QPS).

    Every replica applies all its shard's records, so the worker hosting most replicas bounds
    ingest. A query reads every shard once, on any replica: by Hall's theorem the best routing
    serves ``q`` queries/s iff every set T of shards has workers enough, ``q * |T| * read_s``
    at most the number of workers hosting some shard in T.
    """
    busiest = max(len(hosted) for hosted in placement)
    ingest = shards / (settings.record_ms / 1e3) / busiest
    qps = min(
        sum(1 for hosted in placement if hosted & chosen) / (len(chosen) * settings.read_ms / 1e3)
        for chosen in (
            {s for s in range(shards) if mask >> s & 1} for mask in range(1, 1 << shards)
        )
    )
    return ingest, qps


def query_rate(host: str, name: str, probes: np.ndarray, clients: int, seconds: float) -> float:
    """Queries per second from ``clients`` threads, each with its own client."""
    done = [0] * clients
    stop = threading.Event()
    collections = [chroma_grpc.HttpClient(host=host).get_collection(name) for _ in range(clients)]

    def run(n: int) -> None:
        i = n
        while not stop.is_set():
            collections[n].query(query_embeddings=probes[i % len(probes)][None, :], n_results=10)
            done[n] += 1
            i += clients

    threads = [threading.Thread(target=run, args=(n,)) for n in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return sum(done) / (time.perf_counter() - began)


def injected_case(
    cluster: LocalCluster, settings: Settings, vectors: np.ndarray, shards: int, replicas: int
) -> dict[str, Any]:
    host = ",".join(cluster.gateway_addresses)
    client = chroma_grpc.HttpClient(host=host)
    collection = client.create_collection(
        f"scale-s{shards}-r{replicas}", metadata={"cluster:shards": shards}
    )
    gateways = [g.pid for g in cluster.gateways]
    log_servers = [s.pid for s in cluster.nats.servers]
    log_cpu = cpu_seconds(log_servers)
    began = time.perf_counter()
    for start in range(0, len(vectors), BATCH):
        chunk = vectors[start : start + BATCH]
        collection.add(ids=[f"r{start + i}" for i in range(len(chunk))], embeddings=chunk)
    acked = time.perf_counter() - began
    assert collection.count() == len(vectors)  # strong: every shard has applied it all
    searchable = time.perf_counter() - began
    log_cpu = cpu_seconds(log_servers) - log_cpu
    probes = vectors[:200] + 0.01
    gateway_cpu = cpu_seconds(gateways)
    qps = query_rate(host, collection.name, probes, settings.clients, settings.seconds)
    gateway_cpu = cpu_seconds(gateways) - gateway_cpu
    result = {
        "shards": shards,
        "replicas": replicas,
        "placement": hosted(cluster, str(collection.id)),
        "acked_rps": len(vectors) / acked,
        "searchable_rps": len(vectors) / searchable,
        "qps": qps,
        "gateway_cpu_ms_per_query": gateway_cpu / (qps * settings.seconds) * 1e3,
        "log_cpu_ms_per_record": log_cpu / len(vectors) * 1e3,
    }
    client.delete_collection(collection.name)
    return result


def injected(directory: Path, settings: Settings) -> list[dict[str, Any]]:
    vectors = data(settings.records)
    worker_args = [
        "--simulated-read-ms",
        str(settings.read_ms),
        "--simulated-record-ms",
        str(settings.record_ms),
    ]
    cases = {1: (1, 2, 4), 2: (1, 2), 4: (1,)}  # replicas: shard counts (at most 4 workers' worth)
    results = []
    for replicas, shard_counts in cases.items():
        with LocalCluster(
            directory / f"r{replicas}",
            workers=WORKERS,
            gateways=1,
            replication=replicas,
            worker_args=worker_args,
            gateway_args=["--no-server-embedding", "--hedge-after", str(HEDGE_AFTER_S)],
        ) as cluster:
            for shards in shard_counts:
                print(f"  injected: S={shards} R={replicas} ...", flush=True)
                results.append(injected_case(cluster, settings, vectors, shards, replicas))
    return results


# -- part 2: a capacity model from real single-shard costs -------------------------------------


def shard_costs(size: int, directory: Path) -> dict[str, float]:
    """One shard of ``size`` vectors in a real store: CPU per applied record (its add plus its
    share of the background index build) and CPU per single query (median of 200)."""
    vectors = data(size)
    store = Store(directory / f"shard-{size}")
    try:
        info, _ = store.create_collection("shard", metadata={"hnsw:space": "l2"})
        cpu = time.process_time()
        for start in range(0, size, 5_000):
            chunk = vectors[start : start + 5_000]
            ids = [f"r{start + i}" for i in range(len(chunk))]
            store.add(info.id, RecordBatch(ids=ids, embeddings=chunk))
        store.wait_until_indexed()
        apply_cpu = (time.process_time() - cpu) / size
        probes = vectors[:200] + 0.01
        samples = []
        for probe in probes:
            before = time.thread_time()
            store.query(info.id, probe[None, :], n_results=10)
            samples.append(time.thread_time() - before)
        return {"apply_ms": apply_cpu * 1e3, "query_ms": statistics.median(samples) * 1e3}
    finally:
        store.close()


def model(
    costs: dict[int, dict[str, float]], gateway_ms: float, log_ms: float, cores: int
) -> list[dict[str, Any]]:
    """Bottleneck capacities of S shards x R replicas, one worker machine of ``cores`` cores
    per replica, gateways and log servers added as needed (so neither is the bottleneck): a
    query asks one replica of every shard, so each shard's R replicas serve every query; a
    record is applied by every replica of its one shard, on one thread per replica."""
    base = costs[1]
    rows = []
    for shards in sorted(costs):
        for replicas in (1, 2, 4):
            query_ms = costs[shards]["query_ms"]
            qps = replicas * cores / (query_ms / 1e3)
            ingest = shards / (costs[shards]["apply_ms"] / 1e3)
            rows.append(
                {
                    "shards": shards,
                    "replicas": replicas,
                    "qps": qps,
                    "qps_x": qps / (cores / (base["query_ms"] / 1e3)),
                    "ingest_rps": ingest,
                    "ingest_x": ingest / (1 / (base["apply_ms"] / 1e3)),
                    "gateway_cores": qps * gateway_ms / 1e3,
                    "log_cores": ingest * log_ms / 1e3,
                }
            )
    return rows


# -- report -------------------------------------------------------------------------------------


def report(
    settings: Settings,
    runs: list[dict[str, Any]],
    costs: dict[int, dict[str, float]],
    rows: list[dict[str, Any]],
    cores: int,
    seconds: float,
) -> str:
    base = next(r for r in runs if r["shards"] == 1 and r["replicas"] == 1)
    gateway_ms = statistics.median(r["gateway_cpu_ms_per_query"] for r in runs)
    log_ms = statistics.median(r["log_cpu_ms_per_record"] for r in runs)
    lines = [
        f"* date: {datetime.date.today().isoformat()}; machine: {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; run took {seconds:.0f} s",
        f"* injected run: {WORKERS} workers, each with one simulated core: "
        f"{settings.read_ms:g} ms per shard read, {settings.record_ms:g} ms per applied record; "
        f"1 gateway; {settings.records:,} random {DIMENSION}-d records added in batches of "
        f"{BATCH}; {settings.clients} query threads for {settings.seconds:g} s",
        "",
        "| shards x replicas | shard replicas per worker | searchable ingest (rec/s) "
        "| ideal for that placement | QPS | ideal for that placement |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        ideal_ingest, ideal_qps = ideal_rates(run["placement"], run["shards"], settings)
        replicas_per_worker = sorted((len(h) for h in run["placement"]), reverse=True)
        ingest_x = run["searchable_rps"] / base["searchable_rps"]
        lines.append(
            f"| {run['shards']} x {run['replicas']} | {replicas_per_worker} "
            f"| {run['searchable_rps']:,.0f} ({ingest_x:.2f}x)"
            f" | {ideal_ingest:,.0f} | {run['qps']:,.1f} ({run['qps'] / base['qps']:.2f}x) "
            f"| {ideal_qps:,.1f} |"
        )
    lines += [
        "",
        f"Real costs behind the model (one shard in a real store, {cores}-core workers assumed): "
        f"the gateway's CPU per query {gateway_ms:.2f} ms, the log servers' CPU per record "
        f"{log_ms:.3f} ms (both from the injected run), and per shard:",
        "",
        "| vectors per shard | CPU per query (ms) | CPU per applied record, with indexing (ms) |",
        "| --- | --- | --- |",
    ]
    for shards, cost in sorted(costs.items()):
        lines.append(
            f"| {settings.model_size // shards:,} (S={shards}) | {cost['query_ms']:.3f} "
            f"| {cost['apply_ms']:.3f} |"
        )
    lines += [
        "",
        f"Capacity model, {settings.model_size:,} vectors, one {cores}-core machine per replica:",
        "",
        "| shards x replicas | query capacity (QPS) | ingest capacity (rec/s) "
        "| gateway cores needed | log cores needed |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row['shards']} x {row['replicas']} | {row['qps']:,.0f} ({row['qps_x']:.2f}x) "
            f"| {row['ingest_rps']:,.0f} ({row['ingest_x']:.2f}x) | {row['gateway_cores']:.2f} "
            f"| {row['log_cores']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller and shorter (smoke run)")
    parser.add_argument("--cores", type=int, default=2, help="cores per worker in the model")
    parser.add_argument(
        "--out", type=Path, help="write the results to this file instead of docs/cluster.md"
    )
    args = parser.parse_args()
    settings = QUICK if args.quick else FULL
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="chroma-bench-scaling-") as folder:
        directory = Path(folder)
        runs = injected(directory, settings)
        print("  real shard costs ...", flush=True)
        costs = {s: shard_costs(settings.model_size // s, directory) for s in (1, 2, 4)}
    gateway_ms = statistics.median(r["gateway_cpu_ms_per_query"] for r in runs)
    log_ms = statistics.median(r["log_cpu_ms_per_record"] for r in runs)
    rows = model(costs, gateway_ms, log_ms, args.cores)
    text = report(settings, runs, costs, rows, args.cores, time.perf_counter() - began)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")
    else:
        write_into(DOC, text, START_MARKER, END_MARKER)
    print(text)


if __name__ == "__main__":
    main()
