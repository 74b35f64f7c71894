"""Per-collection k-NN index: every FAISS call of the package lives here.

The index is derived from SQLite and never trusted over it. Vectors sit at append-only
*positions*: a new or re-embedded record gets the next position, and its previous position is
tombstoned (``rowids[pos] = -1``). HNSW cannot remove points, so tombstoned positions stay in
the graph and are excluded at search time by an ``IDSelectorBitmap``; an updated vector is
findable at once at its new position. When tombstones exceed ``COMPACT_FRACTION`` of the
positions, :meth:`VectorIndex.maintain` renumbers the live vectors and rebuilds the graph.

Search is exact (numpy BLAS over the candidate vectors) while a collection holds at most
``exact_threshold`` live vectors, and for filtered queries whose matches are few; otherwise
HNSW. In every case the returned candidates' distances are recomputed in float64 from the stored
vectors with Chroma's definitions (squared L2, ``1 - dot``, ``1 - cos``), then sorted.

Not thread-safe by itself: the store calls :meth:`search` under a shared lock and
:meth:`apply` / :meth:`maintain` under an exclusive one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Literal, cast

import faiss
import numpy as np
import numpy.typing as npt

from chroma_grpc.store.errors import InvalidDimensionException
from chroma_grpc.store.types import DistanceSpace, MetadataValue, Vectors

EXACT_SEARCH_THRESHOLD = 10_000
COMPACT_FRACTION = 0.3
SELECTIVE_FRACTION = 0.05
DEFAULT_M = 32
DEFAULT_CONSTRUCTION_EF = 200
DEFAULT_SEARCH_EF = 200
_RERANK_MARGIN = 8
_MAX_FILTERED_EF = 4096
_CHUNK_ELEMENTS = 1 << 22

RowIds = npt.NDArray[np.int64]
Distances = npt.NDArray[np.float32]
Hit = tuple[RowIds, Distances]


@dataclass(frozen=True)
class HnswParams:
    """Graph parameters; a key present in collection metadata wins over our stronger default."""

    m: int = DEFAULT_M
    construction_ef: int = DEFAULT_CONSTRUCTION_EF
    search_ef: int = DEFAULT_SEARCH_EF

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, MetadataValue] | None) -> HnswParams:
        md = metadata or {}
        return cls(
            m=int(md.get("hnsw:M", DEFAULT_M)),
            construction_ef=int(md.get("hnsw:construction_ef", DEFAULT_CONSTRUCTION_EF)),
            search_ef=int(md.get("hnsw:search_ef", DEFAULT_SEARCH_EF)),
        )


def _normalize(vectors: Vectors) -> Vectors:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    normalized: Vectors = (vectors / np.maximum(norms, 1e-30)).astype(np.float32)
    return normalized


class VectorIndex:
    """Vectors of one collection, shape ``(positions, dimension)``, float32, with rowid labels.

    ``dirty`` is set by every change and cleared by whoever persists the graph;
    ``graph_source`` says whether the current graph was built here or restored from a file, and
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
        self._vectors: Vectors = np.zeros((0, dimension), dtype=np.float32)
        self._search: Vectors = self._vectors
        self._rowids: RowIds = np.zeros(0, dtype=np.int64)
        self._sq_norms: npt.NDArray[np.float32] = np.zeros(0, dtype=np.float32)
        self._n = 0
        self._pos_of: dict[int, int] = {}
        self._hnsw: faiss.IndexHNSWFlat | None = None
        self._bitmap: npt.NDArray[np.uint8] | None = None
        self.dirty = False
        self.graph_source: Literal["built", "file"] | None = None

    @property
    def live(self) -> int:
        return len(self._pos_of)

    @property
    def uses_hnsw(self) -> bool:
        return self._hnsw is not None

    # -- writes (exclusive) ---------------------------------------------------------------------
    def apply(self, removed: RowIds, added: RowIds, vectors: Vectors | None) -> None:
        """Tombstone ``removed`` rowids, then append ``vectors`` (shape (len(added), d))."""
        self._bitmap = None
        self.dirty = True
        dead = [self._pos_of.pop(r) for r in removed.tolist() if r in self._pos_of]
        self._rowids[dead] = -1
        if vectors is None or len(added) == 0:
            return
        self._check_dimension(vectors)
        start, end = self._n, self._n + len(added)
        self._reserve(end)
        self._vectors[start:end] = vectors
        self._sq_norms[start:end] = np.einsum("ij,ij->i", vectors, vectors)
        if self.space == "cosine":
            self._search[start:end] = _normalize(vectors)
        self._rowids[start:end] = added
        self._pos_of.update(zip(added.tolist(), range(start, end), strict=True))
        self._n = end
        if self._hnsw is not None:
            self._hnsw.add(self._search[start:end])

    def _reserve(self, size: int) -> None:
        if size <= len(self._rowids):
            return
        capacity = max(size, 2 * len(self._rowids), 64)
        vectors = np.zeros((capacity, self.dimension), dtype=np.float32)
        vectors[: self._n] = self._vectors[: self._n]
        rowids = np.full(capacity, -1, dtype=np.int64)
        rowids[: self._n] = self._rowids[: self._n]
        sq_norms = np.zeros(capacity, dtype=np.float32)
        sq_norms[: self._n] = self._sq_norms[: self._n]
        self._sq_norms = sq_norms
        if self.space == "cosine":
            search = np.zeros_like(vectors)
            search[: self._n] = self._search[: self._n]
            self._search = search
        else:
            self._search = vectors
        self._vectors, self._rowids = vectors, rowids

    def _wants_compaction(self) -> bool:
        tombstones = self._n - self.live
        return tombstones >= 64 and tombstones > COMPACT_FRACTION * self._n

    def _wants_graph(self) -> bool:
        """Hysteresis: build above the threshold, drop only below half of it."""
        if self._hnsw is None:
            return self.live > self.exact_threshold
        return self.live >= self.exact_threshold // 2

    def needs_maintenance(self) -> bool:
        """True when tombstones should be compacted or the graph built or dropped."""
        return self._wants_compaction() or self._wants_graph() != (self._hnsw is not None)

    def maintain(self) -> bool:
        """Compact tombstones away (renumbering positions) and build or drop HNSW.

        Returns True when a graph was built: the moment worth persisting it.
        """
        want_graph = self._wants_graph()
        built = False
        if self._wants_compaction():
            keep = np.flatnonzero(self._rowids[: self._n] >= 0)
            rowids, vectors = self._rowids[keep], self._vectors[keep]
            self._n, self._pos_of, self._hnsw = 0, {}, None
            self._rowids = np.zeros(0, dtype=np.int64)
            self.apply(np.zeros(0, dtype=np.int64), rowids, vectors)
        if not want_graph:
            self._hnsw = None
            self.graph_source = None
        elif self._hnsw is None:
            metric = faiss.METRIC_L2 if self.space == "l2" else faiss.METRIC_INNER_PRODUCT
            index = faiss.IndexHNSWFlat(self.dimension, self.params.m, metric)
            index.hnsw.efConstruction = self.params.construction_ef
            index.add(self._search[: self._n])
            self._hnsw = index
            self.graph_source = "built"
            VectorIndex.graph_builds += 1
            built = True
        self._bitmap = None
        self.dirty = True
        return built

    # -- persistence (exclusive to restore, shared to snapshot) ---------------------------------
    def graph_snapshot(self) -> tuple[faiss.IndexHNSWFlat, RowIds] | None:
        """The graph and its position -> rowid map (-1 = tombstone), or None in exact mode.

        Both stay valid while the caller holds the collection lock, shared or exclusive.
        """
        if self._hnsw is None:
            return None
        return self._hnsw, self._rowids[: self._n]

    def restore(
        self,
        graph: faiss.IndexHNSWFlat,
        position_rowids: RowIds,
        rowids: RowIds,
        vectors: Vectors,
    ) -> bool:
        """Adopt a saved graph on an empty index, given SQLite's ``rowids`` (ascending) and
        ``vectors``. Returns False, leaving the index empty, unless the saved live rowids are
        exactly SQLite's and the graph holds exactly the vectors a build would give it.
        """
        assert self._n == 0, "restore needs an empty index"
        n = len(position_rowids)
        live_pos = np.flatnonzero(position_rowids >= 0)
        order = np.argsort(position_rowids[live_pos], kind="stable")
        placed = live_pos[order]
        if graph.ntotal != n or graph.d != self.dimension or len(placed) != len(rowids):
            return False
        if not np.array_equal(position_rowids[placed], rowids):
            return False
        self._check_dimension(vectors)
        search = _normalize(vectors) if self.space == "cosine" else vectors
        flat = cast(faiss.IndexFlat, faiss.downcast_index(graph.storage))
        stored = faiss.rev_swig_ptr(flat.get_xb(), n * self.dimension).reshape(n, self.dimension)
        if not np.array_equal(stored[placed], search):
            return False
        self._reserve(n)
        self._vectors[placed] = vectors
        self._sq_norms[placed] = np.einsum("ij,ij->i", vectors, vectors)
        if self.space == "cosine":
            self._search[placed] = search
        self._rowids[:n] = position_rowids
        self._pos_of = dict(zip(rowids.tolist(), placed.tolist(), strict=True))
        self._n = n
        graph.hnsw.efConstruction = self.params.construction_ef
        self._hnsw = graph
        self.graph_source = "file"
        self.dirty = False
        return True

    def _check_dimension(self, vectors: Vectors) -> None:
        if vectors.ndim != 2 or vectors.shape[1] != self.dimension:
            raise InvalidDimensionException(
                f"Embedding dimension {vectors.shape[-1]} does not match collection "
                f"dimensionality {self.dimension}",
                field="embeddings",
            )

    # -- reads (shared) -------------------------------------------------------------------------
    def search(self, queries: Vectors, k: int, allowed: RowIds | None = None) -> list[Hit]:
        """Nearest ``k`` live vectors per query row, restricted to ``allowed`` rowids if given.

        Returns per query ``(rowids int64, distances float32)``, nearest first, of length
        ``min(k, number of admissible vectors)``.
        """
        self._check_dimension(queries)
        mask = self._rowids[: self._n] >= 0
        if allowed is not None:
            mask &= np.isin(self._rowids[: self._n], allowed)
        matches = int(mask.sum()) if allowed is not None else self.live
        k = min(k, matches)
        if k == 0:
            empty = (np.zeros(0, np.int64), np.zeros(0, np.float32))
            return [empty for _ in range(len(queries))]
        q_search = _normalize(queries) if self.space == "cosine" else queries
        selective = matches <= max(self.exact_threshold, SELECTIVE_FRACTION * self.live)
        if self._hnsw is None or (allowed is not None and selective):
            return self._exact(queries, q_search, k, np.flatnonzero(mask))
        return self._hnsw_search(queries, q_search, k, mask, matches)

    def _exact(
        self, queries: Vectors, q_search: Vectors, k: int, cand: npt.NDArray[np.intp]
    ) -> list[Hit]:
        """Brute force over candidate positions, in query chunks bounded in memory."""
        # No tombstones and no filter: a view, not a copy of every vector.
        base = self._search[: self._n] if len(cand) == self._n else self._search[cand]
        if self.space == "l2":
            norms = self._sq_norms
            sq_norms = norms[: self._n] if len(cand) == self._n else norms[cand]
        else:
            sq_norms = None
        take = min(len(cand), k + _RERANK_MARGIN)
        hits: list[Hit] = []
        step = max(1, _CHUNK_ELEMENTS // max(len(cand), take * self.dimension, 1))
        for start in range(0, len(queries), step):
            q = q_search[start : start + step]
            scores = q @ base.T
            scores = sq_norms - 2 * scores if sq_norms is not None else -scores
            if take < len(cand):
                top = np.argpartition(scores, take - 1, axis=1)[:, :take]
            else:
                top = np.broadcast_to(np.arange(len(cand)), (len(q), len(cand)))
            hits += self._rerank(queries[start : start + step], cand[top], k)
        return hits

    def _hnsw_search(
        self, queries: Vectors, q_search: Vectors, k: int, mask: npt.NDArray[np.bool_], matches: int
    ) -> list[Hit]:
        assert self._hnsw is not None
        # The live-only bitmap is cached between writes; a racing reader recomputes the same one.
        bitmap = self._bitmap if matches == self.live else None
        if bitmap is None:
            bitmap = np.packbits(mask, bitorder="little")
            if matches == self.live:
                self._bitmap = bitmap
        take = min(matches, k + _RERANK_MARGIN)
        ef = max(self.params.search_ef, take)
        if matches < self.live:
            ef = max(ef, min(_MAX_FILTERED_EF, int(take * self.live / matches)))
        params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
        params.efSearch = ef
        selector = faiss.IDSelectorBitmap(self._n, faiss.swig_ptr(bitmap))
        params.sel = selector
        _, labels = self._hnsw.search(np.ascontiguousarray(q_search), take, params=params)
        hits: list[Hit] = []
        fallback: list[int] = []
        for row, found in enumerate(labels):
            positions = found[found >= 0]
            if len(positions) < k:
                fallback.append(row)
                hits.append((np.zeros(0, np.int64), np.zeros(0, np.float32)))
                continue
            hits.append(self._rerank(queries[row : row + 1], positions[None, :], k)[0])
        if fallback:
            exact = self._exact(queries[fallback], q_search[fallback], k, np.flatnonzero(mask))
            for row, hit in zip(fallback, exact, strict=True):
                hits[row] = hit
        return hits

    def _rerank(self, queries: Vectors, positions: npt.NDArray[np.intp], k: int) -> list[Hit]:
        """Chroma's distances in float64 for ``positions`` (shape (nq, c)); keep the best k."""
        q = queries.astype(np.float64)
        x = self._vectors[positions].astype(np.float64)
        if self.space == "l2":
            dist = ((x - q[:, None, :]) ** 2).sum(axis=2)
        else:
            dots = np.einsum("qcd,qd->qc", x, q)
            if self.space == "ip":
                dist = 1.0 - dots
            else:
                x_norm = np.linalg.norm(x, axis=2) + 1e-30
                q_norm = np.linalg.norm(q, axis=1)[:, None] + 1e-30
                dist = 1.0 - dots / (x_norm * q_norm)
        order = np.argsort(dist, axis=1, kind="stable")[:, :k]
        best = np.take_along_axis(positions, order, axis=1)
        best_dist = np.take_along_axis(dist, order, axis=1).astype(np.float32)
        return [(self._rowids[best[i]], best_dist[i]) for i in range(len(q))]
