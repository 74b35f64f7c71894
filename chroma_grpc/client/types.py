"""Public type aliases of the client API, named as chromadb 0.4.24 names them.

Only aliases, protocols and result ``TypedDict``s live here; the rules that enforce them are in
:mod:`chroma_grpc.store.validation`. Metadata and filter types are the store's own (one
definition for every layer); results differ: chromadb's dicts here, the store's dataclasses
(``Records``, ``Neighbours``) there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol, TypedDict, TypeVar, Union
from uuid import UUID

import numpy as np
import numpy.typing as npt

from chroma_grpc.embeddings.base import EmbeddingFunction
from chroma_grpc.store.types import Metadata, MetadataValue, Where, WhereDocument

__all__ = [
    "ID",
    "IDs",
    "URI",
    "URIs",
    "CollectionMetadata",
    "DataLoader",
    "Database",
    "Document",
    "Documents",
    "Embedding",
    "EmbeddingFunction",
    "Embeddings",
    "GetResult",
    "Image",
    "Images",
    "Include",
    "IncludeField",
    "Loadable",
    "Metadata",
    "MetadataValue",
    "Metadatas",
    "OneOrMany",
    "OneOrManyDocuments",
    "OneOrManyEmbeddings",
    "OneOrManyMetadatas",
    "OneOrManyURIs",
    "QueryResult",
    "Tenant",
    "UpdateCollectionMetadata",
    "UpdateMetadata",
    "Where",
    "WhereDocument",
]

T = TypeVar("T")
OneOrMany = Union[T, list[T]]

ID = str
IDs = list[ID]

Embedding = Union[Sequence[float], Sequence[int]]
Embeddings = list[Embedding]

Metadatas = list[Metadata | None]
UpdateMetadata = Mapping[str, Union[MetadataValue, None]]
CollectionMetadata = dict[str, Any]
UpdateCollectionMetadata = CollectionMetadata

Document = str
Documents = list[Document]
URI = str
URIs = list[URI]
Image = npt.NDArray[Union[np.uint8, np.int64, np.float32, np.float64]]
Images = list[Image]

# What the write/query methods accept: one item or a batch (numpy arrays for embeddings).
OneOrManyEmbeddings = Union[Embedding, Sequence[Embedding], npt.NDArray[Any]]
OneOrManyMetadatas = Union[Metadata, Sequence[Union[Metadata, None]]]
OneOrManyDocuments = Union[Document, Sequence[Union[Document, None]]]
OneOrManyURIs = Union[URI, Sequence[Union[URI, None]]]

IncludeField = Literal["documents", "embeddings", "metadatas", "distances", "uris", "data"]
Include = list[IncludeField]

# What a data loader returns: one item (typically an image) per uri, None for a missing uri.
Loadable = list[Any]


class DataLoader(Protocol):
    """Loads the data behind each uri (``None`` entries are records without a uri)."""

    def __call__(self, uris: Sequence[URI | None]) -> Loadable: ...


class GetResult(TypedDict):
    """``Collection.get``/``peek``: one entry per record, ascending id; None if not included."""

    ids: list[ID]
    embeddings: list[list[float]] | None
    documents: list[Document | None] | None
    uris: list[URI | None] | None
    data: Loadable | None
    metadatas: list[dict[str, MetadataValue] | None] | None


class QueryResult(TypedDict):
    """``Collection.query``: one inner list per query, nearest first; None if not included."""

    ids: list[list[ID]]
    embeddings: list[list[list[float]]] | None
    documents: list[list[Document | None]] | None
    uris: list[list[URI | None]] | None
    data: list[Loadable] | None
    metadatas: list[list[dict[str, MetadataValue] | None]] | None
    distances: list[list[float]] | None


class Tenant(TypedDict):
    """``AdminClient.get_tenant``: chromadb's ``Tenant``."""

    name: str


class Database(TypedDict):
    """``AdminClient.get_database``: chromadb's ``Database``."""

    id: UUID
    name: str
    tenant: str
