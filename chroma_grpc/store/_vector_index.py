"""Per-collection k-NN index: one copy of the vectors, an HNSW graph kept current, exact search
for whatever the graph does not cover yet.

The index is derived from SQLite and never trusted over it. Vectors sit at append-only
*positions*: a new or re-embedded record gets the next position and its previous position is
tombstoned (``rowid -1``). Positions ``[0, g)`` live inside the HNSW graph (FAISS holds their
vectors: that is the only copy); positions ``[g, n)`` are the *tail*, a float32 block searched
exactly. Background work (see ``_maintenance``) moves the tail into the graph in short steps,
builds a first graph or a compacted one off to the side and swaps it in, and calibrates the
search breadth; a query never waits for any of it. For cosine only the normalised vectors are
kept: Chroma's cosine distance needs nothing else, and returned embeddings come from SQLite.

Search breadth (``efSearch``) is *calibrated*, not guessed: held-out vectors of the collection
(a sample kept out of a new graph until measured, or tail vectors not inserted yet) are searched
exactly and through the graph at growing ``ef``, and the smallest ``ef`` reaching the target
recall for the graph's size (``TARGET_RECALL``) is kept. (Vectors already in the graph would
flatter it: their own links lead straight to their neighbours.) When the graph would need more
distance computations than a scan (hard, high-dimensional data just past the threshold), the
collection stays on exact search.
A user's ``hnsw:search_ef`` skips calibration and always uses the graph.

Not thread-safe by itself: the store searches under a shared lock and mutates under an
exclusive one; builds run on private indexes and are adopted under the exclusive lock.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from typing import ClassVar, Literal

import faiss
import numpy as np
import numpy.typing as npt

from chroma_grpc.store import _faiss
from chroma_grpc.store._faiss import Bitmap, Matrix, Metric
from chroma_grpc.store.errors import InvalidDimensionException
from chroma_grpc.store.types import DistanceSpace, MetadataValue, Vectors

EXACT_SEARCH_THRESHOLD = 2_000
COMPACT_FRACTION = 0.3
SELECTIVE_FRACTION = 0.05
DEFAULT_M = 16
DEFAULT_CONSTRUCTION_EF = 100
# Hard data (high intrinsic dimension) needs a denser graph: when a graph of at least
# DENSE_MIN_GRAPH vectors calibrates to ef >= HARD_EF, and the user chose neither M nor
# construction_ef, the next build uses these. Measured on a 1M Gaussian mixture: M=16 reaches
# recall@10 0.87 at ef=1024 and 0.945 at ef=4096; sentence embeddings need ef <= 128 at 100k.
DENSE_M = 32
DENSE_CONSTRUCTION_EF = 200
HARD_EF = 256
DENSE_MIN_GRAPH = 50_000
UNCALIBRATED_EF = 128
# Recall@10 a calibrated graph must reach on held-out vectors, by graph size: the requirement
# (0.99 up to 10k vectors, 0.98 at 100k, 0.95 at 1M) plus a margin for the sample's error
# (500 queries: about +-0.002) and for the queries of a benchmark or a user not being the
# collection's own vectors. Each extra 0.005 of recall costs a step of the ef ladder (about
# 1.3-1.5x the search time) at 100k: a margin is paid on every query, so it stays small.
TARGET_RECALL = ((20_000, 0.995), (300_000, 0.985), (None, 0.96))
CALIBRATION_K = 10
CALIBRATION_QUERIES = 500
CALIBRATION_MIN_QUERIES = 20
# Re-measure once the graph has grown by half (recall at a fixed ef falls as it grows) or halved.
CALIBRATION_GROWTH = 1.5
EF_LADDER = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
MAX_EF = 4096
# A graph search costs about ``ef * 2M`` distance computations, a scan one per vector, at
# nearly the same price each (measured: 55-60 ns at 384-d on this machine, both ways).
GRAPH_COST_PER_EF_LINK = 1.0
_SCAN_CHUNK = 1 << 16
_MIN_TAIL_CAPACITY = 64

RowIds = npt.NDArray[np.int64]
Distances = npt.NDArray[np.float32]
Positions = npt.NDArray[np.int64]
Hit = tuple[RowIds, Distances]
Guard = Callable[[], AbstractContextManager[object]]
Work = Literal["rebuild", "grow", "compact", "calibrate"]


@dataclass(frozen=True)
class HnswParams:
    """Graph parameters; a key present in collection metadata wins over our defaults.

    ``search_ef`` None means calibrated per collection; a user value is used as given.
    ``chosen`` means the user set neither ``hnsw:M`` nor ``hnsw:construction_ef``, so the store
    may pick a denser graph for hard data (:meth:`denser`).
    """

    m: int = DEFAULT_M
    construction_ef: int = DEFAULT_CONSTRUCTION_EF
    search_ef: int | None = None
    chosen: bool = False

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, MetadataValue] | None) -> HnswParams:
        md = metadata or {}
        search_ef = md.get("hnsw:search_ef")
        return cls(
            m=int(md.get("hnsw:M", DEFAULT_M)),
            construction_ef=int(md.get("hnsw:construction_ef", DEFAULT_CONSTRUCTION_EF)),
            search_ef=None if search_ef is None else int(search_ef),
            chosen="hnsw:M" not in md and "hnsw:construction_ef" not in md,
        )

    def denser(self) -> HnswParams:
        """The graph parameters for hard data (unchanged if the user chose them)."""
        if not self.chosen:
            return self
        return replace(self, m=DENSE_M, construction_ef=DENSE_CONSTRUCTION_EF)


@dataclass(frozen=True)
class Calibration:
    """Outcome of measuring the graph against exact search on a sample of its own vectors."""

    ef: int
    recall: float
    use_graph: bool
    graph_size: int


@dataclass
class GraphSnapshot:
    """What a saved graph holds: links, position -> rowid (-1 = tombstone), the vectors of
    tombstoned positions (SQLite no longer has them) and the calibration."""

    arrays: dict[str, npt.NDArray[np.generic]]
    entry_point: int
    max_level: int
    rowids: RowIds
    dead_vectors: Matrix
    calibration: Calibration | None = None


def target_recall(graph_size: int) -> float:
    for limit, target in TARGET_RECALL:
        if limit is None or graph_size <= limit:
            return target
    raise AssertionError("TARGET_RECALL ends with an open-ended entry")


def _normalize(vectors: Vectors) -> Matrix:
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.sqrt(np.einsum("ij,ij->i", v, v))[:, None]
    normalized: Matrix = (v / np.maximum(norms, 1e-30)).astype(np.float32, copy=False)
    return normalized


class VectorIndex:
    """Vectors of one collection by position, with rowid labels, tombstones and a graph.

    ``version`` counts changes (the saver compares it with what it last wrote);
    ``graph_source`` says whether the graph was built here or restored from a file, and
    ``graph_builds`` counts builds process-wide (diagnostics and tests: a restore is not one).
    """

    graph_builds: ClassVar[int] = 0

    def __init__(
        self,
        dimension: int,
        space: DistanceSpace,
        params: HnswParams,
        exact_threshold: int = EXACT_SEARCH_THRESHOLD,
    ) -> None:
        self.dimension = dimension
        self.space = space
        self.params = params
        self.exact_threshold = exact_threshold
        self.metric: Metric = "l2" if space == "l2" else "ip"
        self._graph: faiss.IndexHNSWFlat | None = None
        self._g = 0
        self._tail: Matrix = np.zeros((0, dimension), dtype=np.float32)
        self._tail_lo = 0
        self._rowids: RowIds = np.zeros(0, dtype=np.int64)
        self._n = 0
        self._dead = 0
        self._pos_of: dict[int, int] = {}
        self._live_bits: tuple[Bitmap | None, Bitmap | None] | None = None
        self.calibration: Calibration | None = None
        self.version = 0
        self.graph_source: Literal["built", "file"] | None = None

    # -- state --------------------------------------------------------------------------------
    @property
    def live(self) -> int:
        return len(self._pos_of)

    @property
    def positions(self) -> int:
        return self._n

    @property
    def graph_size(self) -> int:
        return self._g

    @property
    def has_graph(self) -> bool:
        return self._graph is not None

    @property
    def uses_hnsw(self) -> bool:
        """True when unfiltered queries go through the graph rather than a scan."""
        if self._graph is None:
            return False
        if self.params.search_ef is not None:
            return True
        return self.calibration is not None and self.calibration.use_graph

    @property
    def search_ef(self) -> int:
        if self.params.search_ef is not None:
            return self.params.search_ef
        return self.calibration.ef if self.calibration is not None else UNCALIBRATED_EF

    def resident_bytes(self) -> int:
        """Bytes of vectors, links and bookkeeping held for this collection (diagnostics)."""
        total = self._tail.nbytes + self._rowids.nbytes + 104 * len(self._pos_of)
        if self._graph is not None:
            total += self._g * self.dimension * 4 + _faiss.graph_link_bytes(self._graph)
        return total

    def _changed(self) -> None:
        self.version += 1
        self._live_bits = None

    # -- writes (exclusive) ---------------------------------------------------------------------
    def apply(self, removed: RowIds, added: RowIds, vectors: Vectors | None) -> None:
        """Tombstone ``removed`` rowids, then append ``vectors`` (shape (len(added), d))."""
        self._changed()
        for rowid in removed.tolist():
            pos = self._pos_of.pop(rowid, None)
            if pos is not None:
                self._rowids[pos] = -1
                self._dead += 1
        if vectors is None or len(added) == 0:
            return
        self._check_dimension(vectors)
        prepared = self._prepare(vectors)
        self._append_tail(np.asarray(added, dtype=np.int64), prepared)

    def _prepare(self, vectors: Vectors) -> Matrix:
        if self.space == "cosine":
            return _normalize(vectors)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _reserve_rowids(self, size: int) -> None:
        if size <= len(self._rowids):
            return
        capacity = max(size, len(self._rowids) + len(self._rowids) // 2, _MIN_TAIL_CAPACITY)
        rowids = np.full(capacity, -1, dtype=np.int64)
        rowids[: self._n] = self._rowids[: self._n]
        self._rowids = rowids

    def _append_tail(self, rowids: RowIds, prepared: Matrix) -> None:
        count = len(rowids)
        used = self._n - self._g
        if self._tail_lo + used + count > len(self._tail):
            capacity = max(used + count + (used + count) // 2, _MIN_TAIL_CAPACITY)
            tail = np.empty((capacity, self.dimension), dtype=np.float32)
            tail[:used] = self._tail[self._tail_lo : self._tail_lo + used]
            self._tail, self._tail_lo = tail, 0
        start = self._tail_lo + used
        self._tail[start : start + count] = prepared
        self._reserve_rowids(self._n + count)
        self._rowids[self._n : self._n + count] = rowids
        self._pos_of.update(zip(rowids.tolist(), range(self._n, self._n + count), strict=True))
        self._n += count

    # -- maintenance decisions ------------------------------------------------------------------
    def _wants_graph(self) -> bool:
        """Hysteresis: build above the threshold, drop only below half of it."""
        if self._graph is None:
            return self.live > self.exact_threshold
        return self.live >= self.exact_threshold // 2

    def _wants_compaction(self) -> bool:
        return self._dead >= 64 and self._dead > COMPACT_FRACTION * self._n

    def next_work(self) -> Work | None:
        """What background work this index wants next, if any (cheap; shared lock)."""
        if self._graph is None:
            if self._wants_graph():
                return "rebuild"
            return "compact" if self._wants_compaction() else None
        if not self._wants_graph():
            return "compact"  # drops the graph, keeping live vectors for exact search
        if self._wants_compaction() or self.wants_denser_graph():
            return "rebuild"
        if self._n - self._g > max(self._g, self.exact_threshold):
            return "rebuild"  # a bulk load: cheaper off to the side than in locked steps
        tail = self._n - self._g
        if tail and self._calibration_pending() and tail <= CALIBRATION_QUERIES:
            # The last tail vectors are kept out of the graph to measure it once the rest is
            # in: a graph measured at a smaller size would flatter itself.
            return "calibrate" if tail >= CALIBRATION_MIN_QUERIES else None
        return "grow" if tail else None

    def wants_denser_graph(self) -> bool:
        """The calibration says the data is hard for this graph, and a denser one is allowed."""
        done = self.calibration
        return (
            self.params.denser() != self.params
            and done is not None
            and done.ef >= HARD_EF
            and done.graph_size >= DENSE_MIN_GRAPH
        )

    def _calibration_due(self, size: int) -> bool:
        """Whether a graph of ``size`` vectors must be re-measured before it is trusted."""
        done = self.calibration
        if self.params.search_ef is not None:
            return False
        return done is None or not (
            done.graph_size / 2 <= size <= done.graph_size * CALIBRATION_GROWTH
        )

    def _calibration_pending(self) -> bool:
        """Due for the size the graph is growing to, and not yet measured at its current size
        (a tail large next to a small graph can leave it due after a measurement)."""
        done = self.calibration
        return self._calibration_due(self._n) and (done is None or done.graph_size != self._g)

    def held_out_queries(self) -> Matrix:
        """Up to ``CALIBRATION_QUERIES`` live tail vectors: queries the graph has not seen."""
        tail = np.flatnonzero(self._rowids[self._g : self._n] >= 0) + self._g
        rng = np.random.default_rng(len(tail))
        take = min(CALIBRATION_QUERIES, len(tail))
        return self._vectors_at(np.sort(rng.choice(tail, size=take, replace=False)))

    def maintain(self) -> bool:
        """Do every pending piece of work now, in this thread (no other thread may use the
        index meanwhile). Returns True if a graph was built."""
        built = False
        while (work := self.next_work()) is not None:
            if work == "rebuild":
                build = GraphBuild(self)
                while build.step():
                    pass
                build.complete()
                build.finish()
                built = True
            elif work == "grow":
                self.grow(self._n)
            elif work == "compact":
                self.compact()
            else:
                self.calibrate(self.held_out_queries())
        return built

    # -- maintenance steps ----------------------------------------------------------------------
    def grow(self, max_vectors: int) -> int:
        """Move up to ``max_vectors`` tail positions into the graph (exclusive lock)."""
        assert self._graph is not None
        count = min(max_vectors, self._n - self._g)
        if self._calibration_pending():  # keep the calibration queries out for now
            count = min(count, self._n - self._g - CALIBRATION_QUERIES)
        if count <= 0:
            return 0
        self._changed()
        lo = self._tail_lo
        _faiss.graph_add(self._graph, self._tail[lo : lo + count])
        self._g += count
        self._tail_lo += count
        if self._g == self._n:  # free the block the bulk load used
            self._tail = np.zeros((0, self.dimension), dtype=np.float32)
            self._tail_lo = 0
        return count

    def compact(self) -> None:
        """Renumber the live vectors into a fresh tail, dropping tombstones and any graph.

        Used only for collections on exact search (or leaving the graph), which are small: a
        collection with a graph is compacted by a background :class:`GraphBuild` instead.
        """
        keep = np.flatnonzero(self._rowids[: self._n] >= 0)
        rowids = self._rowids[keep].copy()
        vectors = self._vectors_at(keep)
        self._changed()
        self._graph, self._g = None, 0
        self._tail = np.zeros((0, self.dimension), dtype=np.float32)
        self._tail_lo, self._n, self._dead = 0, 0, 0
        self._rowids = np.zeros(0, dtype=np.int64)
        self._pos_of = {}
        self.calibration = None
        self.graph_source = None
        self._append_tail(rowids, vectors)

    def calibrate(self, queries: Matrix, guard: Guard = nullcontext) -> Calibration:
        """Measure recall@10 of the graph against exact search for ``queries`` (vectors of
        the collection that are not in the graph) and keep the smallest ``ef`` reaching
        :func:`target_recall`; choose exact search where the graph would cost more than a scan.

        Each step runs under ``guard()`` (the store's shared lock), so writers wait for one
        step at most, never for the whole calibration.
        """
        with guard():
            assert self._graph is not None
            g = self._g
            in_graph = int((self._rowids[:g] >= 0).sum())
        k = min(CALIBRATION_K, in_graph)
        if k == 0 or len(queries) == 0:  # nothing to measure with: keep what we knew
            known = self.calibration
            result = Calibration(UNCALIBRATED_EF, 0.0, False, g)
            self.calibration = result if known is None else replace(known, graph_size=g)
            return self.calibration
        kth = self._scan_graph(queries, g, k, guard)[:, k - 1]
        slack = 1e-6 * np.maximum(np.abs(kth), 1e-12)
        best = (-1.0, EF_LADDER[-1])
        reached = False
        for ef in EF_LADDER:
            with guard():
                bits = self._bitmaps(self._rowids[: self._g] >= 0)[0]
                scores, _ = self._graph_scores(queries, k, ef, bits)
            recall = float((scores <= (kth + slack)[:, None]).mean())
            if recall > best[0]:
                best = (recall, ef)
            if recall >= target_recall(in_graph):
                reached = True
                break
        recall, ef = best
        graph_cost = GRAPH_COST_PER_EF_LINK * ef * 2 * self.params.m
        # Past the ladder, still prefer the graph when a scan costs far more than it.
        use_graph = graph_cost < in_graph if reached else 8 * graph_cost < in_graph
        result = Calibration(ef, recall, use_graph, g)
        self.calibration = result
        return result

    def _scan_graph(self, queries: Matrix, g: int, k: int, guard: Guard) -> Distances:
        """Exact k-NN scores over the live positions ``[0, g)``, a chunk per ``guard()``."""
        best = np.full((len(queries), 0), np.inf, dtype=np.float32)
        for start in range(0, g, _SCAN_CHUNK):
            stop = min(g, start + _SCAN_CHUNK)
            with guard():
                bits = np.packbits(self._rowids[start:stop] >= 0, bitorder="little")
                block = self._graph_block()[start:stop]
                scores, labels = _faiss.exact_knn(queries, block, k, self.metric, bits)
            best = np.concatenate([best, self._smaller_is_better(scores, labels)], axis=1)
            best = np.sort(best, axis=1)[:, :k]
        return best

    # -- persistence ----------------------------------------------------------------------------
    def graph_snapshot(self) -> GraphSnapshot | None:
        """A copy of the graph's links and position map, or None without a graph (shared lock:
        the copy is a memcpy; writing it out happens after the lock is released)."""
        if self._graph is None:
            return None
        arrays, entry_point, max_level = _faiss.export_graph(self._graph)
        rowids = self._rowids[: self._g].copy()
        dead = np.flatnonzero(rowids < 0)
        return GraphSnapshot(
            arrays=arrays,
            entry_point=entry_point,
            max_level=max_level,
            rowids=rowids,
            dead_vectors=self._graph_block()[dead].copy(),
            calibration=self.calibration,
        )

    def restore(self, saved: GraphSnapshot, pages: Iterable[tuple[RowIds, Vectors]]) -> bool:
        """Adopt a saved graph on an empty index, given SQLite's vectors as ``pages`` of
        ``(rowids, vectors)`` in ascending rowid order. Each page is written straight into the
        graph's storage (one copy of the vectors, no second array of them in memory); SQLite
        rowids the graph lacks become tail. Returns False, leaving the index empty, unless
        every live position of the graph names a distinct SQLite rowid.
        """
        assert self._n == 0, "restore needs an empty index"
        g = len(saved.rowids)
        live_mask = saved.rowids >= 0
        live_positions = np.flatnonzero(live_mask)
        live_rowids = saved.rowids[live_positions]
        if g == 0 or g - len(live_positions) != len(saved.dead_vectors):
            return False
        order = np.argsort(live_rowids, kind="stable")
        by_rowid, position_of = live_rowids[order], live_positions[order]
        if len(by_rowid) > 1 and not (np.diff(by_rowid) > 0).all():  # a rowid at two positions
            return False
        extra_rowids: list[RowIds] = []
        extra_vectors: list[Matrix] = []

        def fill(storage: Matrix) -> None:
            """SQLite's pages into the graph's storage at their positions; ValueError unless
            every live position was written."""
            storage[np.flatnonzero(~live_mask)] = saved.dead_vectors  # normalised if cosine
            written = 0
            for rowids, vectors in pages:
                self._check_dimension(vectors)
                at = np.searchsorted(by_rowid, rowids)
                found = at < len(by_rowid)
                found[found] = by_rowid[at[found]] == rowids[found]
                storage[position_of[at[found]]] = self._prepare(vectors[found])
                written += int(found.sum())
                if not found.all():
                    extra_rowids.append(rowids[~found])
                    extra_vectors.append(self._prepare(vectors[~found]))
            if written != len(by_rowid):
                raise ValueError("the saved graph holds rowids SQLite does not have")

        try:
            graph = _faiss.import_graph(
                self.dimension,
                self.params.m,
                self.params.construction_ef,
                self.metric,
                saved.arrays,
                saved.entry_point,
                saved.max_level,
                g,
                fill,
            )
        except (ValueError, RuntimeError):
            return False
        self._graph, self._g = graph, g
        self._reserve_rowids(g)
        self._rowids[:g] = saved.rowids
        self._n = g
        self._dead = g - len(live_rowids)
        self._pos_of = dict(zip(live_rowids.tolist(), live_positions.tolist(), strict=True))
        if extra_rowids:
            self._append_tail(np.concatenate(extra_rowids), np.concatenate(extra_vectors))
        self.calibration = saved.calibration
        self.graph_source = "file"
        self._changed()
        return True

    def _check_dimension(self, vectors: Vectors) -> None:
        if vectors.ndim != 2 or vectors.shape[1] != self.dimension:
            raise InvalidDimensionException(
                f"Embedding dimension {vectors.shape[-1]} does not match collection "
                f"dimensionality {self.dimension}",
                field="embeddings",
            )

    # -- reads (shared) -------------------------------------------------------------------------
    def _graph_block(self) -> Matrix:
        if self._graph is None:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return _faiss.graph_vectors(self._graph)

    def _tail_block(self) -> Matrix:
        return self._tail[self._tail_lo : self._tail_lo + self._n - self._g]

    def _vectors_at(self, positions: npt.NDArray[np.integer]) -> Matrix:
        """Stored (search-space) vectors at ``positions`` of any shape, as a new array."""
        flat = np.asarray(positions, dtype=np.int64).reshape(-1)
        out = np.empty((len(flat), self.dimension), dtype=np.float32)
        in_graph = flat < self._g
        if in_graph.any():
            out[in_graph] = self._graph_block()[flat[in_graph]]
        if not in_graph.all():
            out[~in_graph] = self._tail_block()[flat[~in_graph] - self._g]
        return out.reshape(*np.shape(positions), self.dimension)

    def _live_bitmaps(self) -> tuple[Bitmap | None, Bitmap | None]:
        """Bitmaps of live positions for the graph and the tail; None where all are live."""
        if self._live_bits is None:
            mask = self._rowids[: self._n] >= 0
            self._live_bits = self._bitmaps(mask)
        return self._live_bits

    def _bitmaps(self, mask: npt.NDArray[np.bool_]) -> tuple[Bitmap | None, Bitmap | None]:
        graph, tail = mask[: self._g], mask[self._g : self._n]
        return (
            None if graph.all() else np.packbits(graph, bitorder="little"),
            None if tail.all() else np.packbits(tail, bitorder="little"),
        )

    def _mask_of(self, allowed: RowIds) -> npt.NDArray[np.bool_]:
        """Live positions whose rowid is in ``allowed``."""
        mask = np.zeros(self._n, dtype=bool)
        if len(allowed) * 16 < self._n:
            found = [self._pos_of.get(r) for r in allowed.tolist()]
            mask[[p for p in found if p is not None]] = True
        else:
            mask = np.isin(self._rowids[: self._n], allowed)
        return mask

    def _smaller_is_better(self, scores: Matrix, labels: npt.NDArray[np.int64]) -> Distances:
        ranked = scores if self.metric == "l2" else -scores
        out: Distances = np.where(labels >= 0, ranked, np.inf).astype(np.float32)
        return out

    def _graph_scores(
        self, queries: Matrix, k: int, ef: int, bitmap: Bitmap | None, parallel: bool = False
    ) -> tuple[Distances, npt.NDArray[np.int64]]:
        assert self._graph is not None
        scores, labels = _faiss.graph_search(self._graph, queries, k, ef, bitmap, parallel)
        return self._smaller_is_better(scores, labels), labels

    def _scan(
        self,
        queries: Matrix,
        k: int,
        bits: tuple[Bitmap | None, Bitmap | None],
        graph_too: bool,
    ) -> tuple[Distances, npt.NDArray[np.int64]]:
        """Exact search over the tail, and over the graph's positions if ``graph_too``."""
        parts = []
        blocks = [(self._tail_block(), bits[1], self._g)]
        if graph_too:
            blocks.append((self._graph_block(), bits[0], 0))
        for block, bitmap, offset in blocks:
            if len(block) == 0:
                continue
            scores, labels = _faiss.exact_knn(queries, block, k, self.metric, bitmap, parallel=True)
            ranked = self._smaller_is_better(scores, labels)
            parts.append((ranked, np.where(labels >= 0, labels + offset, -1)))
        return _merge(parts, len(queries), k)

    def search(self, queries: Vectors, k: int, allowed: RowIds | None = None) -> list[Hit]:
        """Nearest ``k`` live vectors per query row, restricted to ``allowed`` rowids if given.

        Returns per query ``(rowids int64, distances float32)``, nearest first, of length
        ``min(k, number of admissible vectors)``, with Chroma's distances.
        """
        self._check_dimension(queries)
        q = self._prepare(queries)
        if allowed is None:
            matches = self.live
            bits = self._live_bitmaps()
        else:
            mask = self._mask_of(allowed)
            matches = int(mask.sum())
            bits = self._bitmaps(mask)
        k = min(k, matches)
        if k == 0:
            empty = (np.zeros(0, np.int64), np.zeros(0, np.float32))
            return [empty for _ in range(len(q))]
        _faiss.use_threads_for(len(q))
        selective = matches <= max(self.exact_threshold, SELECTIVE_FRACTION * self.live)
        if not self.uses_hnsw or (allowed is not None and selective):
            ranked, labels = self._scan(q, k, bits, graph_too=True)
            return self._finish(queries, q, labels, k)
        ef = self.search_ef
        if self.params.search_ef is None:
            ef = max(ef, math.ceil(ef * k / CALIBRATION_K))
        if matches < self.live:
            ef = int(ef * self.live / matches)
        ef = min(max(ef, k), MAX_EF)
        ranked, labels = self._graph_scores(q, k, ef, bits[0], parallel=True)
        if self._n > self._g:  # the tail, not in the graph yet
            tail = self._scan(q, k, bits, graph_too=False)
            ranked, labels = _merge([(ranked, labels), tail], len(q), k)
        short = np.flatnonzero((labels >= 0).sum(axis=1) < k)
        if len(short):  # a filter the graph could not satisfy: scan for those queries
            _, exact = self._scan(q[short], k, bits, graph_too=True)
            labels[short] = exact
        return self._finish(queries, q, labels, k)

    def _finish(
        self, queries: Vectors, q: Matrix, labels: npt.NDArray[np.int64], k: int
    ) -> list[Hit]:
        """Chroma's distances for the found positions, computed directly (not from FAISS's
        norm expansion), nearest first."""
        safe = np.where(labels >= 0, labels, 0)
        x = self._vectors_at(safe)
        if self.space == "l2":
            diff = x - np.asarray(queries, dtype=np.float32)[:, None, :]
            dist = np.einsum("qkd,qkd->qk", diff, diff)
        else:
            dist = 1.0 - np.einsum("qkd,qd->qk", x, q)
        dist = np.where(labels >= 0, dist, np.inf).astype(np.float32)
        order = np.argsort(dist, axis=1, kind="stable")[:, :k]
        best = np.take_along_axis(labels, order, axis=1)
        best_dist = np.take_along_axis(dist, order, axis=1)
        hits: list[Hit] = []
        for row in range(len(q)):
            valid = best[row] >= 0
            positions = best[row][valid]
            hits.append((self._rowids[positions], best_dist[row][valid]))
        return hits


def _merge(
    parts: list[tuple[Distances, npt.NDArray[np.int64]]], nq: int, k: int
) -> tuple[Distances, npt.NDArray[np.int64]]:
    """Best ``k`` of several (scores, labels) result sets, smaller score first."""
    if not parts:
        return np.full((nq, k), np.inf, np.float32), np.full((nq, k), -1, np.int64)
    if len(parts) == 1:
        return parts[0]
    scores = np.concatenate([p[0] for p in parts], axis=1)
    labels = np.concatenate([p[1] for p in parts], axis=1)
    order = np.argsort(scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(labels, order, axis=1)


@dataclass
class GraphBuild:
    """A new graph over the live vectors of ``source``, built off to the side.

    :meth:`step` copies a chunk of the source's live vectors (under the caller's shared lock)
    and inserts it into the new graph (no lock: nobody else sees it). A random sample is held
    out of the graph until :meth:`complete` has used it to calibrate the search breadth.
    :meth:`finish`, under the exclusive lock, replays what changed in the source meanwhile
    (tombstones, appended positions) and makes the source adopt the new graph. The source keeps
    answering queries, exactly, until then; memory peaks at two copies of the vectors.
    """

    source: VectorIndex
    chunk: int = 4096
    target: VectorIndex = field(init=False)
    scanned: int = 0
    end: int = 0
    origin: list[Positions] = field(default_factory=list)
    held: Positions | None = None
    held_rowids: RowIds = field(default_factory=lambda: np.zeros(0, np.int64))
    held_vectors: Matrix | None = None

    def __post_init__(self) -> None:
        s = self.source
        params = s.params.denser() if s.wants_denser_graph() else s.params
        self.target = VectorIndex(s.dimension, s.space, params, s.exact_threshold)
        self.target._graph = _faiss.new_graph(
            s.dimension, params.m, params.construction_ef, s.metric
        )

    def _hold_out(self) -> None:
        """Pick the calibration sample among the source's live positions (shared lock)."""
        live = np.flatnonzero(self.source._rowids[: self.source._n] >= 0)
        take = 0 if self.source.params.search_ef is not None else CALIBRATION_QUERIES
        take = min(take, len(live) // 4)
        rng = np.random.default_rng(len(live))
        self.held = np.sort(rng.choice(live, size=take, replace=False))
        self.held_rowids = self.source._rowids[self.held].copy()
        self.held_vectors = self.source._vectors_at(self.held)

    def step(self, guard: Guard = nullcontext) -> bool:
        """Insert the next chunk; False once every position that existed at the first step is
        in (later ones are caught up by :meth:`finish`, so a steady ingest cannot keep a build
        from ending)."""
        with guard():
            if self.held is None:
                self._hold_out()
                self.end = self.source._n
            assert self.held is not None
            stop = min(self.end, self.scanned + self.chunk)
            if stop <= self.scanned:
                return False
            rowids = self.source._rowids[self.scanned : stop]
            keep = np.flatnonzero(rowids >= 0) + self.scanned
            keep = keep[~np.isin(keep, self.held)]
            vectors = self.source._vectors_at(keep)
            rowids = self.source._rowids[keep].copy()
            self.scanned = stop
        self._insert(rowids, vectors, keep)
        return True

    def complete(self) -> None:
        """Calibrate on the held-out sample, then insert it (no lock: the graph is private)."""
        if self.held is None or self.held_vectors is None:
            return
        if len(self.held):
            self.target.calibrate(self.held_vectors)
        # A held-out record re-embedded meanwhile was copied again, newer: that copy wins.
        self._insert(self.held_rowids, self.held_vectors, self.held, newest=False)
        self.held_vectors = None

    def _insert(
        self, rowids: RowIds, vectors: Matrix, origin: Positions, newest: bool = True
    ) -> None:
        """Append to the private graph; ``origin`` are the source positions they came from.
        Positions copied later are newer versions of a record, so they take its rowid unless
        ``newest`` is False."""
        t = self.target
        assert t._graph is not None and t._g == t._n
        if len(rowids) == 0:
            return
        _faiss.graph_add(t._graph, vectors)
        t._reserve_rowids(t._n + len(rowids))
        t._rowids[t._n : t._n + len(rowids)] = rowids
        placed = zip(rowids.tolist(), range(t._n, t._n + len(rowids)), strict=True)
        if newest:
            t._pos_of.update(placed)
        else:
            for rowid, pos in placed:
                t._pos_of.setdefault(rowid, pos)
        t._n += len(rowids)
        t._g = t._n
        self.origin.append(origin)

    def finish(self) -> None:
        """Catch up with the source and swap the graph in (exclusive lock)."""
        s, t = self.source, self.target
        origin = np.concatenate(self.origin) if self.origin else np.zeros(0, np.int64)
        gone = np.flatnonzero(s._rowids[origin] < 0)  # tombstoned while we built
        for pos, rowid in zip(gone.tolist(), t._rowids[gone].tolist(), strict=True):
            if t._pos_of.get(rowid) == pos:
                del t._pos_of[rowid]
        t._rowids[gone] = -1
        t._dead = len(gone)
        later = np.arange(self.scanned, s._n)
        later = later[s._rowids[later] >= 0]
        if len(later):
            t._append_tail(s._rowids[later].copy(), s._vectors_at(later))
        VectorIndex.graph_builds += 1
        t.graph_source = "built"
        version = s.version
        s.__dict__.update(t.__dict__)
        s.version = version
        s._changed()
