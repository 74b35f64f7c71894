"""chroma-grpc: a vector database served over gRPC, with chromadb 0.4.24's Python client API.

Change ``import chromadb`` to ``import chroma_grpc as chromadb`` and the code keeps working::

    import chroma_grpc as chromadb

    client = chromadb.EphemeralClient()  # or PersistentClient(path), HttpClient(host, port)
    collection = client.create_collection("docs")
    collection.add(ids=["a", "b"], embeddings=[[1.0, 0.0], [0.0, 1.0]])
    collection.query(query_embeddings=[[1.0, 0.1]], n_results=1)

The server listens on port 50051 by default (``chroma-grpc run``); ``HttpClient`` keeps
chromadb's default of 8000, so pass the port.
"""

from chroma_grpc import errors
from chroma_grpc._version import __version__
from chroma_grpc.client.admin import AdminClient
from chroma_grpc.client.api import ClientAPI
from chroma_grpc.client.async_api import AsyncClientAPI, AsyncCollection, AsyncHttpClient
from chroma_grpc.client.collection import Collection
from chroma_grpc.client.factories import (
    Client,
    EphemeralClient,
    HttpClient,
    PersistentClient,
    configure,
    get_settings,
)
from chroma_grpc.client.types import (
    CollectionMetadata,
    Documents,
    EmbeddingFunction,
    Embeddings,
    GetResult,
    IDs,
    Include,
    Metadata,
    QueryResult,
    UpdateCollectionMetadata,
    Where,
    WhereDocument,
)
from chroma_grpc.config import Settings
from chroma_grpc.errors import (
    ChromaError,
    DuplicateIDError,
    InvalidCollectionException,
    InvalidDimensionException,
    NotFoundError,
    UniqueConstraintError,
)

__all__ = [
    "AdminClient",
    "AsyncClientAPI",
    "AsyncCollection",
    "AsyncHttpClient",
    "ChromaError",
    "Client",
    "ClientAPI",
    "Collection",
    "CollectionMetadata",
    "Documents",
    "DuplicateIDError",
    "EmbeddingFunction",
    "Embeddings",
    "EphemeralClient",
    "GetResult",
    "HttpClient",
    "IDs",
    "Include",
    "InvalidCollectionException",
    "InvalidDimensionException",
    "Metadata",
    "NotFoundError",
    "PersistentClient",
    "QueryResult",
    "Settings",
    "UniqueConstraintError",
    "UpdateCollectionMetadata",
    "Where",
    "WhereDocument",
    "__version__",
    "configure",
    "errors",
    "get_settings",
]
