"""Plain data types the store speaks: the one vocabulary shared by the server and the client.

Nothing here imports gRPC or protobuf. Vectors are ``numpy.float32`` arrays of shape
``(count, dimension)``; filters use Chroma's own dict grammar (``{"$and": [...]}``), validated
by :mod:`chroma_grpc.store.filters` before use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union

import numpy as np
import numpy.typing as npt

MetadataValue = Union[str, int, float, bool]
Metadata = Mapping[str, MetadataValue]
# Chroma's `where` / `where_document` dicts, e.g. {"$and": [{"a": 1}, {"b": {"$gt": 2}}]}.
Where = Mapping[str, Any]
WhereDocument = Mapping[str, Any]
Vectors = npt.NDArray[np.float32]
# Turns texts into one float32 row each; the server hands the store its default model.
TextEmbedder = Callable[[Sequence[str]], Vectors]

# The fields a read can return besides ids (Chroma's ``include`` minus the client-side "data").
ResultField = Literal["embeddings", "documents", "metadatas", "distances", "uris"]
INCLUDE_FIELDS: tuple[ResultField, ...] = (
    "embeddings",
    "documents",
    "metadatas",
    "distances",
    "uris",
)
ResultFields = frozenset[ResultField]
DEFAULT_GET_INCLUDE: ResultFields = frozenset({"metadatas", "documents"})
DEFAULT_QUERY_INCLUDE: ResultFields = frozenset({"metadatas", "documents", "distances"})
PEEK_INCLUDE: ResultFields = frozenset({"embeddings", "metadatas", "documents"})

DistanceSpace = Literal["l2", "ip", "cosine"]
DEFAULT_TENANT = "default_tenant"
DEFAULT_DATABASE = "default_database"


@dataclass(frozen=True)
class TenantInfo:
    """A tenant (chromadb's ``Tenant``): a name; its databases hold the collections."""

    name: str


@dataclass(frozen=True)
class DatabaseInfo:
    """A database of a tenant (chromadb's ``Database``); ``id`` is a UUID string."""

    id: str
    name: str
    tenant: str


@dataclass(frozen=True)
class CollectionInfo:
    """A collection as stored. ``dimension`` is None until the first embedding arrives."""

    id: str
    name: str
    metadata: dict[str, MetadataValue] | None
    dimension: int | None = None
    tenant: str = DEFAULT_TENANT
    database: str = DEFAULT_DATABASE


@dataclass
class RecordBatch:
    """Records to write, column by column; every present column has one entry per id.

    ``embeddings`` has shape ``(len(ids), dimension)`` and dtype float32. A ``None`` column
    means "not given" (for update: leave unchanged); a ``None`` entry inside a column means
    "no metadata / no document / no uri" for that record; an update leaves the stored value
    then, unless the column is in ``set_columns``: then the write sets that column on every
    record and a None entry removes the stored document / uri (chromadb's ``documents=[None]``,
    which the client API always means).
    """

    ids: list[str]
    embeddings: Vectors | None = None
    metadatas: list[Metadata | None] | None = None
    documents: list[str | None] | None = None
    uris: list[str | None] | None = None
    set_columns: frozenset[str] = frozenset()

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Records:
    """What a get or peek returns: records in ascending id order; a field not included is None."""

    ids: list[str]
    embeddings: Vectors | None = None
    metadatas: list[dict[str, MetadataValue] | None] | None = None
    documents: list[str | None] | None = None
    uris: list[str | None] | None = None


@dataclass
class Neighbours:
    """The nearest records to one query vector, nearest first; a field not included is None.

    ``distances`` are Chroma's: squared L2, ``1 - dot`` (ip) or ``1 - cos`` (cosine).
    """

    ids: list[str]
    distances: npt.NDArray[np.float32] | None = None
    embeddings: Vectors | None = None
    metadatas: list[dict[str, MetadataValue] | None] | None = None
    documents: list[str | None] | None = None
    uris: list[str | None] | None = None


@dataclass(frozen=True)
class StoreLimits:
    """Bounds the store enforces on every write and query, whatever the transport."""

    max_batch_size: int = 100_000
    max_dimension: int = 65_536
    max_n_results: int = 100_000


# The names these types had before they were renamed apart from the client API's chromadb
# types (``chroma_grpc.client.types.GetResult`` is chromadb's result dict). Kept only while
# store modules edited in parallel still use them; new code uses the names above.
GetResult = Records
QueryResult = Neighbours
Include = ResultFields
IncludeField = ResultField
