"""One engine's side of ``make bench``: runs inside that engine's own virtualenv.

The same code drives chroma-grpc (embedded, or its gRPC server through ``HttpClient``) and
chromadb (embedded ``PersistentClient``, or its ``chroma run`` HTTP server), so the numbers
differ only by implementation. It imports numpy, the standard library and the client under
test, nothing else.

``serve`` keeps one collection open and answers JSON commands, one per stdin line, with one
JSON line on stdout (``setup``, ``single``, ``batch``, ``concurrent``, ``close``: the methods of
:class:`Session`), so that the orchestrator can measure every engine in turns, round after
round, under the same conditions. ``reopen`` times a fresh process's first answer from a
persisted collection and prints one JSON object.

    python benchmarks/engine.py serve --engine chroma-grpc --data x.npy --truth t.npy ...
    python benchmarks/engine.py serve --engine chromadb --target 127.0.0.1:8000 ...
    python benchmarks/engine.py reopen --engine chromadb --path DIR --probes p.npy
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

BATCH = 5_000
K = 10


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


def recall_at_k(found: list[list[str]], truth: np.ndarray) -> float:
    hits = sum(
        len({f"id{j:07d}" for j in truth[row][:K]} & set(ids)) for row, ids in enumerate(found)
    )
    return hits / (len(found) * K)


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


class Session:
    """One engine's collection, kept open while the orchestrator runs phases on it in turn
    with the other engines' (``serve`` mode): each side is measured in the same minutes, under
    the same competing load, instead of one run after the other."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.probes = np.load(args.probes)
        self.truth = np.load(args.truth)
        self.path: str | None = None
        self.client: Any = None
        self.collection: Any = None

    def setup(self) -> dict[str, Any]:
        """Ingest (timed), the first query after it, then (embedded) wait for the background
        index work, so that every later phase measures the steady state."""
        args = self.args
        data = np.load(args.data)[: args.size]
        out: dict[str, Any] = {"engine": args.engine, "size": len(data)}
        if args.target is not None:
            self.client = make_client(args.engine, target=args.target)
            self.collection = self.client.create_collection("bench", embedding_function=None)
            out["ingest_s"] = ingest(self.collection, data)
            wait_until_quiet(args.server_pid)
            return out
        self.path = args.path or tempfile.mkdtemp(prefix="bench-")
        self.client = make_client(args.engine, self.path)
        self.collection = self.client.create_collection("bench", embedding_function=None)
        baseline = rss_bytes()  # imports, client and an empty collection are not per-vector
        out["ingest_s"] = ingest(self.collection, data)
        started = time.perf_counter()
        first = self.collection.query(query_embeddings=self.probes[:1], n_results=K)
        out["first_query_s"] = time.perf_counter() - started
        out["first_answer_recall"] = recall_at_k(first["ids"], self.truth[:1])
        out["queryable_s"] = out["ingest_s"] + out["first_query_s"]
        out["indexed_s"] = wait_for_index(self.client, args.engine)
        # ``data`` is in both measurements (it was loaded before the baseline): freed before
        # this one, it would be counted as 1,536 bytes per vector less than the engine holds.
        out["rss_per_vector"] = (rss_bytes() - baseline) / len(data)
        return out

    def single(self, start: int, count: int, recall: bool = False) -> dict[str, Any]:
        """``count`` single queries from probe ``start`` on (wrapping): each latency, the CPU
        of this process (every thread) they took, and recall@10 if asked."""
        rows = [(start + n) % len(self.probes) for n in range(count)]
        cpu = time.process_time()
        latencies, found = [], []
        for row in rows:
            began = time.perf_counter()
            result = self.collection.query(query_embeddings=self.probes[row : row + 1], n_results=K)
            latencies.append(time.perf_counter() - began)
            found.append(result["ids"][0])
        out: dict[str, Any] = {"latencies": latencies, "cpu_s": time.process_time() - cpu}
        if recall:
            out["recall_at_10"] = recall_at_k(found, self.truth[rows])
        return out

    def batch(self, calls: int, first: int) -> dict[str, Any]:
        """Seconds of each of ``calls`` 100-query calls."""
        seconds = []
        for n in range(first, first + calls):
            chunk = self.probes[(n * 100) % (len(self.probes) - 99) :][:100]
            began = time.perf_counter()
            self.collection.query(query_embeddings=chunk, n_results=K)
            seconds.append(time.perf_counter() - began)
        return {"seconds": seconds}

    def concurrent(self, clients: int, seconds: float) -> dict[str, Any]:
        return concurrent(self.args, self.probes, clients, seconds)

    def close(self) -> dict[str, Any]:
        """Close the client (a persistent store saves its index), then measure the folder."""
        out: dict[str, Any] = {}
        store = getattr(self.client, "_store", None)
        if hasattr(store, "close"):
            store.close()
        self.collection = self.client = None  # a server-less engine flushes in the background
        if self.path is not None:
            time.sleep(1.0)
            out["disk_per_vector"] = disk_bytes(self.path) / self.args.size
            out["path"] = self.path
        return out


def serve(args: argparse.Namespace) -> None:
    """Answer one JSON command per stdin line with one JSON line on stdout, until ``close``."""
    session = Session(args)
    for line in sys.stdin:
        command = json.loads(line)
        op = command.pop("op")
        reply = getattr(session, op)(**command)
        print(json.dumps(reply), flush=True)
        if op == "close":
            return


def reopen(args: argparse.Namespace) -> dict[str, Any]:
    """A fresh process (imports done) opening a persisted collection: time to first answer."""
    probes = np.load(args.probes)
    started = time.perf_counter()
    client = make_client(args.engine, args.path)
    collection = client.get_collection("bench", embedding_function=None)
    collection.query(query_embeddings=probes[:1], n_results=K)
    elapsed = time.perf_counter() - started
    store = getattr(client, "_store", None)
    if hasattr(store, "close"):
        store.close()
    return {"engine": args.engine, "reopen_s": elapsed}


def wait_until_quiet(pid: int, limit_s: float = 600.0) -> None:
    """Until the server process uses under 5% of a core over half a second (background index
    work done): both servers index asynchronously to some degree."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        time.sleep(0.5)
        if cpu_seconds(pid) - before < 0.025:
            return


def concurrent(
    args: argparse.Namespace, probes: np.ndarray, clients: int, seconds: float
) -> dict[str, float]:
    """``clients`` threads, each with its own client, querying for ``seconds``."""
    collections = [
        make_client(args.engine, target=args.target).get_collection(
            "bench", embedding_function=None
        )
        for _ in range(clients)
    ]
    for collection in collections:  # connected and warm before the clock starts
        collection.query(query_embeddings=probes[:1], n_results=K)
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
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return {
        "qps": sum(counts) / elapsed,
        "server_cores": (cpu_seconds(args.server_pid) - server_cpu) / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=("serve", "reopen"))
    parser.add_argument("--engine", required=True, choices=("chroma-grpc", "chromadb"))
    parser.add_argument("--data")
    parser.add_argument("--probes", required=True)
    parser.add_argument("--truth")
    parser.add_argument("--size", type=int, default=0)
    parser.add_argument("--path")
    parser.add_argument("--target")
    parser.add_argument("--server-pid", type=int, default=0)
    args = parser.parse_args()
    if args.mode == "serve":
        serve(args)
    else:
        print(json.dumps(reopen(args)))


if __name__ == "__main__":
    main()
