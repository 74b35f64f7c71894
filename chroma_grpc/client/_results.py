"""Store results -> chromadb 0.4.24's result dicts.

Every key is present; a field that was not asked for is ``None`` (even when the store sent it,
e.g. ``uris`` fetched only to load ``data``). Embeddings and distances become lists of Python
floats, which is what chromadb 0.4.x returns (numpy arrays only from 0.5.11).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from chroma_grpc.client.types import DataLoader, GetResult, Include, QueryResult
from chroma_grpc.store.types import Neighbours, Records, Vectors

__all__ = ["get_result", "query_result"]

T = TypeVar("T")


def _pick(include: Include, field: str, value: T | None) -> T | None:
    return value if field in include else None


def get_result(result: Records, include: Include, data_loader: DataLoader | None) -> GetResult:
    """One flat list per field, aligned with ``ids``."""
    data = None
    if "data" in include and data_loader is not None and result.uris is not None:
        data = data_loader(result.uris)
    return GetResult(
        ids=list(result.ids),
        embeddings=_pick(include, "embeddings", _rows(result.embeddings)),
        documents=_pick(include, "documents", result.documents),
        uris=_pick(include, "uris", result.uris),
        data=data,
        metadatas=_pick(include, "metadatas", result.metadatas),
    )


def _rows(vectors: Vectors | None) -> list[list[float]]:
    return [] if vectors is None else [list(row) for row in vectors.tolist()]


def query_result(
    results: Sequence[Neighbours], include: Include, data_loader: DataLoader | None
) -> QueryResult:
    """One inner list per query, nearest first."""
    data = None
    if "data" in include and data_loader is not None:
        data = [data_loader(result.uris or []) for result in results]
    return QueryResult(
        ids=[list(result.ids) for result in results],
        embeddings=_pick(include, "embeddings", [_rows(r.embeddings) for r in results]),
        documents=_pick(include, "documents", [list(r.documents or []) for r in results]),
        uris=_pick(include, "uris", [list(r.uris or []) for r in results]),
        data=data,
        metadatas=_pick(include, "metadatas", [list(r.metadatas or []) for r in results]),
        distances=_pick(
            include,
            "distances",
            [[] if r.distances is None else list(r.distances.tolist()) for r in results],
        ),
    )
