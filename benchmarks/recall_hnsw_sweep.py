"""Scratch sweep of HNSW parameters on the cached sentence embeddings, straight on FAISS.

Mirrors what the store does (``IndexHNSWFlat``; cosine as inner product on normalised vectors;
``k + 8`` candidates re-ranked exactly) without touching it, to pick ``DEFAULT_M`` /
``DEFAULT_CONSTRUCTION_EF`` / ``DEFAULT_SEARCH_EF``. Needs a prior ``python -m benchmarks.recall``
run (or ``python -m benchmarks.recall_corpus``) to have cached the embeddings.

    python -m benchmarks.recall_hnsw_sweep --space l2 --configs 32:200,48:200 --search-efs 64,200
"""

from __future__ import annotations

import argparse
import time

import faiss
import numpy as np

from benchmarks.recall import CORPUS_SIZE, _distances, recall_at_k
from benchmarks.recall_corpus import embeddings_path, load_corpus

RERANK_MARGIN = 8


def main() -> None:
    """Build one graph per ``M:efConstruction`` and print recall per ``efSearch``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--space", default="l2", choices=("l2", "cosine"))
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--configs", default="16:100,32:200")
    parser.add_argument("--search-efs", default="10,50,100,200,400")
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    path = embeddings_path(load_corpus(CORPUS_SIZE)[:CORPUS_SIZE])
    vectors = np.load(path, mmap_mode="r")
    data = np.ascontiguousarray(vectors[: args.size], dtype=np.float32)
    queries = np.ascontiguousarray(vectors[args.size : args.size + args.queries], dtype=np.float32)
    search_data, search_queries = data, queries
    metric = faiss.METRIC_L2
    if args.space == "cosine":
        metric = faiss.METRIC_INNER_PRODUCT
        search_data = data / np.linalg.norm(data, axis=1, keepdims=True)
        search_queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    take = args.k + RERANK_MARGIN
    print(f"{'M':>4} {'efC':>5} {'build s':>8} {'efS':>5} {'recall@10':>10} {'query/s':>8}")
    for config in args.configs.split(","):
        m, ef_construction = (int(x) for x in config.split(":"))
        index = faiss.IndexHNSWFlat(data.shape[1], m, metric)
        index.hnsw.efConstruction = ef_construction
        started = time.perf_counter()
        index.add(search_data)
        build_s = time.perf_counter() - started
        for ef_search in (int(x) for x in args.search_efs.split(",")):
            params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
            params.efSearch = max(ef_search, take)
            started = time.perf_counter()
            _, labels = index.search(search_queries, take, params=params)
            query_s = time.perf_counter() - started
            found = np.zeros((len(queries), args.k), dtype=np.int64)
            for row, cand in enumerate(labels):
                dist = _distances(data[cand], queries[row : row + 1], args.space)[0]
                found[row] = cand[np.argsort(dist, kind="stable")[: args.k]]
            recall = recall_at_k(data, queries, found, args.space, args.k)
            print(
                f"{m:>4} {ef_construction:>5} {build_s:>8.1f} {ef_search:>5} {recall:>10.4f} "
                f"{len(queries) / query_s:>8.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
