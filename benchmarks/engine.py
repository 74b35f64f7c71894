"""One engine's side of ``make bench``: runs inside that engine's own virtualenv.

The same code drives chroma-grpc (embedded, or its gRPC server through ``HttpClient``) and
chromadb (embedded ``PersistentClient``, or its ``chroma run`` HTTP server), so the numbers
differ only by implementation. It imports numpy, the standard library and the client under
test, nothing else. Prints one JSON object on its last line.

    python benchmarks/engine.py embedded --engine chroma-grpc --data x.npy --truth t.npy ...
    python benchmarks/engine.py reopen --engine chromadb --path DIR --data x.npy ...
    python benchmarks/engine.py server --engine chromadb --target 127.0.0.1:8000 ...
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

BATCH = 5_000
K = 10
SINGLE_QUERIES = 300
LOAD_WARMUP = 30
BUSY_LOOP = "while True: pass"


def make_client(engine: str, path: str | None = None, target: str | None = None) -> Any:
    if engine == "chromadb":
        import chromadb  # type: ignore[import-not-found,unused-ignore]
        from chromadb.config import Settings  # type: ignore[import-not-found,unused-ignore]

        settings = Settings(anonymized_telemetry=False)
        if target is not None:
            host, port = target.rsplit(":", 1)
            return chromadb.HttpClient(host=host, port=int(port), settings=settings)
        return chromadb.PersistentClient(path, settings=settings)
    import chroma_grpc

    if target is not None:
        host, port = target.rsplit(":", 1)
        return chroma_grpc.HttpClient(host=host, port=int(port))
    return chroma_grpc.PersistentClient(path)


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads), from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def disk_bytes(path: str) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1e3
    return {f"p{p}_ms": float(np.percentile(ms, p)) for p in (50, 95, 99)}


def recall_at_k(found: list[list[str]], truth: np.ndarray) -> float:
    hits = sum(
        len({f"id{j:07d}" for j in truth[row][:K]} & set(ids)) for row, ids in enumerate(found)
    )
    return hits / (len(found) * K)


class BusyCore:
    """One busy-looping process: the competing load, the same for every engine."""

    def __enter__(self) -> BusyCore:
        self.process = subprocess.Popen([sys.executable, "-c", BUSY_LOOP])
        time.sleep(0.3)
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.kill()
        self.process.wait()


def single_queries(collection: Any, probes: np.ndarray) -> tuple[list[float], list[list[str]]]:
    latencies, found = [], []
    for row in range(len(probes)):
        started = time.perf_counter()
        result = collection.query(query_embeddings=probes[row : row + 1], n_results=K)
        latencies.append(time.perf_counter() - started)
        found.append(result["ids"][0])
    return latencies, found


def timed_phase(action: Callable[[], tuple[list[float], list[list[str]]]]) -> dict[str, Any]:
    """Latency percentiles and CPU (this process, every thread) per query of ``action``."""
    cpu = time.process_time()
    latencies, found = action()
    cpu_per_query = (time.process_time() - cpu) / len(latencies)
    return {
        **percentiles(latencies),
        "mean_ms": float(np.mean(latencies)) * 1e3,
        "cpu_ms": cpu_per_query * 1e3,
        "found": found,
    }


def batch_qps(collection: Any, probes: np.ndarray, repeats: int = 9) -> float:
    """Queries per second of one 100-query call: the median of ``repeats`` calls, so that a
    moment of other work on the machine does not decide the figure."""
    seconds = []
    for n in range(repeats):
        batch = probes[(n * 100) % (len(probes) - 99) :][:100]
        started = time.perf_counter()
        collection.query(query_embeddings=batch, n_results=K)
        seconds.append(time.perf_counter() - started)
    return 100 / float(np.median(seconds))


def ingest(collection: Any, data: np.ndarray) -> float:
    started = time.perf_counter()
    for start in range(0, len(data), BATCH):
        stop = min(len(data), start + BATCH)
        collection.add(
            ids=[f"id{i:07d}" for i in range(start, stop)],
            embeddings=data[start:stop],
            metadatas=[{"i": i, "group": f"g{i % 10}"} for i in range(start, stop)],
            documents=[f"record {i} of the benchmark" for i in range(start, stop)],
        )
    return time.perf_counter() - started


def wait_for_index(client: Any, engine: str) -> float:
    """chroma-grpc builds graphs in the background; embedded, it can be waited for."""
    started = time.perf_counter()
    store = getattr(client, "_store", None)
    if engine == "chroma-grpc" and hasattr(store, "wait_until_indexed"):
        store.wait_until_indexed()
    return time.perf_counter() - started


def embedded(args: argparse.Namespace) -> dict[str, Any]:
    data = np.load(args.data)[: args.size]
    probes = np.load(args.probes)
    truth = np.load(args.truth)
    path = args.path or tempfile.mkdtemp(prefix="bench-")
    client = make_client(args.engine, path)
    collection = client.create_collection("bench", embedding_function=None)
    baseline = rss_bytes()  # imports, client and an empty collection are not per-vector costs
    out: dict[str, Any] = {"engine": args.engine, "size": len(data)}
    out["ingest_s"] = ingest(collection, data)
    started = time.perf_counter()
    first = collection.query(query_embeddings=probes[:1], n_results=K)
    out["first_query_s"] = time.perf_counter() - started
    out["first_answer_recall"] = recall_at_k(first["ids"], truth[:1])
    out["queryable_s"] = out["ingest_s"] + out["first_query_s"]
    out["indexed_s"] = wait_for_index(client, args.engine)
    out["rss_per_vector"] = (rss_bytes() - baseline) / len(data)

    idle = timed_phase(lambda: single_queries(collection, probes))
    out["recall_at_10"] = recall_at_k(idle.pop("found"), truth)
    out["idle"] = idle
    with BusyCore():
        single_queries(collection, probes[:LOAD_WARMUP])
        loaded = timed_phase(lambda: single_queries(collection, probes))
    loaded.pop("found")
    out["loaded"] = loaded
    out["batch_qps"] = batch_qps(collection, probes)
    store = getattr(client, "_store", None)
    if hasattr(store, "close"):
        store.close()
    collection = client = None  # let a server-less engine flush what it writes in the background
    time.sleep(1.0)
    out["disk_per_vector"] = disk_bytes(path) / len(data)
    out["path"] = path
    return out


def reopen(args: argparse.Namespace) -> dict[str, Any]:
    """A fresh process (imports done) opening a persisted collection: time to first answer."""
    probes = np.load(args.probes)
    started = time.perf_counter()
    client = make_client(args.engine, args.path)
    collection = client.get_collection("bench", embedding_function=None)
    collection.query(query_embeddings=probes[:1], n_results=K)
    return {"engine": args.engine, "reopen_s": time.perf_counter() - started}


def server(args: argparse.Namespace) -> dict[str, Any]:
    data = np.load(args.data)[: args.size]
    probes = np.load(args.probes)
    truth = np.load(args.truth)
    client = make_client(args.engine, target=args.target)
    collection = client.create_collection("bench", embedding_function=None)
    out: dict[str, Any] = {"engine": args.engine, "size": len(data)}
    out["ingest_s"] = ingest(collection, data)
    wait_until_quiet(args.server_pid)
    idle = timed_phase(lambda: single_queries(collection, probes))
    out["recall_at_10"] = recall_at_k(idle.pop("found"), truth)
    out["idle"] = idle
    out["qps_1"] = 1e3 / idle["mean_ms"]
    out.update(concurrent(args, probes, clients=8))
    return out


def wait_until_quiet(pid: int, limit_s: float = 600.0) -> None:
    """Until the server process uses under 5% of a core over half a second (background index
    work done): both servers index asynchronously to some degree."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        time.sleep(0.5)
        if cpu_seconds(pid) - before < 0.025:
            return


def concurrent(args: argparse.Namespace, probes: np.ndarray, clients: int) -> dict[str, float]:
    """``clients`` threads, each with its own client, querying for ``args.seconds``."""
    collections = [
        make_client(args.engine, target=args.target).get_collection(
            "bench", embedding_function=None
        )
        for _ in range(clients)
    ]
    counts = [0] * clients
    stop = threading.Event()

    def worker(n: int) -> None:
        collection, row = collections[n], n
        while not stop.is_set():
            collection.query(query_embeddings=probes[row % len(probes)][None, :], n_results=K)
            counts[n] += 1
            row += clients

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    server_cpu = cpu_seconds(args.server_pid)
    started = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(args.seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return {
        f"qps_{clients}": sum(counts) / elapsed,
        f"server_cores_{clients}": (cpu_seconds(args.server_pid) - server_cpu) / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=("embedded", "reopen", "server"))
    parser.add_argument("--engine", required=True, choices=("chroma-grpc", "chromadb"))
    parser.add_argument("--data")
    parser.add_argument("--probes", required=True)
    parser.add_argument("--truth")
    parser.add_argument("--size", type=int, default=0)
    parser.add_argument("--path")
    parser.add_argument("--target")
    parser.add_argument("--server-pid", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    run = {"embedded": embedded, "reopen": reopen, "server": server}[args.mode]
    print(json.dumps(run(args)))


if __name__ == "__main__":
    main()
