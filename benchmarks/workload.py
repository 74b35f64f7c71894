"""One benchmark workload, run against any client that speaks Chroma's API.

The same code drives chromadb (the peer, from its own virtualenv) and chroma-grpc (embedded
and over gRPC), so the numbers differ only by implementation. Prints one JSON object.

    python benchmarks/workload.py --client chromadb
    python benchmarks/workload.py --client chroma-grpc-embedded
    python benchmarks/workload.py --client chroma-grpc-server --target 127.0.0.1:50051
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def make_client(kind: str, target: str | None, path: str) -> Any:
    if kind == "chromadb":
        import chromadb
        from chromadb.config import Settings

        return chromadb.PersistentClient(path, settings=Settings(anonymized_telemetry=False))
    import chroma_grpc

    if kind == "chroma-grpc-embedded":
        return chroma_grpc.PersistentClient(path)
    assert target is not None, "--target is required for chroma-grpc-server"
    host, port = target.rsplit(":", 1)
    return chroma_grpc.HttpClient(host=host, port=int(port))


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def exact_neighbours(data: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    distances = (queries**2).sum(1)[:, None] - 2 * queries @ data.T + (data**2).sum(1)[None, :]
    return np.argsort(distances, axis=1)[:, :k]


def run(kind: str, target: str | None, count: int, dim: int, queries: int) -> dict[str, Any]:
    rng = np.random.default_rng(7)
    data = rng.standard_normal((count, dim)).astype(np.float32)
    probes = rng.standard_normal((queries, dim)).astype(np.float32)
    ids = [f"id{i:07d}" for i in range(count)]
    metadatas = [{"i": i, "group": f"g{i % 10}"} for i in range(count)]
    batch = 5_000

    with tempfile.TemporaryDirectory() as path:
        client = make_client(kind, target, path)
        collection = client.create_collection("bench", embedding_function=None)

        def ingest() -> None:
            for start in range(0, count, batch):
                collection.add(
                    ids=ids[start : start + batch],
                    embeddings=data[start : start + batch],
                    metadatas=metadatas[start : start + batch],
                )

        ingest_s = timed(ingest)
        # The first query pays for building the search index (chroma-grpc builds it lazily,
        # chromadb while adding): report it apart from steady-state query throughput.
        first_query_s = timed(lambda: collection.query(query_embeddings=probes[:1], n_results=10))
        found: list[list[str]] = []

        def single_queries() -> None:
            for probe in probes:
                result = collection.query(query_embeddings=[probe.tolist()], n_results=10)
                found.append(result["ids"][0])

        single_s = timed(single_queries)
        batch_s = timed(lambda: collection.query(query_embeddings=probes, n_results=10))
        filtered_s = timed(
            lambda: [
                collection.query(
                    query_embeddings=[probe.tolist()], n_results=10, where={"group": "g3"}
                )
                for probe in probes[:50]
            ]
        )
        get_s = timed(lambda: collection.get(ids=ids[:2_000], include=["embeddings"]))

    truth = exact_neighbours(data, probes, 10)
    hits = sum(len({ids[j] for j in truth[q]} & set(found[q])) for q in range(queries))
    return {
        "client": kind,
        "records": count,
        "dimension": dim,
        "ingest_records_per_s": count / ingest_s,
        "first_query_s": first_query_s,
        "single_query_per_s": queries / single_s,
        "batch_query_per_s": queries / batch_s,
        "filtered_query_per_s": 50 / filtered_s,
        "get_2000_with_embeddings_s": get_s,
        "recall_at_10": hits / (queries * 10),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--client", required=True)
    parser.add_argument("--target")
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    print(json.dumps(run(args.client, args.target, args.count, args.dim, args.queries)))


if __name__ == "__main__":
    main()
