"""Recall@10 of the default store settings against exact search, and of chromadb (a peer venv).

Usage: ``python -m benchmarks.recall`` from the project venv. The defaults check the
requirement: recall@10 >= 0.99 on 10,000 random Gaussian vectors and >= 0.98 on 100,000 real
sentence embeddings (1,000 held-out queries), in the ``l2`` and ``cosine`` spaces, for the
in-memory :class:`chroma_grpc.store.Store` and for chromadb's collection API (the peer venv
``.venv-peer``, each in its own interpreter).

The sentences are docstrings and comments of the Python sources on this machine
(:mod:`benchmarks.recall_corpus`); they and their embeddings by the default model are cached
under ``.bench_cache/``, so only the first run pays for embedding (minutes on 2 cores).

A returned neighbour counts as a hit when its exact distance is within the exact k-th nearest
distance (ties at the boundary are not misses). The last line printed is a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from benchmarks.recall_corpus import embed_corpus, load_corpus

ROOT = Path(__file__).resolve().parent.parent
PEER_PYTHON = ROOT / ".venv-peer" / "bin" / "python"
PEER_SCRIPT = ROOT / "benchmarks" / "recall_peer.py"
CORPUS_SIZE = 110_000
BATCH = 5_000
QUERY_BATCH = 100
TIE_TOLERANCE = 1e-6

Matrix = npt.NDArray[np.float32]
Labels = npt.NDArray[np.int64]


@dataclass
class Row:
    """One measured configuration."""

    engine: str
    data: str
    space: str
    size: int
    recall: float
    ingest_s: float
    first_query_s: float
    queries_per_s: float
    indexed_s: float = 0.0


def _prepare(vectors: Matrix, space: str) -> npt.NDArray[np.float64]:
    """Float64 copy of ``vectors``, normalised for cosine."""
    x = vectors.astype(np.float64)
    if space == "cosine":
        x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)
    return x


def _exact(
    x: npt.NDArray[np.float64], q: npt.NDArray[np.float64], space: str
) -> npt.NDArray[np.float64]:
    """Distances (nq, n) between prepared vectors: squared L2, or ``1 - dot``."""
    dots: npt.NDArray[np.float64] = q @ x.T
    if space in ("cosine", "ip"):
        return 1.0 - dots
    out: npt.NDArray[np.float64] = (q * q).sum(1)[:, None] - 2 * dots + (x * x).sum(1)[None]
    return out


def _distances(data: Matrix, queries: Matrix, space: str) -> npt.NDArray[np.float64]:
    """Exact distances (nq, n) in float64: squared L2, ``1 - cos`` or ``1 - dot``."""
    return _exact(_prepare(data, space), _prepare(queries, space), space)


def recall_at_k(data: Matrix, queries: Matrix, found: Labels, space: str, k: int) -> float:
    """Tie-tolerant recall of ``found`` (nq, k) row numbers against exact search."""
    x, q = _prepare(data, space), _prepare(queries, space)
    hits = 0
    for start in range(0, len(queries), 100):
        dist = _exact(x, q[start : start + 100], space)
        kth = np.partition(dist, k - 1, axis=1)[:, k - 1]
        rows = found[start : start + 100]
        valid = rows >= 0
        got = np.take_along_axis(dist, np.where(valid, rows, 0), axis=1)
        slack = TIE_TOLERANCE * np.maximum(np.abs(kth), 1e-12)
        hits += int(((got <= (kth + slack)[:, None]) & valid).sum())
    return hits / (len(queries) * k)


def run_store(data: Matrix, queries: Matrix, space: str, k: int) -> tuple[Labels, dict[str, float]]:
    """Our in-memory store with default settings: neighbour row numbers and timings."""
    from chroma_grpc.store import RecordBatch, Store

    store = Store()
    info, _ = store.create_collection("recall", metadata={"hnsw:space": space})
    started = time.perf_counter()
    for start in range(0, len(data), BATCH):
        chunk = data[start : start + BATCH]
        ids = [str(i) for i in range(start, start + len(chunk))]
        store.add(info.id, RecordBatch(ids=ids, embeddings=np.ascontiguousarray(chunk)))
    ingest_s = time.perf_counter() - started
    started = time.perf_counter()
    store.query(info.id, queries[:1], n_results=k, include=frozenset())
    first_query_s = time.perf_counter() - started
    # Queries are answered at once (exactly, for what the graph does not cover yet); recall is
    # measured once the background build has finished, when the graph answers.
    started = time.perf_counter()
    store.wait_until_indexed()
    indexed_s = time.perf_counter() - started
    found: list[list[int]] = []
    started = time.perf_counter()
    for start in range(0, len(queries), QUERY_BATCH):
        results = store.query(
            info.id, queries[start : start + QUERY_BATCH], n_results=k, include=frozenset()
        )
        found += [[int(i) for i in result.ids] for result in results]
    query_s = time.perf_counter() - started
    store.close()
    timings = {
        "ingest_s": ingest_s,
        "first_query_s": first_query_s,
        "indexed_s": indexed_s,
        "queries_per_s": len(queries) / query_s,
    }
    return np.asarray(found, dtype=np.int64), timings


def run_peer(
    vectors: Path, n_store: int, n_queries: int, space: str, k: int
) -> tuple[Labels, dict[str, float]]:
    """chromadb (``PEER_PYTHON``'s version) in its own interpreter on the same vectors."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "found.npy"
        command = [
            str(PEER_PYTHON),
            str(PEER_SCRIPT),
            f"--vectors={vectors}",
            f"--n-store={n_store}",
            f"--n-queries={n_queries}",
            f"--space={space}",
            f"--k={k}",
            f"--out={out}",
        ]
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"peer failed:\n{proc.stderr[-3000:]}")
        timings: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
        return np.load(out), timings


def gaussian(size: int, n_queries: int, dim: int = 384, seed: int = 7) -> Path:
    """Random N(0, 1) vectors, ``size`` stored then ``n_queries`` queries, as a temp ``.npy``."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((size + n_queries, dim)).astype(np.float32)
    path = Path(tempfile.mkstemp(prefix="recall_gauss_", suffix=".npy")[1])
    np.save(path, vectors)
    return path


def measure(
    engine: str, label: str, vectors_path: Path, size: int, n_queries: int, space: str, k: int
) -> Row:
    """Recall and timings of one engine on the first ``size`` rows, queried by the next ones."""
    vectors = np.load(vectors_path, mmap_mode="r")
    if len(vectors) < size + n_queries:
        raise SystemExit(f"{label}: only {len(vectors)} vectors for {size} + {n_queries} queries")
    data = np.ascontiguousarray(vectors[:size], dtype=np.float32)
    queries = np.ascontiguousarray(vectors[size : size + n_queries], dtype=np.float32)
    if engine == "chroma-grpc":
        found, timings = run_store(data, queries, space, k)
    else:
        found, timings = run_peer(vectors_path, size, n_queries, space, k)
    recall = recall_at_k(data, queries, found, space, k)
    return Row(engine, label, space, size, recall, **timings)


def print_table(rows: list[Row]) -> None:
    """A fixed-width table of every measured row."""
    head = ("engine", "data", "space", "size", "recall@10", "ingest s", "1st query s", "query/s")
    print(" ".join(f"{h:>15}" for h in head))
    for r in rows:
        cells = (
            r.engine,
            r.data,
            r.space,
            f"{r.size:,}",
            f"{r.recall:.4f}",
            f"{r.ingest_s:.1f}",
            f"{r.first_query_s:.2f}",
            f"{r.queries_per_s:.0f}",
        )
        print(" ".join(f"{c:>15}" for c in cells))


def main() -> None:
    """Run the requirement check (or the configurations given) and print the results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spaces", default="l2,cosine", help="comma-separated hnsw:space values")
    parser.add_argument("--size", type=int, default=100_000, help="sentence records stored")
    parser.add_argument("--queries", type=int, default=1_000, help="held-out queries")
    parser.add_argument("--gaussian-size", type=int, default=10_000, help="0 to skip")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--min-sentences", type=float, default=0.98)
    parser.add_argument("--min-gaussian", type=float, default=0.99)
    parser.add_argument("--no-peer", action="store_true", help="skip chromadb")
    parser.add_argument("--peer", help="python of the chromadb venv (default .venv-peer)")
    args = parser.parse_args()
    global PEER_PYTHON
    if args.peer:
        PEER_PYTHON = Path(args.peer)
    spaces = [s.strip() for s in args.spaces.split(",") if s.strip()]
    engines = ["chroma-grpc"]
    if not args.no_peer:
        if PEER_PYTHON.exists():
            engines.append("chromadb")
        else:
            print(f"peer interpreter {PEER_PYTHON} missing: skipping chromadb", file=sys.stderr)

    started = time.perf_counter()
    rows: list[Row] = []
    if args.size > 0:
        texts = load_corpus(max(CORPUS_SIZE, args.size + args.queries))
        print(f"corpus: {len(texts):,} sentences ({time.perf_counter() - started:.0f}s)")
        texts = texts[: max(CORPUS_SIZE, args.size + args.queries)]
        embeddings = embed_corpus(texts)
        for space in spaces:
            for engine in engines:
                row = measure(
                    engine, "sentences", embeddings, args.size, args.queries, space, args.k
                )
                rows.append(row)
                print_table([row])
    if args.gaussian_size > 0:
        path = gaussian(args.gaussian_size, args.queries)
        try:
            size = args.gaussian_size
            for space in spaces:
                for engine in engines:
                    row = measure(engine, "gaussian", path, size, args.queries, space, args.k)
                    rows.append(row)
                    print_table([row])
        finally:
            path.unlink(missing_ok=True)

    print()
    print_table(rows)
    checks = {
        f"{r.data}/{r.space}/{r.size}": r.recall
        >= (args.min_sentences if r.data == "sentences" else args.min_gaussian)
        for r in rows
        if r.engine == "chroma-grpc"
    }
    elapsed = time.perf_counter() - started
    print(f"\nrequirement {'holds' if all(checks.values()) else 'FAILS'}: {checks}")
    print(f"runtime {elapsed:.0f}s")
    print(json.dumps({"rows": [asdict(r) for r in rows], "checks": checks, "runtime_s": elapsed}))


if __name__ == "__main__":
    main()
