"""Every FAISS call of the package: exact k-NN over float32 blocks and HNSW graphs.

Thread counts are chosen per call, not process-wide: OpenMP's thread count is a per-thread
setting, so each caller sets its own before a FAISS call. A single query never starts a
parallel region (the work is too small to split, and idle OpenMP workers spin, burning the CPU
a busy server needs); a batch of queries uses every core; background index work uses one thread
so that a core is always left for serving. Nothing here calls numpy's BLAS, whose thread pool is
process-wide and would oversubscribe the machine under concurrent queries.

A batch's graph search is not split by OpenMP: its static share per thread makes the whole
batch wait for a thread that other work on the machine has preempted (measured with other
jobs on both cores: 2 OpenMP threads ran a 100-query batch *slower* than 1). The batch is cut
into small chunks instead, taken in turn by one thread per core (:func:`graph_search`), so a
preempted thread delays its chunk, not the batch; these threads are shared by every batch of
the process, so concurrent batches never run more searches at once than there are cores.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, cast

import faiss
import numpy as np
import numpy.typing as npt

Metric = Literal["l2", "ip"]
Matrix = npt.NDArray[np.float32]
Labels = npt.NDArray[np.int64]
Bitmap = npt.NDArray[np.uint8]

CORES = max(1, os.cpu_count() or 1)
PARALLEL_MIN_QUERIES = 16
# A batch's graph search goes in chunks of at least this many queries, about four per core.
MIN_CHUNK_QUERIES = 4
CHUNKS_PER_CORE = 4
# A scan of at least this many rows for fewer than PARALLEL_MIN_QUERIES queries is split by
# rows over the search threads (measured: 100k x 384 takes about 20 ms on one core).
SPLIT_SCAN_MIN_ROWS = 32_768
_search_pool: ThreadPoolExecutor | None = None
_search_pool_lock = threading.Lock()
# FAISS's HNSW arrays, in the order they are saved and restored.
GRAPH_ARRAYS = ("levels", "offsets", "neighbors")


def use_threads_for(n_queries: int) -> None:
    """Set this thread's OpenMP width for a search of ``n_queries`` queries."""
    faiss.omp_set_num_threads(CORES if n_queries >= PARALLEL_MIN_QUERIES else 1)


def use_background_threads() -> None:
    """Background index work runs on one core, leaving the others to serve requests."""
    faiss.omp_set_num_threads(1)


def _faiss_metric(metric: Metric) -> int:
    return int(faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT)


def _selector(bitmap: Bitmap | None, size: int) -> faiss.IDSelector | None:
    return None if bitmap is None else faiss.IDSelectorBitmap(size, faiss.swig_ptr(bitmap))


def exact_knn(
    queries: Matrix,
    base: Matrix,
    k: int,
    metric: Metric,
    bitmap: Bitmap | None = None,
    parallel: bool = False,
) -> tuple[Matrix, Labels]:
    """Brute-force ``k`` nearest rows of ``base`` (C-contiguous) per query, restricted to the
    rows whose bit is set in ``bitmap`` (little-endian bit order) if given.

    Returns FAISS's scores (squared L2, or inner product) and row numbers, -1 where fewer than
    ``k`` rows qualify. Missing rows have score +inf (l2) or -inf (ip).

    ``parallel``: a few queries over a large block (a collection right after a bulk load,
    before its graph is built) are split by rows over the shared search threads. FAISS itself
    splits a scan by query only, so one query would scan 100k vectors on one core.
    """
    few_queries = len(queries) < PARALLEL_MIN_QUERIES
    if parallel and CORES > 1 and few_queries and len(base) >= SPLIT_SCAN_MIN_ROWS:
        return _split_scan(queries, base, k, metric, bitmap)
    nq, nb = len(queries), len(base)
    distances = np.empty((nq, k), dtype=np.float32)
    labels = np.empty((nq, k), dtype=np.int64)
    if nb == 0 or k == 0:
        labels.fill(-1)
        distances.fill(np.inf if metric == "l2" else -np.inf)
        return distances, labels
    q = np.ascontiguousarray(queries, dtype=np.float32)
    sel = _selector(bitmap, nb)
    args = (faiss.swig_ptr(q), faiss.swig_ptr(base), base.shape[1], nq, nb, k)
    outs = (faiss.swig_ptr(distances), faiss.swig_ptr(labels))
    if metric == "l2":
        faiss.knn_L2sqr(*args, *outs, None, sel)
    else:
        faiss.knn_inner_product(*args, *outs, sel)
    return distances, labels


def _split_scan(
    queries: Matrix, base: Matrix, k: int, metric: Metric, bitmap: Bitmap | None
) -> tuple[Matrix, Labels]:
    """:func:`exact_knn` of row slices of ``base`` on the search threads, merged."""
    rows = -(-len(base) // (CORES * 8)) * 8  # a whole number of bitmap bytes per slice
    starts = range(0, len(base), rows)
    slices = [
        _searchers().submit(
            exact_knn,
            queries,
            base[start : start + rows],
            k,
            metric,
            None if bitmap is None else bitmap[start // 8 : (start + rows) // 8],
        )
        for start in starts
    ]
    parts = [part.result() for part in slices]
    scores = np.concatenate([d for d, _ in parts], axis=1)
    labels = np.concatenate(
        [np.where(i >= 0, i + start, -1) for (_, i), start in zip(parts, starts, strict=True)],
        axis=1,
    )
    order = np.argsort(scores if metric == "l2" else -scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(labels, order, axis=1)


def new_graph(dimension: int, m: int, construction_ef: int, metric: Metric) -> faiss.IndexHNSWFlat:
    graph = faiss.IndexHNSWFlat(dimension, m, _faiss_metric(metric))
    graph.hnsw.efConstruction = construction_ef
    return graph


def graph_add(graph: faiss.IndexHNSWFlat, vectors: Matrix) -> None:
    """Insert rows at the next graph positions (the caller owns the graph exclusively)."""
    graph.add(np.ascontiguousarray(vectors, dtype=np.float32))


def graph_search(
    graph: faiss.IndexHNSWFlat,
    queries: Matrix,
    k: int,
    ef: int,
    bitmap: Bitmap | None,
    parallel: bool = False,
) -> tuple[Matrix, Labels]:
    """HNSW search with ``efSearch = ef``, admitting only positions set in ``bitmap``.

    ``parallel``: a batch of at least ``PARALLEL_MIN_QUERIES`` is searched in chunks on the
    shared search threads (module docstring); otherwise on this thread, with its own OpenMP
    setting."""
    params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
    params.efSearch = max(ef, k)
    selector = _selector(bitmap, int(graph.ntotal))
    if selector is not None:
        params.sel = selector
    q = np.ascontiguousarray(queries, dtype=np.float32)
    if not parallel or CORES == 1 or len(q) < PARALLEL_MIN_QUERIES:
        distances, labels = graph.search(q, k, params=params)
        return distances, labels
    size = max(MIN_CHUNK_QUERIES, math.ceil(len(q) / (CORES * CHUNKS_PER_CORE)))
    pool = _searchers()
    chunks = [
        pool.submit(graph.search, q[start : start + size], k, params=params)
        for start in range(0, len(q), size)
    ]
    parts = [chunk.result() for chunk in chunks]  # params and selector outlive every chunk
    return np.concatenate([d for d, _ in parts]), np.concatenate([i for _, i in parts])


def _searchers() -> ThreadPoolExecutor:
    """The process's batch-search threads: one per core, each searching on one thread."""
    global _search_pool  # noqa: PLW0603 - created on first use, shared by every index
    with _search_pool_lock:
        if _search_pool is None:
            _search_pool = ThreadPoolExecutor(
                CORES,
                thread_name_prefix="chroma-grpc-search",
                initializer=faiss.omp_set_num_threads,
                initargs=(1,),
            )
        return _search_pool


def graph_vectors(graph: faiss.IndexHNSWFlat) -> Matrix:
    """A zero-copy view of the graph's stored vectors; valid until the graph next grows."""
    n, d = int(graph.ntotal), int(graph.d)
    if n == 0:
        return np.zeros((0, d), dtype=np.float32)
    flat = cast(faiss.IndexFlat, faiss.downcast_index(graph.storage))
    view: Matrix = faiss.rev_swig_ptr(flat.get_xb(), n * d).reshape(n, d)
    return view


def graph_link_bytes(graph: faiss.IndexHNSWFlat) -> int:
    """Bytes held by the graph's links and per-node bookkeeping (not its vectors)."""
    sizes = {name: getattr(graph.hnsw, name).size() for name in GRAPH_ARRAYS}
    return int(sizes["neighbors"] * 4 + sizes["offsets"] * 8 + sizes["levels"] * 4)


def export_graph(graph: faiss.IndexHNSWFlat) -> tuple[dict[str, npt.NDArray[np.generic]], int, int]:
    """Copies of the graph's link arrays, plus its entry point and top level."""
    hnsw = graph.hnsw
    arrays = {name: faiss.vector_to_array(getattr(hnsw, name)) for name in GRAPH_ARRAYS}
    return arrays, int(hnsw.entry_point), int(hnsw.max_level)


def import_graph(
    dimension: int,
    m: int,
    construction_ef: int,
    metric: Metric,
    arrays: dict[str, npt.NDArray[np.generic]],
    entry_point: int,
    max_level: int,
    n: int,
    fill: Callable[[Matrix], None],
) -> faiss.IndexHNSWFlat:
    """A graph of ``n`` vectors from saved link arrays, without a build. ``fill(storage)``
    writes the vectors, in position order, straight into the graph's own storage (an
    ``(n, dimension)`` view), so a load copies them once."""
    graph = new_graph(dimension, m, construction_ef, metric)
    levels = arrays["levels"]
    expected = {"levels": (np.int32, n), "offsets": (np.uint64, n + 1)}
    for name, (dtype, size) in expected.items():
        array = arrays[name]
        if array.dtype != dtype or array.shape != (size,):
            raise ValueError(f"saved {name} has shape {array.shape} {array.dtype}, want {size}")
    neighbors = arrays["neighbors"]
    offsets = arrays["offsets"]
    if neighbors.dtype != np.int32 or int(offsets[-1]) != len(neighbors) or n == 0:
        raise ValueError("saved neighbors do not match their offsets")
    if not (0 <= entry_point < n) or max_level != int(levels.max()) - 1:
        raise ValueError("saved entry point or top level is out of range")
    if int(neighbors.max()) >= n or int(neighbors.min()) < -1:
        raise ValueError("saved links point outside the graph")
    flat = cast(faiss.IndexFlat, faiss.downcast_index(graph.storage))
    flat.codes.resize(n * dimension * 4)
    flat.ntotal = n
    fill(faiss.rev_swig_ptr(flat.get_xb(), n * dimension).reshape(n, dimension))
    hnsw = graph.hnsw
    for name in GRAPH_ARRAYS:
        faiss.copy_array_to_vector(np.ascontiguousarray(arrays[name]), getattr(hnsw, name))
    hnsw.entry_point = entry_point
    hnsw.max_level = max_level
    graph.ntotal = n
    return graph
