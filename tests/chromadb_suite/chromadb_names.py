"""chromadb's public names pointed at chroma-grpc's, before any of chromadb's test modules loads.

chromadb's tests build and catch through chromadb's names (``chromadb.Client``,
``chromadb.errors.*``, ``chromadb.config.Settings`` / ``System`` ...); pointing those at ours
makes them build and catch our clients and classes, unmodified. Importing this module does it
(once per process): conftest.py imports it first, and so does the entry point of the processes
chromadb's persistence test spawns (chromadb_system.py), which do not run our conftest.
"""

from __future__ import annotations

from typing import Any

import chromadb
import chromadb.api.client
import chromadb.api.fastapi  # chromadb's own classes, built before its names point at ours
import chromadb.api.segment
import chromadb.config
import chromadb.db.base
import chromadb.errors
import chromadb.utils.embedding_functions

import chroma_grpc
import chroma_grpc.errors
import chroma_grpc.utils.embedding_functions
from tests.chromadb_suite.chromadb_system import System


class AdminClient(chroma_grpc.AdminClient):
    """Ours, plus chromadb's ``AdminClient.from_system(client._system)`` its tests use."""

    @classmethod
    def from_system(cls, system: Any) -> AdminClient:
        return cls(system.settings)


class _SystemView:
    """What chromadb's tests read from ``client._system``: the settings."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings


class _ServerView:
    """What chromadb's tests read from ``client._server``: the settings."""

    def __init__(self, settings: Any) -> None:
        self._settings = settings


chroma_grpc.ClientAPI._system = property(lambda self: _SystemView(self.get_settings()))  # type: ignore[attr-defined]
chroma_grpc.ClientAPI._server = property(lambda self: _ServerView(self.get_settings()))  # type: ignore[attr-defined]

for _name in ("Client", "EphemeralClient", "PersistentClient", "HttpClient", "Settings"):
    setattr(chromadb, _name, getattr(chroma_grpc, _name))
chromadb.AdminClient = AdminClient  # type: ignore[attr-defined]
chromadb.config.Settings = chroma_grpc.Settings  # type: ignore[misc]
chromadb.config.System = System  # type: ignore[misc]
chromadb.api.client.AdminClient = AdminClient  # type: ignore[misc]
chromadb.api.client.Client = chroma_grpc.Client  # type: ignore[misc,assignment]
for _name in (
    "ChromaError",
    "InvalidDimensionException",
    "InvalidCollectionException",
    "IDAlreadyExistsError",
    "DuplicateIDError",
    "InvalidUUIDError",
    "AuthorizationError",
):
    setattr(chromadb.errors, _name, getattr(chroma_grpc.errors, _name))
for _name in ("DefaultEmbeddingFunction", "ONNXMiniLM_L6_V2"):  # ours ship the model
    setattr(
        chromadb.utils.embedding_functions,
        _name,
        getattr(chroma_grpc.utils.embedding_functions, _name),
    )
chromadb.db.base.UniqueConstraintError = chroma_grpc.errors.UniqueConstraintError  # type: ignore[misc]
