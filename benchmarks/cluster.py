"""``python -m benchmarks.cluster`` (run by ``make bench``): a cluster against a single node,
on this machine, in one run; the results replace the measured section of docs/cluster.md
(between its ``cluster-benchmark`` markers), so the numbers stay beside what they mean.

Both are driven through ``HttpClient`` by the same code: a ``chroma-grpc run`` server, and a
local cluster (3 NATS JetStream servers, 2 workers, 2 gateways; shards x replicas as listed),
all on loopback. Measured, back to back:

* ingest: records per second until every write is acknowledged (the cluster acknowledges a
  write once it is on a majority of the log servers), and until the data is searchable (a
  strong count after the last write: the replicas have applied it);
* single-query latency (p50 / p95, one client, n_results 10) and the gateway's overhead:
  cluster p50 minus single-node p50;
* query QPS with 1 and 4 concurrent clients (the cluster's clients spread over both gateways).

Queries start once the servers are quiet (their background HNSW builds done: every replica
builds its own graph, so a cluster with R replicas does R times the single node's building).

On a 2-core machine the cluster's ~8 processes share the cores the single node has to itself,
so the ratios measure the cost of the architecture, not the speed-up of more machines
(docs/cluster.md, "Scaling").

    python -m benchmarks.cluster            # 20k x 128-d
    python -m benchmarks.cluster --quick    # 5k (a smoke run)
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

import chroma_grpc
from chroma_grpc.cluster.local import HOST, LocalCluster, ManagedProcess, free_port

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "cluster.md"
START_MARKER = "<!-- cluster-benchmark:start (written by python -m benchmarks.cluster) -->"
END_MARKER = "<!-- cluster-benchmark:end -->"
DIMENSION = 128
BATCH = 1000
QUERIES = 300
QPS_SECONDS = 8.0


def data(count: int) -> np.ndarray:
    return np.random.default_rng(7).random((count, DIMENSION), dtype=np.float32)


def single_node(directory: Path) -> tuple[ManagedProcess, str]:
    port = free_port()
    process = ManagedProcess(
        "single node",
        [
            sys.executable,
            "-m",
            "chroma_grpc.server",
            "run",
            "--path",
            str(directory / "single"),
            "--host",
            HOST,
            "--port",
            str(port),
            "--no-server-embedding",
        ],
        directory / "single.log",
        ready=r"chroma-grpc listening on (\S+)",
        env={"OMP_NUM_THREADS": "1"},
    ).start()
    return process, f"{HOST}:{port}"


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, IndexError):
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def wait_until_quiet(pids: list[int], limit_s: float = 300.0) -> float:
    """Until the processes use under 5% of a core (background index builds done); seconds."""
    began = time.perf_counter()
    while time.perf_counter() - began < limit_s:
        before = cpu_seconds(pids)
        time.sleep(1.0)
        if cpu_seconds(pids) - before < 0.05:
            break
    return time.perf_counter() - began


def measure(host: str, vectors: np.ndarray, shards: int, pids: list[int]) -> dict[str, Any]:
    client = chroma_grpc.HttpClient(host=host)
    metadata = {"cluster:shards": shards} if shards else None
    collection = client.create_collection(f"bench-{shards}", metadata=metadata)
    began = time.perf_counter()
    for start in range(0, len(vectors), BATCH):
        chunk = vectors[start : start + BATCH]
        collection.add(ids=[str(start + i) for i in range(len(chunk))], embeddings=chunk)
    acked = time.perf_counter() - began
    assert collection.count() == len(vectors)
    searchable = time.perf_counter() - began
    quiet = wait_until_quiet(pids)
    probes = vectors[:QUERIES] + 0.01
    latencies = []
    for probe in probes:
        t = time.perf_counter()
        collection.query(query_embeddings=probe[None, :], n_results=10)
        latencies.append(time.perf_counter() - t)
    result = {
        "ingest_acked_rps": len(vectors) / acked,
        "ingest_searchable_rps": len(vectors) / searchable,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": float(np.percentile(latencies, 95)) * 1000,
        "indexed_s": quiet,
    }
    for clients in (1, 4):
        result[f"qps_{clients}"] = qps(host, collection.name, probes, clients)
    client.delete_collection(collection.name)
    return result


def qps(host: str, name: str, probes: np.ndarray, clients: int) -> float:
    done = [0] * clients
    stop = threading.Event()

    def run(n: int) -> None:
        collection = chroma_grpc.HttpClient(host=host).get_collection(name)
        i = n
        while not stop.is_set():
            collection.query(query_embeddings=probes[i % len(probes)][None, :], n_results=10)
            done[n] += 1
            i += clients

    threads = [threading.Thread(target=run, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(QPS_SECONDS)
    stop.set()
    for thread in threads:
        thread.join()
    return sum(done) / QPS_SECONDS


def row(label: str, values: dict[str, Any], base: dict[str, Any] | None) -> str:
    def ratio(key: str) -> str:
        return "" if base is None else f" ({values[key] / base[key]:.2f}x)"

    return (
        f"| {label} | {values['ingest_acked_rps']:,.0f}{ratio('ingest_acked_rps')} "
        f"| {values['ingest_searchable_rps']:,.0f}{ratio('ingest_searchable_rps')} "
        f"| {values['p50_ms']:.2f}{ratio('p50_ms')} | {values['p95_ms']:.2f} "
        f"| {values['qps_1']:,.0f}{ratio('qps_1')} | {values['qps_4']:,.0f}{ratio('qps_4')} |"
    )


def report(results: dict[str, dict[str, Any]], count: int, seconds: float) -> str:
    base = results["single node"]
    lines = [
        f"* date: {datetime.date.today().isoformat()}; machine: {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; run took {seconds:.0f} s",
        f"* data: {count:,} random {DIMENSION}-d vectors, added in batches of {BATCH:,} through"
        " `HttpClient`; queries: n_results 10, one vector each",
        "* cluster: 3 NATS JetStream servers (R3 log), 2 workers, 2 gateways, 2 replicas of "
        "each shard, all on this machine's cores with the client",
        "",
        "| setup | ingest, acked (rec/s) | ingest, searchable (rec/s) | query p50 (ms) "
        "| query p95 (ms) | QPS, 1 client | QPS, 4 clients |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        row("single node (`chroma-grpc run`)", base, None),
    ]
    for label, values in results.items():
        if label != "single node":
            lines.append(row(label, values, base))
    lines += ["", "Gateway overhead per query (cluster p50 minus single-node p50):", ""]
    for label, values in results.items():
        if label != "single node":
            lines.append(f"* {label}: {values['p50_ms'] - base['p50_ms']:.2f} ms")
    lines += ["", "Seconds from the last write until the servers were quiet (index builds):", ""]
    for label, values in results.items():
        lines.append(f"* {label}: {values['indexed_s']:.0f} s")
    load = os.getloadavg()
    lines += ["", f"Load average at the end: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}"]
    return "\n".join(lines)


def write_into(doc: Path, section: str, start: str = START_MARKER, end: str = END_MARKER) -> None:
    """Replace what lies between the ``start`` and ``end`` markers of ``doc`` with ``section``."""
    text = doc.read_text(encoding="utf-8")
    head, found, rest = text.partition(start)
    _, found_end, tail = rest.partition(end)
    if not (found and found_end):
        raise SystemExit(f"{doc}: the {start!r} / {end!r} markers are missing")
    doc.write_text(f"{head}{start}\n{section}\n{end}{tail}", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5k vectors (a smoke run)")
    parser.add_argument(
        "--out", type=Path, help="write the results to this file instead of docs/cluster.md"
    )
    args = parser.parse_args()
    count = 5_000 if args.quick else 20_000
    vectors = data(count)
    began = time.perf_counter()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="chroma-bench-cluster-") as folder:
        directory = Path(folder)
        process, address = single_node(directory)
        try:
            results["single node"] = measure(address, vectors, 0, [process.pid])
        finally:
            process.stop()
        with LocalCluster(directory / "cluster", gateway_args=["--no-server-embedding"]) as cluster:
            hosts = ",".join(cluster.gateway_addresses)
            pids = [p.pid for p in (*cluster.workers, *cluster.gateways, *cluster.nats.servers)]
            for shards in (1, 2):
                label = f"cluster, {shards} shard{'s' if shards > 1 else ''} x 2 replicas"
                results[label] = measure(hosts, vectors, shards, pids)
    text = report(results, count, time.perf_counter() - began)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")
    else:
        write_into(DOC, text)
    print(text)


if __name__ == "__main__":
    main()
