"""The peer side of ``benchmarks.recall``: chromadb's collection API on cached vectors.

Run with the peer interpreter (``.venv-peer/bin/python benchmarks/recall_peer.py ...``); it
imports nothing from chroma_grpc. Stores ``--n-store`` vectors of ``--vectors`` in an
in-memory client with default HNSW settings, queries the ``--n-queries`` rows after them, writes
the neighbour row numbers to ``--out`` (int64 ``.npy``) and prints one JSON object of timings.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

BATCH = 5_000
QUERY_BATCH = 100


def main() -> None:
    """Parse arguments, run the peer and print its timings."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vectors", required=True)
    parser.add_argument("--n-store", type=int, required=True)
    parser.add_argument("--n-queries", type=int, required=True)
    parser.add_argument("--space", default="l2")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import chromadb  # type: ignore[import-not-found]
    from chromadb.config import Settings  # type: ignore[import-not-found]

    vectors = np.load(args.vectors, mmap_mode="r")
    data = np.asarray(vectors[: args.n_store], dtype=np.float32)
    queries = np.asarray(vectors[args.n_store : args.n_store + args.n_queries], dtype=np.float32)
    client = chromadb.EphemeralClient(settings=Settings(anonymized_telemetry=False))
    collection = client.create_collection(
        "recall", metadata={"hnsw:space": args.space}, embedding_function=None
    )
    started = time.perf_counter()
    for start in range(0, len(data), BATCH):
        chunk = data[start : start + BATCH]
        collection.add(
            ids=[str(i) for i in range(start, start + len(chunk))], embeddings=chunk.tolist()
        )
    ingest_s = time.perf_counter() - started
    started = time.perf_counter()
    collection.query(query_embeddings=queries[:1].tolist(), n_results=args.k, include=[])
    first_query_s = time.perf_counter() - started
    found: list[list[int]] = []
    started = time.perf_counter()
    for start in range(0, len(queries), QUERY_BATCH):
        result = collection.query(
            query_embeddings=queries[start : start + QUERY_BATCH].tolist(),
            n_results=args.k,
            include=[],
        )
        found += [[int(i) for i in ids] for ids in result["ids"]]
    query_s = time.perf_counter() - started
    np.save(args.out, np.asarray(found, dtype=np.int64))
    print(
        json.dumps(
            {
                "ingest_s": ingest_s,
                "first_query_s": first_query_s,
                "queries_per_s": len(queries) / query_s,
            }
        )
    )


if __name__ == "__main__":
    main()
